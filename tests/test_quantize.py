"""Post-training quantization of users' float models (.pt2, .onnx): the float import agrees with
torch and onnxruntime, every supported layer lowers with the right semantics, unsupported layers are
named, and the Fashion-MNIST fixture network keeps its accuracy and runs bit-exact on qemu-m4."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the CPUs are shared
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from pixmcu.data import PixelMapping, to_model_input  # noqa: E402
from pixmcu.ptq import float_logits, load_float_model, quantize  # noqa: E402
from pixmcu.reference import invoke  # noqa: E402

BYOM = Path(__file__).resolve().parent / "fixtures" / "byom"
PT2, ONNX = BYOM / "tiny_separable.pt2", BYOM / "tiny_separable.onnx"
PIXEL_SCALE = 1 / 255


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    """500 training images for calibration and 2,000 test images, as the CLI's .npz files."""
    from pixmcu.train.data import load_fashion_mnist

    d = load_fashion_mnist()
    root = tmp_path_factory.mktemp("fashion")
    rng = np.random.default_rng(0)
    tr = np.sort(rng.choice(len(d.train.x), 500, replace=False))
    te = np.sort(rng.choice(len(d.test.x), 2000, replace=False))
    np.savez(root / "calib.npz", x=d.train.x[tr], y=d.train.y[tr])
    np.savez(root / "test.npz", x=d.test.x[te], y=d.test.y[te])
    return root / "calib.npz", root / "test.npz", d.test.x[te], d.test.y[te]


def _export(model: nn.Module, shape, tmp_path: Path) -> tuple[Path, Path]:
    model.eval()
    x = torch.zeros((1,) + shape)
    pt2, onnx_path = tmp_path / "m.pt2", tmp_path / "m.onnx"
    torch.export.save(torch.export.export(model, (x,)), pt2)
    torch.onnx.export(model, (x,), onnx_path, dynamo=False)
    return pt2, onnx_path


def _ort(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


def test_fixture_float_import_matches_torch_and_onnxruntime(fashion):
    x = fashion[2][:32]
    real = (x.astype(np.float32) * np.float32(PIXEL_SCALE)).transpose(0, 3, 1, 2).copy()
    ref_onnx = _ort(ONNX, real)
    module = torch.export.load(str(PT2)).module()  # exported for batch 1
    ref_torch = np.concatenate([module(torch.from_numpy(real[i:i + 1])).detach().numpy() for i in range(len(x))])
    for path in (PT2, ONNX):
        ours = float_logits(load_float_model(path), x, PixelMapping(PIXEL_SCALE))
        np.testing.assert_allclose(ours, ref_torch, atol=2e-4, rtol=1e-4)
        np.testing.assert_allclose(ours, ref_onnx, atol=2e-4, rtol=1e-4)


class _Everything(nn.Module):
    """One of each supported layer, arranged so a wrong layout or padding rule shows in the output."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)  # PyTorch's symmetric pad: an explicit pad op
        self.bn1 = nn.BatchNorm2d(8)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=2, bias=False)  # groups 2: block-diagonal
        self.dw = nn.Conv2d(8, 16, 3, padding=1, groups=8)  # depthwise, multiplier 2
        self.bn_alone = nn.BatchNorm2d(16)  # after a concat-free add: nothing to fold into
        self.pw = nn.Conv2d(16, 8, 1)
        self.fc = nn.Linear(16 * 2 * 2, 10)  # after flattening a 2x2 map: NCHW vs NHWC order

    def forward(self, x):
        x = F.relu6(self.bn1(self.c1(x)))  # 16x16 -> 8x8
        x = x + F.relu(self.grouped(x))  # residual add
        x = self.bn_alone(F.relu(self.dw(x)))  # BN after the fused ReLU: nothing to fold into
        x = F.max_pool2d(x, 3, 2, 1)  # padded max pool, TFLite SAME: 8x8 -> 4x4
        x = F.relu(x)  # a standalone ReLU: a saturating requantize
        z = self.pw(x)
        x = torch.cat([z, F.relu6(z)], 1)  # inputs of different ranges: requantized to the output's
        x = F.avg_pool2d(x, 2)  # 4x4 -> 2x2
        return self.fc(x.view(x.size(0), -1))


def _randomise_bn(model: nn.Module) -> None:
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
def test_every_layer_lowers_close_to_float(tmp_path, fmt):
    torch.manual_seed(0)
    model = _Everything()
    _randomise_bn(model)
    paths = dict(zip(("pt2", "onnx"), _export(model, (3, 16, 16), tmp_path)))
    fg = load_float_model(paths[fmt])
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (64, 16, 16, 3)).astype(np.uint8)
    mapping = PixelMapping(1 / 128, -1.0)  # real in [-1, 1): a non-trivial input zero point
    q = quantize(fg, x, mapping)
    kinds = {op.kind for op in q.graph.operators}
    assert {"pad", "conv2d", "depthwise_conv2d", "add", "max_pool2d", "avg_pool2d", "quantize",
            "concatenation", "reshape", "fully_connected"} <= kinds
    with torch.no_grad():
        ref = model(torch.from_numpy((x.astype(np.float32) / 128 - 1).transpose(0, 3, 1, 2).copy())).numpy()
    out = q.graph.output_tensor()
    y = invoke(q.graph, to_model_input(x, q.graph.input_tensor(), mapping)).reshape(len(ref), -1)
    deq = (y.astype(np.float64) - out.quant.zero_point[0]) * out.quant.scale[0]
    # On the calibration images nothing saturates, so only rounding separates int8 from float: a
    # wrong layout, padding or clamp would be off by a sizeable part of the output range.
    err = np.abs(deq - ref).max()
    assert err < 0.03 * (ref.max() - ref.min()), err
    assert (deq.argmax(1) == ref.argmax(1)).mean() >= 0.9
    # Percentile calibration clips the rarest extremes: no range wider than min/max's, some narrower.
    pq = quantize(fg, x, mapping, method="percentile")
    widths = [(pq.ranges[k][1] - pq.ranges[k][0], q.ranges[k][1] - q.ranges[k][0]) for k in q.ranges]
    assert all(p <= m + 1e-6 for p, m in widths) and any(p < 0.99 * m for p, m in widths)
    # --per-tensor: one weight scale per tensor, and the model still close to float.
    tq = quantize(fg, x, mapping, per_tensor=True)
    weights = [t for t in tq.graph.tensors.values() if t.is_constant and t.dtype == "int8" and len(t.shape) > 1]
    assert weights and all(len(set(t.quant.scale)) == 1 for t in weights)
    yt = invoke(tq.graph, to_model_input(x, tq.graph.input_tensor(), mapping)).reshape(len(ref), -1)
    ot = tq.graph.output_tensor().quant
    deq_t = (yt.astype(np.float64) - ot.zero_point[0]) * ot.scale[0]
    assert np.abs(deq_t - ref).max() < 0.1 * (ref.max() - ref.min())


def test_float_tflite_matches_tflite_and_quantizes(tmp_path, pixmcu_cli):
    """A Keras model converted to float .tflite (made by scripts/make_byom_tflite.py with TensorFlow,
    which also recorded TFLite's own float outputs): SAME padding, NHWC flatten, concat, softmax."""
    d = np.load(BYOM / "float_mixed_expected.npz")
    mapping = PixelMapping(1 / 127.5, -1.0)
    fg = load_float_model(BYOM / "float_mixed.tflite")
    f = float_logits(fg, d["x"], mapping)
    np.testing.assert_allclose(f, d["y"].reshape(f.shape), atol=1e-5)
    np.savez(tmp_path / "c.npz", x=d["x"])
    code, _, err = pixmcu_cli("quantize", BYOM / "float_mixed.tflite", "-o", tmp_path / "m.pmz", "--calib",
                              tmp_path / "c.npz", "--pixel-scale", 1 / 127.5, "--pixel-offset", -1.0)
    assert code == 0, err
    from pixmcu.frontend import load_model

    g = load_model(tmp_path / "m.pmz")
    y = invoke(g, to_model_input(d["x"], g.input_tensor(), mapping)).reshape(f.shape)
    assert g.operators[-1].kind == "softmax"
    assert np.abs((y.astype(np.float64) + 128) / 256 - f).max() < 0.02  # a few 1/256 steps


def test_float_tflite_for_generate_points_at_quantize(pixmcu_cli, tmp_path):
    code, _, err = pixmcu_cli("generate", BYOM / "float_mixed.tflite", "-o", tmp_path / "g")
    assert code == 2 and "pixmcu quantize" in err


class _Activations(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = F.hardswish(self.c1(x))
        x = F.leaky_relu(self.c2(x), 0.1) + torch.tanh(x)
        return torch.sigmoid(self.fc(x.mean((2, 3))))


@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
def test_sigmoid_tanh_hardswish_leaky_relu(tmp_path, fmt):
    torch.manual_seed(0)
    model = _Activations()
    paths = dict(zip(("pt2", "onnx"), _export(model, (3, 8, 8), tmp_path)))
    x = np.random.default_rng(2).integers(0, 256, (32, 8, 8, 3)).astype(np.uint8)
    mapping = PixelMapping(1 / 128, -1.0)
    q = quantize(load_float_model(paths[fmt]), x, mapping)
    kinds = {op.kind for op in q.graph.operators}
    assert {"hard_swish", "leaky_relu", "tanh", "logistic"} <= kinds
    with torch.no_grad():
        ref = model(torch.from_numpy((x.astype(np.float32) / 128 - 1).transpose(0, 3, 1, 2).copy())).numpy()
    out = q.graph.output_tensor().quant
    assert out.scale == (1 / 256,) and out.zero_point == (-128,)  # TFLite's fixed sigmoid output
    y = invoke(q.graph, to_model_input(x, q.graph.input_tensor(), mapping)).reshape(len(ref), -1)
    assert np.abs((y.astype(np.float64) + 128) / 256 - ref).max() < 0.03


def test_dynamic_batch_exports_load(tmp_path):
    """A batch dimension left dynamic (ONNX dynamic_axes, torch.export Dim) still deploys with batch 1."""
    model = _Everything().eval()
    x = torch.zeros(2, 3, 16, 16)
    torch.onnx.export(model, (x,), tmp_path / "d.onnx", dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "n"}})
    ep = torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("n", min=1, max=64)},))
    torch.export.save(ep, tmp_path / "d.pt2")
    pixels = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3)).astype(np.uint8)
    for path in (tmp_path / "d.onnx", tmp_path / "d.pt2"):
        q = quantize(load_float_model(path), pixels, PixelMapping(1 / 255))
        assert q.graph.input_tensor().shape == (1, 16, 16, 3)


def test_unsupported_layers_are_named_in_one_paragraph(tmp_path, pixmcu_cli):
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.ConvTranspose2d(1, 4, 2, stride=2)
            self.gate = nn.Softplus()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.gate(self.up(x)).mean((2, 3)))

    pt2, onnx_path = _export(Odd(), (1, 8, 8), tmp_path)
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 8, 8, 1), np.uint8))
    for path, names in ((pt2, ("'up'", "'gate'")), (onnx_path, ("ConvTranspose", "Softplus"))):
        code, out, err = pixmcu_cli("quantize", path, "-o", tmp_path / "o.pmz", "--calib", tmp_path / "d.npz")
        assert code == 2 and "Traceback" not in err
        msg = err.strip()
        assert "\n" not in msg and "cannot be mapped" in msg and "2 " in msg
        for name in names:
            assert name in msg
    assert not (tmp_path / "o.pmz").exists()


@pytest.mark.parametrize("path", [PT2, ONNX], ids=["pt2", "onnx"])
def test_fashion_fixture_int8_within_one_point(path, fashion, tmp_path, pixmcu_cli):
    calib, test, x, y = fashion
    pmz = tmp_path / "m.pmz"
    code, out, err = pixmcu_cli("quantize", path, "-o", pmz, "--calib", calib, "--pixel-scale", PIXEL_SCALE, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["calibration_images"] == 500 and summary["float_top1"] is not None
    code, out, err = pixmcu_cli("infer", pmz, "--data", test, "--out", tmp_path / "o.npz",
                                "--pixel-scale", PIXEL_SCALE, "--json")
    assert code == 0, err
    int8 = 100 * json.loads(out)["accuracy"]
    real = (x.astype(np.float32) * np.float32(PIXEL_SCALE)).transpose(0, 3, 1, 2).copy()
    float_top1 = 100 * float((_ort(ONNX, real).argmax(1) == y).mean())  # onnxruntime: the float oracle
    assert float_top1 > 80.0
    assert abs(float_top1 - int8) <= 1.0, (float_top1, int8)


@pytest.mark.slow
def test_fashion_fixture_bitexact_on_qemu_m4(fashion, tmp_path, pixmcu_cli):
    calib, test, x, y = fashion
    pmz = tmp_path / "m.pmz"
    assert pixmcu_cli("quantize", PT2, "-o", pmz, "--calib", calib, "--calib-limit", "200",
                      "--pixel-scale", PIXEL_SCALE)[0] == 0
    out = tmp_path / "gen"
    code, _, err = pixmcu_cli("generate", pmz, "-o", out, "--board", "qemu-m4", "--pixel-scale", PIXEL_SCALE)
    assert code == 0, err
    np.savez(tmp_path / "few.npz", x=x[:3], y=y[:3])
    code, _, err = pixmcu_cli("run", out, "--data", tmp_path / "few.npz", "--json", tmp_path / "r.json", "--quiet")
    rep = json.loads((tmp_path / "r.json").read_text())
    assert code == 0, (err, rep.get("error"))
    assert rep["bitexact"]["compared"] == 3 and rep["bitexact"]["mismatches"] == []
