/* Private to the kernels: the clipped pooling window shared by average and max pooling. */
#ifndef PM_POOL_COMMON_H
#define PM_POOL_COMMON_H

#include "pm_kernels.h"

typedef struct {
    int32_t y0, y1, x0, x1; /* [y0, y1) x [x0, x1) inside the image */
} pm_window_t;

static inline pm_window_t pm_pool_window(const pm_pool_params_t *p, int32_t oy, int32_t ox)
{
    const int32_t ys = oy * p->stride_h - p->pad_h;
    const int32_t xs = ox * p->stride_w - p->pad_w;
    pm_window_t w;
    w.y0 = ys < 0 ? 0 : ys;
    w.y1 = ys + p->filter_h < p->input.h ? ys + p->filter_h : p->input.h;
    w.x0 = xs < 0 ? 0 : xs;
    w.x1 = xs + p->filter_w < p->input.w ? xs + p->filter_w : p->input.w;
    return w;
}

static inline int pm_pool_check(const pm_pool_params_t *p, const int8_t *input, const int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL || p->stride_h < 1 || p->stride_w < 1 || p->filter_h < 1 ||
        p->filter_w < 1) {
        return PM_ERR_ARG;
    }
    if (p->input.n != p->output.n || p->input.c != p->output.c) {
        return PM_ERR_SHAPE;
    }
    return PM_OK;
}

#endif /* PM_POOL_COMMON_H */
