"""Packed 4-bit activations (issue 16): pm_conv2d_packed4_a4 (channel tails too), pm_conv2d_packed4_add_a4,
pm_pixel_embedding_a4 and pm_{max,avg}_pool2d_a4 against the numpy reference, bit for bit, with each
tensor packed or not, each run with its output overlapping its input at the planner's delta (so the
overlap rules are checked too), guard bytes around every buffer, under UBSan (the shared kernel
library of tests/test_perf_kernels.py)."""

from __future__ import annotations

import ctypes
import itertools
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pixmcu.codegen import act4
from pixmcu.codegen.kernels import KernelCall, fuse_residual_adds, kernel_call
from pixmcu.ir import Graph, Tensor
from pixmcu.lowering import lower
from pixmcu.reference.ops import OPS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_support import GUARD, GUARD_BYTE  # noqa: E402
from kernel_support import graphs as G  # noqa: E402
from test_lowbit_kernels import INT4, _to_int4  # noqa: E402
from test_perf_kernels import _call_kernel, conv_add_graph, conv_graph, klib  # noqa: E402,F401


def pack(v: np.ndarray, low: int) -> np.ndarray:
    n = (v.ravel().astype(np.int16) - low).astype(np.uint8)
    assert n.max(initial=0) < 16
    return (n[0::2] | (n[1::2] << 4)).astype(np.uint8)


def _run_overlapped(lib, call, x_stored: np.ndarray, out_bytes: int, delta: int) -> np.ndarray:
    """Run `call` with its output starting `delta` bytes before its input in one guarded buffer."""
    size = max(out_bytes, delta + x_stored.nbytes)
    buf = np.full(size + 2 * GUARD, GUARD_BYTE, np.uint8)
    buf[GUARD + delta:GUARD + delta + x_stored.nbytes] = x_stored.view(np.uint8).ravel()
    x_view = buf[GUARD + delta:]  # the kernel reads the input from the shared buffer
    _call_kernel(lib, call, x_view, ctypes.c_void_p(buf.ctypes.data + GUARD))
    assert (buf[:GUARD] == GUARD_BYTE).all() and (buf[GUARD + size:] == GUARD_BYTE).all()
    return buf[GUARD:GUARD + out_bytes].copy()


def _sides(rng, x_lo, y_lo, tail=False):
    pin, pout = [(1, 0), (0, 1), (1, 1), (0, 0)][int(rng.integers(0, 4 if tail else 3))]
    return pin, pout, {"input_packed": pin, "input_low": x_lo, "output_packed": pout, "output_low": y_lo}


def test_conv_a4_random(klib):  # noqa: F811
    """Input channels a multiple of 4 or not (rounded up with zero weights, padded in scratch); input,
    output, both or neither packed (neither: the twin standing in for pm_conv2d_packed4_s8)."""
    rng = np.random.default_rng(1600)
    seen = set()
    for case in range(40):
        cin = int(rng.choice([4, 8, 16, 2, 6, 10, 30, 3]))
        graph = _to_int4(conv_graph(rng, cin=cin, cout=int(rng.choice([2, 4, 6, 16]))), rng, extremes=case % 7 == 0)
        op = graph.operators[0]
        base = act4._int4_conv(graph, op, kernel_call(graph, op, packed=True, dsp=True))
        assert base is not None and base.kernel in act4.CONV
        lo_b, hi_b = base.fields["act_min"], base.fields["act_max"]
        x_lo, y_lo = int(rng.integers(-128, 113)), int(rng.integers(lo_b, max(lo_b, hi_b - 15) + 1))
        x = rng.integers(x_lo, x_lo + 16, graph.tensors[op.inputs[0]].shape).astype(np.int8)
        want = OPS["conv2d"](graph, op, [x[None]], lower(graph, op))[0]
        want = np.clip(want, max(y_lo, lo_b), min(y_lo + 15, hi_b))
        pin, pout, _ = _sides(rng, x_lo, y_lo, tail=True)  # neither packed: the twin as every conv's kernel
        pin = pin if cin % 2 == 0 else 0
        f = dict(base.fields, act_min=max(y_lo, lo_b), act_max=min(y_lo + 15, hi_b))
        calls, plan = act4.rewrite(graph, [replace(base, fields=f)],
                                   {n: lo for n, lo, p in ((op.inputs[0], x_lo, pin), (op.outputs[0], y_lo, pout)) if p},
                                   every=True)
        call = calls[0]
        assert call.kernel == "pm_conv2d_packed4_a4" and call.fields["input_channels"] == cin
        stored = pack(x, x_lo) if pin else x.view(np.uint8)
        out_bytes = want.size // 2 if pout else want.size
        got = _run_overlapped(klib, call, stored, out_bytes, plan.deltas[0][1])
        np.testing.assert_array_equal(got, pack(want, y_lo) if pout else want.view(np.uint8).ravel(),
                                      err_msg=f"case {case}: {x.shape} {dict(op.attrs)} packed {pin}/{pout}")
        seen.add((pin, pout, cin % 4 != 0))
    assert {(1, 0, False), (0, 1, False), (1, 1, False), (0, 0, False), (1, 1, True), (0, 0, True)} <= seen


@pytest.mark.parametrize("bits", [4, 2])
@pytest.mark.parametrize("conv_first", [True, False])
def test_conv_add_a4_random(klib, conv_first, bits):  # noqa: F811
    """The fused residual ADD with any of its input, residual and sum packed, the sum written over the
    residual (the planner's placement when the residual dies there); int4 weights or 2-bit ones
    (pm_conv2d_packed2_add_a4)."""
    rng = np.random.default_rng(1610 + conv_first + 2 * (bits == 2))
    opts, fused_kernel, twin = (INT4, act4.FUSED, act4.FUSED_A4) if bits == 4 else \
        ({"packed": True, "int2_weights": True, "dsp": True}, act4.FUSED2, act4.FUSED2_A4)
    seen = set()
    for case in range(24):
        graph = conv_add_graph(rng, conv_first, cin=int(rng.choice([4, 8, 16])))
        op = graph.operators[0]
        w = graph.tensors[op.inputs[1]]
        graph = Graph({**graph.tensors, w.name: Tensor(w.name, w.shape, "int8", w.quant,
                                                       rng.integers(-(1 << (bits - 1)), 1 << (bits - 1),
                                                                    w.shape).astype(np.int8))},
                      graph.operators, graph.inputs, graph.outputs)
        calls = fuse_residual_adds(graph, [kernel_call(graph, o, **opts) for o in graph.operators])
        fused = calls[0]
        assert fused.kernel == fused_kernel
        lo_b, hi_b = fused.fields["act_min"], fused.fields["act_max"]
        x_lo, r_lo = int(rng.integers(-128, 113)), int(rng.integers(-128, 113))
        y_lo = int(rng.integers(lo_b, max(lo_b, hi_b - 15) + 1))
        conv_op, add_op = graph.operators
        x = rng.integers(x_lo, x_lo + 16, graph.tensors["x"].shape).astype(np.int8)
        r = rng.integers(r_lo, r_lo + 16, graph.tensors["r"].shape).astype(np.int8)
        c = OPS["conv2d"](graph, conv_op, [x[None]], lower(graph, conv_op))
        pair = [c, r[None]] if conv_first else [r[None], c]
        want = np.clip(OPS["add"](graph, add_op, pair, lower(graph, add_op))[0], max(y_lo, lo_b), min(y_lo + 15, hi_b))
        pin, pres, pout = (int(v) for v in rng.integers(0, 2, 3))
        if r.shape[-1] % 2:  # odd output channels: only the input may be packed
            pres = pout = 0
        if not (pin or pres or pout):
            pin = 1
        f = dict(fused.fields, act_min=max(y_lo, lo_b), act_max=min(y_lo + 15, hi_b))
        packed = {n: lo for n, lo, p in (("x", x_lo, pin), ("r", r_lo, pres), ("s", y_lo, pout)) if p}
        new, plan = act4.rewrite(graph, [replace(fused, fields=f), calls[1]], packed)
        call = new[0]
        src, delta = plan.deltas[0]
        assert call.kernel == twin and src == "r" and (delta == 0) == (pout or not pres or r.shape[0] * r.shape[1] == 1)
        r_stored = pack(r, r_lo) if pres else r.view(np.uint8).ravel()
        out_bytes = want.size // 2 if pout else want.size
        size = max(out_bytes, delta + r_stored.size)
        buf = np.full(size + 2 * GUARD, GUARD_BYTE, np.uint8)
        buf[GUARD + delta:GUARD + delta + r_stored.size] = r_stored
        ptr = ctypes.c_void_p(buf.ctypes.data + GUARD)
        _call_kernel(klib, call, pack(x, x_lo) if pin else x, ptr, residual_ptr=ctypes.c_void_p(buf.ctypes.data + GUARD + delta))
        assert (buf[:GUARD] == GUARD_BYTE).all() and (buf[GUARD + size:] == GUARD_BYTE).all()
        np.testing.assert_array_equal(buf[GUARD:GUARD + out_bytes], pack(want, y_lo) if pout else
                                      want.view(np.uint8).ravel(), err_msg=f"case {case} packed {pin}/{pres}/{pout}")
        seen.add((pin, pres, pout))
    assert len(seen) >= 5


def test_pixel_embedding_a4(klib):  # noqa: F811
    """Packed tables (4-bit codes, or 2-bit codes widened) per pixel channel: the packed codes of
    pm_pixel_embedding_u8's output."""
    rng = np.random.default_rng(1620)
    for (shared, c, d), bits in itertools.product([(1, 1, 4), (0, 3, 10), (0, 2, 2), (1, 3, 6)], (4, 2)):
        lo = int(rng.integers(-128, 113))
        table = rng.integers(lo, lo + (1 << bits), (1 if shared else c, 256, d)).astype(np.int8)
        x = rng.integers(0, 256, (2, 5, 7, c)).astype(np.uint8)
        want = np.stack([table[0 if shared else k][x[..., k]] for k in range(c)], axis=-2).reshape(-1)
        call = KernelCall(act4.EMBED_A4 if bits == 4 else act4.EMBED_T2, "pm_embedding_params_t",
                          {"pixels": 70, "channels": c, "embed_dim": d, "shared": shared, "table": "table"},
                          {"table": act4._pack_table(table, lo, bits)}, ("x",), output="y")
        assert call.arrays["table"].nbytes == table.shape[0] * 256 * -(-d * bits // 8)
        buf = np.full(want.size // 2 + 2 * GUARD, GUARD_BYTE, np.uint8)
        _call_kernel(klib, call, x, ctypes.c_void_p(buf.ctypes.data + GUARD))
        assert (buf[:GUARD] == GUARD_BYTE).all() and (buf[GUARD + want.size // 2:] == GUARD_BYTE).all()
        np.testing.assert_array_equal(buf[GUARD:GUARD + want.size // 2], pack(want, lo))


@pytest.mark.parametrize("kind", ["max_pool2d", "avg_pool2d"])
def test_pool_a4_random(klib, kind):  # noqa: F811
    rng = np.random.default_rng(1601 + (kind == "avg_pool2d"))
    for case in range(30):
        graph = G.pool(rng, kind)
        while graph.tensors["x"].shape[-1] % 2:
            graph = G.pool(rng, kind)
        xt = graph.tensors["x"]
        op = graph.operators[0]
        base = kernel_call(graph, op, dsp=True)
        lo_b, hi_b = base.fields["act_min"], base.fields["act_max"]
        lo = int(rng.integers(min(lo_b, 112), min(112, max(lo_b, hi_b - 15)) + 1))  # values the clamp keeps in [lo, lo + 15]
        x = rng.integers(lo, lo + 16, xt.shape).astype(np.int8)
        want = OPS[kind](graph, op, [x[None]], lower(graph, op))[0]
        pin, pout, _ = _sides(rng, lo, lo)
        calls, plan = act4.rewrite(graph, [base], {t: lo for t, p in (("x", pin), ("y", pout)) if p})
        call = calls[0]
        assert call.kernel == f"pm_{kind}_a4"
        got = _run_overlapped(klib, call, pack(x, lo) if pin else x.view(np.uint8), want.size // (2 if pout else 1),
                              plan.deltas[0][1])
        np.testing.assert_array_equal(got, pack(want, lo) if pout else want.view(np.uint8).ravel(), err_msg=f"case {case}")


def test_delta_rows_is_tight():
    """Row r's writes may reach the first input row a later output row reads, and no further."""
    f = {"input": (1, 28, 28, 4), "output": (1, 28, 28, 16), "filter": (16, 3, 3, 4), "stride_h": 1, "pad_h": 1}
    # 8 bytes per output pixel (packed), 4 per input pixel: row 26 ends at 27 * 224, row 27 first reads input row 26.
    assert act4.delta_rows(f, 4, 8) == 27 * 28 * 8 - 26 * 28 * 4
    assert act4.delta_rows(dict(f, input=(1, 28, 28, 16)), 8, 8) == 224  # equal rows: one row ahead


def _chain(rng):
    """input -> conv (ReLU6 at scale 0.4, zp -128: 4-bit) -> pool -> conv -> conv + ADD of the pool's
    output (a residual block, ReLU6) -> global average pool -> reshape -> fully connected: int4 weights,
    the shapes of a small W4A4 net."""
    from pixmcu.ir import Operator, Quantization

    a4 = Quantization((0.4,), (-128,))
    h, w = int(rng.integers(14, 25)), int(rng.integers(14, 25))
    c0, c1 = int(rng.choice([3, 4, 6, 8])), int(rng.choice([8, 16]))
    t = {"x": Tensor("x", (1, h, w, c0), "int8", a4)}
    ops = []

    def conv(name, src, cout, k, stride, act, q):
        cin = t[src].shape[-1]
        t[f"{name}_w"] = Tensor(f"{name}_w", (cout, k, k, cin), "int8", Quantization((1.0 / (k * k * cin * 4),), (0,)),
                                rng.integers(-8, 8, (cout, k, k, cin)).astype(np.int8))
        t[f"{name}_b"] = Tensor(f"{name}_b", (cout,), "int32", Quantization((1.0,), (0,)),
                                rng.integers(-2000, 2000, cout).astype(np.int32))
        _, hh, ww, _ = t[src].shape
        t[name] = Tensor(name, (1, -(-hh // stride), -(-ww // stride), cout), "int8", q)
        ops.append(Operator(name, "conv2d", (src, f"{name}_w", f"{name}_b"), (name,),
                            {"stride": (stride, stride), "dilation": (1, 1), "padding": "same", "activation": act}))

    conv("c1", "x", c1, 3, 1, "relu6", a4)
    _, hh, ww, _ = t["c1"].shape
    pool = str(rng.choice(["max_pool2d", "avg_pool2d"]))
    k = int(rng.integers(1, 3))  # a 1x1 pool keeps the block at full size (its packing then lowers the peak)
    t["p1"] = Tensor("p1", (1, hh // k, ww // k, c1), "int8", a4)
    ops.append(Operator("p1", pool, ("c1",), ("p1",), {"filter": (k, k), "stride": (k, k), "padding": "valid",
                                                        "activation": "none"}))
    conv("c2", "p1", int(rng.choice([6, 8, 10, 16])), 3, 1, "relu6", a4)  # 6, 10: the fused conv's channel tail
    conv("c3", "c2", c1, 3, 1, "none", Quantization((0.1,), (0,)))
    t["s"] = Tensor("s", t["p1"].shape, "int8", a4)
    ops.append(Operator("s", "add", ("c3", "p1"), ("s",), {"activation": "relu6"}))
    _, hh, ww, _ = t["s"].shape
    t["g"] = Tensor("g", (1, 1, 1, c1), "int8", a4)
    ops.append(Operator("g", "avg_pool2d", ("s",), ("g",), {"filter": (hh, ww), "stride": (1, 1), "padding": "valid",
                                                            "activation": "none"}))
    t["f"] = Tensor("f", (1, c1), "int8", a4)
    ops.append(Operator("f", "reshape", ("g",), ("f",), {}))
    t["y_w"] = Tensor("y_w", (10, c1), "int8", Quantization((0.02,), (0,)), rng.integers(-8, 8, (10, c1)).astype(np.int8))
    t["y"] = Tensor("y", (1, 10), "int8", Quantization((0.2,), (0,)))
    ops.append(Operator("y", "fully_connected", ("f", "y_w"), ("y",), {"activation": "none"}))
    return Graph(t, tuple(ops), ("x",), ("y",))


def test_packed_networks_end_to_end(tmp_path):
    """Random small W4A4 networks through `--optimize size` (the packing choice, the planner's packed
    offsets, channel tails, the fused ADD) in generated C on the host under ASan/UBSan: equal to the
    numpy reference on every image."""
    from pixmcu import reference
    from pixmcu.codegen import generate
    from pixmcu.engines.host_c import run_generated

    rng = np.random.default_rng(1630)
    kernels = set()
    for case in range(6):
        graph = _chain(rng)
        gen = generate(graph, tmp_path / f"g{case}", board="qemu-m4", name="net", optimize="size")
        layers = gen.manifest["layers"]
        assert any(la.get("activation_bits") == 4 for la in layers), [la["kernel"] for la in layers]
        kernels |= {la["kernel"] for la in layers}
        x = rng.integers(-128, 128, (3, *graph.tensors["x"].shape[1:])).astype(np.int8)
        want = reference.invoke(graph, x)
        got = run_generated(tmp_path / f"g{case}", x, workdir=tmp_path / f"h{case}")
        np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=f"case {case}")
    assert {"pm_conv2d_packed4_a4", "pm_conv2d_packed4_add_a4"} <= kernels
