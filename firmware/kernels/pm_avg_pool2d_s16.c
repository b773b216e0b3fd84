/* 16x8 average pooling: TFLM's reference AveragePool for int16 (clipped windows, rounded division). */
#include "pm_pool_common.h"
#include "pm_requant.h"

int pm_avg_pool2d_s16(const pm_pool_params_t *p, const void *input, void *output)
{
    const int status = pm_pool_check(p, (const int8_t *)input, (const int8_t *)output);
    if (status != PM_OK) {
        return status;
    }
    const int32_t in_h = p->input.h, in_w = p->input.w, c = p->input.c;
    const int16_t *in = (const int16_t *)input;
    int16_t *out = (int16_t *)output;
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int16_t *in_b = in + (size_t)b * in_h * in_w * c;
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            for (int32_t ox = 0; ox < p->output.w; ++ox) {
                const pm_window_t w = pm_pool_window(p, oy, ox);
                const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
                if (count <= 0) {
                    return PM_ERR_SHAPE;
                }
                for (int32_t ch = 0; ch < c; ++ch) {
                    int32_t acc = 0;
                    for (int32_t y = w.y0; y < w.y1; ++y) {
                        for (int32_t x = w.x0; x < w.x1; ++x) {
                            acc += in_b[((size_t)y * in_w + x) * c + ch];
                        }
                    }
                    *out++ = (int16_t)pm_clamp(pm_div_round(acc, count), p->act_min, p->act_max);
                }
            }
        }
    }
    return PM_OK;
}
