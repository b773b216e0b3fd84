"""Low-bit models end to end (issue 16): an INT4-weight .tflite fixture (tests/fixtures/make_int4_fixture.py)
imported bit-exact with TFLM, and the int4 kernels of `--optimize size` in generated C on the host
(ASan + UBSan) and under QEMU (the DSP assembly)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from pixmcu import reference
from pixmcu.frontend import load_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tflm_oracle import Oracle  # noqa: E402

INT4_TFLITE = Path(__file__).resolve().parent / "fixtures" / "lowbit" / "int4_weights.tflite"


@pytest.fixture(scope="module")
def graph():
    return load_model(INT4_TFLITE)


def _inputs(graph, n, seed):
    return np.random.default_rng(seed).integers(-128, 128, (n, *graph.input_tensor().shape[1:])).astype(np.int8)


def test_int4_tflite_imports_bit_exact_with_tflm(graph):
    convs = [op for op in graph.operators if op.kind == "conv2d"]
    assert convs
    for op in convs:  # unpacked from the INT4 buffers: int8 tensors whose values fit 4 bits
        w = graph.tensors[op.inputs[1]]
        assert w.dtype == "int8" and w.data.min() >= -8 and w.data.max() <= 7 and np.ptp(w.data) > 8
    x = _inputs(graph, 16, 160)
    np.testing.assert_array_equal(reference.invoke(graph, x), Oracle(INT4_TFLITE).invoke(x))


def test_truncated_int4_buffer_is_one_paragraph(tmp_path):
    """An INT4 buffer one byte short: PixmcuError naming the file and the tensor, no traceback."""
    from pixmcu.errors import PixmcuError

    data = bytearray(INT4_TFLITE.read_bytes())
    g = load_model(INT4_TFLITE)
    w = g.tensors[g.operators[0].inputs[1]].data
    packed = ((w.ravel()[0::2].astype(np.int16) & 0xF) | ((w.ravel()[1::2].astype(np.int16) & 0xF) << 4)).astype(np.uint8)
    at = bytes(data).find(packed.tobytes())
    assert at > 0  # the buffer as TFLite's int4 layout writes it: the import read that layout
    # Shrink the buffer's length prefix (the uint32 before the bytes) by one.
    n = int.from_bytes(data[at - 4:at], "little")
    assert n == packed.size
    data[at - 4:at] = (n - 1).to_bytes(4, "little")
    bad = tmp_path / "short.tflite"
    bad.write_bytes(bytes(data))
    with pytest.raises(PixmcuError, match="INT4 buffer holds"):
        load_model(bad)


def test_int4_generated_code_on_the_host(graph, tmp_path):
    """--optimize size puts the int4-fitting convolutions (input channels a multiple of 4) on the int4
    kernels, the fused residual ADD included; host C under ASan/UBSan equals TFLM."""
    from pixmcu.codegen import generate
    from pixmcu.engines.host_c import run_generated

    gen = generate(graph, tmp_path / "gen", board="qemu-m4", name="net", optimize="size")
    kernels = [layer["kernel"] for layer in gen.manifest["layers"]]
    assert kernels[:2] == ["pm_conv2d_packed4_s8", "pm_conv2d_packed4_add_s8"]
    assert "pm_conv2d_dsp_s8" in kernels  # six input channels: the int8 kernel on the unpacked values
    x = _inputs(graph, 4, 161)
    want = Oracle(INT4_TFLITE).invoke(x)
    np.testing.assert_array_equal(run_generated(tmp_path / "gen", x, workdir=tmp_path / "host").reshape(want.shape),
                                  want)


def _size_on_qemu(tmp_path, name: str, images: int, seed: int) -> tuple[dict, dict]:
    """`name` generated with --optimize size and run on qemu-m4 against the reference; its manifest
    and that of the W8A8 sibling (same options)."""
    from pixmcu.cli import main
    from pixmcu.codegen import generate
    from pixmcu.models import resolve

    g = load_model(resolve(name))
    x = np.random.default_rng(seed).integers(0, 256, (images, *g.input_tensor().shape[1:])).astype(np.uint8)
    np.savez(tmp_path / "data.npz", x=x)
    assert main(["generate", name, "-o", str(tmp_path / "gen"), "--board", "qemu-m4", "--optimize", "size"]) == 0
    assert main(["run", str(tmp_path / "gen"), "--data", str(tmp_path / "data.npz"), "--transport", "semihost",
                 "--no-check", "--quiet", "--save-outputs", str(tmp_path / "out.npz")]) == 0
    got = np.load(tmp_path / "out.npz")["outputs"]
    want = reference.invoke(g, x)
    np.testing.assert_array_equal(got.reshape(want.shape), want)
    w8 = generate(name.replace("w4a4", "w8a8"), tmp_path / "w8", board="qemu-m4", optimize="size", first_layer="auto")
    # Its embedding codes fit 4 bits too, but packing them would not lower its arena: all int8 there.
    assert not any(la.get("activation_bits") for la in w8.manifest["layers"])
    return json.loads((tmp_path / "gen" / "manifest.json").read_text()), w8.manifest


def test_w4_model_under_qemu(tmp_path):
    """fmnist-pe-w4a4 with --optimize size on qemu-m4: every weighted layer on the int4 kernels (their
    SMLAD assembly) over packed 4-bit activations, bit-exact with the reference; arena under 0.6 x the
    W8A8 model's."""
    m, w8 = _size_on_qemu(tmp_path, "fmnist-pe-w4a4", 2, 162)
    # The activations between the layers are 4-bit (ReLU6 at zero point -128): stored packed where that
    # lowers the arena, the int4 kernels reading and writing nibbles (pm_act4.h); under 0.6 x the W8A8 arena.
    assert {la["kernel"] for la in m["layers"] if la["op"] in ("conv2d", "fully_connected")} == {"pm_conv2d_packed4_a4"}
    assert "conv1" in [la["name"] for la in m["layers"] if la.get("activation_bits") == 4]  # the peak
    assert m["arena_bytes"] <= 0.6 * w8["arena_bytes"]
    assert m["weight_bytes"] <= 0.6 * w8["weight_bytes"]


def test_cifar_w4a4_packed_under_qemu(tmp_path):
    """cifar10-pe-w4a4 with --optimize size on qemu-m4: the embedding's 2-bit codes, the residual blocks
    (fused ADDs included) and the 30-channel first conv (channels padded in scratch) on packed 4-bit
    activations; arena and constant data well under the W8A8 model's, bit-exact with the reference."""
    m, w8 = _size_on_qemu(tmp_path, "cifar10-pe-w4a4", 1, 163)
    kernels = {la["kernel"] for la in m["layers"]}
    assert {"pm_pixel_embedding_t2_a4", "pm_conv2d_packed4_a4", "pm_conv2d_packed4_add_a4"} <= kernels
    assert m["layers"][1]["kernel"] == "pm_conv2d_packed4_a4"  # 30 input channels
    assert m["arena_bytes"] <= 0.6 * w8["arena_bytes"]
    assert m["weight_bytes"] <= 0.6 * w8["weight_bytes"]


def test_inspect_reports_activation_bits():
    """`inspect`'s `a bits`: the levels each output's clamp allows (2-bit embedding codes, ReLU6 at scale
    0.4 in 4 bits, unclamped convolutions in 8)."""
    from pixmcu.model_info import layer_table
    from pixmcu.models import resolve

    bits = {r["name"]: r["output_bits"] for r in layer_table(load_model(resolve("cifar10-pe-w4a4")))}
    assert (bits["embedding"], bits["conv1"], bits["block1_conv2"], bits["block1_add"], bits["pool"]) == (2, 4, 8, 4, 4)
    bits = {r["name"]: r["output_bits"] for r in layer_table(load_model(resolve("fmnist-pe-w8a8")))}
    assert (bits["embedding"], bits["conv1"]) == (4, 8)
