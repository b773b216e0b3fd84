"""Your own network with pixel embedding and QAT: `pixmcu train --init`, `pixmcu.nn.quantize_aware`,
the exported graph bit-exact with the trained model's eval, and the errors a new user meets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the CPUs are shared
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from pixmcu.errors import PixmcuError  # noqa: E402
from pixmcu.nn import export_model, quantize_aware  # noqa: E402
from pixmcu.reference import invoke  # noqa: E402
from pixmcu.train.data import Dataset, Split  # noqa: E402
from pixmcu.train.loop import TrainArgs, train  # noqa: E402

BYOM = Path(__file__).resolve().parent / "fixtures" / "byom"
PT2 = BYOM / "tiny_separable.pt2"


def _data(n=256, seed=0, shape=(12, 12, 3)):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = np.clip(rng.normal(50 + 40 * y[:, None, None, None], 50, (n,) + shape), 0, 255).astype(np.uint8)
    return Dataset("synthetic", Split(x, y), Split(x[:48], y[:48]), 4)


class _Net(nn.Module):
    """Stride-2 conv with BN, a depthwise block with a residual add, max pooling with padding, a concat
    of two ReLU branches, global average pooling and a Linear head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, 1, 1, groups=8)
        self.pw = nn.Conv2d(8, 8, 1)
        self.a = nn.Conv2d(8, 4, 1)
        self.b = nn.Conv2d(8, 4, 3, padding=1)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = F.relu6(x + self.pw(F.relu(self.dw(x))))
        x = F.max_pool2d(x, 3, 2, 1)
        x = torch.cat([F.relu(self.a(x)), F.relu6(self.b(x))], 1)
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


@pytest.fixture(scope="module")
def float_net():
    """_Net trained in float on pixel/255 (BatchNorm in training mode), and its test accuracy."""
    data = _data()
    torch.manual_seed(0)
    net = _Net()
    opt = torch.optim.AdamW(net.parameters(), 3e-3)
    x = torch.from_numpy(data.train.x.transpose(0, 3, 1, 2).copy()).float() / 255
    y = torch.from_numpy(data.train.y)
    for _ in range(15):
        for i in range(0, len(x), 64):
            loss = F.cross_entropy(net(x[i:i + 64]), y[i:i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    xt = torch.from_numpy(data.test.x.transpose(0, 3, 1, 2).copy()).float() / 255
    with torch.no_grad():
        acc = float((net(xt).argmax(1).numpy() == data.test.y).mean())
    return net, acc


@pytest.mark.parametrize("stage", ["embed", "naive", "int8"])
def test_quantize_aware_trains_and_exports_bit_exact(stage, float_net):
    net, float_acc = float_net
    data = _data()
    qat = quantize_aware(net, (3, 12, 12), input_stage=stage, bits="W4A4", embed={"dim": 3, "bits": 2},
                         pixel_scale=1 / 255, calib=data.train.x[:64])
    model, res = train(qat.cfg, data, TrainArgs(epochs=2, batch_size=64, lr=1e-3, progress=False), model=qat)
    graph = export_model(model, name="m")
    kinds = [op.kind for op in graph.operators]
    first = [k for k in kinds if k != "pad"][0]  # PyTorch's symmetric stride-2 pad is an explicit pad op
    assert first == {"embed": "pixel_embedding", "naive": "quantize", "int8": "conv2d"}[stage]
    assert "depthwise_conv2d" in kinds and "add" in kinds and "concatenation" in kinds
    x = data.test.x
    xi = x if stage == "embed" else (x.astype(np.int16) - 128).astype(np.int8)
    ref = invoke(graph, xi).reshape(len(x), -1).astype(np.int64)
    with torch.no_grad():
        logits = model(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    out = graph.output_tensor().quant
    # Eval mode computes the integer contract itself: the reported accuracy is the deployed one.
    np.testing.assert_array_equal(ref - out.zero_point[0], np.rint(logits / out.scale[0]).astype(np.int64))
    # Fine-tuning starts from the float network's function: W4A4 stays near its accuracy.
    assert float_acc > 0.6 and res.test_accuracy >= float_acc - 0.15, (float_acc, res.test_accuracy)


def test_equalize_ranges_keeps_the_float_function(float_net):
    from pixmcu.nn.byom import equalize_ranges
    from pixmcu.ptq import prepare
    from pixmcu.ptq.fgraph import run
    from pixmcu.ptq.import_pt2 import import_exported

    net, _ = float_net
    fg = prepare(import_exported(torch.export.export(net, (torch.zeros(1, 3, 12, 12),)), "net"))
    real = torch.from_numpy(_data().train.x[:64].transpose(0, 3, 1, 2).copy()).float() / 255
    before = run(fg, real).numpy()
    assert equalize_ranges(fg, real.numpy()) == 1  # the depthwise conv; the stem also feeds an add
    peaks = {}
    after = run(fg, real, lambda n, v: peaks.__setitem__(n.name, v.amax(dim=(0, 2, 3)) if v.dim() == 4 else None)).numpy()
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-4)  # on its calibration images: exact
    dw = next(n for n in fg.nodes if n.kind == "conv" and n.attrs["groups"] > 1)
    live = peaks[dw.name][peaks[dw.name] > 0]
    assert len(live) and torch.allclose(live, torch.tensor(6.0), rtol=1e-4)


def test_unsupported_for_qat_named_by_module_path():
    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(torch.sigmoid(self.conv(x)).mean((2, 3)))

    with pytest.raises(PixmcuError) as e:
        quantize_aware(Gate(), (1, 8, 8))
    assert "sigmoid" in str(e.value) and "top-level module" in str(e.value)


def test_export_model_of_a_plain_module_says_what_to_do():
    with pytest.raises(PixmcuError) as e:
        export_model(_Net())
    assert "quantize_aware" in str(e.value) and "pixmcu quantize" in str(e.value)


def test_files_that_are_not_pixmcu_models_get_a_hint(tmp_path, pixmcu_cli):
    whole = tmp_path / "whole.pt"
    torch.save(_Net(), whole)  # _Net lives in this test module: the CLI cannot unpickle it
    state = tmp_path / "state.pt"
    torch.save(_Net().state_dict(), state)
    onnx_path = tmp_path / "net.onnx"
    torch.onnx.export(_Net().eval(), (torch.zeros(1, 3, 12, 12),), onnx_path, dynamo=False)
    for path, words in ((whole, "torch.save(model)"), (state, "state_dict"), (onnx_path, "ONNX"),
                        (PT2, "torch.export")):
        code, _, err = pixmcu_cli("inspect", path)
        assert code == 2 and "Traceback" not in err
        assert words in err and ("pixmcu quantize" in err or "torch.export.save" in err), err


def test_train_init_refuses_what_it_cannot_do(tmp_path, pixmcu_cli):
    d = _data(64, shape=(28, 28, 1))
    np.savez(tmp_path / "d.npz", x=d.train.x, y=d.train.y)
    base = ("train", "--dataset", tmp_path / "d.npz", "--bits", "W4A4")
    for extra, words in (((BYOM / "tiny_separable.onnx", "--export", tmp_path / "o.pmz"), ".pt2"),
                         ((PT2,), "--export"),
                         ((PT2, "--export", tmp_path / "o.pmz", "--arch", "resnet8"), "do not apply")):
        code, _, err = pixmcu_cli(*base, "--init", *extra)
        assert code == 2 and words in err and "Traceback" not in err, err


@pytest.mark.slow
def test_train_init_embed_w4a4_runs_bit_exact_on_qemu_m4(tmp_path, pixmcu_cli):
    from pixmcu.train.data import load_fashion_mnist

    d = load_fashion_mnist()
    np.savez(tmp_path / "fm.npz", x=d.train.x[:384], y=d.train.y[:384], x_test=d.test.x[:100], y_test=d.test.y[:100])
    pmz = tmp_path / "m.pmz"
    code, out, err = pixmcu_cli("train", "--init", PT2, "--input-stage", "embed", "--bits", "W4A4", "--embed-dim", "4",
                                "--dataset", tmp_path / "fm.npz", "--epochs", "0.5", "--batch-size", "64",
                                "--pixel-scale", 1 / 255, "--export", pmz, "--no-progress", "--threads", "1")
    assert code == 0, err
    assert "top-1" in out and pmz.exists()
    gen = tmp_path / "gen"
    code, _, err = pixmcu_cli("generate", pmz, "-o", gen, "--board", "qemu-m4")
    assert code == 0, err
    np.savez(tmp_path / "few.npz", x=d.test.x[:3], y=d.test.y[:3])
    code, _, err = pixmcu_cli("run", gen, "--data", tmp_path / "few.npz", "--json", tmp_path / "r.json", "--quiet")
    rep = json.loads((tmp_path / "r.json").read_text())
    assert code == 0, (err, rep.get("error"))
    assert rep["bitexact"]["compared"] == 3 and rep["bitexact"]["mismatches"] == []
