/* General int8 convolution, portable C: TFLM's reference ConvPerChannel, summing each kernel row's
 * valid taps as one run (they are contiguous when dilation_w is 1). */
#include "pm_conv_common.h"

int pm_conv2d_s8(const pm_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int status = pm_conv_check(p, input, output);
    if (status != PM_OK) {
        return status;
    }
    const int32_t in_h = p->input.h, in_w = p->input.w, in_c = p->input.c;
    const int32_t kh = p->filter.h, kw = p->filter.w;
    const int32_t out_c = p->output.c;
    if (p->filter.c != in_c || p->filter.n != out_c) {
        return PM_ERR_SHAPE;
    }
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->output.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                int32_t kx0, kx1;
                pm_conv_cols(p, x0, &kx0, &kx1);
                /* With dilation_w == 1 a kernel row's valid taps are contiguous in input and weights. */
                const int32_t run = p->dilation_w == 1 ? (kx1 - kx0) * in_c : in_c;
                const int32_t step = p->dilation_w == 1 ? kx1 - kx0 : 1;
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int8_t *w_oc = p->weights + (size_t)oc * kh * kw * in_c;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < kh; ++ky) {
                        const int32_t y = y0 + ky * p->dilation_h;
                        if (y < 0 || y >= in_h) {
                            continue;
                        }
                        const int8_t *row = in_b + (size_t)y * in_w * in_c;
                        for (int32_t kx = kx0; kx < kx1; kx += step) {
                            const int8_t *px = row + (size_t)(x0 + kx * p->dilation_w) * in_c;
                            const int8_t *pw = w_oc + ((size_t)ky * kw + kx) * in_c;
                            for (int32_t i = 0; i < run; ++i) {
                                acc += (int32_t)pw[i] * ((int32_t)px[i] + p->input_offset);
                            }
                        }
                    }
                    *output++ = pm_conv_out(p, acc, oc);
                }
            }
        }
    }
    return PM_OK;
}
