/* Depthwise 3x3, dilation 1, multiplier 1: taps resolved per output pixel, channels innermost, so
 * the inner loop walks input, weights and output contiguously (the common MobileNet case). */
#include "pm_conv_common.h"

int pm_depthwise_conv2d_3x3_s8(const pm_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int status = pm_conv_check(p, input, output);
    if (status != PM_OK) {
        return status;
    }
    const int32_t in_h = p->input.h, in_w = p->input.w, c = p->input.c;
    if (p->filter.h != 3 || p->filter.w != 3 || p->dilation_h != 1 || p->dilation_w != 1 ||
        p->depth_multiplier != 1 || p->output.c != c || p->filter.c != c) {
        return PM_ERR_SHAPE;
    }
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * c;
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t ky0 = y0 < 0 ? -y0 : 0;
            const int32_t ky1 = in_h - y0 < 3 ? in_h - y0 : 3;
            for (int32_t ox = 0; ox < p->output.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t kx0 = x0 < 0 ? -x0 : 0;
                const int32_t kx1 = in_w - x0 < 3 ? in_w - x0 : 3;
                for (int32_t ch = 0; ch < c; ++ch) {
                    int32_t acc = 0;
                    for (int32_t ky = ky0; ky < ky1; ++ky) {
                        const int8_t *row = in_b + (size_t)(y0 + ky) * in_w * c + ch;
                        const int8_t *wrow = p->weights + (size_t)ky * 3 * c + ch;
                        for (int32_t kx = kx0; kx < kx1; ++kx) {
                            const int32_t xv = (int32_t)row[(size_t)(x0 + kx) * c] + p->input_offset;
                            acc += (int32_t)wrow[(size_t)kx * c] * xv;
                        }
                    }
                    *output++ = pm_conv_out(p, acc, ch);
                }
            }
        }
    }
    return PM_OK;
}
