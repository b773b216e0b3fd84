"""pm_requant.h (C) against pixmcu/quant.py (Python): the numeric contract, bit for bit."""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np
import pytest

from pixmcu import quant

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_support import build_requant_shim, load  # noqa: E402

EDGE = np.array([0, 1, -1, 2, -2, 127, -128, 255, -255, 1 << 30, -(1 << 30), quant.INT32_MAX, quant.INT32_MIN,
                 quant.INT32_MAX - 1, quant.INT32_MIN + 1], dtype=np.int64)


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    return load(build_requant_shim(tmp_path_factory.mktemp("requant")))


def _call(fn, *arrays):
    arrays = [np.ascontiguousarray(a, dtype=np.int32) for a in arrays]
    out = np.zeros(arrays[0].shape, np.int32)
    ptr = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))  # noqa: E731
    fn(*map(ptr, arrays), ptr(out), ctypes.c_int(out.size))
    return out.astype(np.int64)


def _int32s(rng, n):
    mixed = np.concatenate([rng.integers(quant.INT32_MIN, quant.INT32_MAX, n, endpoint=True),
                            rng.integers(-70000, 70000, n), EDGE])
    return mixed


def test_srdhm(shim):
    rng = np.random.default_rng(0)
    a = _int32s(rng, 20000)
    b = np.concatenate([rng.permutation(a[:-len(EDGE)]), EDGE[::-1]])
    np.testing.assert_array_equal(_call(shim.shim_srdhm, a, b), quant.srdhm(a, b))
    grid_a, grid_b = np.meshgrid(EDGE, EDGE)
    np.testing.assert_array_equal(_call(shim.shim_srdhm, grid_a.ravel(), grid_b.ravel()),
                                  quant.srdhm(grid_a.ravel(), grid_b.ravel()))


def test_rounding_divide_by_pot(shim):
    rng = np.random.default_rng(1)
    x = _int32s(rng, 20000)
    e = rng.integers(0, 32, x.size)
    np.testing.assert_array_equal(_call(shim.shim_rdbpot, x, e), quant.rounding_divide_by_pot(x, e))


def test_multiply_by_quantized_multiplier(shim):
    """Multipliers from real scales (QuantizeMultiplier), shifts from -31 to +30, accumulators of all sizes."""
    rng = np.random.default_rng(2)
    reals = np.exp(rng.uniform(np.log(1e-9), np.log(1e3), 4000))
    m, s = quant.quantize_multipliers(reals)
    x = np.concatenate([rng.integers(-(1 << 24), 1 << 24, 2000), rng.integers(-300, 300, 2000)])
    np.testing.assert_array_equal(_call(shim.shim_mbqm, x, m, s), quant.multiply_by_quantized_multiplier(x, m, s))
    # Edge accumulators with edge multipliers and every shift.
    shifts = np.arange(-31, 31)
    xs, ss = np.meshgrid(EDGE, shifts)
    ms = np.full(xs.size, (1 << 30) + 12345)
    np.testing.assert_array_equal(_call(shim.shim_mbqm, xs.ravel(), ms, ss.ravel()),
                                  quant.multiply_by_quantized_multiplier(xs.ravel(), ms, ss.ravel()))


@pytest.mark.parametrize("exponent", [-31, -12, -5, -2, -1, 0, 1, 2, 5, 12, 30])
def test_saturating_rounding_multiply_by_pot(shim, exponent):
    rng = np.random.default_rng(3)
    x = _int32s(rng, 5000)
    got = _call(shim.shim_sat_mul_pot, x, np.full(x.size, exponent))
    np.testing.assert_array_equal(got, quant.saturating_rounding_multiply_by_pot(x, exponent))
