"""Issue #6 "Choice": `pixmcu generate --first-layer` runs pixel_embedding -> conv2d as one pm_first_* call.

Every variant, generated through the CLI, is bit-exact with pixmcu.reference on the host (generated C
and firmware/first_layer under ASan/UBSan); two run under QEMU (qemu-m4) through `pixmcu run`; auto
respects a flash budget and records why; `pixmcu tune` regenerates OUTDIR (source: a .pmz) with the
measured fastest variant.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pixmcu.reference.ops_embedding  # noqa: F401  (registers the embedding's reference)
from kernel_support.first_layer_graphs import tiny_pe_graph
from pixmcu import reference
from pixmcu.codegen.layout_plan import CODE_RESERVE_BYTES, plan_layouts
from pixmcu.engines.host_c import run_generated
from pixmcu.frontend import load_model
from pixmcu.frontend.checkpoint import save_graph
from pixmcu.ir import Graph, Operator

VARIANTS = ("unfused", "pe_embed_conv", "pe_folded_s16", "pe_folded_s32", "pe_joint_s16")


def _graph(activation: str = "relu", **kw) -> Graph:
    g = tiny_pe_graph(**kw)
    emb, conv = g.operators
    conv = Operator(conv.name, conv.kind, conv.inputs, conv.outputs, {**conv.attrs, "activation": activation})
    return Graph(dict(g.tensors), (emb, conv), g.inputs, g.outputs, name=g.name)


# Odd shapes (7x9 input, 5 output channels, stride 2; grey 5x5 VALID), and one with 16 channels and no
# activation, which takes the kernels' fast (asm on Arm) paths.
CASES = {
    "odd-rgb": dict(h=7, w=9, c=3, d=3, co=5, k=3, stride=2, bins=4, seed=1),
    "grey-valid": dict(h=9, w=6, c=1, d=4, co=8, k=5, bins=8, padding="valid", seed=2),
    "rgb16-none": dict(h=8, w=10, c=3, d=4, co=16, k=3, bins=4, seed=3, activation="none"),
}


def _shipped() -> list[Path]:
    try:
        from pixmcu.models import list_models
    except ImportError:
        return []
    out = []
    for m in list_models():
        g = load_model(m["path"])
        if g.operators and g.operators[0].kind == "pixel_embedding":
            out.append(Path(m["path"]))
    return out


def _pmz(tmp_path: Path, case: str) -> Path:
    kw = dict(CASES[case])
    act = kw.pop("activation", "relu")
    path = tmp_path / f"{case}.pmz"
    save_graph(_graph(act, **kw), path)
    return path


def _inputs(graph, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n,) + graph.input_tensor().shape[1:]).astype(np.uint8)


def _generate(pixmcu_cli, model, out: Path, *opts) -> dict:
    code, stdout, err = pixmcu_cli("generate", model, "-o", out, "--board", "qemu-m4", *opts)
    assert code == 0, err
    return json.loads((out / "manifest.json").read_text())


def _check_manifest(m: dict, variant: str) -> None:
    fl = m["first_layer"]
    assert fl["variant"] == variant and fl["reason"]
    assert {"name", "predicted_cycles", "flash_bytes", "fits_budget"} <= set(fl["candidates"][0])
    layers = m["layers"]
    if variant == "unfused":
        assert layers[0]["kernel"] == "pm_pixel_embedding_u8" and "fused_into" not in layers[0]
        return
    kernel = fl["kernel"]
    assert kernel.startswith("pm_first_") and layers[0]["kernel"] == layers[1]["kernel"] == kernel
    assert layers[0]["fused_into"] == 1 and layers[0]["output_bytes"] == 0 and layers[1]["computed_by"] == 0
    assert f"first_layer/{kernel}.c" in fl["firmware_sources"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_variant_bit_exact_on_host(tmp_path, pixmcu_cli, case):
    model = _pmz(tmp_path, case)
    graph = load_model(model)
    x = _inputs(graph, 4)
    want = reference.run(graph, x)
    conv = graph.operators[1].name
    for v in VARIANTS:
        out = tmp_path / v
        m = _generate(pixmcu_cli, model, out, "--first-layer", v)
        _check_manifest(m, v)
        y, layers = run_generated(out, x, layers=True, workdir=tmp_path / f"run-{v}")
        np.testing.assert_array_equal(layers[conv], want[conv], err_msg=f"{case}: {v}")
        np.testing.assert_array_equal(y, want[graph.outputs[0]], err_msg=f"{case}: {v}")
        if v == "unfused":  # the embedding is stored and compared only when it runs on its own
            np.testing.assert_array_equal(layers[graph.operators[0].name], want[graph.operators[0].name])
        else:
            assert graph.operators[0].name not in layers


@pytest.mark.parametrize("model", _shipped() or [pytest.param(None, marks=pytest.mark.skip(
    reason="no shipped pixel-embedding model yet"))], ids=lambda p: p.stem if p else "none")
def test_shipped_model_every_variant_bit_exact(tmp_path, pixmcu_cli, model):
    graph = load_model(model)
    x = _inputs(graph, 3)
    want = reference.run(graph, x)
    conv = graph.operators[1].name
    binned = bool(graph.operators[0].attrs.get("bin_edges"))
    for v in ("auto", *VARIANTS):
        if v == "pe_joint_s16" and not binned:
            continue
        out = tmp_path / v
        m = _generate(pixmcu_cli, model, out, "--first-layer", v)
        if v != "auto":
            _check_manifest(m, v)
        y, layers = run_generated(out, x, layers=True, workdir=tmp_path / f"run-{v}")
        np.testing.assert_array_equal(layers[conv], want[conv], err_msg=f"{model.stem}: {v}")
        np.testing.assert_array_equal(y, want[graph.outputs[0]], err_msg=f"{model.stem}: {v}")


def test_auto_respects_a_small_flash_budget(tmp_path, pixmcu_cli):
    model = _pmz(tmp_path, "rgb16-none")
    m = _generate(pixmcu_cli, model, tmp_path / "free")
    free = m["first_layer"]
    assert free["requested"] == "auto" and free["flash_budget"] is None
    assert free["variant"] in ("pe_folded_s16", "pe_joint_s16")  # the table variants win without a budget
    _generate(pixmcu_cli, model, tmp_path / "again")  # deterministic, the first layer included
    assert {f.relative_to(tmp_path / "free"): f.read_bytes() for f in (tmp_path / "free").rglob("*") if f.is_file()} == \
        {f.relative_to(tmp_path / "again"): f.read_bytes() for f in (tmp_path / "again").rglob("*") if f.is_file()}
    # --flash-budget covers the whole model (code reserve + every layer's constants); the first layer
    # gets what the rest of the layout plan leaves: here 20,000 B, too little for the joint tables.
    # This model is the two layers alone, so the rest is the code reserve.
    room = 20_000
    budget = CODE_RESERVE_BYTES + room
    m = _generate(pixmcu_cli, model, tmp_path / "small", "--flash-budget", budget)
    fl = m["first_layer"]
    chosen = next(c for c in fl["candidates"] if c["name"] == fl["variant"])
    assert fl["flash_budget"] == budget and fl["flash_room"] == room
    assert chosen["fits_budget"] and chosen["flash_bytes"] <= room
    assert all(not c["fits_budget"] for c in fl["candidates"] if c["flash_bytes"] > room)
    assert any(c["name"] == "pe_joint_s16" and not c["fits_budget"] for c in fl["candidates"])
    assert fl["variant"] == "pe_embed_conv" and "budget 20,000" in fl["reason"] and "excluded" in fl["reason"]
    graph = load_model(model)
    x = _inputs(graph, 2)
    np.testing.assert_array_equal(run_generated(tmp_path / "small", x), reference.invoke(graph, x))
    # Nothing fits: with the smallest plan's flash as the budget (the unfused int8 constants), no fused
    # variant fits the room; the embedding and the conv stay two calls, and the manifest says why.
    smallest = plan_layouts(graph, "qemu-m4", "size").predicted_flash_bytes
    m = _generate(pixmcu_cli, model, tmp_path / "tiny", "--flash-budget", smallest)
    assert m["first_layer"]["flash_room"] == smallest - CODE_RESERVE_BYTES
    assert m["first_layer"]["variant"] == "unfused" and "fits the flash budget" in m["first_layer"]["reason"]


def test_bad_requests_are_user_errors(tmp_path, pixmcu_cli):
    plain = tmp_path / "plain.pmz"
    save_graph(_graph(**{k: v for k, v in CASES["odd-rgb"].items() if k != "bins"}), plain)
    code, _, err = pixmcu_cli("generate", plain, "-o", tmp_path / "a", "--first-layer", "pe_joint_s16")
    assert code != 0 and "not binned" in err
    code, _, err = pixmcu_cli("generate", plain, "-o", tmp_path / "b", "--first-layer", "bogus")
    assert code != 0 and "bogus" in err


def _pixmcu(*args, timeout=240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pixmcu", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("variant", ["pe_folded_s16", "pe_joint_s16"])
def test_variant_bit_exact_under_qemu(tmp_path, pixmcu_cli, variant):
    model = _pmz(tmp_path, "rgb16-none")
    out = tmp_path / "gen"
    _generate(pixmcu_cli, model, out, "--first-layer", variant)
    np.savez(tmp_path / "data.npz", x=_inputs(load_model(model), 2, seed=5))
    proc = _pixmcu("run", out, "--data", tmp_path / "data.npz", "--transport", "semihost", "--quiet",
                   "--no-estimate-cycles", "--json", tmp_path / "report.json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["bitexact"]["compared"] == 2 and report["bitexact"]["matches"] == 2, report["bitexact"]
    assert report["first_layer"]["count"] > 0


def test_tune_regenerates_with_the_measured_fastest(tmp_path, pixmcu_cli):
    model = _pmz(tmp_path, "rgb16-none")
    out = tmp_path / "gen"
    before = _generate(pixmcu_cli, model, out, "--first-layer", "pe_embed_conv")
    assert before["source_file"] == "model.pmz" and before["first_layer"]["variant"] == "pe_embed_conv"
    proc = _pixmcu("tune", out)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    after = json.loads((out / "manifest.json").read_text())
    fl = after["first_layer"]
    meas = {m["name"]: m for m in fl["measurements"]}
    assert all(m["bitexact"] for m in meas.values())
    fastest = min(meas.values(), key=lambda m: m["estimated_cycles"])["name"]
    assert fl["source"] == "measured" and fl["requested"] == "tuned" and fl["variant"] == fastest
    assert fl["variant"] != "pe_embed_conv" and after["layers"][0]["kernel"] == fl["kernel"] != "pm_first_embedconv_s8"
    assert "counted under QEMU" in fl["reason"]
    assert json.loads((out / "first_layer.json").read_text())["variant"] == fastest
    graph = load_model(model)
    x = _inputs(graph, 2)
    np.testing.assert_array_equal(run_generated(out, x), reference.invoke(graph, x))
