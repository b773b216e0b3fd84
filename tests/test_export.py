"""Export round trip: a QAT model, its integer graph and the numpy reference agree bit for bit."""

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the CPUs are shared; more threads only oversubscribe them

import pixmcu.reference.ops_embedding  # noqa: E402,F401
from pixmcu.frontend.checkpoint import load_checkpoint, save_graph  # noqa: E402
from pixmcu.ir import Graph, Operator, Quantization, Tensor  # noqa: E402
from pixmcu.nn.export import export_model, model_input  # noqa: E402
from pixmcu.nn.intexact import float_fakequant  # noqa: E402
from pixmcu.nn.models import ModelConfig  # noqa: E402
from pixmcu.reference import invoke, run  # noqa: E402
from pixmcu.resources import firmware_dir  # noqa: E402
from pixmcu.train.data import Dataset, Split  # noqa: E402
from pixmcu.train.loop import TrainArgs, train  # noqa: E402


def _data(shape, n=256, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    # Label-dependent brightness so a few steps learn something and activations are not degenerate.
    x = np.clip(rng.normal(40 + 20 * y[:, None, None, None], 50, (n,) + shape), 0, 255).astype(np.uint8)
    return Dataset("synthetic", Split(x, y), Split(x[:64], y[:64]), 10)


def _trained(cfg, shape):
    model, _ = train(cfg, _data(shape), TrainArgs(epochs=1, batch_size=64, progress=False, freeze_bn_at=0.7))
    return model


CNN = dict(arch="cnn28", in_channels=1, image_size=28, widths=(4, 8, 8), head="flatten")
RES = dict(arch="resnet8", in_channels=3, image_size=32, widths=(4, 8, 8))
CASES = {
    "cnn_embed_w4a4": (CNN, dict(input_stage="embed", wbits=4, abits=4, embed={"dim": 10, "bits": 2})),
    "cnn_binned_w8a8": (CNN, dict(input_stage="embed", wbits=8, abits=8, embed={"dim": 4, "bits": 3, "bins": 8, "learn_bins": True})),
    "cnn_naive_w4a4": (CNN, dict(input_stage="naive", wbits=4, abits=4)),
    "cnn_int8_w2a4": (dict(CNN, head="gap"), dict(input_stage="int8", wbits=2, abits=4)),
    "cnn_embed_w4a2": (CNN, dict(input_stage="embed", wbits=4, abits=2, embed={"dim": 4, "bits": 2})),
    "cnn_embed_q8_w1a8": (CNN, dict(input_stage="embed", wbits=1, abits=8, first_wbits=8, embed={"dim": 2, "bits": 8})),
    "res_embed_shared_w4a4": (RES, dict(input_stage="embed", wbits=4, abits=4, embed={"dim": 3, "bits": 2, "shared": True})),
    "res_int8_w8a8": (RES, dict(input_stage="int8", wbits=8, abits=8)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip_bit_exact(case, tmp_path):
    arch, kw = CASES[case]
    cfg = ModelConfig(**arch, **kw)
    shape = (cfg.image_size, cfg.image_size, cfg.in_channels)
    model = _trained(cfg, shape)
    graph = export_model(model, name="m")
    x = _data(shape, 48, seed=1).test.x
    per_layer = run(graph, model_input(cfg, x))
    ref = per_layer[graph.outputs[0]]
    # A layer of dead activations would hide scale errors: the FC must see some non-zero codes.
    fc_in = graph.tensors[graph.operators[-1].inputs[0]]
    producer = next(op.name for op in graph.operators if op.outputs[0] == fc_in.name)
    assert (per_layer[producer].astype(int) != fc_in.quant.zero_point[0]).any()
    with torch.no_grad():
        logits = model(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    s = graph.output_tensor().quant.scale[0]
    np.testing.assert_array_equal(ref.astype(np.int64), np.rint(logits / s).astype(np.int64))
    # The float fake-quant path lands on the same grid; it differs only where TFLM rounds twice.
    with float_fakequant(), torch.no_grad():
        approx = model(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    assert approx.shape == ref.shape and np.allclose(approx / s, np.rint(approx / s), atol=1e-3)
    # Graph file and training checkpoint load to the same integer model.
    pmz = save_graph(graph, tmp_path / "m.pmz", metadata={"k": 1})
    np.testing.assert_array_equal(invoke(load_checkpoint(pmz), model_input(cfg, x)), ref)


def test_training_checkpoint_loads_as_graph(tmp_path):
    cfg = ModelConfig(**CNN, input_stage="embed", wbits=4, abits=4, embed={"dim": 3, "bits": 2})
    ck = tmp_path / "m.pt"
    model, _ = train(cfg, _data((28, 28, 1)), TrainArgs(epochs=1, batch_size=64, progress=False), checkpoint=ck)
    g = load_checkpoint(ck)
    x = _data((28, 28, 1), 16, seed=2).test.x
    np.testing.assert_array_equal(invoke(g, x), invoke(export_model(model), x))
    assert any(op.kind == "pixel_embedding" for op in g.operators)
    table = g.tensors["embedding_table"]
    assert table.dtype == "int8" and table.is_constant and table.data.min() >= 0 and table.data.max() <= 3


def _embedding_graph(c, d, shared, rng):
    q = Quantization((1 / 3,), (0,))
    table = rng.integers(-128, 128, (1 if shared else c, 256, d)).astype(np.int8)
    tensors = {
        "x": Tensor("x", (1, 5, 4, c), "uint8", Quantization((1 / 255,), (0,))),
        "t": Tensor("t", table.shape, "int8", q, table),
        "y": Tensor("y", (1, 5, 4, c * d), "int8", q),
    }
    return Graph(tensors, (Operator("emb", "pixel_embedding", ("x", "t"), ("y",), {"embed_dim": d}),), ("x",), ("y",))


@pytest.mark.parametrize("shared", [False, True])
def test_reference_embedding(shared):
    rng = np.random.default_rng(0)
    g = _embedding_graph(3, 4, shared, rng)
    x = rng.integers(0, 256, (2, 5, 4, 3)).astype(np.uint8)
    y = run(g, x)["emb"]
    t = g.tensors["t"].data
    for c in range(3):
        np.testing.assert_array_equal(y[..., c * 4:(c + 1) * 4], t[0 if shared else c][x[..., c]])


def test_shape_checks_reject_bad_tables():
    from pixmcu.ir import GraphError

    q = Quantization((1 / 3,), (0,))
    with pytest.raises(GraphError, match="table count"):
        Graph({"x": Tensor("x", (1, 2, 2, 3), "uint8", q), "t": Tensor("t", (2, 256, 4), "int8", q, np.zeros((2, 256, 4))),
               "y": Tensor("y", (1, 2, 2, 12), "int8", q)},
              (Operator("e", "pixel_embedding", ("x", "t"), ("y",), {"embed_dim": 4}),), ("x",), ("y",))


@pytest.mark.skipif(shutil.which("gcc") is None, reason="host gcc needed")
@pytest.mark.parametrize("shared", [False, True])
def test_c_kernel_matches_reference(tmp_path, shared):
    fw = firmware_dir()
    lib = tmp_path / "libemb.so"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", f"-I{fw / 'include'}",
                    str(fw / "kernels" / "pm_pixel_embedding_u8.c"), "-o", str(lib)], check=True)
    so = ctypes.CDLL(str(lib))

    class Params(ctypes.Structure):
        _fields_ = [("pixels", ctypes.c_int32), ("channels", ctypes.c_int32), ("embed_dim", ctypes.c_int32),
                    ("shared", ctypes.c_int32), ("table", ctypes.POINTER(ctypes.c_int8))]

    rng = np.random.default_rng(1)
    g = _embedding_graph(3, 4, shared, rng)
    x = rng.integers(0, 256, (1, 5, 4, 3)).astype(np.uint8)
    table = np.ascontiguousarray(g.tensors["t"].data)
    out = np.zeros((1, 5, 4, 12), np.int8)
    from pixmcu.lowering import lower

    p = lower(g, g.operators[0])
    params = Params(p["pixels"], p["channels"], p["embed_dim"], int(p["shared"]),
                    table.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)))
    rc = so.pm_pixel_embedding_u8(ctypes.byref(params), x.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p))
    assert rc == 0
    np.testing.assert_array_equal(out, run(g, x)["emb"])
    params.embed_dim = 0
    assert so.pm_pixel_embedding_u8(ctypes.byref(params), x.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p)) == -1
