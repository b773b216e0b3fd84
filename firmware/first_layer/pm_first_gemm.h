/* Private to firmware/first_layer: the int16 GEMM core shared by the im2col and embed-then-conv
 * kernels. Four output pixels times two output channels per step: the weights of a channel pair are
 * interleaved ([out_c/2][kp/2][2] words) and so are the four pixels' columns, so every LDRD feeds
 * four SMLADs. An odd last channel is the first of a pair whose second weights are zero. */
#ifndef PM_FIRST_GEMM_H
#define PM_FIRST_GEMM_H

#include "pm_first_common.h"

typedef struct {
    const pm_first_requant_t *rq;
    const pm_fl_frq_t *f;  /* the short requantization, or NULL for the textbook form */
    int full_range;        /* no fused activation: the int8 saturation is the whole clamp */
} pm_fl_gemm_rq_t;

static inline int8_t pm_fl_gemm_out(int32_t acc, const pm_fl_gemm_rq_t *q, int32_t o)
{
    if (q->f != NULL) {
        if (q->full_range) {
            return (int8_t)pm_fl_frq_apply(acc * 2, q->f + o, -128, 127);
        }
        return (int8_t)pm_fl_frq_apply(acc * 2, q->f + o, q->rq->act_min, q->rq->act_max);
    }
    return pm_fl_requant(q->rq->bias[o] + acc, q->rq, o);
}

/* Four output pixels times two output channels: the four columns are interleaved word by word
 * ([kp/2][4] words), so per two window values one LDRD of weights and two LDRDs of columns feed
 * eight SMLADs (0.69 instructions per multiply-accumulate).
 * acc: pixel p, channel j at acc[2 * p + j]. */
static inline void pm_fl_dot4x2(const uint32_t *cols, const int16_t *wpair, int32_t kp, int32_t *acc)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(PM_DSP_PORTABLE) && defined(__thumb2__)
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    uint32_t x0, x1, y0, y1;
    const uint32_t *end = cols + 2 * kp;
#define PM_FL_K2                                                                                             \
    "ldrd %[y0], %[y1], [%[w]], #8\n\t"                                                                      \
    "ldrd %[x0], %[x1], [%[c]], #8\n\t"                                                                      \
    "smlad %[a0], %[x0], %[y0], %[a0]\n\t"                                                                   \
    "smlad %[a1], %[x0], %[y1], %[a1]\n\t"                                                                   \
    "smlad %[a2], %[x1], %[y0], %[a2]\n\t"                                                                   \
    "smlad %[a3], %[x1], %[y1], %[a3]\n\t"                                                                   \
    "ldrd %[x0], %[x1], [%[c]], #8\n\t"                                                                      \
    "smlad %[a4], %[x0], %[y0], %[a4]\n\t"                                                                   \
    "smlad %[a5], %[x0], %[y1], %[a5]\n\t"                                                                   \
    "smlad %[a6], %[x1], %[y0], %[a6]\n\t"                                                                   \
    "smlad %[a7], %[x1], %[y1], %[a7]\n\t"
    /* 14 registers are operands already: the loop end is read from memory into a free temporary. */
    __asm volatile("1:\n\t" PM_FL_K2 PM_FL_K2
                   "ldr %[x0], %[end]\n\t"
                   "cmp %[c], %[x0]\n\t"
                   "bne 1b"
                   : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4), [a5] "+r"(a5),
                     [a6] "+r"(a6), [a7] "+r"(a7), [c] "+r"(cols), [w] "+r"(wpair), [x0] "=&r"(x0),
                     [x1] "=&r"(x1), [y0] "=&r"(y0), [y1] "=&r"(y1)
                   : [end] "m"(end)
                   : "cc", "memory");
#undef PM_FL_K2
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = a4, acc[5] = a5, acc[6] = a6, acc[7] = a7;
#else
    for (int32_t i = 0; i < 8; ++i) {
        acc[i] = 0;
    }
    for (int32_t j = 0; j < kp / 2; ++j, wpair += 4, cols += 4) {
        const uint32_t y0 = pm_fl_ld32(wpair), y1 = pm_fl_ld32(wpair + 2);
        for (int32_t p = 0; p < 4; ++p) {
            acc[2 * p] = pm_fl_smlad(cols[p], y0, acc[2 * p]);
            acc[2 * p + 1] = pm_fl_smlad(cols[p], y1, acc[2 * p + 1]);
        }
    }
#endif
}

/* Interleave one contiguous int16 column (kp values) into slot `slot` of the 4-column block. */
static inline void pm_fl_interleave(const int16_t *col, int32_t kp, uint32_t *cols, int32_t slot)
{
    cols += slot;
    for (int32_t j = 0; j < kp / 2; ++j, cols += 4) {
        *cols = pm_fl_ld32(col + 2 * j);
    }
}

/* npix (1..4) output pixels, consecutive in out (co bytes apart), from the interleaved columns. */
static __attribute__((noinline)) void pm_fl_gemm4(const uint32_t *cols, int32_t npix, const int16_t *weights,
                                                  int32_t kp, const pm_fl_gemm_rq_t *q, int32_t co, int8_t *out)
{
    const int16_t *w = weights;
    if (q->f != NULL && q->full_range && npix == 4 && co % 2 == 0) {
        const pm_fl_frq_t *f = q->f;
        for (int32_t o = 0; o < co; o += 2, w += 2 * kp, f += 2) {
            int32_t acc[8];
            pm_fl_dot4x2(cols, w, kp, acc);
            int8_t *dst = out + o;
            for (int32_t p = 0; p < 4; ++p, dst += co) {
                dst[0] = (int8_t)pm_fl_frq_apply(acc[2 * p] * 2, f, -128, 127);
                dst[1] = (int8_t)pm_fl_frq_apply(acc[2 * p + 1] * 2, f + 1, -128, 127);
            }
        }
        return;
    }
    for (int32_t o = 0; o < co; o += 2, w += 2 * kp) {
        int32_t acc[8];
        pm_fl_dot4x2(cols, w, kp, acc);
        for (int32_t p = 0; p < npix; ++p) {
            out[p * co + o] = pm_fl_gemm_out(acc[2 * p], q, o);
            if (o + 1 < co) {
                out[p * co + o + 1] = pm_fl_gemm_out(acc[2 * p + 1], q, o + 1);
            }
        }
    }
}

/* |value| <= 255 in every column (int8 plus an offset in [-127, 128]) and |weight| <= 128. */
static inline void pm_fl_gemm_rq_init(pm_fl_gemm_rq_t *q, const pm_first_requant_t *rq, int32_t co, int32_t kp,
                                      pm_fl_frq_t *f)
{
    q->rq = rq;
    q->f = pm_fl_frq_prepare(rq, co, (int64_t)kp * 255 * 128, 1, f) ? f : NULL;
    q->full_range = rq->act_min == -128 && rq->act_max == 127;
}

#endif /* PM_FIRST_GEMM_H */
