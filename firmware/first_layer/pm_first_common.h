/* Private to firmware/first_layer: requantization, the DSP operations the kernels use (or portable
 * stand-ins computing the same bits on the host) and the clipping of a window to the image. */
#ifndef PM_FIRST_COMMON_H
#define PM_FIRST_COMMON_H

#include <stdint.h>
#include <string.h>

#include "pm_first_layer.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(PM_DSP_PORTABLE)
#include <arm_acle.h>
static inline uint32_t pm_fl_sadd16(uint32_t a, uint32_t b) { return (uint32_t)__sadd16((int16x2_t)a, (int16x2_t)b); }
static inline int32_t pm_fl_smlad(uint32_t a, uint32_t b, int32_t acc) { return __smlad((int16x2_t)a, (int16x2_t)b, acc); }
#else
/* Each halfword wraps on its own, exactly as SADD16 does (the GE flags are not modelled). */
static inline uint32_t pm_fl_sadd16(uint32_t a, uint32_t b)
{
    const uint32_t lo = (a + b) & 0xFFFFu;
    const uint32_t hi = ((a >> 16) + (b >> 16)) & 0xFFFFu;
    return lo | (hi << 16);
}
static inline int32_t pm_fl_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    const int32_t p0 = (int32_t)(int16_t)(uint16_t)a * (int16_t)(uint16_t)b;
    const int32_t p1 = (int32_t)(int16_t)(uint16_t)(a >> 16) * (int16_t)(uint16_t)(b >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)p0 + (uint32_t)p1);
}
#endif

static inline uint32_t pm_fl_ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline int32_t pm_fl_lo16(uint32_t x) { return (int32_t)(int16_t)(uint16_t)x; }
static inline int32_t pm_fl_hi16(uint32_t x) { return (int32_t)x >> 16; }

/* TFLM MultiplyByQuantizedMultiplier, bit for bit, in fewer instructions than the textbook form.
 * For a multiplier m >= 0, gemmlowp's SaturatingRoundingDoublingHighMul (nudge +2^30 or 1-2^30, then
 * division truncating toward zero) equals floor((x*m + 2^30) / 2^31): one SMLAL with a preset
 * accumulator. The saturating case (both operands INT32_MIN) cannot occur with m >= 0. */
static inline int32_t pm_fl_mbqm(int32_t x, int32_t m, int32_t shift)
{
    if (shift > 0) {
        x = (int32_t)((uint32_t)x << shift); /* wraps, as TFLM's left shift does on the hardware */
    }
    const int64_t ab = (int64_t)x * m + ((int64_t)1 << 30);
    const int32_t r = (int32_t)(ab >> 31);
    if (shift >= 0) {
        return r;
    }
    /* RoundingDivideByPOT: half away from zero. For r >= 0 the unsigned sum cannot overflow; for
     * r < 0 adding 2^(e-1) - 1 cannot either. */
    const int e = -shift;
    const uint32_t half = 1u << (e - 1);
    if (r >= 0) {
        return (int32_t)(((uint32_t)r + half) >> e);
    }
    return (r + (int32_t)(half - 1u)) >> e;
}

static inline int8_t pm_fl_requant(int32_t acc, const pm_first_requant_t *rq, int32_t o)
{
    int32_t v = pm_fl_mbqm(acc, rq->multiplier[o], rq->shift[o]) + rq->output_offset;
    v = v < rq->act_min ? rq->act_min : v;
    v = v > rq->act_max ? rq->act_max : v;
    return (int8_t)v;
}

/* Requantize n packed int16 lane pairs (channels o0 .. o0 + 2n - 1) plus bias into out[o0..]. The
 * parameters are copied to locals first: stores through int8_t* may alias anything, which would
 * otherwise make the compiler reload them after every output byte. */
static inline void pm_fl_requant_pairs(const uint32_t *lanes, int32_t n, const pm_first_requant_t *rq, int32_t o0,
                                       int8_t *out)
{
    const int32_t *bias = rq->bias + o0, *mult = rq->multiplier + o0, *shift = rq->shift + o0;
    const int32_t off = rq->output_offset, lo = rq->act_min, hi = rq->act_max;
    out += o0;
    for (int32_t i = 0; i < n; ++i) {
        const uint32_t a = lanes[i];
        int32_t v0 = pm_fl_mbqm(bias[2 * i] + pm_fl_lo16(a), mult[2 * i], shift[2 * i]) + off;
        int32_t v1 = pm_fl_mbqm(bias[2 * i + 1] + pm_fl_hi16(a), mult[2 * i + 1], shift[2 * i + 1]) + off;
        v0 = v0 < lo ? lo : (v0 > hi ? hi : v0);
        v1 = v1 < lo ? lo : (v1 > hi ? hi : v1);
        out[2 * i] = (int8_t)v0;
        out[2 * i + 1] = (int8_t)v1;
    }
}

/* Channels per table block of the folded and joint kernels: rows of 16 (or 8) int16 fill whole
 * registers; any other count is one block of all channels. The generator uses the same rule. */
static inline int32_t pm_fl_block(int32_t out_c)
{
    return out_c % 16 == 0 ? 16 : (out_c % 8 == 0 ? 8 : out_c);
}

typedef uint32_t __attribute__((may_alias)) pm_fl_u32a_t;

/* Valid kernel rows [*k0, *k1) for output row oy (taps outside the image are padding: skipped). */
static inline void pm_fl_clip(int32_t o, int32_t stride, int32_t pad, int32_t k, int32_t size, int32_t *k0,
                              int32_t *k1)
{
    const int32_t start = o * stride - pad;
    *k0 = start < 0 ? -start : 0;
    *k1 = start + k > size ? size - start : k;
}

#endif /* PM_FIRST_COMMON_H */
