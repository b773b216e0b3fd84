/* Private to firmware/first_layer: requantization, the DSP operations the kernels use (or portable
 * stand-ins computing the same bits on the host) and the clipping of a window to the image. */
#ifndef PM_FIRST_COMMON_H
#define PM_FIRST_COMMON_H

#include <stdint.h>
#include <string.h>

#include "pm_first_layer.h"

#if defined(__arm__)
#include <arm_acle.h>
#endif

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(PM_DSP_PORTABLE)

static inline uint32_t pm_fl_sadd16(uint32_t a, uint32_t b) { return (uint32_t)__sadd16((int16x2_t)a, (int16x2_t)b); }
static inline int32_t pm_fl_smlad(uint32_t a, uint32_t b, int32_t acc) { return __smlad((int16x2_t)a, (int16x2_t)b, acc); }
static inline uint32_t pm_fl_sxtab16(uint32_t a, uint32_t b) { return (uint32_t)__sxtab16((int16x2_t)a, (int8x4_t)b); }
#else
/* Each halfword wraps on its own, exactly as SADD16 does (the GE flags are not modelled). */
static inline uint32_t pm_fl_sadd16(uint32_t a, uint32_t b)
{
    const uint32_t lo = (a + b) & 0xFFFFu;
    const uint32_t hi = ((a >> 16) + (b >> 16)) & 0xFFFFu;
    return lo | (hi << 16);
}
/* Halfword-wise a + sign-extended bytes 0 and 2 of b, each halfword wrapping, as SXTAB16. */
static inline uint32_t pm_fl_sxtab16(uint32_t a, uint32_t b)
{
    const uint32_t lo = (a + (uint32_t)(int32_t)(int8_t)(uint8_t)b) & 0xFFFFu;
    const uint32_t hi = ((a >> 16) + (uint32_t)(int32_t)(int8_t)(uint8_t)(b >> 16)) & 0xFFFFu;
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

/* dst[j] = src[j] + offset for n int8 values, four at a time: two SXTAB16 widen the even and the odd
 * bytes with the offset in both halfwords, two halfword packs put them back in order. */
static inline void pm_fl_widen_s8(const int8_t *src, int16_t *dst, int32_t n, int32_t offset)
{
    const uint32_t off2 = ((uint32_t)offset & 0xFFFFu) * 0x10001u;
    int32_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const uint32_t w = pm_fl_ld32(src + j);
        const uint32_t even = pm_fl_sxtab16(off2, w);                     /* b0, b2 */
        const uint32_t odd = pm_fl_sxtab16(off2, (w >> 8) | (w << 24));  /* b1, b3 */
        const uint32_t p01 = (even & 0xFFFFu) | (odd << 16);
        const uint32_t p23 = (even >> 16) | (odd & 0xFFFF0000u);
        memcpy(dst + j, &p01, 4);
        memcpy(dst + j + 2, &p23, 4);
    }
    for (; j < n; ++j) {
        dst[j] = (int16_t)(src[j] + offset);
    }
}

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

/* SMMLAR: c + round(a * b / 2^32), rounding half up; one single-cycle instruction on Armv7E-M. */
static inline int32_t pm_fl_smmlar(int32_t a, int32_t b, int32_t c)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(PM_DSP_PORTABLE)
    int32_t r;
    __asm("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
#else
    return (int32_t)(((int64_t)c * 4294967296LL + (int64_t)a * b + 0x80000000LL) >> 32);
#endif
}

/* The short exact requantization. For 2x within int32 and a right shift e >= 1,
 *   SaturatingRoundingDoublingHighMul(x, m) = SMMULR(2x, m)            (m >= 0, |x| < 2^30)
 *   RoundingDivideByPOT(r, e) = (r + 2^(e-1) - (r < 0)) >> e          (no overflow: |r| < 2^30)
 * and r < 0 may be replaced by x < 0 (they differ only for r = 0, where the result is 0 either way),
 * so MultiplyByQuantizedMultiplier is SMMLAR, an add and a shift. The bias is pre-doubled. */
typedef struct {
    int32_t mult;
    int32_t half;
    int32_t exp;
    int32_t bias2; /* 0 where the bias already rides in the accumulator */
} pm_fl_frq_t;

#define PM_FL_FRQ_MAX_C 64

/* Fill f[0..co) and return 1 when the short form is exact for every channel: a right shift e of at
 * least 1, |bias + sum| < 2^30 for any |sum| <= max_abs_sum, and the output offset small enough to
 * ride in the rounding term: (u >> e) + off == (u + (off << e)) >> e. Otherwise return 0. */
static inline int pm_fl_frq_prepare(const pm_first_requant_t *rq, int32_t co, int64_t max_abs_sum, int with_bias,
                                    pm_fl_frq_t *f)
{
    if (co > PM_FL_FRQ_MAX_C) {
        return 0;
    }
    const int64_t off = rq->output_offset;
    for (int32_t o = 0; o < co; ++o) {
        const int32_t s = rq->shift[o];
        const int64_t b = with_bias ? rq->bias[o] : 0;
        if (s > -1 || s < -24 || rq->multiplier[o] < 0 || (b < 0 ? -b : b) + max_abs_sum >= ((int64_t)1 << 30) ||
            (off < 0 ? -off : off) >= ((int64_t)1 << (29 - -s))) {
            return 0;
        }
        f[o].bias2 = (int32_t)(2 * b);
        f[o].mult = rq->multiplier[o];
        f[o].half = (int32_t)((1 << (-s - 1)) + off * (1 << -s));
        f[o].exp = -s;
    }
    return 1;
}

static inline int32_t pm_fl_clamp8(int32_t v, int32_t lo, int32_t hi)
{
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT && !defined(PM_DSP_PORTABLE)
    v = __ssat(v, 8);
#else
    v = v < -128 ? -128 : (v > 127 ? 127 : v);
#endif
    /* lo/hi inside the int8 range only for fused activations (ReLU, ReLU6). */
    if (lo > -128) {
        v = v < lo ? lo : v;
    }
    if (hi < 127) {
        v = v > hi ? hi : v;
    }
    return v;
}

/* sum2 is twice the accumulator before bias; the result includes the output offset. */
static inline int32_t pm_fl_frq_apply(int32_t sum2, const pm_fl_frq_t *f, int32_t lo, int32_t hi)
{
    const int32_t x2 = f->bias2 + sum2;
    int32_t u = pm_fl_smmlar(x2, f->mult, f->half);
    u += x2 >> 31;
    return pm_fl_clamp8(u >> f->exp, lo, hi);
}

static inline int8_t pm_fl_requant(int32_t acc, const pm_first_requant_t *rq, int32_t o)
{
    int32_t v = pm_fl_mbqm(acc, rq->multiplier[o], rq->shift[o]) + rq->output_offset;
    v = v < rq->act_min ? rq->act_min : v;
    v = v > rq->act_max ? rq->act_max : v;
    return (int8_t)v;
}

/* Requantize n packed int16 lane pairs (channels o0 .. o0 + 2n - 1) with the short form. The
 * parameters are copied to locals first: stores through int8_t* may alias anything, which would
 * otherwise make the compiler reload them after every output byte. */
static inline void pm_fl_requant_pairs(const uint32_t *lanes, int32_t n, const pm_fl_frq_t *f,
                                       const pm_first_requant_t *rq, int with_bias, int8_t *out)
{
    const int32_t lo = rq->act_min, hi = rq->act_max;
    (void)with_bias; /* the portable path reads bias2, zero when the bias rides in the lanes */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(PM_DSP_PORTABLE) && defined(__thumb2__)
    if (lo == -128 && hi == 127 && n > 0 && !with_bias) {
        /* No fused activation and the bias already in the lanes: SSAT is the whole clamp. */
        const int8_t *end = out + 2 * n;
        uint32_t a, m, h, e, x2, u;
        __asm volatile("1:\n\t"
                       "ldr %[a], [%[lanes]], #4\n\t"
                       "ldrd %[m], %[h], [%[f]], #8\n\t"
                       "ldr %[e], [%[f]], #8\n\t"
                       "lsl %[u], %[a], #16\n\t"
                       "asr %[x2], %[u], #15\n\t"
                       "smmlar %[u], %[x2], %[m], %[h]\n\t"
                       "add %[u], %[u], %[x2], asr #31\n\t"
                       "asr %[u], %[u], %[e]\n\t"
                       "ssat %[u], #8, %[u]\n\t"
                       "strb %[u], [%[out]], #1\n\t"
                       "ldrd %[m], %[h], [%[f]], #8\n\t"
                       "ldr %[e], [%[f]], #8\n\t"
                       "asr %[x2], %[a], #15\n\t"
                       "bic %[x2], %[x2], #1\n\t"
                       "smmlar %[u], %[x2], %[m], %[h]\n\t"
                       "add %[u], %[u], %[x2], asr #31\n\t"
                       "asr %[u], %[u], %[e]\n\t"
                       "ssat %[u], #8, %[u]\n\t"
                       "strb %[u], [%[out]], #1\n\t"
                       "cmp %[out], %[end]\n\t"
                       "bne 1b"
                       : [lanes] "+r"(lanes), [f] "+r"(f), [out] "+r"(out), [a] "=&r"(a), [m] "=&r"(m),
                         [h] "=&r"(h), [e] "=&r"(e), [x2] "=&r"(x2), [u] "=&r"(u)
                       : [end] "r"(end)
                       : "cc", "memory");
        return;
    }
    if (lo == -128 && hi == 127 && n > 0) {
        const int8_t *end = out + 2 * n;
        uint32_t a, b2, m, h, e, x2, u;
        __asm volatile("1:\n\t"
                       "ldr %[a], [%[lanes]], #4\n\t"
                       "ldrd %[m], %[h], [%[f]], #8\n\t"
                       "ldrd %[e], %[b2], [%[f]], #8\n\t"
                       "sxth %[u], %[a]\n\t"
                       "add %[x2], %[b2], %[u], lsl #1\n\t"
                       "smmlar %[u], %[x2], %[m], %[h]\n\t"
                       "add %[u], %[u], %[x2], asr #31\n\t"
                       "asr %[u], %[u], %[e]\n\t"
                       "ssat %[u], #8, %[u]\n\t"
                       "strb %[u], [%[out]], #1\n\t"
                       "ldrd %[m], %[h], [%[f]], #8\n\t"
                       "ldrd %[e], %[b2], [%[f]], #8\n\t"
                       "asr %[u], %[a], #16\n\t"
                       "add %[x2], %[b2], %[u], lsl #1\n\t"
                       "smmlar %[u], %[x2], %[m], %[h]\n\t"
                       "add %[u], %[u], %[x2], asr #31\n\t"
                       "asr %[u], %[u], %[e]\n\t"
                       "ssat %[u], #8, %[u]\n\t"
                       "strb %[u], [%[out]], #1\n\t"
                       "cmp %[out], %[end]\n\t"
                       "bne 1b"
                       : [lanes] "+r"(lanes), [f] "+r"(f), [out] "+r"(out), [a] "=&r"(a), [b2] "=&r"(b2),
                         [m] "=&r"(m), [h] "=&r"(h), [e] "=&r"(e), [x2] "=&r"(x2), [u] "=&r"(u)
                       : [end] "r"(end)
                       : "cc", "memory");
        return;
    }
#endif
    for (int32_t i = 0; i < n; ++i, f += 2, out += 2) {
        const uint32_t a = lanes[i];
        out[0] = (int8_t)pm_fl_frq_apply(pm_fl_lo16(a) * 2, f, lo, hi);
        out[1] = (int8_t)pm_fl_frq_apply((int32_t)(a & 0xFFFF0000u) >> 15, f + 1, lo, hi);
    }
}

/* Requantize the lanes of one block: the short form when it was proved exact, else TFLM's textbook
 * form (pm_fl_mbqm), which is exact for any accumulator. */
static inline void pm_fl_requant_lanes(const uint32_t *lanes, int32_t n, int short_ok, const pm_fl_frq_t *f,
                                       const pm_first_requant_t *rq, int with_bias, int32_t o0, int8_t *out)
{
    if (short_ok) {
        pm_fl_requant_pairs(lanes, n, f + o0, rq, with_bias, out + o0);
        return;
    }
    for (int32_t i = 0; i < n; ++i) {
        const int32_t o = o0 + 2 * i;
        const int32_t b0 = with_bias ? rq->bias[o] : 0, b1 = with_bias ? rq->bias[o + 1] : 0;
        out[o] = pm_fl_requant(b0 + pm_fl_lo16(lanes[i]), rq, o);
        out[o + 1] = pm_fl_requant(b1 + pm_fl_hi16(lanes[i]), rq, o + 1);
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
