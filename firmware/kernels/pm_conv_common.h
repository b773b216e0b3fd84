/* Private to the kernels: checks and the per-pixel epilogue shared by the convolutions. */
#ifndef PM_CONV_COMMON_H
#define PM_CONV_COMMON_H

#include "pm_kernels.h"
#include "pm_requant.h"

static inline int pm_conv_check(const pm_conv_params_t *p, const int8_t *input, const int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL || p->weights == NULL || p->multiplier == NULL ||
        p->shift == NULL || p->stride_h < 1 || p->stride_w < 1 || p->dilation_h < 1 || p->dilation_w < 1) {
        return PM_ERR_ARG;
    }
    if (p->input.n != p->output.n) {
        return PM_ERR_SHAPE;
    }
    return PM_OK;
}

/* Bias, requantization, output offset and clamp of one accumulator. */
static inline int8_t pm_conv_out(const pm_conv_params_t *p, int32_t acc, int32_t ch)
{
    if (p->bias != NULL) {
        acc = pm_add_wrap(acc, p->bias[ch]);
    }
    acc = pm_mbqm(acc, p->multiplier[ch], p->shift[ch]) + p->output_offset;
    return (int8_t)pm_clamp(acc, p->act_min, p->act_max);
}

/* The kernel columns [*kx0, *kx1) whose taps fall inside the image for a window starting at x0. */
static inline void pm_conv_cols(const pm_conv_params_t *p, int32_t x0, int32_t *kx0, int32_t *kx1)
{
    const int32_t d = p->dilation_w;
    int32_t lo = 0;
    if (x0 < 0) {
        lo = (-x0 + d - 1) / d;
    }
    int32_t hi = p->filter.w;
    const int32_t room = p->input.w - x0; /* taps need x0 + kx * d < input.w */
    if (room <= 0) {
        hi = 0;
    } else if ((room - 1) / d + 1 < hi) {
        hi = (room - 1) / d + 1;
    }
    *kx0 = lo;
    *kx1 = hi > lo ? hi : lo;
}

#endif /* PM_CONV_COMMON_H */
