"""The static memory plan: no two live tensors share bytes unless a kernel allows it, the overlap of
a windowed kernel's output with its dying input is safe in the real C kernels, and the ResNet's
arena stays near the two-largest-live-tensors yardstick."""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import RESNET
from pixmcu.codegen.kernels import fuse_residual_adds, kernel_call
from pixmcu.codegen.planner import ALIGN, live_pairs_bound, overlap_delta, plan
from pixmcu.frontend import load_model
from pixmcu.lowering import lower
from pixmcu.reference.ops import OPS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_support import GUARD, GUARD_BYTE, _struct, build_kernel_lib, load  # noqa: E402
from kernel_support import graphs as G  # noqa: E402

FIXTURES = sorted((Path(__file__).resolve().parent / "fixtures" / "models").glob("*.tflite"))
MODELS = ([RESNET] if RESNET.exists() else []) + FIXTURES


@pytest.fixture(scope="module")
def klib(tmp_path_factory):
    return load(build_kernel_lib(tmp_path_factory.mktemp("kernels")))


def _check_plan(graph, calls, p):
    """Every pair of tensors live at the same layer is disjoint, except the sharing the plan allows:
    views (same bytes), and a layer's output over an input that dies at that layer (element-wise
    kernels in place, windowed kernels shifted by overlap_delta, the fused residual block)."""
    n_ops = len(graph.operators)
    born = {n: -1 for n in graph.inputs}
    last = {}
    view_of = {}
    for i, (op, call) in enumerate(zip(graph.operators, calls)):
        if call.done_by is not None:
            continue
        born[call.output] = i
        reads = op.inputs if call.is_view else call.inputs
        for n in reads:
            if not graph.tensors[n].is_constant:
                last[n] = i
        if call.is_view:
            view_of[call.output] = view_of.get(op.inputs[0], op.inputs[0])
    for n in graph.outputs:
        last[n] = n_ops
    hidden = {c.hides for c in calls if c.hides}
    assert not hidden & set(p.tensors), "a fused tensor got storage"
    root = lambda n: view_of.get(n, n)  # noqa: E731
    for i, call in enumerate(calls):
        if call.done_by is not None:
            continue
        live = [n for n in born if born[n] <= i <= last.get(n, born[n]) and p.tensors[n].where == "arena"]
        for a_i, a in enumerate(live):
            for b in live[a_i + 1:]:
                if root(a) == root(b):
                    continue
                pa, pb = p.tensors[a], p.tensors[b]
                size_a, size_b = graph.tensors[a].nbytes, graph.tensors[b].nbytes
                if pa.offset < pb.offset + size_b and pb.offset < pa.offset + size_a:
                    pair = {root(a), root(b)}
                    allowed = root(call.output) in pair and any(
                        root(x) in pair and last[x] == i for x in call.inputs)
                    assert allowed, f"layer {i}: '{a}' and '{b}' overlap in the arena"
        assert p.arena_bytes >= max((p.tensors[n].offset + graph.tensors[n].nbytes for n in live), default=0)


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_plans_are_valid(path):
    graph = load_model(path)
    plain = [kernel_call(graph, op, dsp=True) for op in graph.operators]
    for calls, overlap in ((plain, False), (plain, True), (fuse_residual_adds(graph, plain), True)):
        p = plan(graph, calls, overlap=overlap)
        _check_plan(graph, calls, p)
        assert all(pl.offset % ALIGN == 0 for pl in p.tensors.values() if pl.where == "arena")
        assert p.tensors[graph.outputs[0]].where == "output"


@pytest.mark.skipif(not RESNET.exists(), reason="MLPerf Tiny ResNet not available")
def test_resnet_arena():
    graph = load_model(RESNET)
    calls = [kernel_call(graph, op, dsp=True) for op in graph.operators]
    bound = live_pairs_bound(graph)
    assert bound == 32768
    naive = plan(graph, calls, overlap=False).arena_bytes
    planned = plan(graph, calls).arena_bytes
    fused = plan(graph, fuse_residual_adds(graph, calls)).arena_bytes
    print(f"\nResNet arena: {planned} bytes planned, {naive} without overlap, {fused} with fused residual "
          f"ADDs; yardstick {bound}")
    assert naive == 49152
    # One 3x3 convolution whose input dies while the block input stays live costs one row + 2 pixels.
    assert planned <= bound + 34 * 16
    assert fused <= bound


def _run_overlapped(lib, graph, rng, dsp=False):
    """Run the layer's C kernel with its output starting overlap_delta bytes before its input."""
    op = graph.operators[0]
    call = kernel_call(graph, op, dsp=dsp)
    x_t, y_t = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    delta = overlap_delta(call.fields["input"], call.fields["output"], (call.fields["stride_h"], call.fields["stride_w"]),
                          (call.fields["pad_h"], call.fields["pad_w"]))
    x = G.random_input(rng, graph)[0]
    want = OPS[op.kind](graph, op, [x[None]], lower(graph, op))[0]
    span = max(delta + x_t.nbytes, y_t.nbytes)
    buf = np.full(span + 2 * GUARD, GUARD_BYTE, np.uint8)
    base = buf.ctypes.data + GUARD
    buf[GUARD + delta:GUARD + delta + x_t.nbytes] = x.view(np.uint8).ravel()
    keep: list = []
    params = _struct(call, keep)
    fn = getattr(lib, call.kernel)
    assert fn(ctypes.byref(params), ctypes.c_void_p(base + delta), ctypes.c_void_p(base)) == 0
    got = buf[GUARD:GUARD + y_t.nbytes].view(np.int8).reshape(y_t.shape)
    np.testing.assert_array_equal(got, want, err_msg=f"{call.kernel} delta={delta} {dict(op.attrs)}")
    assert (buf[:GUARD] == GUARD_BYTE).all() and (buf[GUARD + span:] == GUARD_BYTE).all()


@pytest.mark.parametrize("make", [
    lambda r: G.conv(r), lambda r: G.conv(r, force_1x1=True), lambda r: G.conv(r, depthwise=True),
    lambda r: G.conv(r, depthwise=True, k=(3, 3), dilation=(1, 1), mult=1),
    lambda r: G.pool(r, "avg_pool2d"), lambda r: G.pool(r, "max_pool2d"),
], ids=["conv", "conv1x1", "depthwise", "depthwise3x3", "avgpool", "maxpool"])
def test_windowed_kernels_tolerate_the_planned_overlap(klib, make):
    rng = np.random.default_rng(11)
    for _ in range(40):
        _run_overlapped(klib, make(rng), rng)


def test_dsp_conv_tolerates_the_planned_overlap(klib):
    rng = np.random.default_rng(12)
    for _ in range(40):
        _run_overlapped(klib, G.conv(rng), rng, dsp=True)


def test_overlap_delta_is_tight_for_a_same_3x3():
    # 3x3 stride 1 'same' over a 32-wide, 16-channel image: one row plus two pixels.
    assert overlap_delta((1, 32, 32, 16), (1, 32, 32, 16), (1, 1), (1, 1)) == 34 * 16
    # A stride-2 1x1 that halves the channels' positions never needs more than one output pixel.
    assert overlap_delta((1, 32, 32, 16), (1, 16, 16, 32), (2, 2), (0, 0)) == 32


def test_overlap_chain_drift_does_not_set_the_arena():
    """MobileNet-v1 (VWW): every layer overlaps the one before, and the chained offsets drift down by
    more than the live bytes; breaking a few links keeps the arena near the live peak (TFLM: 100,708 B)."""
    from conftest import SHARED

    g = load_model(SHARED / "models" / "mlperf_tiny" / "vww_96_int8.tflite")
    calls = [kernel_call(g, op, dsp=True, packed=True) for op in g.operators]
    arena = plan(g, calls).arena_bytes
    assert arena <= 0.6 * 100_708
    assert arena < live_pairs_bound(g) + 1024
