/* Private to firmware/first_layer: the int16 GEMM core shared by the im2col and embed-then-conv
 * kernels. Two output pixels times two output channels per step: four SMLADs for four loads, so every
 * loaded word feeds two multiply-accumulates. */
#ifndef PM_FIRST_GEMM_H
#define PM_FIRST_GEMM_H

#include "pm_first_common.h"

typedef struct {
    const pm_first_requant_t *rq;
    const pm_fl_frq_t *f;  /* the short requantization, or NULL for the textbook form */
} pm_fl_gemm_rq_t;

static inline int8_t pm_fl_gemm_out(int32_t acc, const pm_fl_gemm_rq_t *q, int32_t o)
{
    if (q->f != NULL) {
        return (int8_t)pm_fl_frq_apply(acc * 2, q->f + o, q->rq->act_min, q->rq->act_max);
    }
    return pm_fl_requant(q->rq->bias[o] + acc, q->rq, o);
}

/* kp is a multiple of 4; col1/out1 may be NULL for a lone last pixel. */
static inline void pm_fl_gemm2(const int16_t *col0, const int16_t *col1, const int16_t *weights, int32_t kp,
                               const pm_fl_gemm_rq_t *q, int32_t co, int8_t *out0, int8_t *out1)
{
    if (col1 == NULL) {
        col1 = col0;
    }
    int32_t o = 0;
    for (; o + 2 <= co; o += 2) {
        const int16_t *w0 = weights + o * kp, *w1 = w0 + kp;
        int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
        for (int32_t k = 0; k < kp; k += 4) {
            uint32_t x0 = pm_fl_ld32(col0 + k), x1 = pm_fl_ld32(col1 + k);
            uint32_t y0 = pm_fl_ld32(w0 + k), y1 = pm_fl_ld32(w1 + k);
            a00 = pm_fl_smlad(x0, y0, a00);
            a01 = pm_fl_smlad(x0, y1, a01);
            a10 = pm_fl_smlad(x1, y0, a10);
            a11 = pm_fl_smlad(x1, y1, a11);
            x0 = pm_fl_ld32(col0 + k + 2);
            x1 = pm_fl_ld32(col1 + k + 2);
            y0 = pm_fl_ld32(w0 + k + 2);
            y1 = pm_fl_ld32(w1 + k + 2);
            a00 = pm_fl_smlad(x0, y0, a00);
            a01 = pm_fl_smlad(x0, y1, a01);
            a10 = pm_fl_smlad(x1, y0, a10);
            a11 = pm_fl_smlad(x1, y1, a11);
        }
        out0[o] = pm_fl_gemm_out(a00, q, o);
        out0[o + 1] = pm_fl_gemm_out(a01, q, o + 1);
        if (out1 != NULL) {
            out1[o] = pm_fl_gemm_out(a10, q, o);
            out1[o + 1] = pm_fl_gemm_out(a11, q, o + 1);
        }
    }
    if (o < co) {
        const int16_t *w0 = weights + o * kp;
        int32_t a0 = 0, a1 = 0;
        for (int32_t k = 0; k < kp; k += 2) {
            const uint32_t y0 = pm_fl_ld32(w0 + k);
            a0 = pm_fl_smlad(pm_fl_ld32(col0 + k), y0, a0);
            a1 = pm_fl_smlad(pm_fl_ld32(col1 + k), y0, a1);
        }
        out0[o] = pm_fl_gemm_out(a0, q, o);
        if (out1 != NULL) {
            out1[o] = pm_fl_gemm_out(a1, q, o);
        }
    }
}

/* |value| <= 255 in every column (int8 plus an offset in [-127, 128]) and |weight| <= 128. */
static inline void pm_fl_gemm_rq_init(pm_fl_gemm_rq_t *q, const pm_first_requant_t *rq, int32_t co, int32_t kp,
                                      pm_fl_frq_t *f)
{
    q->rq = rq;
    q->f = pm_fl_frq_prepare(rq, co, (int64_t)kp * 255 * 128, 1, f) ? f : NULL;
}

#endif /* PM_FIRST_GEMM_H */
