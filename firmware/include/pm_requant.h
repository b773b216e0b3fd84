/**
 * @file pm_requant.h
 * @brief The numeric contract in C: TFLite/TFLM integer requantization, bit for bit.
 *
 * This header mirrors pixmcu/quant.py (double rounding, TFLITE_SINGLE_ROUNDING=0). Both are tested
 * against the same numbers; change one only together with the other.
 */
#ifndef PM_REQUANT_H
#define PM_REQUANT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Two's-complement wrapping int32 addition (the hardware's behaviour, without C's UB). */
static inline int32_t pm_add_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/** @brief Two's-complement wrapping int32 subtraction. */
static inline int32_t pm_sub_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/** @brief Left shift that wraps like the hardware (x * 2^s modulo 2^32), 0 <= s <= 31. */
static inline int32_t pm_shl_wrap(int32_t x, int s)
{
    return (int32_t)((uint32_t)x << s);
}

/**
 * @brief gemmlowp SaturatingRoundingDoublingHighMul.
 *
 * gemmlowp adds a nudge of 2^30 (or 1 - 2^30 when the product is negative) and divides by 2^31
 * truncating toward zero; for negative products that equals flooring after adding 2^30, so one
 * arithmetic shift does both cases (tests/test_kernels_requant.py checks it against pixmcu.quant).
 */
static inline int32_t pm_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/** @brief gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero, 0 <= exponent <= 31. */
static inline int32_t pm_rdbpot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)((1u << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/** @brief TFLite MultiplyByQuantizedMultiplier: x * multiplier * 2^(shift - 31), double rounding. */
static inline int32_t pm_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    const int left = shift > 0 ? (int)shift : 0;
    const int right = shift > 0 ? 0 : (int)-shift;
    return pm_rdbpot(pm_srdhm(pm_shl_wrap(x, left), multiplier), right);
}

/** @brief gemmlowp SaturatingRoundingMultiplyByPOT on a raw int32, -31 <= exponent <= 31. */
static inline int32_t pm_sat_mul_pot(int32_t x, int exponent)
{
    if (exponent == 0) {
        return x;
    }
    if (exponent < 0) {
        return pm_rdbpot(x, -exponent);
    }
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return pm_shl_wrap(x, exponent);
}

/** @brief Clamp to [lo, hi]. */
static inline int32_t pm_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/** @brief Division rounded half away from zero, as TFLM's average pooling and mean do. */
static inline int32_t pm_div_round(int32_t acc, int32_t count)
{
    return acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
}

#ifdef __cplusplus
}
#endif

#endif /* PM_REQUANT_H */
