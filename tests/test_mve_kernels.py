"""The Helium (M55) kernels' own paths: the depthwise convolution (pm_depthwise_conv2d_mve_s8), fully
connected layers and the window cases of pm_conv2d_mve_s8 (read in place, copied with padding) against
the numpy reference, bit for bit. On the host the portable C path runs (UBSan, guard bytes around
input, scratch and output); under QEMU on qemu-m55 one small network takes the MVE paths of all of
them (tail-predicated loops, predicated channel tails, scatters, the residual ADD's gathers).
The convolutions' random shapes are in tests/test_perf_kernels.py (variant "mve")."""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np
import pytest

from pixmcu import reference
from pixmcu.codegen import packing
from pixmcu.codegen.kernels import kernel_call
from pixmcu.ir import Graph, Operator, Quantization, Tensor
from pixmcu.lowering import lower
from pixmcu.reference.ops import OPS
from pixmcu.shapes import out_size

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_support import GUARD, GUARD_BYTE, _struct  # noqa: E402
from kernel_support import graphs as G  # noqa: E402
from test_perf_kernels import _q, conv_graph, klib  # noqa: E402,F401  (klib: the shared kernel library fixture)


def _guarded_copy(a: np.ndarray) -> np.ndarray:
    buf = np.full(a.nbytes + 2 * GUARD, GUARD_BYTE, np.uint8)
    buf[GUARD:GUARD + a.nbytes] = a.view(np.uint8).ravel()
    return buf


def _run(lib, graph, x):
    """The op's MVE kernel on x, input and scratch flush against guard bytes; the output and the call."""
    op = graph.operators[0]
    call = kernel_call(graph, op, mve=True)
    keep: list = []
    params = _struct(call, keep)
    xbuf = _guarded_copy(np.ascontiguousarray(x))
    y_t = graph.tensors[op.outputs[0]]
    out = np.full(y_t.nbytes + 2 * GUARD, GUARD_BYTE, np.uint8)
    args = [ctypes.byref(params), ctypes.c_void_p(xbuf.ctypes.data + GUARD)]
    scratch = None
    if call.scratch_bytes:
        scratch = np.full(call.scratch_bytes + 2 * GUARD, GUARD_BYTE, np.uint8)
        args.append(ctypes.c_void_p(scratch.ctypes.data + GUARD))
    assert getattr(lib, call.kernel)(*args, ctypes.c_void_p(out.ctypes.data + GUARD)) == 0
    for buf in (xbuf, out) + ((scratch,) if scratch is not None else ()):
        assert (buf[:GUARD] == GUARD_BYTE).all() and (buf[-GUARD:] == GUARD_BYTE).all(), call.kernel
    return out[GUARD:GUARD + y_t.nbytes].view(np.int8).reshape(y_t.shape), call


def test_mve_constants_layout():
    """Weights [group of 4 oc][16-byte chunk][oc][16], zero-padded; per group biases (offset folded),
    multipliers, left shifts, negated right shifts."""
    w = (np.arange(5 * 1 * 2 * 9) % 251 - 120).astype(np.int8).reshape(5, 1, 2, 9)  # n = 18 -> 32
    c = packing.mve_constants(w, np.arange(5) * 10, [7, 8, 9, 10, 11], [-3, 2, 0, -31, 1], input_offset=3)
    wt = c["weights"].reshape(2, 2, 4, 16)
    flat = w.reshape(5, 18).astype(np.int64)
    assert (wt[0, 1, 2, :2] == flat[2, 16:]).all() and (wt[1, 0, 0] == flat[4, :16]).all()
    assert not wt[0, 1, :, 2:].any() and not wt[1, :, 1:].any()
    rec = c["requant"].reshape(2, 4, 4)
    assert rec[0, 0, 1] == 10 + 3 * flat[1].sum() and list(rec[1, :, 0]) == [40 + 3 * flat[4].sum(), 11, 1, 0]
    assert list(rec[0, 2]) == [0, 2, 0, 0] and list(rec[0, 3]) == [-3, 0, 0, -31] and not rec[1, :, 1:].any()
    assert packing.mve_right_only(c["requant"]) == 0  # channel 1 shifts left, channel 2 not at all
    c = packing.mve_constants(w, None, [7, 0, 9, 10, 11], [-3, 2, -1, -31, -5], input_offset=3)
    assert packing.mve_right_only(c["requant"]) == 1  # the left shift is on a zero multiplier


def test_depthwise_mve_random(klib):
    """Kernel sizes 1-4 and 3x3, strides 1-3, dilation 1-2, 'same'/'valid', 1-13 channels (groups of 8
    and tails), batches, per-tensor and per-channel scales, with and without bias."""
    rng = np.random.default_rng(131)
    for case in range(100):
        graph = G.conv(rng, depthwise=True, k=(3, 3) if case % 3 == 0 else None, mult=1,
                       dilation=(1, 1) if case % 2 else None)
        op = graph.operators[0]
        x = G.random_input(rng, graph)[0]
        want = OPS["depthwise_conv2d"](graph, op, [x[None]], lower(graph, op))[0]
        got, call = _run(klib, graph, x)
        assert call.kernel == "pm_depthwise_conv2d_mve_s8"
        np.testing.assert_array_equal(got, want.reshape(got.shape), err_msg=f"{x.shape} {dict(op.attrs)}")


def test_depthwise_mve_wide_channels_and_padding_only_windows(klib):
    """Many groups of eight (and a tail) with 'same' padding wider than the image on one side."""
    rng = np.random.default_rng(132)
    for c, k, hw in [(40, (3, 3), (6, 5)), (21, (5, 5), (2, 3)), (64, (3, 3), (1, 1))]:
        x_t = Tensor("x", (1, *hw, c), "int8", _q(rng, 0.005, 0.1))
        wq = Quantization(tuple(float(s) for s in np.exp(rng.uniform(np.log(1e-3), np.log(0.05), c))), (0,) * c, 3)
        w = Tensor("w", (1, *k, c), "int8", wq, rng.integers(-128, 128, (1, *k, c)).astype(np.int8))
        b = Tensor("b", (c,), "int32", Quantization((1.0,), (0,)), rng.integers(-9000, 9000, c).astype(np.int32))
        oh, ow = out_size("same", hw[0], k[0], 1), out_size("same", hw[1], k[1], 1)
        y = Tensor("y", (1, oh, ow, c), "int8", _q(rng, 0.01, 0.3))
        graph = G.single("depthwise_conv2d", [x_t, w, b], y,
                         {"stride": (1, 1), "dilation": (1, 1), "padding": "same", "activation": "relu",
                          "depth_multiplier": 1})
        x = G.random_input(rng, graph)[0]
        op = graph.operators[0]
        want = OPS["depthwise_conv2d"](graph, op, [x[None]], lower(graph, op))[0]
        got, _ = _run(klib, graph, x)
        np.testing.assert_array_equal(got, want.reshape(got.shape))


def test_fully_connected_mve(klib):
    """Fully connected layers as a 1x1 Helium convolution over the batch rows: any depth and units."""
    rng = np.random.default_rng(133)
    for _ in range(60):
        graph = G.fully_connected(rng)
        op = graph.operators[0]
        x = G.random_input(rng, graph)[0]
        want = OPS["fully_connected"](graph, op, [x[None]], lower(graph, op))[0]
        got, call = _run(klib, graph, x)
        assert call.kernel == "pm_conv2d_mve_s8"
        np.testing.assert_array_equal(got.reshape(want.shape), want)


@pytest.mark.parametrize("cin,k,w,stride,padding", [
    (7, (1, 5), 9, (1, 1), "same"),     # kh == 1: inside windows read in place, borders copied
    (5, (3, 4), 4, (1, 1), "valid"),    # kw == in_w: the window's rows follow each other
    (20, (3, 3), 6, (2, 2), "same"),    # 16-byte chunks and a tail
    (3, (3, 3), 5, (1, 2), "same"),
])
def test_conv_mve_window_paths(klib, cin, k, w, stride, padding):
    rng = np.random.default_rng(134 + cin)
    x_t = Tensor("x", (1, 5, w, cin), "int8", _q(rng, 0.005, 0.1))
    oh, ow = out_size(padding, 5, k[0], stride[0]), out_size(padding, w, k[1], stride[1])
    for cout in (1, 6, 9):
        wt = Tensor("w", (cout, *k, cin), "int8", _q(rng, 1e-3, 0.05, zp=0),
                    rng.integers(-128, 128, (cout, *k, cin)).astype(np.int8))
        b = Tensor("b", (cout,), "int32", Quantization((1.0,), (0,)), rng.integers(-9000, 9000, cout).astype(np.int32))
        y = Tensor("y", (1, oh, ow, cout), "int8", _q(rng, 0.01, 0.3))
        graph = G.single("conv2d", [x_t, wt, b], y,
                         {"stride": stride, "dilation": (1, 1), "padding": padding, "activation": "none"})
        op = graph.operators[0]
        x = G.random_input(rng, graph)[0]
        want = OPS["conv2d"](graph, op, [x[None]], lower(graph, op))[0]
        got, _ = _run(klib, graph, x)
        np.testing.assert_array_equal(got, want.reshape(got.shape))


def _mve_net(rng):
    """conv 1x5 -> depthwise 3x3 (16 channels: whole windows take the unrolled run) -> conv 3x3 stride 2
    (cout 6) + a residual from a 1x1 -> depthwise 3x3 stride 2 (6 channels: a predicated tail) -> fully
    connected (units 10): each Helium kernel, its tails and its window cases in one net."""
    tensors: dict[str, Tensor] = {"x": Tensor("x", (1, 9, 11, 3), "int8", _q(rng, 0.005, 0.1))}
    ops: list[Operator] = []

    def weights(name, shape, cout, axis=0):
        tensors[f"{name}_w"] = Tensor(f"{name}_w", shape, "int8",
                                      Quantization(tuple(float(s) for s in rng.uniform(2e-3, 3e-2, cout)),
                                                   (0,) * cout, axis), rng.integers(-128, 128, shape).astype(np.int8))
        tensors[f"{name}_b"] = Tensor(f"{name}_b", (cout,), "int32", Quantization((1.0,), (0,)),
                                      rng.integers(-5000, 5000, cout).astype(np.int32))
        return (f"{name}_w", f"{name}_b")

    def layer(name, src, kind, cout, k, stride, act="relu", out_scale=None):
        _, h, w, cin = tensors[src].shape
        dw = kind == "depthwise_conv2d"
        cout = cin if dw else cout
        wt = weights(name, (1, *k, cin) if dw else (cout, *k, cin), cout, 3 if dw else 0)
        oh, ow = out_size("same", h, k[0], stride[0]), out_size("same", w, k[1], stride[1])
        q = _q(rng, 0.01, 0.3) if out_scale is None else Quantization((out_scale,), (3,))
        tensors[name] = Tensor(name, (1, oh, ow, cout), "int8", q)
        attrs = {"stride": stride, "dilation": (1, 1), "padding": "same", "activation": act}
        if dw:
            attrs["depth_multiplier"] = 1
        ops.append(Operator(name, kind, (src, *wt), (name,), attrs))
        return name

    a = layer("c0", "x", "conv2d", 16, (1, 5), (1, 1))
    a = layer("d1", a, "depthwise_conv2d", 0, (3, 3), (1, 1))
    b = layer("c2", a, "conv2d", 6, (3, 3), (2, 2), act="none")
    # An output scale below input x weight scale: multipliers above 1, left shifts (the general requantization).
    s = layer("c3", a, "conv2d", 6, (1, 1), (2, 2), act="none", out_scale=float(tensors[a].quant.scale[0]) * 1e-3)
    tensors["add4"] = Tensor("add4", tensors[b].shape, "int8", _q(rng, 0.01, 0.3))
    ops.append(Operator("add4", "add", (b, s), ("add4",), {"activation": "relu"}))
    a = layer("d5", "add4", "depthwise_conv2d", 0, (3, 3), (2, 2))
    n = int(np.prod(tensors[a].shape[1:]))
    tensors["flat"] = Tensor("flat", (1, n), "int8", tensors[a].quant)
    ops.append(Operator("flat", "reshape", (a,), ("flat",), {"new_shape": (1, n)}))
    wt = weights("fc", (10, n), 10)
    tensors["fc"] = Tensor("fc", (1, 10), "int8", _q(rng, 0.01, 0.3))
    ops.append(Operator("fc", "fully_connected", ("flat", *wt), ("fc",), {"activation": "none"}))
    return Graph(tensors, tuple(ops), ("x",), ("fc",), name="mve_net")


def test_mve_net_host(klib):
    """The same network through the host C of the generated code (portable paths), unfused and fused."""
    from pixmcu.engines.host_c import run_host_c

    rng = np.random.default_rng(141)
    graph = _mve_net(rng)
    x = rng.integers(-128, 128, (2, *graph.input_tensor().shape[1:])).astype(np.int8)
    want = reference.run(graph, x)
    for fuse in (True, False):
        y, layers = run_host_c(graph, x, board="qemu-m55", layers=True, fuse=fuse)
        np.testing.assert_array_equal(y, want[graph.outputs[0]])
        for name, got in layers.items():
            np.testing.assert_array_equal(got, want[name], err_msg=f"{name} fuse={fuse}")


def test_mve_net_under_qemu(tmp_path):
    """Built for qemu-m55 and run under QEMU: the MVE paths, outputs equal to the reference."""
    from pixmcu.cli import main
    from pixmcu.codegen import generate

    rng = np.random.default_rng(141)
    graph = _mve_net(rng)
    x = rng.integers(-128, 128, (3, *graph.input_tensor().shape[1:])).astype(np.int8)
    np.savez(tmp_path / "data.npz", x=x)
    gen = generate(graph, tmp_path / "gen", board="qemu-m55", name="net")
    kernels = [layer["kernel"] for layer in gen.manifest["layers"]]
    shorts = {kernel_call(graph, op, mve=True).fields["right_only"] for op in graph.operators if op.kind == "conv2d"}
    assert shorts == {0, 1}  # both requantization paths of the Helium convolution
    assert {"pm_conv2d_mve_s8", "pm_conv2d_mve_add_s8", "pm_depthwise_conv2d_mve_s8"} <= set(kernels)
    assert kernels[-1] == "pm_conv2d_mve_s8"  # the fully connected layer
    assert main(["run", str(tmp_path / "gen"), "--data", str(tmp_path / "data.npz"), "--transport", "semihost",
                 "--no-check", "--quiet", "--save-outputs", str(tmp_path / "out.npz")]) == 0
    got = np.load(tmp_path / "out.npz")["outputs"]
    want = reference.invoke(graph, x)
    np.testing.assert_array_equal(got.reshape(want.shape), want)
