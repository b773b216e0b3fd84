"""The fast convolution kernels (issue 7) against the numpy reference, bit for bit: packed int16
weights (pm_conv2d_packed_*, Cortex-M4/M7) and Helium (pm_conv2d_mve_*, Cortex-M55; its portable C
path on the host, the MVE path under QEMU in tests/test_bench_model.py).

Random shapes (1x1 and 3x3 and odd kernels, strides 1-3, 'same'/'valid', channel counts that are and
are not multiples of 4), random zero points, per-tensor and per-channel multipliers (left and right
shifts), both requantization paths, the fused residual ADD (also written in place over the
residual) and the planner's output/input overlap. The shared library carries UBSan (ASan cannot
load into Python; guard bytes stand in); whole generated models with these kernels run under
ASan + UBSan as executables at the end. On the host the portable path of pm_dsp.h runs.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np
import pytest

from pixmcu import reference
from pixmcu.codegen import packing
from pixmcu.codegen.kernels import fuse_residual_adds, kernel_call
from pixmcu.codegen.planner import overlap_delta
from pixmcu.engines.host_c import run_host_c
from pixmcu.ir import Graph, Operator, Quantization, Tensor
from pixmcu.lowering import lower
from pixmcu.reference.ops import OPS
from pixmcu.shapes import out_size

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_support import GUARD, GUARD_BYTE, _struct, build_kernel_lib, load  # noqa: E402
from kernel_support import graphs as G  # noqa: E402

CASES = 60


_KLIB: dict = {}


@pytest.fixture(scope="session")
def klib(tmp_path_factory):
    # One build per process for this file and tests/test_lowbit_kernels.py (which imports this fixture).
    if "lib" not in _KLIB:
        _KLIB["lib"] = load(build_kernel_lib(tmp_path_factory.mktemp("packed")))
    return _KLIB["lib"]


def _q(rng, lo, hi, zp=None):
    return Quantization((float(np.exp(rng.uniform(np.log(lo), np.log(hi)))),),
                        (int(rng.integers(-128, 128)) if zp is None else zp,))


def conv_graph(rng, cin=None, cout=None, k=None, stride=None, big_bias=False, name="y", x=None):
    """A random conv2d (dilation 1) as a one-operator graph; `x` continues an existing tensor."""
    n = 1 if x is not None else int(rng.integers(1, 3))
    kh, kw = k or (int(rng.choice([1, 2, 3, 3, 5])), int(rng.choice([1, 3, 3, 4])))
    sh, sw = stride or (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    padding = str(rng.choice(["same", "valid"]))
    if x is None:
        h, w = int(rng.integers(kh, kh + 9)), int(rng.integers(kw, kw + 9))
        cin = cin or int(rng.choice([1, 2, 3, 4, 5, 8, 12, 16, 32]))
        x = Tensor("x", (n, h, w, cin), "int8", _q(rng, 0.005, 0.1))
    _, h, w, cin = x.shape
    cout = cout or int(rng.choice([1, 3, 4, 6, 8, 16, 20]))
    if rng.integers(0, 2):
        wq = Quantization(tuple(float(s) for s in np.exp(rng.uniform(np.log(1e-4), np.log(0.05), cout))),
                          (0,) * cout, 0)
    else:
        wq = _q(rng, 1e-4, 0.05, zp=0)
    wt = Tensor(f"{name}_w", (cout, kh, kw, cin), "int8", wq,
                rng.integers(-128, 128, (cout, kh, kw, cin)).astype(np.int8))
    ins = [x, wt]
    if big_bias or rng.integers(0, 4):
        b = rng.integers(-20000, 20000, cout)
        if big_bias:  # past 2^30: the doubled accumulator of the short path would not fit int32
            b = rng.choice([-1, 1], cout) * rng.integers(2**30, 2**30 + 2**29, cout)
        ins.append(Tensor(f"{name}_b", (cout,), "int32", Quantization((1.0,), (0,)), b.astype(np.int32)))
    oh, ow = out_size(padding, h, kh, sh), out_size(padding, w, kw, sw)
    out = Tensor(name, (n, oh, ow, cout), "int8", _q(rng, 0.002, 0.5))
    attrs = {"stride": (sh, sw), "dilation": (1, 1), "padding": padding, "activation": str(rng.choice(G.ACTS))}
    return G.single("conv2d", ins, out, attrs)


def _call_kernel(lib, call, x, out_ptr, residual_ptr=None):
    keep: list = []
    params = _struct(call, keep)
    args = [ctypes.byref(params), ctypes.c_void_p(x.ctypes.data)]
    scratch = None
    if residual_ptr is not None:
        args.append(residual_ptr)
    if call.scratch_bytes:
        scratch = np.full(call.scratch_bytes + 2 * GUARD, GUARD_BYTE, np.uint8)
        args.append(ctypes.c_void_p(scratch.ctypes.data + GUARD))
    status = getattr(lib, call.kernel)(*args, out_ptr)
    assert status == 0, f"{call.kernel} returned {status}"
    if scratch is not None:
        assert (scratch[:GUARD] == GUARD_BYTE).all() and (scratch[-GUARD:] == GUARD_BYTE).all(), "scratch overrun"


VARIANTS = {"packed": {"packed": True}, "mve": {"mve": True},
            "packed8": {"packed": True, "int8_weights": True, "dsp": True}}


def _check_conv(lib, graph, rng, variant="packed"):
    """`variant`: a key of VARIANTS or kernel_call's keyword arguments."""
    op = graph.operators[0]
    call = kernel_call(graph, op, **(VARIANTS[variant] if isinstance(variant, str) else variant))
    assert call.kernel in ("pm_conv2d_packed2_s8", "pm_conv2d_packed2_1x1_s8", "pm_conv2d_packed4_s8", "pm_conv2d_packed4_1x1_s8", "pm_conv2d_packed_s8", "pm_conv2d_packed_pad_s8", "pm_conv2d_packed_patch_s8",
                           "pm_conv2d_mve_s8", "pm_conv2d_packed8_s8",
                           "pm_conv2d_dsp_s8", "pm_conv2d_1x1_s8", "pm_conv2d_packed_1x1_s8",
                           "pm_conv2d_packed8_1x1_s8")
    x = G.random_input(rng, graph)[0]
    want = OPS["conv2d"](graph, op, [x[None]], lower(graph, op))[0]
    y_t = graph.tensors[op.outputs[0]]
    buf = np.full(y_t.nbytes + 2 * GUARD, GUARD_BYTE, np.uint8)
    _call_kernel(lib, call, x, ctypes.c_void_p(buf.ctypes.data + GUARD))
    got = buf[GUARD:GUARD + y_t.nbytes].view(np.int8).reshape(y_t.shape)
    np.testing.assert_array_equal(got, want.reshape(y_t.shape), err_msg=f"{call.kernel} {x.shape} {dict(op.attrs)}")
    assert (buf[:GUARD] == GUARD_BYTE).all() and (buf[GUARD + y_t.nbytes:] == GUARD_BYTE).all()
    return call


def test_weight_packing_layout():
    """Word 0 of (block, tap, group, oc) = channels 0|2, word 1 = channels 1|3, low halfword first."""
    w = np.arange(5 * 1 * 2 * 6, dtype=np.int64).reshape(5, 1, 2, 6) - 30
    words = packing.pack_weights(w.astype(np.int8)).view(np.uint32).reshape(2, 1, 2, 2, 4, 2)
    lo, hi = (words & 0xFFFF).astype(np.uint16).view(np.int16), (words >> 16).astype(np.uint16).view(np.int16)
    assert (lo[0, 0, 1, 0, 3, 0], hi[0, 0, 1, 0, 3, 0]) == (w[3, 0, 1, 0], w[3, 0, 1, 2])
    assert (lo[0, 0, 1, 0, 3, 1], hi[0, 0, 1, 0, 3, 1]) == (w[3, 0, 1, 1], w[3, 0, 1, 3])
    assert (lo[1, 0, 0, 1, 0, 1], hi[1, 0, 0, 1, 0, 1]) == (w[4, 0, 0, 5], 0)  # channel 7 is padding
    assert not lo[1, :, :, :, 1:].any() and not hi[1, :, :, :, 1:].any()  # output channels 5..7 too


@pytest.mark.parametrize("variant", VARIANTS)
def test_conv_random(klib, variant):
    rng = np.random.default_rng(71)
    kernels = set()
    for _ in range(CASES * 2):
        kernels.add(_check_conv(klib, conv_graph(rng), rng, variant).kernel)
    if variant == "packed8":  # input channels not a multiple of 4 take the int8 SMLAD kernels
        assert {"pm_conv2d_packed8_s8", "pm_conv2d_packed8_1x1_s8", "pm_conv2d_dsp_s8"} <= kernels
    elif variant == "mve":  # one Helium kernel for every shape (windows through scratch where needed)
        assert kernels == {"pm_conv2d_mve_s8"}
    else:
        assert {f"pm_conv2d_{variant}_s8", f"pm_conv2d_{variant}_patch_s8"} <= kernels
    if variant == "packed":
        assert "pm_conv2d_packed_1x1_s8" in kernels


@pytest.mark.parametrize("variant", ["packed", "mve"])
def test_conv_windows_of_few_channels(klib, variant):
    """Input channels not a multiple of 4: small windows take the im2col patch kernel (scratch checked
    for overruns), large ones the channel-padding kernel (packed); Helium has one kernel for both."""
    rng = np.random.default_rng(70)
    seen = set()
    for k, cin in [((3, 3), 3), ((1, 1), 1), ((3, 3), 7), ((5, 4), 5), ((5, 3), 6), ((2, 3), 2)] * 4:
        seen.add(_check_conv(klib, conv_graph(rng, cin=cin, k=k), rng, variant).kernel)
    want = {"pm_conv2d_packed_patch_s8", "pm_conv2d_packed_pad_s8"} if variant == "packed" else {"pm_conv2d_mve_s8"}
    assert seen == want


@pytest.mark.parametrize("shape", [
    (3, 16, (3, 3), (1, 1)), (16, 16, (3, 3), (1, 1)), (16, 32, (3, 3), (2, 2)), (16, 32, (1, 1), (2, 2)),
    (32, 32, (3, 3), (1, 1)), (32, 64, (3, 3), (2, 2)), (32, 64, (1, 1), (2, 2)), (64, 64, (3, 3), (1, 1)),
], ids=lambda s: f"{s[0]}to{s[1]}_k{s[2][0]}s{s[3][0]}")
@pytest.mark.parametrize("variant", VARIANTS)
def test_conv_resnet_shapes(klib, shape, variant):
    cin, cout, k, stride = shape
    rng = np.random.default_rng(cin * 100 + cout + stride[0])
    for _ in range(4):
        _check_conv(klib, conv_graph(rng, cin=cin, cout=cout, k=k, stride=stride), rng, variant)


@pytest.mark.parametrize("variant", VARIANTS)
def test_conv_long_requant_path(klib, variant):
    """Biases near 2^30 rule the short path out: the exact 64-bit path must still agree."""
    rng = np.random.default_rng(72)
    for _ in range(30):
        graph = conv_graph(rng, big_bias=True, cin=int(rng.choice([4, 8, 12])) if variant == "packed8" else None)
        call = _check_conv(klib, graph, rng, variant)
        assert call.fields.get("short_requant", 0) == 0


def _dead_channel(rng, graph, k=0):
    """Channel k of the graph's conv made dead (MobileNet checkpoints have them): weights 0 but one 1,
    bias 2^30 + 77, a weight scale that puts its shift near -31: its output cannot vary."""
    op = graph.operators[0]
    w, b = graph.tensors[op.inputs[1]], graph.tensors[op.inputs[2]]
    depthwise = op.kind == "depthwise_conv2d"
    data = w.data.copy()
    if depthwise:
        data[..., k] = 0
        data[0, 0, 0, k] = 1
    else:
        data[k] = 0
        data[k, 0, 0, 0] = 1
    n = w.shape[-1] if depthwise else w.shape[0]
    scales = list(w.quant.scale) * (n if len(w.quant.scale) == 1 else 1)
    scales[k] = 1e-13
    wq = Quantization(tuple(scales), (0,) * n, 3 if depthwise else 0)
    bias = b.data.copy()
    bias[k] = 2**30 + 77
    tensors = dict(graph.tensors)
    tensors[w.name] = Tensor(w.name, w.shape, "int8", wq, data)
    tensors[b.name] = Tensor(b.name, b.shape, "int32", b.quant, bias)
    return Graph(tensors, graph.operators, graph.inputs, graph.outputs, name=graph.name)


def test_constant_channels_keep_the_short_path(klib):
    """A channel whose output cannot vary (a dead channel: bias near 2^30) gets a short-path stand-in
    instead of sending the whole layer down the long path; bit-exact on the packed (int16 and int8
    weights, pointwise and 3x3) and depthwise kernels."""
    rng = np.random.default_rng(74)
    kinds = []
    for variant, k in (("packed", (1, 1)), ("packed", (3, 3)), ("packed8", (1, 1))) * 3:
        graph = conv_graph(rng, cin=8, cout=6, k=k, stride=(1, 1), name="y")
        if len(graph.operators[0].inputs) == 3:
            call = _check_conv(klib, _dead_channel(rng, graph, int(rng.integers(0, 6))), rng, variant)
            assert call.fields["short_requant"] == 1
            kinds.append(call.kernel)
    for _ in range(4):
        graph = G.conv(rng, depthwise=True, k=(3, 3), mult=1)
        if len(graph.operators[0].inputs) == 3:
            c = graph.tensors[graph.operators[0].inputs[1]].shape[-1]
            call = _check_dw(klib, _dead_channel(rng, graph, int(rng.integers(0, c))), rng)
            assert call.fields["short_requant"] == 1
            kinds.append(call.kernel)
    assert len(set(kinds)) >= 3, kinds


def test_packed_conv_takes_the_short_path_on_resnet_like_layers():
    rng = np.random.default_rng(73)
    graph = conv_graph(rng, cin=16, cout=16, k=(3, 3), stride=(1, 1))
    assert kernel_call(graph, graph.operators[0], packed=True).fields["short_requant"] == 1


@pytest.mark.parametrize("variant", VARIANTS)
def test_conv_tolerates_the_planned_overlap(klib, variant):
    """Output starting overlap_delta bytes before the dying input, as the planner places it."""
    rng = np.random.default_rng(74)
    for _ in range(40):
        graph = conv_graph(rng, cin=int(rng.choice([3, 4, 8, 16])))
        op = graph.operators[0]
        call = kernel_call(graph, op, **VARIANTS[variant])
        f = call.fields
        delta = overlap_delta(f["input"], f["output"], (f["stride_h"], f["stride_w"]), (f["pad_h"], f["pad_w"]))
        x_t, y_t = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        x = G.random_input(rng, graph)[0]
        want = OPS["conv2d"](graph, op, [x[None]], lower(graph, op))[0]
        span = max(delta + x_t.nbytes, y_t.nbytes)
        buf = np.full(span + 2 * GUARD, GUARD_BYTE, np.uint8)
        buf[GUARD + delta:GUARD + delta + x_t.nbytes] = x.view(np.uint8).ravel()
        keep: list = []
        params = _struct(call, keep)
        base = buf.ctypes.data + GUARD
        args = [ctypes.byref(params), ctypes.c_void_p(base + delta)]
        if call.scratch_bytes:  # the patch and Helium kernels: windows go through scratch first
            scratch = np.zeros(call.scratch_bytes, np.int8)
            args.append(ctypes.c_void_p(scratch.ctypes.data))
        assert getattr(klib, call.kernel)(*args, ctypes.c_void_p(base)) == 0
        np.testing.assert_array_equal(buf[GUARD:GUARD + y_t.nbytes].view(np.int8).reshape(y_t.shape), want)
        assert (buf[:GUARD] == GUARD_BYTE).all() and (buf[GUARD + span:] == GUARD_BYTE).all()


def conv_add_graph(rng, conv_first, cin=None, big_bias=False):
    g = conv_graph(rng, cin=cin or int(rng.choice([4, 8, 16, 32])), big_bias=big_bias)
    op = g.operators[0]
    y = g.tensors[op.outputs[0]]
    r = Tensor("r", y.shape, "int8", _q(rng, 0.005, 0.3))
    s = Tensor("s", y.shape, "int8", _q(rng, 0.005, 0.3))
    add_in = ("y", "r") if conv_first else ("r", "y")
    ops = (op, Operator("op1", "add", add_in, ("s",), {"activation": str(rng.choice(G.ACTS))}))
    return Graph({**dict(g.tensors), "r": r, "s": s}, ops, ("x", "r"), ("s",))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("conv_first", [True, False])
def test_conv_add_fused(klib, conv_first, variant):
    """The fused residual block equals conv then add, also when it writes over the residual."""
    rng = np.random.default_rng(75 + conv_first)
    paths = set()
    for case in range(CASES):
        graph = conv_add_graph(rng, conv_first, big_bias=case % 7 == 3)
        calls = fuse_residual_adds(graph, [kernel_call(graph, o, **VARIANTS[variant]) for o in graph.operators])
        assert calls[0].kernel == f"pm_conv2d_{variant}_add_s8" and calls[1].done_by == 0
        paths.add((calls[0].fields["short_requant"], calls[0].fields["conv"].get("short_requant", 0)))
        conv_op, add_op = graph.operators
        x, r = G.random_input(rng, graph)
        c = OPS["conv2d"](graph, conv_op, [x[None]], lower(graph, conv_op))
        pair = [c, r[None]] if conv_first else [r[None], c]
        want = OPS["add"](graph, add_op, pair, lower(graph, add_op))[0]
        in_place = case % 2 == 1
        buf = np.full(r.nbytes + 2 * GUARD, GUARD_BYTE, np.uint8)
        out_ptr = ctypes.c_void_p(buf.ctypes.data + GUARD)
        if in_place:
            buf[GUARD:GUARD + r.nbytes] = r.view(np.uint8).ravel()
        res_ptr = out_ptr if in_place else ctypes.c_void_p(r.ctypes.data)
        _call_kernel(klib, calls[0], x, out_ptr, residual_ptr=res_ptr)
        np.testing.assert_array_equal(buf[GUARD:GUARD + r.nbytes].view(np.int8).reshape(r.shape), want.reshape(r.shape))
        assert (buf[:GUARD] == GUARD_BYTE).all() and (buf[GUARD + r.nbytes:] == GUARD_BYTE).all()
    if variant == "mve":  # one requantization path for the convolution
        assert any(add == 1 for add, _ in paths), paths
    else:
        assert (1, 1) in paths and any(conv == 0 for _, conv in paths)


def _resnet_like(rng, cin):
    """input -> conv -> [conv -> conv + skip] -> stride-2 block with a 1x1 shortcut: a small ResNet."""
    tensors: dict[str, Tensor] = {}
    ops: list[Operator] = []
    x = Tensor("x", (1, int(rng.integers(5, 12)), int(rng.integers(5, 12)), cin), "int8", _q(rng, 0.005, 0.1))
    tensors["x"] = x

    def conv(name, src, cout, k, stride, act="relu"):
        g = conv_graph(rng, cout=cout, k=k, stride=stride, name=name, x=tensors[src])
        op = g.operators[0]
        op = Operator(name, "conv2d", op.inputs, op.outputs, {**op.attrs, "padding": "same", "activation": act})
        sh = (out_size("same", tensors[src].shape[1], k[0], stride[0]),
              out_size("same", tensors[src].shape[2], k[1], stride[1]))
        for t in op.inputs[1:]:
            tensors[t] = g.tensors[t]
        tensors[name] = Tensor(name, (1, *sh, cout), "int8", g.tensors[name].quant)
        ops.append(op)
        return name

    def add(name, a, b):
        tensors[name] = Tensor(name, tensors[a].shape, "int8", _q(rng, 0.01, 0.3))
        ops.append(Operator(name, "add", (a, b), (name,), {"activation": "relu"}))
        return name

    c = int(rng.choice([4, 8, 16]))
    a0 = conv("c0", "x", c, (3, 3), (1, 1))
    a1 = conv("c1", a0, c, (3, 3), (1, 1))
    a2 = conv("c2", a1, c, (3, 3), (1, 1), act="none")
    s1 = add("add1", a2, a0)
    b1 = conv("c3", s1, 2 * c, (3, 3), (2, 2))
    b2 = conv("c4", b1, 2 * c, (3, 3), (1, 1), act="none")
    b3 = conv("c5", s1, 2 * c, (1, 1), (2, 2), act="none")
    s2 = add("add2", b2, b3)
    return Graph(tensors, tuple(ops), ("x",), (s2,), name="resnet_like")


@pytest.mark.parametrize("seed,cin,board", [(81, 3, "qemu-m4"), (82, 4, "qemu-m55"), (83, 1, "qemu-m4"),
                                             (84, 3, "qemu-m55")])
def test_models_under_asan(seed, cin, board):
    """Small residual networks generated for the board (packed or Helium kernels, fused) run under
    ASan + UBSan on the host, every stored layer and the output equal to the reference; unfused too."""
    rng = np.random.default_rng(seed)
    graph = _resnet_like(rng, cin)
    x = rng.integers(-128, 128, (3, *graph.input_tensor().shape[1:])).astype(np.int8)
    want = reference.run(graph, x)
    for fuse in (True, False):
        y, layers = run_host_c(graph, x, board=board, layers=True, fuse=fuse)
        np.testing.assert_array_equal(y, want[graph.outputs[0]])
        for name, got in layers.items():
            np.testing.assert_array_equal(got, want[name], err_msg=f"{name} fuse={fuse}")
        if not fuse:
            assert set(layers) == {op.name for op in graph.operators}


@pytest.mark.parametrize("seed,cin,board", [(91, 3, "qemu-m4"), (92, 8, "qemu-m4"), (93, 3, "qemu-m55")])
def test_models_under_qemu(tmp_path, seed, cin, board):
    """The real SMLAD/LDM assembly (M4) and Helium (M55) paths on random shapes and zero points: a
    small residual network built and run under QEMU, outputs equal to the reference."""
    from pixmcu.cli import main
    from pixmcu.codegen import generate

    rng = np.random.default_rng(seed)
    graph = _resnet_like(rng, cin)
    x = rng.integers(-128, 128, (3, *graph.input_tensor().shape[1:])).astype(np.int8)
    np.savez(tmp_path / "data.npz", x=x)
    generate(graph, tmp_path / "gen", board=board, name="net")
    assert main(["run", str(tmp_path / "gen"), "--data", str(tmp_path / "data.npz"), "--transport", "semihost",
                 "--no-check", "--quiet", "--save-outputs", str(tmp_path / "out.npz")]) == 0
    got = np.load(tmp_path / "out.npz")["outputs"]
    want = reference.invoke(graph, x)
    np.testing.assert_array_equal(got.reshape(want.shape), want)


def _check_dw(lib, graph, rng):
    op = graph.operators[0]
    call = kernel_call(graph, op, dsp=True)
    assert call.kernel == "pm_depthwise_conv2d_dsp_s8"
    x = G.random_input(rng, graph)[0]
    want = OPS["depthwise_conv2d"](graph, op, [x[None]], lower(graph, op))[0]
    y_t = graph.tensors[op.outputs[0]]
    buf = np.full(y_t.nbytes + 2 * GUARD, GUARD_BYTE, np.uint8)
    # The input sits flush against guard bytes too: no load may read past the last channel.
    xbuf = np.full(x.nbytes + 2 * GUARD, GUARD_BYTE, np.uint8)
    xbuf[GUARD:GUARD + x.nbytes] = x.view(np.uint8).ravel()
    keep: list = []
    params = _struct(call, keep)
    assert lib.pm_depthwise_conv2d_dsp_s8(ctypes.byref(params), ctypes.c_void_p(xbuf.ctypes.data + GUARD),
                                          ctypes.c_void_p(buf.ctypes.data + GUARD)) == 0
    got = buf[GUARD:GUARD + y_t.nbytes].view(np.int8).reshape(y_t.shape)
    np.testing.assert_array_equal(got, want.reshape(y_t.shape), err_msg=f"{x.shape} {dict(op.attrs)}")
    assert (buf[:GUARD] == GUARD_BYTE).all() and (buf[GUARD + y_t.nbytes:] == GUARD_BYTE).all()
    return call


def test_depthwise_simd_random(klib):
    """Random depthwise shapes: kernel sizes 1-4 and 3x3, strides 1-3, dilation 1-2, 'same'/'valid',
    1-13 channels (multiples of 4 and not), batches, both requantization paths."""
    rng = np.random.default_rng(101)
    paths = set()
    for case in range(CASES * 2):
        k = (3, 3) if case % 3 == 0 else None
        graph = G.conv(rng, depthwise=True, k=k, mult=1, dilation=(1, 1) if case % 2 else None)
        paths.add(_check_dw(klib, graph, rng).fields["short_requant"])
    assert paths == {0, 1}


def test_depthwise_multiplier_falls_back():
    rng = np.random.default_rng(102)
    graph = G.conv(rng, depthwise=True, mult=2)
    assert kernel_call(graph, graph.operators[0], dsp=True).kernel == "pm_depthwise_conv2d_s8"


def _mobilenet_like(rng, c=None):
    """conv -> depthwise 3x3 -> 1x1 -> depthwise 3x3 stride 2 -> depthwise 5x3 dilation 2, odd channel
    counts: the SIMD depthwise kernel's main loop, channel tails and borders in one network."""
    tensors: dict[str, Tensor] = {}
    ops: list[Operator] = []
    tensors["x"] = Tensor("x", (1, int(rng.integers(9, 14)), int(rng.integers(9, 14)), 3), "int8", _q(rng, 0.005, 0.1))

    def layer(name, src, kind, cout, k, stride, dilation=(1, 1)):
        _, h, w, cin = tensors[src].shape
        cout = cin if kind == "depthwise_conv2d" else cout
        wshape = (1, *k, cin) if kind == "depthwise_conv2d" else (cout, *k, cin)
        tensors[f"{name}_w"] = Tensor(f"{name}_w", wshape, "int8", _q(rng, 1e-3, 0.05, zp=0),
                                      rng.integers(-128, 128, wshape).astype(np.int8))
        tensors[f"{name}_b"] = Tensor(f"{name}_b", (cout,), "int32", Quantization((1.0,), (0,)),
                                      rng.integers(-5000, 5000, cout).astype(np.int32))
        oh = out_size("same", h, k[0], stride[0], dilation[0])
        ow = out_size("same", w, k[1], stride[1], dilation[1])
        tensors[name] = Tensor(name, (1, oh, ow, cout), "int8", _q(rng, 0.01, 0.3))
        attrs = {"stride": stride, "dilation": dilation, "padding": "same", "activation": "relu"}
        if kind == "depthwise_conv2d":
            attrs["depth_multiplier"] = 1
        ops.append(Operator(name, kind, (src, f"{name}_w", f"{name}_b"), (name,), attrs))
        return name

    c = c or int(rng.choice([4, 8, 12]))  # the 1x1 then widens to an odd count for the depthwise tails
    a = layer("c0", "x", "conv2d", c, (3, 3), (2, 2))
    a = layer("d1", a, "depthwise_conv2d", c, (3, 3), (1, 1))
    a = layer("c2", a, "conv2d", 2 * c + 1, (1, 1), (1, 1))
    a = layer("d3", a, "depthwise_conv2d", 0, (3, 3), (2, 2))
    a = layer("d4", a, "depthwise_conv2d", 0, (5, 3), (1, 1), (2, 1))
    return Graph(tensors, tuple(ops), ("x",), (a,), name="mobilenet_like")


@pytest.mark.parametrize("seed,board,optimize", [(111, "qemu-m4", "speed"), (113, "qemu-m4", "size"),
                                                  (112, "qemu-m55", "balanced")])
def test_depthwise_models_under_qemu(tmp_path, seed, board, optimize):
    """The depthwise SMLABB/SMLATT assembly and the pointwise kernels' assembly (int16 weights: speed,
    int8: size) on the M4, the M55's paths; odd channel counts, strides and dilation; built and run
    under QEMU, outputs equal to the reference."""
    from pixmcu.cli import main
    from pixmcu.codegen import generate

    rng = np.random.default_rng(seed)
    graph = _mobilenet_like(rng)
    x = rng.integers(-128, 128, (2, *graph.input_tensor().shape[1:])).astype(np.int8)
    np.savez(tmp_path / "data.npz", x=x)
    gen = generate(graph, tmp_path / "gen", board=board, name="net", optimize=optimize)
    kernels = [layer["kernel"] for layer in gen.manifest["layers"]]
    assert kernels.count("pm_depthwise_conv2d_mve_s8" if board == "qemu-m55" else "pm_depthwise_conv2d_dsp_s8") == 3
    if board == "qemu-m4":
        assert kernels[2] == {"speed": "pm_conv2d_packed_1x1_s8", "size": "pm_conv2d_packed8_1x1_s8"}[optimize]
    assert main(["run", str(tmp_path / "gen"), "--data", str(tmp_path / "data.npz"), "--transport", "semihost",
                 "--no-check", "--quiet", "--save-outputs", str(tmp_path / "out.npz")]) == 0
    got = np.load(tmp_path / "out.npz")["outputs"]
    want = reference.invoke(graph, x)
    np.testing.assert_array_equal(got.reshape(want.shape), want)


def test_depthwise_many_channels_under_qemu(tmp_path):
    """The depthwise assembly past one call's 64 channels: 36 channels (runs of pixels per call), then
    73 (a 64-channel call, an 8-channel one and a byte-wise tail) through the 3x3 stride-2 and the
    dilated 5x3 windows; built and run under QEMU on the M4, outputs equal to the reference."""
    from pixmcu.cli import main
    from pixmcu.codegen import generate

    rng = np.random.default_rng(114)
    graph = _mobilenet_like(rng, c=36)
    x = rng.integers(-128, 128, (2, *graph.input_tensor().shape[1:])).astype(np.int8)
    np.savez(tmp_path / "data.npz", x=x)
    generate(graph, tmp_path / "gen", board="qemu-m4", name="net")
    assert main(["run", str(tmp_path / "gen"), "--data", str(tmp_path / "data.npz"), "--transport", "semihost",
                 "--no-check", "--quiet", "--save-outputs", str(tmp_path / "out.npz")]) == 0
    got = np.load(tmp_path / "out.npz")["outputs"]
    want = reference.invoke(graph, x)
    np.testing.assert_array_equal(got.reshape(want.shape), want)


def test_fully_connected_as_blocked_dsp_conv(klib):
    """On DSP cores a fully connected layer runs as a 1x1 convolution over its batch rows (four units
    per widened input word; packed int8 weights when the depth is a multiple of 4); random depths (odd
    too), units and batches, bit-exact."""
    rng = np.random.default_rng(121)
    kernels = set()
    for _ in range(CASES):
        graph = G.fully_connected(rng)
        op = graph.operators[0]
        call = kernel_call(graph, op, dsp=True)
        kernels.add(call.kernel)
        x = G.random_input(rng, graph)[0]
        want = OPS["fully_connected"](graph, op, [x[None]], lower(graph, op))[0]
        y_t = graph.tensors[op.outputs[0]]
        buf = np.full(y_t.nbytes + 2 * GUARD, GUARD_BYTE, np.uint8)
        _call_kernel(klib, call, x, ctypes.c_void_p(buf.ctypes.data + GUARD))
        got = buf[GUARD:GUARD + y_t.nbytes].view(np.int8).reshape(y_t.shape)
        np.testing.assert_array_equal(got, want.reshape(y_t.shape))
        assert (buf[:GUARD] == GUARD_BYTE).all() and (buf[GUARD + y_t.nbytes:] == GUARD_BYTE).all()
    assert kernels == {"pm_conv2d_dsp_s8", "pm_conv2d_packed8_1x1_s8"}
