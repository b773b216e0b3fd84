"""The numeric contract against a table of TFLite's values, edge cases included."""

import numpy as np
import pytest

from pixmcu import quant


@pytest.mark.parametrize("real, expected", [
    (0.0, (0, 0)),
    (0.5, (1 << 30, 0)),
    (1.0, (1 << 30, 1)),
    (0.75, (1610612736, 0)),
    (2.0 ** -40, (0, 0)),                      # shift < -31: flushed to zero
    (2.0 ** -32, (1 << 30, -31)),
    (2.0 ** -33, (0, 0)),                       # shift < -31: flushed to zero
    (1.0 - 2.0 ** -40, (1 << 30, 1)),           # q rounds to 2^31: halved, shift + 1
    (0.0011345, (1247395942, -9)),
    (123.456, (2071247978, 7)),
])
def test_quantize_multiplier_table(real, expected):
    assert quant.quantize_multiplier(real) == expected


def test_quantize_multiplier_rounds_half_away_from_zero():
    # q * 2^31 = 2^30 + 0.5 exactly: TfLiteRound goes up.
    real = (2 ** 30 + 0.5) / 2 ** 31
    assert quant.quantize_multiplier(real) == (2 ** 30 + 1, 0)


@pytest.mark.parametrize("a, b, expected", [
    (quant.INT32_MIN, quant.INT32_MIN, quant.INT32_MAX),   # the one overflow case
    (1 << 30, 1 << 30, 1 << 29),
    (-7, 1 << 30, -3),                                     # -3.5 rounds away from zero
    (7, 1 << 30, 4),
    (5, 1 << 30, 3),                                       # 2.5 -> 3
    (-5, 1 << 30, -2),                                     # -2.5 -> nudge gives -2 (gemmlowp)
])
def test_srdhm_table(a, b, expected):
    assert int(quant.srdhm(a, b)) == expected


@pytest.mark.parametrize("x, exp, expected", [
    (5, 1, 3), (-5, 1, -3), (4, 1, 2), (-4, 1, -2), (6, 2, 2), (-6, 2, -2), (7, 0, 7), (-1, 31, 0),
])
def test_rounding_divide_by_pot_table(x, exp, expected):
    assert int(quant.rounding_divide_by_pot(x, exp)) == expected


@pytest.mark.parametrize("x, m, shift, expected", [
    (100, 1 << 30, 0, 50),
    (100, 1 << 30, 1, 100),
    (-100, 1 << 30, -1, -25),
    (3, 1 << 30, -1, 1),          # 0.75 -> 1 (second rounding)
    (-3, 1 << 30, -1, -1),
    (1 << 20, 1 << 30, 10, 1 << 29),
    (12345, 1518500250, -5, 273),  # 12345 * 0.7071 / 32 = 272.8
])
def test_multiply_by_quantized_multiplier_table(x, m, shift, expected):
    assert int(quant.multiply_by_quantized_multiplier(x, m, shift)) == expected


def test_double_rounding_differs_from_single_rounding():
    # TFLM uses double rounding: first SRDHM rounds, then RDBPOT rounds again.
    x, m, shift = 5, 1610612736, -2          # 5 * 0.75 = 3.75; 3.75 / 4 = 0.9375
    assert int(quant.multiply_by_quantized_multiplier(x, m, shift)) == 1


def test_per_channel_vectorised():
    x = np.array([[100, 100, -100]])
    m = np.array([1 << 30, 1 << 30, 1 << 30])
    s = np.array([0, 1, -1])
    assert quant.multiply_by_quantized_multiplier(x, m, s).tolist() == [[50, 100, -25]]


@pytest.mark.parametrize("act, scale, zp, expected", [
    ("none", 0.1, 3, (-128, 127)),
    ("relu", 0.1, 3, (3, 127)),
    ("relu", 0.1, -128, (-128, 127)),
    ("relu6", 0.05, -10, (-10, 110)),
    ("relu6", 0.01, 0, (0, 127)),                  # 6/0.01 saturates
    ("relu_n1_to_1", 0.02, 5, (-45, 55)),
])
def test_activation_range(act, scale, zp, expected):
    assert quant.activation_range(act, scale, zp) == expected
