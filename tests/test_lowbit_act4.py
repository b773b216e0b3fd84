"""Packed 4-bit activations (issue 16): pm_conv2d_packed4_a4 and pm_{max,avg}_pool2d_a4 against the numpy
reference, bit for bit, with the input and output packed or not, each run with its output overlapping
its input at the planner's delta (so the overlap rules are checked too), guard bytes around every
buffer, under UBSan (the shared kernel library of tests/test_perf_kernels.py)."""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np
import pytest

from pixmcu.codegen import act4
from pixmcu.codegen.kernels import kernel_call
from pixmcu.lowering import lower
from pixmcu.reference.ops import OPS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_support import GUARD, GUARD_BYTE  # noqa: E402
from kernel_support import graphs as G  # noqa: E402
from test_lowbit_kernels import INT4, _to_int4  # noqa: E402
from test_perf_kernels import _call_kernel, _q, conv_graph, klib  # noqa: E402,F401
from pixmcu.ir import Tensor  # noqa: E402


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


def _sides(rng, x_lo, y_lo):
    pin, pout = [(1, 0), (0, 1), (1, 1)][int(rng.integers(0, 3))]
    return pin, pout, {"input_packed": pin, "input_low": x_lo, "output_packed": pout, "output_low": y_lo}


def test_conv_a4_random(klib):  # noqa: F811
    rng = np.random.default_rng(1600)
    seen = set()
    for case in range(40):
        cin = int(rng.choice([4, 8, 16]))
        graph = _to_int4(conv_graph(rng, cin=cin, cout=int(rng.choice([2, 4, 6, 16]))), rng, extremes=case % 7 == 0)
        op = graph.operators[0]
        base = kernel_call(graph, op, **INT4)
        assert base.kernel in act4.CONV
        lo_b, hi_b = base.fields["act_min"], base.fields["act_max"]
        x_lo, y_lo = int(rng.integers(-128, 113)), int(rng.integers(lo_b, max(lo_b, hi_b - 15) + 1))
        x = rng.integers(x_lo, x_lo + 16, graph.tensors[op.inputs[0]].shape).astype(np.int8)
        want = OPS["conv2d"](graph, op, [x[None]], lower(graph, op))[0]
        want = np.clip(want, max(y_lo, base.fields["act_min"]), min(y_lo + 15, base.fields["act_max"]))
        pin, pout, sides = _sides(rng, x_lo, y_lo)
        f = dict(base.fields, act_min=max(y_lo, base.fields["act_min"]), act_max=min(y_lo + 15, base.fields["act_max"]))
        calls, plan = act4.rewrite(graph, [type(base)(**{**base.__dict__, "fields": f})],
                                   {n: lo for n, lo, p in ((op.inputs[0], x_lo, pin), (op.outputs[0], y_lo, pout)) if p})
        call = calls[0]
        assert call.kernel == "pm_conv2d_packed4_a4" and call.fields["input_low"] == (x_lo if pin else 0)
        stored = pack(x, x_lo) if pin else x.view(np.uint8)
        out_bytes = want.size // 2 if pout else want.size
        got = _run_overlapped(klib, call, stored, out_bytes, plan.deltas[0])
        np.testing.assert_array_equal(got, pack(want, y_lo) if pout else want.view(np.uint8).ravel(),
                                      err_msg=f"case {case}: {x.shape} {dict(op.attrs)} packed {pin}/{pout}")
        seen.add((pin, pout, call.fields["conv"]["filter"][1]))
    assert {(1, 0), (0, 1), (1, 1)} <= {s[:2] for s in seen}


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
                              plan.deltas[0])
        np.testing.assert_array_equal(got, pack(want, lo) if pout else want.view(np.uint8).ravel(), err_msg=f"case {case}")


def test_delta_rows_is_tight():
    """Row r's writes may reach the first input row a later output row reads, and no further."""
    f = {"input": (1, 28, 28, 4), "output": (1, 28, 28, 16), "filter": (16, 3, 3, 4), "stride_h": 1, "pad_h": 1}
    # 8 bytes per output pixel (packed), 4 per input pixel: row 26 ends at 27 * 224, row 27 first reads input row 26.
    assert act4.delta_rows(f, 4, 8) == 27 * 28 * 8 - 26 * 28 * 4
    assert act4.delta_rows(dict(f, input=(1, 28, 28, 16)), 8, 8) == 224  # equal rows: one row ahead
