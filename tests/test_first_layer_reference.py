"""The first-layer numpy reference, the folded/joint tables and the int16 bound proofs."""

import numpy as np
import pytest

from pixmcu import quant
from pixmcu.first_layer import reference as ref
from pixmcu.first_layer import tables as tb
from pixmcu.first_layer.problem import make_problem
from pixmcu.first_layer.reference import Geometry

GEOMS = [Geometry(9, 7, 3, 16, 3, 1), Geometry(11, 6, 3, 8, 5, 2), Geometry(7, 9, 1, 5, 3, 1),
         Geometry(6, 10, 2, 12, 5, 1, "valid"), Geometry(8, 8, 3, 32, 3, 2)]


def _naive_conv_s8(x, w, input_offset, g, rq):
    """Loops straight from TFLM's reference conv: padding skipped, then MultiplyByQuantizedMultiplier."""
    out = np.zeros((g.out_h, g.out_w, g.out_c), np.int8)
    for oy in range(g.out_h):
        for ox in range(g.out_w):
            for o in range(g.out_c):
                acc = 0
                for ky in range(g.k):
                    for kx in range(g.k):
                        iy, ix = oy * g.stride - g.pad_h + ky, ox * g.stride - g.pad_w + kx
                        if 0 <= iy < g.in_h and 0 <= ix < g.in_w:
                            for c in range(x.shape[2]):
                                acc += int(w[o, ky, kx, c]) * (int(x[iy, ix, c]) + input_offset)
                acc = int(quant.wrap32(acc + int(rq.bias[o])))
                v = int(quant.multiply_by_quantized_multiplier(acc, rq.multiplier[o], rq.shift[o])) + rq.output_offset
                out[oy, ox, o] = min(max(v, rq.act_min), rq.act_max)
    return out


@pytest.mark.parametrize("g", GEOMS[:3], ids=lambda g: g.label())
def test_conv_s8_matches_naive_loops(g):
    p = make_problem(g, seed=2, lut="random", s8_zero_point=11)
    x = (p.pixels.astype(np.int64) - 128).astype(np.int8)
    assert np.array_equal(ref.conv_s8(x, p.w_s8, p.input_offset_s8, g, p.rq_s8),
                          _naive_conv_s8(x, p.w_s8, p.input_offset_s8, g, p.rq_s8))


def test_embed_layout():
    lut = np.arange(2 * 256 * 3).reshape(2, 256, 3) % 4
    pix = np.array([[[5, 7]]], np.uint8)
    assert ref.embed(pix, lut).tolist() == [[[lut[0, 5, 0], lut[0, 5, 1], lut[0, 5, 2],
                                               lut[1, 7, 0], lut[1, 7, 1], lut[1, 7, 2]]]]


@pytest.mark.parametrize("g", GEOMS, ids=lambda g: g.label())
@pytest.mark.parametrize("seed", [0, 1])
def test_folded_and_joint_equal_unfused(g, seed):
    p = make_problem(g, seed=seed, lut="random", embed_zero_point=seed * 3, activation="relu" if seed else "none")
    t = p.folded()
    proof = tb.prove_int16(t)
    acc = tb.folded_acc(p.pixels, t, g, proof.widen_every, proof.dtype == "int16")
    assert np.array_equal(ref.requantize(acc, p.rq_embed), p.expected_embed())
    j = p.joint()
    pj = tb.prove_int16(j)
    accj = tb.joint_acc(p.pixels, p.bins_of, p.bins, j, g, pj.widen_every, pj.dtype == "int16")
    assert np.array_equal(ref.requantize(accj, p.rq_joint), p.expected_joint())


def test_prover_widens_then_falls_back_to_int32():
    g = Geometry(7, 6, 3, 16, 3, 1)
    # Every weight +127: each entry fits int16, two lookups do not -> widen after every lookup.
    p = make_problem(g, d=16, q=4, weights="adversarial", seed=3, lut="random")
    proof = tb.prove_int16(p.folded())
    assert proof.dtype == "int16" and proof.widen_every == 1 and proof.widens
    # Emulated int16 lanes without widening would be wrong; with the proved interval they are exact.
    wrong = tb.folded_acc(p.pixels, p.folded(), g, 0, True)
    right = tb.folded_acc(p.pixels, p.folded(), g, proof.widen_every, True)
    assert np.array_equal(ref.requantize(right, p.rq_embed), p.expected_embed())
    assert not np.array_equal(wrong, right)
    # 7-bit codes: a single entry exceeds int16 -> int32 tables.
    p7 = make_problem(g, d=16, q=7, weights="adversarial", seed=3, lut="random")
    assert tb.prove_int16(p7.folded()).dtype == "int32"


def test_prover_bound_is_tight_on_a_known_table():
    # Two lookups of one channel: maxima 20000 and 12767 sum to exactly 32767 -> whole window int16.
    t = np.zeros((2, 256, 1), np.int64)
    t[0, 5, 0], t[1, 9, 0] = 20000, 12767
    assert tb.prove_int16(t).widen_every == 0
    t[1, 9, 0] = 12768
    proof = tb.prove_int16(t)
    assert proof.dtype == "int16" and proof.widen_every == 1


def test_lane_bias_only_when_provable():
    t = np.zeros((2, 256, 2), np.int64)
    t[0, 1, :] = 30000
    proof = tb.prove_int16(t)
    assert tb.lane_bias(t, np.array([100, 2767]), proof).tolist() == [100, 2767]
    assert tb.lane_bias(t, np.array([100, 2768]), proof) is None


def _short_requant(x, m, s):
    """The kernels' short form: SMMLAR(2x, m, 2^(e-1)) + [x<0], then >> e (see pm_first_common.h)."""
    e = -s
    x2 = 2 * x
    u = (x2 * m + (1 << 31) + ((1 << (e - 1)) << 32)) >> 32
    u = u + np.where(x2 < 0, -1, 0)
    return u >> e


def test_short_requantization_is_tflm_exact():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.integers(-(1 << 29), 1 << 29, 200_000), np.arange(-70_000, 70_000)]).astype(np.int64)
    for real in (0.0123, 0.5 / 3, 0.000771, 0.49999, 0.25, 1 / 1024):
        m, s = quant.quantize_multiplier(real)
        assert s <= -1
        want = quant.multiply_by_quantized_multiplier(x, m, s)
        assert np.array_equal(_short_requant(x, m, s), want), real


def test_blocked_layouts_round_trip():
    t = np.arange(3 * 4 * 32).reshape(3, 4, 32)
    c = tb.folded_c_layout(t)  # [2][3][4][16]
    assert c.shape == (2 * 3 * 4 * 16,) or c.shape == (2, 3, 4, 16)
    assert np.array_equal(c.reshape(2, 3, 4, 16)[1, 2, 3], t[2, 3, 16:32].astype(np.int16))
    t4 = np.arange(4 * 5 * 32).reshape(4, 5, 32)  # 2x2 taps (ky, kx), 5 joint rows
    j = tb.joint_c_layout(t4, 2, 2).reshape(2, 6, 4, 16)  # [block][row + zero][kx*2 + ky][16]
    assert np.array_equal(j[1, 3, 1 * 2 + 0], t4[0 * 2 + 1, 3, 16:].astype(np.int16))  # kx=1, ky=0
    assert not j[:, 5].any()
