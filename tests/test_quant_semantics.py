"""Quantization as TFLM reads it (issue 11): ignored bias axes, negative per-channel weight scales,
and errors that show the values actually at fault."""

from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES
from pixmcu import reference
from pixmcu.errors import PixmcuError
from pixmcu.frontend import load_model
from pixmcu.frontend.tflite_reader import read_tflite
from pixmcu.fuzz.tflite_fields import set_field
from tflm_oracle import Oracle

QUANT = FIXTURES / "quant"
CONV_OPS = FIXTURES / "models" / "conv_ops.tflite"


def random_inputs(graph, n, seed):
    t = graph.input_tensor()
    info = np.iinfo(t.dtype)
    return np.random.default_rng(seed).integers(info.min, info.max + 1, size=(n,) + t.shape[1:]).astype(t.dtype)


def edit(src: Path, dst: Path, suffix: str, value) -> Path:
    """A one-edit mutant of a committed fixture: the scalar whose flatbuffer path ends with `suffix`."""
    dst.write_bytes(set_field(src.read_bytes(), suffix, value))
    return dst


def test_bias_quantized_dimension_3_is_ignored_as_tflm_does():
    raw = read_tflite(QUANT / "bias_qdim3.tflite")
    biases = [raw.tensors[op.inputs[2]] for op in raw.operators if len(op.inputs) > 2]
    assert biases and all(t.axis == 3 and len(t.shape) == 1 and len(t.scale) > 1 for t in biases)
    g = load_model(QUANT / "bias_qdim3.tflite")
    x = random_inputs(g, 20, seed=3)
    expected = Oracle(QUANT / "bias_qdim3.tflite", g).invoke(x)
    np.testing.assert_array_equal(reference.invoke(g, x).reshape(expected.shape), expected)


def test_negative_per_channel_weight_scales_run_bit_exact_with_tflm():
    path = QUANT / "negative_scales.tflite"
    g = load_model(path)
    negative = [op.name for op in g.operators if op.kind in ("conv2d", "depthwise_conv2d")
                and min(g.tensors[op.inputs[1]].quant.scale) < 0]
    assert len(negative) == 6  # every conv and depthwise layer of conv_ops has negated channels
    x = random_inputs(g, 40, seed=5)
    expected = Oracle(path, g).invoke(x)
    got = reference.invoke(g, x).reshape(expected.shape)
    np.testing.assert_array_equal(got, expected)
    assert len(np.unique(expected)) > 20  # not a saturated, trivially equal output


def test_negative_scales_host_c_under_sanitizers_equals_reference():
    from pixmcu.engines.host_c import run_host_c

    path = QUANT / "negative_scales.tflite"
    g = load_model(path)
    x = random_inputs(g, 6, seed=6)
    ref = reference.invoke(g, x)
    np.testing.assert_array_equal(run_host_c(path, x).reshape(ref.shape), ref)


def test_bad_scale_message_names_the_wrong_channels(tmp_path):
    # conv_ops tensor 2: the first CONV_2D's weights, 5 per-channel scales.
    bad = edit(CONV_OPS, tmp_path / "nan.tflite", "tensors[2].quantization.scale[3]", float("nan"))
    with pytest.raises(PixmcuError, match=r"channel 3 = nan \(1 of 5\)") as info:
        load_model(bad)
    assert str(bad) in str(info.value)


def test_negative_activation_scale_is_refused(tmp_path):
    bad = edit(CONV_OPS, tmp_path / "neg.tflite", "tensors[0].quantization.scale[0]", -0.5)
    with pytest.raises(PixmcuError, match=r"activation scale must be a positive normal float32, got -0.5"):
        load_model(bad)


@pytest.mark.parametrize("scale", [-1.0, 0.0])
def test_fully_connected_per_tensor_checks_are_tflms(tmp_path, scale):
    """Per-tensor FULLY_CONNECTED: TFLM's Prepare refuses a weight scale whose product with the input
    scale leaves the bias scale (GetQuantizedConvolutionMultipler); pixmcu refuses the same model."""
    from conftest import RESNET

    raw = read_tflite(RESNET)
    fc = next(op for op in raw.operators if op.opcode == "FULLY_CONNECTED")
    w = fc.inputs[1]
    assert len(raw.tensors[w].scale) == 1
    bad = edit(RESNET, tmp_path / "fc.tflite", f"tensors[{w}].quantization.scale[0]", scale * raw.tensors[w].scale[0])
    with pytest.raises(PixmcuError, match=r"\(fully_connected\): bias scale .* TFLM allows 0.02"):
        load_model(bad)
    with pytest.raises(RuntimeError, match="allocate"):
        Oracle(bad, load_model(RESNET))  # TFLM itself refuses it at AllocateTensors


@pytest.mark.slow
@pytest.mark.parametrize("name", ["negative_scales"])
def test_quant_fixture_bitexact_on_qemu_m4(tmp_path, name):
    """The firmware kernels (qemu-m4: the DSP and packed paths) take negative multipliers bit for bit."""
    import json

    from pixmcu.cli import main
    from pixmcu.codegen.generator import generate

    generate(QUANT / f"{name}.tflite", tmp_path / "m", board="qemu-m4", name="m")
    g = load_model(QUANT / f"{name}.tflite")
    np.savez(tmp_path / "d.npz", x=random_inputs(g, 3, seed=9))
    code = main(["run", str(tmp_path / "m"), "--data", str(tmp_path / "d.npz"), "--json", str(tmp_path / "r.json"),
                 "--quiet"])
    rep = json.loads((tmp_path / "r.json").read_text())
    assert code == 0, rep.get("error")
    assert rep["bitexact"] == {"compared": 3, "matches": 3, "mismatches": [], "reference": "pixmcu.reference"}
