"""Property tests: every C kernel against the numpy reference over random shapes and parameters.

Seeded random cases (reproducible; the seed is in the test id). The kernels run from one shared
library per session, built with UBSan; on the host the DSP convolution runs with the portable
stand-ins of the intrinsics (firmware/kernels/pm_dsp.h).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from pixmcu.codegen.kernels import kernel_call
from pixmcu.lowering import lower
import pixmcu.reference.ops_embedding  # noqa: F401  (registers the pixel embedding's reference)
from pixmcu.reference.ops import OPS
sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_support import build_kernel_lib, load, run_kernel  # noqa: E402
from kernel_support import graphs as G  # noqa: E402

CASES = 60


@pytest.fixture(scope="session")
def klib(tmp_path_factory):
    return load(build_kernel_lib(tmp_path_factory.mktemp("kernels")))


def _check(lib, graph, rng, kernel=None, dsp=False):
    op = graph.operators[0]
    call = kernel_call(graph, op, dsp=dsp)
    xs = G.random_input(rng, graph)
    # Constant inputs (concatenation) go to the reference and to the kernel alike.
    feed, ref_in = [], []
    it = iter(xs)
    for name in op.inputs:
        t = graph.tensors[name]
        if t.is_constant and op.kind != "concatenation":
            continue
        v = t.data if t.is_constant else next(it)
        feed.append(v)
        ref_in.append(v[None])
    out_t = graph.tensors[op.outputs[0]]
    want = OPS[op.kind](graph, op, ref_in, lower(graph, op))[0]
    got = run_kernel(lib, call, feed, out_t.shape, out_t.dtype, kernel=kernel)
    np.testing.assert_array_equal(got, want.reshape(out_t.shape), err_msg=f"{kernel or call.kernel} {op.attrs}")
    return call


@pytest.mark.parametrize("kernel", ["pm_conv2d_s8", "pm_conv2d_dsp_s8"])
def test_conv2d_general(klib, kernel):
    rng = np.random.default_rng(1)
    for _ in range(CASES):
        _check(klib, G.conv(rng), rng, kernel=kernel)


def test_conv2d_1x1(klib):
    rng = np.random.default_rng(2)
    for _ in range(CASES):
        call = _check(klib, G.conv(rng, force_1x1=True), rng)
        assert call.kernel == "pm_conv2d_1x1_s8"


@pytest.mark.parametrize("kernel", ["pm_depthwise_conv2d_s8", None])
def test_depthwise(klib, kernel):
    rng = np.random.default_rng(3)
    for _ in range(CASES):
        if kernel is None:  # the 3x3 specialisation, chosen by the generator
            graph = G.conv(rng, depthwise=True, k=(3, 3), dilation=(1, 1), mult=1)
            assert kernel_call(graph, graph.operators[0]).kernel == "pm_depthwise_conv2d_3x3_s8"
        else:
            graph = G.conv(rng, depthwise=True)
        _check(klib, graph, rng, kernel=kernel)


def test_fully_connected(klib):
    rng = np.random.default_rng(4)
    for _ in range(CASES):
        _check(klib, G.fully_connected(rng), rng)


@pytest.mark.parametrize("kind", ["avg_pool2d", "max_pool2d"])
def test_pool(klib, kind):
    rng = np.random.default_rng(5)
    for _ in range(CASES):
        _check(klib, G.pool(rng, kind), rng)


@pytest.mark.parametrize("h,w", [(16, 16), (17, 16), (5, 7)])
def test_avg_pool_four_channel_sums(klib, h, w):
    """Average pooling sums four channels per word in 16-bit lanes for windows of up to 256 taps:
    all -128, all 127 and random inputs over a 256-tap window (the lanes' extremes), a 272-tap one
    (the byte-wise path) and a small one, 7 channels (one group of four and a tail)."""
    from pixmcu.ir import Tensor

    rng = np.random.default_rng(6)
    q = G._q(rng)
    x = Tensor("x", (1, h, w, 7), "int8", q)
    graph = G.single("avg_pool2d", [x], Tensor("y", (1, 1, 1, 7), "int8", q),
                     {"filter": (h, w), "stride": (1, 1), "padding": "valid", "activation": "none"})
    op = graph.operators[0]
    call = kernel_call(graph, op)
    for v in (np.full((1, h, w, 7), -128, np.int8), np.full((1, h, w, 7), 127, np.int8),
              rng.integers(-128, 128, (1, h, w, 7)).astype(np.int8)):
        want = OPS[op.kind](graph, op, [v], lower(graph, op))[0]
        got = run_kernel(klib, call, [v[0]], (1, 1, 1, 7))
        np.testing.assert_array_equal(got, want.reshape(1, 1, 1, 7))


@pytest.mark.parametrize("make", [G.mean, G.add, G.softmax, G.pad, G.concatenation, G.quantize, G.pixel_embedding],
                         ids=lambda f: f.__name__)
def test_elementwise_and_data_movement(klib, make):
    rng = np.random.default_rng(6)
    for _ in range(CASES * 2):
        _check(klib, make(rng), rng)


def test_softmax_extremes(klib):
    """Saturated rows, constant rows and wide rows, where the fixed-point paths differ most."""
    rng = np.random.default_rng(7)
    graph = G.softmax(rng)
    op = graph.operators[0]
    call = kernel_call(graph, op)
    shape = graph.tensors[op.inputs[0]].shape
    for fill in (np.full(shape, -128), np.full(shape, 127), np.zeros(shape),
                 np.where(rng.integers(0, 2, shape) == 1, 127, -128)):
        x = fill.astype(np.int8)
        want = OPS["softmax"](graph, op, [x[None]], lower(graph, op))[0]
        np.testing.assert_array_equal(run_kernel(klib, call, [x], shape), want)


def test_in_place_add_and_requantize(klib):
    """The planner lets ADD and QUANTIZE write over a dying input: the kernels must allow it."""
    import ctypes

    from kernel_support import _struct

    rng = np.random.default_rng(8)
    graph = G.add(rng)
    op = graph.operators[0]
    call = kernel_call(graph, op)
    a, b = G.random_input(rng, graph)
    want = OPS["add"](graph, op, [a[None], b[None]], lower(graph, op))[0]
    keep: list = []
    params = _struct(call, keep)
    buf = np.ascontiguousarray(b.copy())
    assert klib.pm_add_s8(ctypes.byref(params), ctypes.c_void_p(a.ctypes.data), ctypes.c_void_p(buf.ctypes.data),
                          ctypes.c_void_p(buf.ctypes.data)) == 0
    np.testing.assert_array_equal(buf, want)


@pytest.mark.parametrize("conv_first", [True, False])
def test_conv2d_add_fused(klib, conv_first):
    """The fused residual block equals conv then add, also when writing over the residual."""
    import ctypes

    from kernel_support import _struct

    rng = np.random.default_rng(9 + conv_first)
    for case in range(CASES):
        graph, calls = G.conv_add(rng, conv_first)
        assert calls[0].kernel == "pm_conv2d_add_s8" and calls[1].done_by == 0
        conv_op, add_op = graph.operators
        x, r = G.random_input(rng, graph)
        c = OPS["conv2d"](graph, conv_op, [x[None]], lower(graph, conv_op))
        pair = [c, r[None]] if conv_first else [r[None], c]
        want = OPS["add"](graph, add_op, pair, lower(graph, add_op))[0]
        keep: list = []
        params = _struct(calls[0], keep)
        if case % 2:  # in place over the residual, as the planner arranges
            buf = np.ascontiguousarray(r.copy())
            out_ptr = ctypes.c_void_p(buf.ctypes.data)
        else:
            buf = np.zeros(r.shape, np.int8)
            out_ptr = ctypes.c_void_p(buf.ctypes.data)
        assert klib.pm_conv2d_add_s8(ctypes.byref(params), ctypes.c_void_p(x.ctypes.data),
                                     ctypes.c_void_p(r.ctypes.data) if case % 2 == 0 else out_ptr, out_ptr) == 0
        np.testing.assert_array_equal(buf, want)
