"""Reference of the int8 activation functions TFLM runs element by element (issue 11).

Each maps one int8 value to one int8 value with TFLM's exact fixed-point arithmetic, so the code
generator can also tabulate it: `lut(graph, op)` is the 256-entry table the C kernel reads.
"""

from __future__ import annotations

import numpy as np

from pixmcu import quant
from pixmcu.ir import Graph, Operator
from pixmcu.lowering import lower
from pixmcu.quant import INT32_MAX, rounding_divide_by_pot, saturating_rounding_multiply_by_pot, wrap32
from pixmcu.reference.softmax import exp_on_negative_values, newton_reciprocal_q2

_IN_BITS = 4  # Q4.27 input of gemmlowp's logistic / tanh


def _logistic_q0(a: np.ndarray) -> np.ndarray:
    """gemmlowp::logistic on Q4 raw values -> Q0 raw."""
    pos = a > 0
    abs_a = np.where(pos, a, wrap32(-a))
    # logistic_on_positive_values: 1 / (1 + exp(-|a|))
    r_pos = saturating_rounding_multiply_by_pot(
        newton_reciprocal_q2(exp_on_negative_values(wrap32(-abs_a), _IN_BITS)), 1)
    r_neg = wrap32(INT32_MAX - r_pos)
    return np.where(a == 0, 1 << 30, np.where(pos, r_pos, r_neg))


def _tanh_q0(a: np.ndarray) -> np.ndarray:
    """gemmlowp::tanh on Q4 raw values -> Q0 raw."""
    neg = a < 0
    n = np.where(neg, a, wrap32(-a))
    # neg_tanh_on_negative_values: (1 - e) / (1 + e), e = exp(2n); ExactMulByPot<1> relabels Q4 as Q5.
    e = exp_on_negative_values(n, _IN_BITS + 1)
    t = saturating_rounding_multiply_by_pot(wrap32(newton_reciprocal_q2(e) - (1 << 29)), 2)
    return np.where(a == 0, 0, np.where(neg, wrap32(-t), t))


def _rescaled_input(x: np.ndarray, p: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v = x.astype(np.int64) - p["input_zero_point"]
    r = p["input_range_radius"]
    q4 = quant.multiply_by_quantized_multiplier(np.clip(v, -r, r), p["input_multiplier"], p["input_left_shift"])
    return v, q4, r


def logistic_values(x: np.ndarray, p: dict) -> np.ndarray:
    v, q4, r = _rescaled_input(x, p)
    y = np.clip(rounding_divide_by_pot(_logistic_q0(q4), 31 - 8) - 128, -128, 127)
    return np.where(v <= -r, -128, np.where(v >= r, 127, y)).astype(np.int8)


def tanh_values(x: np.ndarray, p: dict) -> np.ndarray:
    v, q4, r = _rescaled_input(x, p)
    y = np.clip(rounding_divide_by_pot(_tanh_q0(q4), 31 - 7), -128, 127)
    return np.where(v <= -r, -128, np.where(v >= r, 127, y)).astype(np.int8)


def _srdhm16(a, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int16 values."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    num = ab + nudge
    q = np.where(num >= 0, num >> 15, -((-num) >> 15))
    return np.where((a == -32768) & (b == -32768), 32767, q)


def _sdhm16(a, b) -> np.ndarray:
    """TFLite SaturatingDoublingHighMul (int16, truncating toward zero)."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    q = np.where(ab >= 0, ab >> 15, -((-ab) >> 15))
    return np.where((a == -32768) & (b == -32768), 32767, q)


def _sat_shl16(x, amount: int) -> np.ndarray:
    return np.clip(np.asarray(x, np.int64) * (1 << amount), -32768, 32767)


def hard_swish_values(x: np.ndarray, p: dict) -> np.ndarray:
    """TFLite reference_ops::HardSwish for int8, in int16 fixed point."""
    v = x.astype(np.int64) - p["input_zero_point"]
    hires = v * 128
    preshift = _srdhm16(hires, p["output_multiplier"])
    e = p["reluish_exponent"]
    r = hires
    if e > 0:
        r = _sat_shl16(r, e - 1)
    r = _srdhm16(r, p["reluish_multiplier"])
    if e > 0:
        r = _sat_shl16(r, 1)
    if e < 0:
        r = rounding_divide_by_pot(r, -e)
    r = (r + (1 << 15)) >> 1
    out = rounding_divide_by_pot(_sdhm16(r, preshift), -p["output_exponent"])
    # int16 arithmetic: the zero point is added in int16 and then clamped to int8.
    out = ((out + p["output_zero_point"] + 32768) & 0xFFFF) - 32768
    return np.clip(out, -128, 127).astype(np.int8)


def relu_values(x: np.ndarray, p: dict) -> np.ndarray:
    v = x.astype(np.int64) - p["input_offset"]
    y = p["output_offset"] + quant.multiply_by_quantized_multiplier(v, p["multiplier"], p["shift"])
    return np.clip(y, p["act_min"], p["act_max"]).astype(np.int8)


def relu6_values(x: np.ndarray, p: dict) -> np.ndarray:
    return np.clip(x.astype(np.int64), p["lower"], p["upper"]).astype(np.int8)


def leaky_relu_values(x: np.ndarray, p: dict) -> np.ndarray:
    v = x.astype(np.int64) - p["input_zero_point"]
    pos = quant.multiply_by_quantized_multiplier(v, p["identity_multiplier"], p["identity_shift"])
    neg = quant.multiply_by_quantized_multiplier(v, p["alpha_multiplier"], p["alpha_shift"])
    return np.clip(np.where(v >= 0, pos, neg) + p["output_zero_point"], -128, 127).astype(np.int8)


# TFLite's table of sigmoid(i / 24) in unsigned 0.16 for the int16 LOGISTIC and TANH: round to nearest,
# except these entries, one higher. Measured against the tflite-micro interpreter over every int16
# input at two input scales (tests/test_ops_tflm.py repeats that check).
_SIGMOID_TABLE_PLUS_ONE = (4, 8, 12, 14, 15, 16, 17, 19, 20, 21, 22, 25, 27, 28, 29, 30, 31, 33, 34, 35, 37, 39, 40,
                           41, 43, 44, 45, 46, 49, 50, 54, 62, 63, 64, 66, 82, 86, 93, 100, 103, 112, 116, 135, 255)


def sigmoid_table() -> np.ndarray:
    t = np.round(65536.0 / (1.0 + np.exp(-np.arange(256) / 24.0))).astype(np.int64)
    t[list(_SIGMOID_TABLE_PLUS_ONE)] += 1
    return t


def _interpolated(x: np.ndarray, p: dict, frac_bits: int):
    """|input| rescaled, then the table interpolated with `frac_bits` fractional bits (9 LOGISTIC, 8 TANH)."""
    m, ls = p["input_multiplier"], p["input_left_shift"]
    d = (x.astype(np.int64) * m + ((1 << (ls - 1)) if ls > 0 else 0)) >> ls
    a = np.abs(d)
    uh = a >> frac_bits
    t = sigmoid_table()
    ua, ub = t[np.minimum(uh, 254)], t[np.minimum(uh + 1, 255)]
    ut = a & ((1 << frac_bits) - 1)
    return d, uh, (ua << frac_bits) + ut * (ub - ua)


def logistic16_values(x: np.ndarray, p: dict) -> np.ndarray:
    """TFLM's int16 LOGISTIC (reference_integer_ops::Logistic for int16)."""
    d, uh, r = _interpolated(x, p, 9)
    r = np.where(uh >= 255, 0x7FFF << 10, r)
    r = np.where(d >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1)
    return (r >> 10).astype(np.int16)


def tanh16_values(x: np.ndarray, p: dict) -> np.ndarray:
    """TFLM's int16 TANH: 2 * sigmoid(2x) - 1 on the same table."""
    d, uh, r = _interpolated(x, p, 8)
    r = np.where(uh >= 255, 0xFFFF << 8, r)
    r = np.where(d >= 0, r - (1 << 23) + (1 << 7), -r + (1 << 23) + (1 << 7) - 1)
    return (r >> 8).astype(np.int16)


VALUES = {"logistic": logistic_values, "tanh": tanh_values, "hard_swish": hard_swish_values,
          "relu": relu_values, "relu6": relu6_values, "leaky_relu": leaky_relu_values}


def lut(graph: Graph, op: Operator) -> np.ndarray:
    """The op's output for every int8 input, indexed by (uint8) input byte: table[x & 0xFF]."""
    values = np.arange(-128, 128, dtype=np.int64).astype(np.int8)
    out = VALUES[op.kind](values, lower(graph, op))
    return np.roll(out, -128)  # index 0 holds f(0), index 255 holds f(-1)


VALUES_16 = {"logistic": logistic16_values, "tanh": tanh16_values}


def _kernel(kind: str):
    def run(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
        if inputs[0].dtype == np.int16:
            return VALUES_16[kind](inputs[0], p)
        return VALUES[kind](inputs[0], p)
    run.__name__ = kind
    return run


OPS = {kind: _kernel(kind) for kind in VALUES}
