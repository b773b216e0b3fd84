/* Walks the output of a broadcasting binary kernel in row-major order, keeping both input offsets. */
#ifndef PM_BROADCAST_H
#define PM_BROADCAST_H

#include <string.h>

#include "pm_kernels.h"
#include "pm_requant.h"

typedef struct {
    int32_t idx[PM_MAX_RANK];
    int32_t off1;
    int32_t off2;
} pm_bcast_iter_t;

static inline void pm_bcast_start(pm_bcast_iter_t *it)
{
    memset(it, 0, sizeof *it);
}

/* Odometer step: the last dimension moves fastest; a wrapped dimension gives its offsets back. */
static inline void pm_bcast_next(pm_bcast_iter_t *it, const pm_binary_params_t *p)
{
    if (p->shape == NULL) {
        ++it->off1;
        ++it->off2;
        return;
    }
    for (int d = PM_MAX_RANK - 1; d >= 0; --d) {
        it->off1 += p->strides1[d];
        it->off2 += p->strides2[d];
        if (++it->idx[d] < p->shape[d]) {
            return;
        }
        it->off1 -= p->strides1[d] * p->shape[d];
        it->off2 -= p->strides2[d] * p->shape[d];
        it->idx[d] = 0;
    }
}

static inline int pm_binary_args_ok(const pm_binary_params_t *p, const void *a, const void *b, const void *out)
{
    return p != NULL && a != NULL && b != NULL && out != NULL && p->size >= 0 &&
           (p->shape == NULL || (p->strides1 != NULL && p->strides2 != NULL));
}

/* SUB and SQUARED_DIFFERENCE: both inputs shifted left, rescaled to a common scale, subtracted. */
static inline int32_t pm_rescaled_difference(const pm_binary_params_t *p, int8_t a, int8_t b)
{
    const int32_t sa = pm_mbqm((p->input1_offset + a) * (1 << p->left_shift), p->input1_multiplier, p->input1_shift);
    const int32_t sb = pm_mbqm((p->input2_offset + b) * (1 << p->left_shift), p->input2_multiplier, p->input2_shift);
    return pm_sub_wrap(sa, sb);
}

/* MAXIMUM (larger = 1) and MINIMUM (larger = 0) on raw values. */
static inline int pm_extremum_s8(const pm_binary_params_t *p, const int8_t *input1, const int8_t *input2,
                                 int8_t *output, int larger)
{
    if (!pm_binary_args_ok(p, input1, input2, output)) {
        return PM_ERR_ARG;
    }
    pm_bcast_iter_t it;
    pm_bcast_start(&it);
    for (int32_t i = 0; i < p->size; ++i) {
        const int8_t a = input1[it.off1];
        const int8_t b = input2[it.off2];
        output[i] = ((a > b) == (larger != 0)) ? a : b;
        pm_bcast_next(&it, p);
    }
    return PM_OK;
}

#endif /* PM_BROADCAST_H */
