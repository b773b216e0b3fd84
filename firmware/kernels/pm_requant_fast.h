/* Private to the kernels: the requantization epilogue shared by the packed and Helium convolutions
 * (generator-prepared records, see pixmcu/codegen/packing.py). */
#ifndef PM_REQUANT_FAST_H
#define PM_REQUANT_FAST_H

#include <stdint.h>

#include "pm_dsp.h"
#include "pm_requant.h"

#if defined(__GNUC__)
#define PM_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define PM_ALWAYS_INLINE inline
#endif

/* One requantization of an accumulator that already holds the bias.
 *
 * Long path, rec = {multiplier, left shift, right shift, 2^right - 1}: TFLM's MultiplyByQuantizedMultiplier.
 * Short path, rec = {multiplier, right shift - 1} (two words, half the flash), taken when the
 * generator proved for the layer that the left shift is 0, 1 <= right <= 30 and |acc| < 2^30: then
 * SMMULR(acc << 1, m) is exactly the doubling high multiply, |t| <= 2^30, and RoundingDivideByPOT
 * (half away from zero), (t + 2^(right-1) - (t < 0)) >> right, equals
 * (((t - (t < 0)) >> (right - 1)) + 1) >> 1 (nested floor divisions), without overflow and without a
 * rounding constant: 6 instructions instead of 14. */
#define PM_REC_WORDS(short_path) ((short_path) ? 2 : 4)

static PM_ALWAYS_INLINE int32_t pm_packed_requant(int32_t acc, const int32_t *rec, const int short_path)
{
    if (short_path) {
        const int32_t t = pm_smmulr(pm_shl_wrap(acc, 1), rec[0]);
        return (((t + (t >> 31)) >> rec[1]) + 1) >> 1;
    }
    const int32_t t = pm_srdhm(pm_shl_wrap(acc, (int)rec[1]), rec[0]);
    const int32_t mask = rec[3];
    const int32_t threshold = (mask >> 1) + (int32_t)((uint32_t)t >> 31);
    return (t >> rec[2]) + ((t & mask) > threshold ? 1 : 0);
}

/* The short path from the doubled accumulator (acc2 = acc << 1; kernels whose generator stores
 * doubled weights and bias get it for free), offset and clamp as pm_packed_out. */
static PM_ALWAYS_INLINE int32_t pm_packed_out_short2(int32_t acc2, const int32_t *rec, int32_t offset, int32_t lo,
                                                     int32_t hi, const int sat8)
{
    const int32_t t = pm_smmulr(acc2, rec[0]);
    const int32_t v = (((t + (t >> 31)) >> rec[1]) + (2 * offset + 1)) >> 1;
    return sat8 ? pm_ssat8(v) : pm_clamp(v, lo, hi);
}

/* Requantize, offset and clamp; sat8: the clamp is the int8 range (one SSAT). On the short path the
 * offset joins the final halving: ((a + 1) >> 1) + offset == (a + 1 + 2 * offset) >> 1, one add
 * fewer per value (the constant is loop-invariant). */
static PM_ALWAYS_INLINE int32_t pm_packed_out(int32_t acc, const int32_t *rec, int32_t offset, int32_t lo, int32_t hi,
                                              const int short_path, const int sat8)
{
    int32_t v;
    if (short_path) {
        return pm_packed_out_short2(pm_shl_wrap(acc, 1), rec, offset, lo, hi, sat8);
    } else {
        v = pm_packed_requant(acc, rec, 0) + offset;
    }
    return sat8 ? pm_ssat8(v) : pm_clamp(v, lo, hi);
}

static inline int pm_packed_sat8(int32_t lo, int32_t hi)
{
    return lo == -128 && hi == 127;
}

/* Requantize m (1..4) accumulators of one block and store them, through the residual ADD when `fused`. */
static PM_ALWAYS_INLINE void pm_packed_epilogue(const int32_t *s, const int32_t *rec, const int32_t m, int8_t *output,
                                                const int8_t *residual, const int32_t *conv_table,
                                                const int32_t *residual_table, const int32_t *add_rec,
                                                int32_t out_offset, int32_t act_min, int32_t act_max,
                                                int32_t add_offset, int32_t add_min, int32_t add_max, int32_t add_short,
                                                const int fused, const int short_path, const int sat8,
                                                const int add_fast)
{
#pragma GCC unroll 4
    for (int32_t k = 0; k < m; ++k) {
        int32_t v = pm_packed_out(s[k], rec + PM_REC_WORDS(short_path) * k, out_offset, act_min, act_max,
                                  short_path, sat8);
        if (fused) {
            const int32_t sum = pm_add_wrap(conv_table[v], residual_table[residual[k]]);
            if (add_fast) {
                v = pm_packed_out(sum, add_rec, add_offset, add_min, add_max, 1, 1);
            } else if (add_short) {
                v = pm_packed_out(sum, add_rec, add_offset, add_min, add_max, 1, 0);
            } else {
                v = pm_packed_out(sum, add_rec, add_offset, add_min, add_max, 0, 0);
            }
        }
        output[k] = (int8_t)v;
    }
}

#endif /* PM_REQUANT_FAST_H */
