"""2-bit weights, four per byte (issue 16): pm_conv2d_packed2_* against the numpy reference, bit for bit.

Random shapes (1x1 and odd kernels, strides, 'same'/'valid', input channels multiples of 4, output
channel tails), random zero points, both requantization paths, the fused residual ADD, fully connected
layers as 1x1 convolutions, weights at the 2-bit extremes (-2 and 1). The shared library carries UBSan
with guard bytes around every buffer (tests/test_perf_kernels.py). A graph whose weights fit 2 bits runs
end to end in generated C on the host (ASan + UBSan) and on qemu-m4 (the DSP assembly).
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np
import pytest

from pixmcu import reference
from pixmcu.codegen import packing
from pixmcu.codegen.kernels import int2_eligible, kernel_call, stored_weight_bits
from pixmcu.ir import Graph, Tensor
from pixmcu.lowering import lower
from pixmcu.reference.ops import OPS

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_perf_kernels as P  # noqa: E402
from test_lowbit_kernels import check_fused  # noqa: E402
from test_perf_kernels import _call_kernel, _q, conv_add_graph, conv_graph, klib  # noqa: E402,F401
from kernel_support import GUARD, GUARD_BYTE  # noqa: E402
from kernel_support import graphs as G  # noqa: E402

INT2 = {"packed": True, "int2_weights": True, "dsp": True}
INT4_TFLITE = Path(__file__).resolve().parent / "fixtures" / "lowbit" / "int4_weights.tflite"


def _redraw(graph: Graph, rng, extremes: bool = False, index: int = 0) -> Graph:
    """The graph with operator `index`'s filter redrawn in [-2, 1] (only -2 and 1 when `extremes`)."""
    op = graph.operators[index]
    w = graph.tensors[op.inputs[1]]
    data = rng.choice([-2, 1], w.shape) if extremes else rng.integers(-2, 2, w.shape)
    tensors = dict(graph.tensors)
    tensors[w.name] = Tensor(w.name, w.shape, "int8", w.quant, data.astype(np.int8))
    return Graph(tensors, graph.operators, graph.inputs, graph.outputs)


def test_int2_packing_layout():
    """Byte k of (block, tap, group): input channel k; bits 2j+1:2j output channel j, lowest first."""
    rng = np.random.default_rng(260)
    w = rng.integers(-2, 2, (6, 1, 2, 8)).astype(np.int8)
    b = packing.pack_weights2(w).view(np.uint8).reshape(2, 1, 2, 2, 4)  # block, ky, kx, group, k
    field = lambda v, j: (((int(v) >> (2 * j)) & 3) ^ 2) - 2  # noqa: E731
    for blk, kx, grp, k, j in [(0, 0, 0, 0, 0), (0, 1, 1, 3, 3), (1, 0, 1, 2, 1), (1, 1, 0, 1, 0)]:
        assert field(b[blk, 0, kx, grp, k], j) == w[4 * blk + j, 0, kx, 4 * grp + k]
    assert not (b[1] >> 4).any()  # output channels 6 and 7 are padding
    assert packing.pack_weights2(w).nbytes * 2 == packing.pack_weights4(w).nbytes
    with pytest.raises(ValueError, match="int2"):
        packing.pack_weights2(np.array([[[[2, 0, 0, 0]]]]))


def test_int2_eligibility():
    rng = np.random.default_rng(261)
    g = _redraw(conv_graph(rng, cin=8), rng)
    assert int2_eligible(g, g.operators[0])
    w = g.tensors[g.operators[0].inputs[1]]
    two = dict(g.tensors)
    two[w.name] = Tensor(w.name, w.shape, "int8", w.quant, np.where(np.arange(w.data.size).reshape(w.shape) == 5,
                                                                    2, w.data).astype(np.int8))
    assert not int2_eligible(Graph(two, g.operators, g.inputs, g.outputs), g.operators[0])  # one 2
    odd = _redraw(conv_graph(rng, cin=3), rng)
    assert not int2_eligible(odd, odd.operators[0])  # input channels not a multiple of 4
    with pytest.raises(Exception, match="int2"):
        kernel_call(odd, odd.operators[0], **INT2)
    # 64 x the largest sum must fit int32: 2^17 taps of -2 on inputs up to 254 fit 16 x, not 64 x.
    big = np.full((1, 1, 1, 131072), -2, np.int64)
    assert not packing.fits_lowbit(big, 127, 2) and packing.fits_lowbit(big, 127, 4)
    assert packing.fits_lowbit(big[..., :4096], 127, 2)


def test_int2_conv_random(klib):  # noqa: F811
    rng = np.random.default_rng(262)
    kernels, paths = set(), set()
    for case in range(60):
        graph = _redraw(conv_graph(rng, cin=int(rng.choice([4, 8, 12, 16, 32])), big_bias=case % 9 == 4),
                        rng, extremes=case % 5 == 0)
        call = P._check_conv(klib, graph, rng, INT2)
        kernels.add(call.kernel)
        paths.add(call.fields["short_requant"])
        oc, kh, kw, cin = call.fields["filter"]
        assert call.arrays["weights"].nbytes * 4 == -(-oc // 4) * 4 * kh * kw * cin
        assert stored_weight_bits(call.kernel) == 2
    assert kernels == {"pm_conv2d_packed2_s8", "pm_conv2d_packed2_1x1_s8"}
    assert paths == {0, 1}


@pytest.mark.parametrize("conv_first", [True, False])
def test_int2_conv_add_fused(klib, conv_first):  # noqa: F811
    rng = np.random.default_rng(263 + conv_first)
    for case in range(16):
        graph = _redraw(conv_add_graph(rng, conv_first, big_bias=case % 7 == 3), rng, extremes=case % 4 == 0)
        check_fused(klib, graph, rng, conv_first, INT2, "pm_conv2d_packed2_add_s8")


def test_int2_fully_connected(klib):  # noqa: F811
    """A fully connected layer of 2-bit weights runs as the 2-bit 1x1 kernel over a column of pixels."""
    rng = np.random.default_rng(265)
    for case in range(16):
        depth, units, batches = int(rng.choice([4, 16, 100, 256])), int(rng.choice([1, 3, 10, 17, 37])), int(rng.integers(1, 3))
        x = Tensor("x", (batches, depth), "int8", _q(rng, 0.005, 0.1))
        w = Tensor("w", (units, depth), "int8", _q(rng, 1e-3, 0.05, zp=0),
                   rng.integers(-2, 2, (units, depth)).astype(np.int8))
        bias = Tensor("b", (units,), "int32", None, rng.integers(-5000, 5000, units).astype(np.int32))
        y = Tensor("y", (batches, units), "int8", _q(rng, 0.01, 0.5))
        graph = G.single("fully_connected", [x, w, bias], y, {"activation": str(rng.choice(G.ACTS))})
        op = graph.operators[0]
        call = kernel_call(graph, op, dsp=True, int2_weights=True)
        assert call.kernel == "pm_conv2d_packed2_1x1_s8"
        xin = G.random_input(rng, graph)[0]
        want = OPS["fully_connected"](graph, op, [xin[None]], lower(graph, op))[0]
        buf = np.full(y.nbytes + 2 * GUARD, GUARD_BYTE, np.uint8)
        _call_kernel(klib, call, xin, ctypes.c_void_p(buf.ctypes.data + GUARD))
        np.testing.assert_array_equal(buf[GUARD:GUARD + y.nbytes].view(np.int8).reshape(y.shape),
                                      np.asarray(want).reshape(y.shape))


def test_int2_conv_a4_twin(klib):  # noqa: F811
    """pm_conv2d_packed2_a4: the 2-bit convolution over packed 4-bit activations (input, output, both or
    neither packed), the output written over its input at the planner's offset."""
    from dataclasses import replace

    from pixmcu.codegen import act4
    from test_lowbit_act4 import _run_overlapped, _sides, pack

    rng = np.random.default_rng(267)
    seen = set()
    for case in range(16):
        graph = _redraw(conv_graph(rng, cin=int(rng.choice([4, 8, 16])), cout=int(rng.choice([2, 4, 6, 16]))), rng,
                        extremes=case % 5 == 0)
        op = graph.operators[0]
        base = kernel_call(graph, op, **INT2)
        assert base.kernel in act4.CONV2 and act4._int4_conv(graph, op, base) is base  # kept at 2 bits
        lo_b, hi_b = base.fields["act_min"], base.fields["act_max"]
        x_lo, y_lo = int(rng.integers(-128, 113)), int(rng.integers(lo_b, max(lo_b, hi_b - 15) + 1))
        x = rng.integers(x_lo, x_lo + 16, graph.tensors[op.inputs[0]].shape).astype(np.int8)
        f = dict(base.fields, act_min=max(y_lo, lo_b), act_max=min(y_lo + 15, hi_b))
        want = np.clip(OPS["conv2d"](graph, op, [x[None]], lower(graph, op))[0], f["act_min"], f["act_max"])
        pin, pout, _ = _sides(rng, x_lo, y_lo, tail=True)
        calls, plan = act4.rewrite(graph, [replace(base, fields=f)],
                                   {n: lo for n, lo, p in ((op.inputs[0], x_lo, pin), (op.outputs[0], y_lo, pout)) if p},
                                   every=True)
        assert calls[0].kernel == "pm_conv2d_packed2_a4"
        got = _run_overlapped(klib, calls[0], pack(x, x_lo) if pin else x.view(np.uint8),
                              want.size // 2 if pout else want.size, plan.deltas[0][1])
        np.testing.assert_array_equal(got, pack(want, y_lo) if pout else want.view(np.uint8).ravel(),
                                      err_msg=f"case {case}: {x.shape} {dict(op.attrs)} packed {pin}/{pout}")
        seen.add((pin, pout))
    assert len(seen) == 4

def _w2_graph() -> Graph:
    """The int4-weight fixture with every filter clipped to [-2, 1]: its 4-input-channel convolutions (one
    3x3, one 1x1 that fuses the residual ADD) fit 2 bits; the reference is the oracle (bit-exact with TFLM
    on these operators, tests/test_reference_*)."""
    from pixmcu.frontend import load_model

    g = load_model(INT4_TFLITE)
    tensors = dict(g.tensors)
    for op in g.operators:
        if op.kind in ("conv2d", "fully_connected"):
            w = tensors[op.inputs[1]]
            tensors[w.name] = Tensor(w.name, w.shape, "int8", w.quant, np.clip(w.data, -2, 1).astype(np.int8))
    return Graph(tensors, g.operators, g.inputs, g.outputs, name="w2net")


def test_w2_graph_end_to_end(tmp_path):
    """--optimize size puts the 2-bit-fitting layers on the 2-bit kernels; the generated C on the host
    (ASan + UBSan; the residual ADD fused) and the firmware on qemu-m4 (ADD unfused, so both the window
    and the 1x1 SMLAD assembly run) equal the reference bit for bit."""
    from pixmcu.codegen import generate
    from pixmcu.engines.host_c import run_generated
    from pixmcu.frontend.checkpoint import save_graph
    from qemu_support import run_on_qemu

    g = _w2_graph()
    path = save_graph(g, tmp_path / "w2net.pmz")  # on file: `pixmcu run` checks against its reference
    x = np.random.default_rng(266).integers(-128, 128, (3, *g.input_tensor().shape[1:])).astype(np.int8)
    want = reference.invoke(g, x)
    gen = generate(path, tmp_path / "gen", board="qemu-m4", name="w2net", optimize="size")
    assert [la["kernel"] for la in gen.manifest["layers"]][:2] == ["pm_conv2d_packed2_s8", "pm_conv2d_packed2_add_s8"]
    assert [la["layout"] for la in gen.manifest["layout_plan"]["layers"]][:2] == ["int2", "int2"]
    got = run_generated(tmp_path / "gen", x, workdir=tmp_path / "host")
    np.testing.assert_array_equal(got.reshape(want.shape), want)
    gen = generate(path, tmp_path / "qemu", board="qemu-m4", name="w2net", optimize="size", fuse=False)
    assert [la["kernel"] for la in gen.manifest["layers"]][:2] == ["pm_conv2d_packed2_s8", "pm_conv2d_packed2_1x1_s8"]
    code, rep, out = run_on_qemu(tmp_path / "qemu", x, tmp_path, np.int8)
    assert code == 0, rep.get("error")
    assert rep["bitexact"]["matches"] == len(x) and not rep["bitexact"]["mismatches"]
    np.testing.assert_array_equal(out, want.reshape(len(x), -1))


def test_w2_layouts_per_option():
    """The int2 layout is an option only where the weights fit it; `size` takes it, `speed` and the
    default `balanced` plan (ample flash) never do, and a flash budget of the smallest plan forces it."""
    from pixmcu.codegen.layout_plan import plan_layouts

    g = _w2_graph()
    size = plan_layouts(g, "qemu-m4", "size")
    two = [lay for lay in size.layers if any(o.layout == "int2" for o in lay.options)]
    assert [lay.name for lay in two] == ["conv2d_0", "conv2d_1"]  # 4 input channels; the rest do not qualify
    assert all(lay.chosen.layout == "int2" and lay.chosen.weight_bytes < min(
        o.weight_bytes for o in lay.options if o.layout != "int2") for lay in two)
    for opt in ("speed", "balanced"):
        assert not any(lay.chosen.layout == "int2" for lay in plan_layouts(g, "qemu-m4", opt).layers)
    tight = plan_layouts(g, "qemu-m4", "balanced", flash_budget=size.predicted_flash_bytes)
    assert [lay.chosen.layout for lay in tight.layers if lay.name in ("conv2d_0", "conv2d_1")] == ["int2", "int2"]
