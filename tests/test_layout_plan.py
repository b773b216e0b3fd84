"""Per-layer weight layouts under a flash budget (pixmcu.codegen.layout_plan): a pure plan, then what
`pixmcu generate` does with it."""

from __future__ import annotations

import json

import pytest

from conftest import RESNET
from pixmcu.codegen.layout_plan import BALANCE, plan_layouts
from pixmcu.errors import PixmcuError
from pixmcu.frontend import load_model


@pytest.fixture(scope="module")
def graph():
    return load_model(RESNET)


def test_speed_size_and_balanced(graph):
    speed = plan_layouts(graph, "qemu-m4", "speed")
    size = plan_layouts(graph, "qemu-m4", "size")
    convs = [lay for lay in speed.layers if lay.op == "conv2d"]
    assert convs and all(lay.chosen.layout == "int16" for lay in convs)
    assert all(lay.chosen.layout == "int8" for lay in size.layers)
    assert size.constant_bytes < speed.constant_bytes and speed.predicted_instructions < size.predicted_instructions
    # The default on a board with room: the fastest plan within BALANCE x the smallest plan's flash,
    # here int8 only on the 8x8 layers (fewest output pixels: the least speed per byte), starting with
    # the one with the most weights.
    default = plan_layouts(graph, "qemu-m4")
    assert default.optimize == "balanced" and default.predicted_flash_bytes <= BALANCE * size.predicted_flash_bytes
    int8 = {lay.name for lay in default.layers if lay.op == "conv2d" and lay.chosen.layout == "int8"}
    assert "conv2d_9" in int8 and int8 <= {"conv2d_8", "conv2d_9", "conv2d_10"}
    assert plan_layouts(graph, "qemu-m4", "balanced", speed.predicted_flash_bytes).predicted_flash_bytes == \
        default.predicted_flash_bytes
    # A budget between the two: the fastest plan that fits, a mix of both layouts, reasons recorded.
    budget = (speed.predicted_flash_bytes + size.predicted_flash_bytes) // 2
    mid = plan_layouts(graph, "qemu-m4", "balanced", budget)
    layouts = {lay.chosen.layout for lay in mid.layers if lay.op == "conv2d"}
    assert layouts == {"int8", "int16"} and mid.predicted_flash_bytes <= budget
    assert size.predicted_instructions > mid.predicted_instructions > speed.predicted_instructions
    assert any("flash budget" in entry["reason"] for entry in mid.manifest()["layers"])
    # The M55's kernels read int8 weights: one layout, nothing to choose.
    assert all(len(lay.options) == 1 for lay in plan_layouts(graph, "qemu-m55").layers)


def test_nothing_fits_is_one_paragraph(graph):
    with pytest.raises(PixmcuError) as exc:
        plan_layouts(graph, "qemu-m4", "balanced", 20_000, model_name="model r.tflite")
    msg = str(exc.value)
    assert "model r.tflite" in msg and "qemu-m4" in msg and "bytes" in msg and "\n" not in msg


def test_generate_records_the_plan(tmp_path):
    from pixmcu.cli import main

    size = plan_layouts(load_model(RESNET), "qemu-m4", "size")
    assert main(["generate", str(RESNET), "-o", str(tmp_path), "--optimize", "size"]) == 0
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["layout_plan"]["optimize"] == "size"
    assert m["layout_plan"]["predicted_constant_bytes"] == size.constant_bytes
    kernels = {layer["kernel"] for layer in m["layers"]}
    assert "pm_conv2d_packed8_s8" in kernels and not kernels & {"pm_conv2d_packed_s8", "pm_conv2d_packed_add_s8"}
    assert main(["generate", str(RESNET), "-o", str(tmp_path / "x"), "--flash-budget", "1000"]) == 2


def test_w4_model_takes_int4_weights_where_they_fit():
    """A W4 model's int4-valued weights get the packed int4 layout under --optimize size (a quarter of
    the int16 bytes); a W8 model is never offered it; the balanced plan keeps the fastest layouts."""
    from pixmcu.models import resolve

    w4, w8 = (load_model(resolve(n)) for n in ("fmnist-pe-w4a4", "fmnist-pe-w8a8"))
    size4, size8 = plan_layouts(w4, "qemu-m4", "size"), plan_layouts(w8, "qemu-m4", "size")
    weighted = [lay for lay in size4.layers if lay.op in ("conv2d", "fully_connected")]
    assert weighted and all(lay.chosen.layout == "int4" for lay in weighted)
    assert {lay.chosen.kernel for lay in weighted} == {"pm_conv2d_packed4_s8", "pm_conv2d_packed4_1x1_s8"}
    assert not any(o.layout == "int4" for lay in size8.layers for o in lay.options)
    assert size4.constant_bytes < 0.6 * size8.constant_bytes
    assert all(lay.chosen.layout != "int4" for lay in plan_layouts(w4, "qemu-m4", "speed").layers)


def test_int4_options_leave_the_balanced_plan_alone():
    from pixmcu.models import resolve

    w4, w8 = (load_model(resolve(n)) for n in ("fmnist-pe-w4a4", "fmnist-pe-w8a8"))
    b4, b8 = plan_layouts(w4, "qemu-m4"), plan_layouts(w8, "qemu-m4")
    assert [lay.chosen.layout for lay in b4.layers] == [lay.chosen.layout for lay in b8.layers]
    # A budget below the int8 plan's constants (the code reserve only steers, it never fails a plan):
    # the W4 model fits by moving layers to int4, the W8 model cannot fit.
    size8 = plan_layouts(w8, "qemu-m4", "size")
    tight = plan_layouts(w4, "qemu-m4", "balanced", size8.constant_bytes - 1)
    assert any(lay.chosen.layout == "int4" for lay in tight.layers)
    with pytest.raises(PixmcuError):
        plan_layouts(w8, "qemu-m4", "balanced", size8.constant_bytes - 1)
