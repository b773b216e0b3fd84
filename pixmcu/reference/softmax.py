"""TFLM's int8 softmax: gemmlowp fixed-point exp and reciprocal, vectorised over rows.

Fixed-point values are int32 raw numbers held in int64 arrays; `Q(n)` below means n integer bits.
Raw addition and subtraction wrap like int32, as gemmlowp's do.
"""

from __future__ import annotations

import numpy as np

from pixmcu.quant import INT32_MAX, rounding_divide_by_pot, saturating_rounding_multiply_by_pot, srdhm, wrap32

_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))
_DIFF_INT_BITS = 5
_ACC_INT_BITS = 12


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """Q0 in, Q0 out: Taylor series of exp around -1/8."""
    constant_term = 1895147668  # exp(-1/8)
    constant_1_over_3 = 715827883
    x = wrap32(a + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = saturating_rounding_multiply_by_pot(wrap32(srdhm(wrap32(x4_over_4 + x3), constant_1_over_3) + x2), -1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + poly)))


def exp_on_negative_values(a: np.ndarray, integer_bits: int = _DIFF_INT_BITS) -> np.ndarray:
    """Q(integer_bits) input <= 0, Q0 output."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = wrap32((a & mask) - one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = wrap32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = 1 << (fractional_bits + exponent)
            result = np.where((remainder & bit) != 0, srdhm(result, multiplier), result)
    return np.where(a == 0, INT32_MAX, result)


def newton_reciprocal_q2(a: np.ndarray) -> np.ndarray:
    """Q0 a in [0, 1) -> Q2 x ~ 1/half_denominator, half_denominator = (1 + a) / 2: gemmlowp's
    Newton-Raphson division, shared by 1/(1+a) and (1-a)/(1+a)."""
    # gemmlowp RoundingHalfSum(a, One): (a + b + sign) / 2 with C's truncating division.
    t = a + INT32_MAX
    t = t + np.where(t >= 0, 1, -1)
    half_denominator = np.where(t >= 0, t // 2, -((-t) // 2))
    constant_48_over_17 = 1515870810
    constant_neg_32_over_17 = -1010580540
    one_q2 = 1 << 29
    x = wrap32(constant_48_over_17 + srdhm(half_denominator, constant_neg_32_over_17))
    for _ in range(3):
        half_denominator_times_x = srdhm(half_denominator, x)
        one_minus = wrap32(one_q2 - half_denominator_times_x)
        x = wrap32(x + saturating_rounding_multiply_by_pot(srdhm(x, one_minus), 2))
    return x


def _one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """Q0 in [0, 1) -> Q0 1/(1+x), by Newton-Raphson in Q2."""
    # ExactMulByPot<-1> only relabels Q2 as Q1 (raw unchanged); Rescale<0> then shifts left by one.
    return saturating_rounding_multiply_by_pot(newton_reciprocal_q2(a), 1)


def _count_leading_zeros_u32(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64) & 0xFFFFFFFF
    out = np.full(x.shape, 32, dtype=np.int64)
    nz = x != 0
    out[nz] = 31 - np.floor(np.log2(x[nz].astype(np.float64))).astype(np.int64)
    # log2 of values near powers of two can round up; correct by checking the top bit position.
    top = np.int64(1) << (31 - out[nz])
    fix = x[nz] < top
    out_nz = out[nz] + fix
    out[nz] = out_nz
    return out


def softmax_s8(x: np.ndarray, p: dict) -> np.ndarray:
    """x: (rows, depth) int8. Output int8 with scale 1/256, zero point -128."""
    x = x.astype(np.int64)
    diff = x - x.max(axis=1, keepdims=True)
    valid = diff >= p["diff_min"]
    rescaled = srdhm(wrap32(diff << p["input_left_shift"]), p["input_multiplier"])
    exps = exp_on_negative_values(rescaled)
    sum_of_exps = wrap32(np.where(valid, rounding_divide_by_pot(exps, _ACC_INT_BITS), 0).sum(axis=1))
    headroom_plus_one = _count_leading_zeros_u32(sum_of_exps)
    num_bits_over_unit = _ACC_INT_BITS - headroom_plus_one
    shifted_sum_minus_one = wrap32(((sum_of_exps & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31))
    shifted_scale = _one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one)
    prod = srdhm(shifted_scale[:, None], exps)
    unsat = rounding_divide_by_pot(prod, (num_bits_over_unit + 31 - 8)[:, None])
    out = np.clip(unsat - 128, -128, 127)
    return np.where(valid, out, -128).astype(np.int8)
