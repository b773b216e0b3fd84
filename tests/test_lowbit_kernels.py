"""Packed int4 weights (issue 16): pm_conv2d_packed4_* against the numpy reference, bit for bit.

Random shapes (1x1 and odd kernels, strides, 'same'/'valid', input channels multiples of 4), random
zero points, per-tensor and per-channel multipliers, both requantization paths, the fused residual
ADD, fully connected layers as 1x1 convolutions, weights at the int4 extremes (-8 and 7). The shared
library carries UBSan with guard bytes around every buffer (tests/test_perf_kernels.py); the whole
generated model runs on qemu-m4 in tests/test_lowbit_models.py.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np
import pytest

from pixmcu.codegen import packing
from pixmcu.codegen.kernels import fuse_residual_adds, int4_eligible, kernel_call
from pixmcu.ir import Graph, Tensor
from pixmcu.lowering import lower
from pixmcu.reference.ops import OPS

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_perf_kernels as P  # noqa: E402
from test_perf_kernels import _call_kernel, _q, conv_add_graph, conv_graph, klib  # noqa: E402,F401
from kernel_support import GUARD, GUARD_BYTE  # noqa: E402
from kernel_support import graphs as G  # noqa: E402

INT4 = {"packed": True, "int4_weights": True, "dsp": True}


def _check_conv(lib, graph, rng):
    return P._check_conv(lib, graph, rng, INT4)


def _to_int4(graph: Graph, rng, extremes: bool = False) -> Graph:
    """The graph with its filter redrawn in int4 (only -8 and 7 when `extremes`)."""
    op = graph.operators[0]
    w = graph.tensors[op.inputs[1]]
    data = rng.choice([-8, 7], w.shape) if extremes else rng.integers(-8, 8, w.shape)
    tensors = dict(graph.tensors)
    tensors[w.name] = Tensor(w.name, w.shape, "int8", w.quant, data.astype(np.int8))
    return Graph(tensors, graph.operators, graph.inputs, graph.outputs)


def test_int4_packing_layout():
    """Word j byte k of (block, tap, group): input channel k of output channels 2j (low) and 2j+1 (high)."""
    rng = np.random.default_rng(160)
    w = rng.integers(-8, 8, (6, 1, 2, 8)).astype(np.int8)
    b = packing.pack_weights4(w).view(np.uint8).reshape(2, 1, 2, 2, 2, 4)  # block, ky, kx, group, j, k
    nib = lambda v: ((int(v) & 0xF) ^ 8) - 8  # noqa: E731
    for blk, kx, grp, j, k in [(0, 0, 0, 0, 0), (0, 1, 1, 1, 3), (1, 0, 1, 0, 2), (1, 1, 0, 0, 1)]:
        byte = b[blk, 0, kx, grp, j, k]
        oc, cin = 4 * blk + 2 * j, 4 * grp + k
        assert nib(byte & 0xF) == w[oc, 0, kx, cin] and nib(byte >> 4) == w[oc + 1, 0, kx, cin]
    assert not b[1, :, :, :, 1].any()  # output channels 6 and 7 are padding
    with pytest.raises(ValueError, match="int4"):
        packing.pack_weights4(np.array([[[[8, 0, 0, 0]]]]))


def test_int4_eligibility():
    rng = np.random.default_rng(161)
    g = _to_int4(conv_graph(rng, cin=8), rng)
    assert int4_eligible(g, g.operators[0])
    w = g.tensors[g.operators[0].inputs[1]]
    eight = dict(g.tensors)
    eight[w.name] = Tensor(w.name, w.shape, "int8", w.quant, np.where(np.arange(w.data.size).reshape(w.shape) == 5,
                                                                      8, w.data).astype(np.int8))
    assert not int4_eligible(Graph(eight, g.operators, g.inputs, g.outputs), g.operators[0])  # one 8
    odd = _to_int4(conv_graph(rng, cin=3), rng)
    assert not int4_eligible(odd, odd.operators[0])  # input channels not a multiple of 4
    with pytest.raises(Exception, match="int4"):
        kernel_call(odd, odd.operators[0], packed=True, int4_weights=True, dsp=True)


def test_int4_conv_random(klib):  # noqa: F811
    rng = np.random.default_rng(162)
    kernels, paths = set(), set()
    for case in range(80):
        graph = _to_int4(conv_graph(rng, cin=int(rng.choice([4, 8, 12, 16, 32])), big_bias=case % 9 == 4),
                         rng, extremes=case % 5 == 0)
        call = _check_conv(klib, graph, rng)
        kernels.add(call.kernel)
        paths.add(call.fields["short_requant"])
        assert call.arrays["weights"].nbytes * 2 == pytest.approx(
            -(-call.fields["filter"][0] // 4) * 4 * call.fields["filter"][1] * call.fields["filter"][2]
            * call.fields["filter"][3], abs=0)
    assert kernels == {"pm_conv2d_packed4_s8", "pm_conv2d_packed4_1x1_s8"}
    assert paths == {0, 1}


@pytest.mark.parametrize("conv_first", [True, False])
def test_int4_conv_add_fused(klib, conv_first):  # noqa: F811
    rng = np.random.default_rng(163 + conv_first)
    for case in range(24):
        graph = conv_add_graph(rng, conv_first, big_bias=case % 7 == 3)
        op = graph.operators[0]
        w = graph.tensors[op.inputs[1]]
        tensors = dict(graph.tensors)
        tensors[w.name] = Tensor(w.name, w.shape, "int8", w.quant, rng.integers(-8, 8, w.shape).astype(np.int8))
        check_fused(klib, Graph(tensors, graph.operators, graph.inputs, graph.outputs), rng, conv_first, INT4,
                    "pm_conv2d_packed4_add_s8")


def check_fused(lib, graph: Graph, rng, conv_first: bool, opts: dict, kernel: str) -> None:
    """The conv + ADD graph fused onto `kernel` (kernel_call options `opts`) equals the reference."""
    calls = fuse_residual_adds(graph, [kernel_call(graph, o, **opts) for o in graph.operators])
    assert calls[0].kernel == kernel and calls[1].done_by == 0
    conv_op, add_op = graph.operators
    x, r = G.random_input(rng, graph)
    c = OPS["conv2d"](graph, conv_op, [x[None]], lower(graph, conv_op))
    pair = [c, r[None]] if conv_first else [r[None], c]
    want = OPS["add"](graph, add_op, pair, lower(graph, add_op))[0]
    buf = np.full(r.nbytes + 2 * GUARD, GUARD_BYTE, np.uint8)
    _call_kernel(lib, calls[0], x, ctypes.c_void_p(buf.ctypes.data + GUARD), residual_ptr=ctypes.c_void_p(r.ctypes.data))
    np.testing.assert_array_equal(buf[GUARD:GUARD + r.nbytes].view(np.int8).reshape(r.shape), want.reshape(r.shape))
    assert (buf[:GUARD] == GUARD_BYTE).all() and (buf[GUARD + r.nbytes:] == GUARD_BYTE).all()


def test_int4_fully_connected(klib):  # noqa: F811
    """A fully connected layer of int4 weights runs as the int4 1x1 kernel over a column of pixels."""
    rng = np.random.default_rng(165)
    for case in range(20):
        depth, units, batches = int(rng.choice([4, 16, 100, 256])), int(rng.choice([1, 3, 10, 17])), int(rng.integers(1, 3))
        x = Tensor("x", (batches, depth), "int8", _q(rng, 0.005, 0.1))
        w = Tensor("w", (units, depth), "int8", _q(rng, 1e-3, 0.05, zp=0),
                   rng.integers(-8, 8, (units, depth)).astype(np.int8))
        bias = Tensor("b", (units,), "int32", None, rng.integers(-5000, 5000, units).astype(np.int32))
        y = Tensor("y", (batches, units), "int8", _q(rng, 0.01, 0.5))
        graph = G.single("fully_connected", [x, w, bias], y, {"activation": str(rng.choice(G.ACTS))})
        op = graph.operators[0]
        call = kernel_call(graph, op, dsp=True, int4_weights=True)
        assert call.kernel == "pm_conv2d_packed4_1x1_s8"
        xin = G.random_input(rng, graph)[0]
        want = OPS["fully_connected"](graph, op, [xin[None]], lower(graph, op))[0]
        buf = np.full(y.nbytes + 2 * GUARD, GUARD_BYTE, np.uint8)
        _call_kernel(klib, call, xin, ctypes.c_void_p(buf.ctypes.data + GUARD))
        np.testing.assert_array_equal(buf[GUARD:GUARD + y.nbytes].view(np.int8).reshape(y.shape),
                                      np.asarray(want).reshape(y.shape))
