/* Private to the kernels: the Armv7E-M DSP intrinsics the fast paths use, or portable stand-ins.
 *
 * On a core with the DSP extension (__ARM_FEATURE_DSP: Cortex-M4/M7/M33/M55) these are the
 * arm_acle.h intrinsics. Elsewhere (the host, Cortex-M0/M3) the stand-ins below compute the same
 * bits in plain C, so the DSP kernels are tested on the host against the numpy reference.
 * Defining PM_DSP_PORTABLE forces the stand-ins even on a DSP core.
 */
#ifndef PM_DSP_H
#define PM_DSP_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(PM_DSP_PORTABLE)
#include <arm_acle.h>
#define PM_HAVE_DSP 1

static inline int32_t pm_sxtb16(uint32_t x) { return (int32_t)__sxtb16(x); }
static inline int32_t pm_sxtab16(uint32_t acc, uint32_t x) { return (int32_t)__sxtab16(acc, x); }
static inline int32_t pm_smlad(uint32_t a, uint32_t b, int32_t acc) { return __smlad(a, b, acc); }
static inline int32_t pm_smlabb(uint32_t a, uint32_t b, int32_t acc) { return __smlabb(a, b, acc); }
static inline int32_t pm_smlatt(uint32_t a, uint32_t b, int32_t acc) { return __smlatt(a, b, acc); }

/* (a * b + 2^31) >> 32: the high word of the product, rounded. */
static inline int32_t pm_smmulr(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* Bytes 1 and 3 widened: SXTB16 with its built-in ROR #8 (GCC does not fold a separate rotate). */
static inline int32_t pm_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return (int32_t)r;
}

static inline int32_t pm_sxtab16_ror8(uint32_t acc, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return (int32_t)r;
}

#else
#define PM_HAVE_DSP 0

static inline int16_t pm_lo16(uint32_t x) { return (int16_t)(uint16_t)(x & 0xFFFFu); }
static inline int16_t pm_hi16(uint32_t x) { return (int16_t)(uint16_t)(x >> 16); }
static inline uint32_t pm_pack16(int32_t lo, int32_t hi)
{
    return ((uint32_t)(uint16_t)lo) | ((uint32_t)(uint16_t)hi << 16);
}

/* Sign-extend bytes 0 and 2 into the two halfwords. */
static inline int32_t pm_sxtb16(uint32_t x)
{
    return (int32_t)pm_pack16((int8_t)(uint8_t)(x & 0xFFu), (int8_t)(uint8_t)((x >> 16) & 0xFFu));
}

/* Halfword-wise acc + sign-extended bytes 0 and 2 (each halfword wraps independently). */
static inline int32_t pm_sxtab16(uint32_t acc, uint32_t x)
{
    return (int32_t)pm_pack16(pm_lo16(acc) + (int8_t)(uint8_t)(x & 0xFFu),
                              pm_hi16(acc) + (int8_t)(uint8_t)((x >> 16) & 0xFFu));
}

/* Dual 16x16 multiply, both products added to acc (wrapping; the Q flag is not modelled). */
static inline int32_t pm_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    const int32_t p0 = (int32_t)pm_lo16(a) * pm_lo16(b);
    const int32_t p1 = (int32_t)pm_hi16(a) * pm_hi16(b);
    return (int32_t)((uint32_t)acc + (uint32_t)p0 + (uint32_t)p1);
}

/* Low (BB) or high (TT) halfwords multiplied and added to acc (wrapping; the Q flag is not modelled). */
static inline int32_t pm_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)pm_lo16(a) * pm_lo16(b)));
}

static inline int32_t pm_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)pm_hi16(a) * pm_hi16(b)));
}

static inline int32_t pm_smmulr(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
}
#endif

/* Saturate to int8: one SSAT on a DSP core. */
static inline int32_t pm_ssat8(int32_t x)
{
#if PM_HAVE_DSP
    return __ssat(x, 8);
#else
    return x < -128 ? -128 : (x > 127 ? 127 : x);
#endif
}

/* GCC 12's arm_acle.h has no __ror; this shift-or compiles to one ROR. */
static inline uint32_t pm_ror8(uint32_t x) { return (x >> 8) | (x << 24); }

#if !PM_HAVE_DSP
static inline int32_t pm_sxtb16_ror8(uint32_t x) { return pm_sxtb16(pm_ror8(x)); }
static inline int32_t pm_sxtab16_ror8(uint32_t acc, uint32_t x) { return pm_sxtab16(acc, pm_ror8(x)); }
#endif

/* Unaligned 32-bit load: memcpy compiles to a single LDR on Cortex-M (unaligned LDR is allowed). */
static inline uint32_t pm_read_u32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* sum_i w[i] * (x[i] + offset) over n bytes; offset in [-127, 128] keeps each lane in int16. */
static inline int32_t pm_dot_offset_dsp(const int8_t *x, const int8_t *w, int32_t n, int32_t offset, int32_t acc)
{
    const uint32_t off2 = ((uint32_t)(uint16_t)offset) | ((uint32_t)(uint16_t)offset << 16);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t xv = pm_read_u32(x + i);
        const uint32_t wv = pm_read_u32(w + i);
        /* Even bytes (0, 2) and odd bytes (1, 3), each widened to two int16 lanes. */
        const uint32_t x02 = (uint32_t)pm_sxtab16(off2, xv);
        const uint32_t x13 = (uint32_t)pm_sxtab16_ror8(off2, xv);
        const uint32_t w02 = (uint32_t)pm_sxtb16(wv);
        const uint32_t w13 = (uint32_t)pm_sxtb16_ror8(wv);
        acc = pm_smlad(x02, w02, acc);
        acc = pm_smlad(x13, w13, acc);
    }
    for (; i < n; ++i) {
        acc += (int32_t)w[i] * ((int32_t)x[i] + offset);
    }
    return acc;
}

#endif /* PM_DSP_H */
