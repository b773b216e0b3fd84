/* General int8 depthwise convolution: TFLM's reference DepthwiseConvPerChannel loop order. */
#include "pm_conv_common.h"

int pm_depthwise_conv2d_s8(const pm_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int status = pm_conv_check(p, input, output);
    if (status != PM_OK) {
        return status;
    }
    const int32_t in_h = p->input.h, in_w = p->input.w, in_c = p->input.c;
    const int32_t kh = p->filter.h, kw = p->filter.w;
    const int32_t mult = p->depth_multiplier;
    const int32_t out_c = p->output.c;
    if (mult < 1 || out_c != in_c * mult || p->filter.c != out_c) {
        return PM_ERR_SHAPE;
    }
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->output.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                for (int32_t ic = 0; ic < in_c; ++ic) {
                    for (int32_t m = 0; m < mult; ++m) {
                        const int32_t oc = ic * mult + m;
                        int32_t acc = 0;
                        for (int32_t ky = 0; ky < kh; ++ky) {
                            const int32_t y = y0 + ky * p->dilation_h;
                            if (y < 0 || y >= in_h) {
                                continue;
                            }
                            for (int32_t kx = 0; kx < kw; ++kx) {
                                const int32_t x = x0 + kx * p->dilation_w;
                                if (x < 0 || x >= in_w) {
                                    continue;
                                }
                                const int32_t xv = (int32_t)in_b[((size_t)y * in_w + x) * in_c + ic] + p->input_offset;
                                acc += (int32_t)p->weights[((size_t)ky * kw + kx) * out_c + oc] * xv;
                            }
                        }
                        *output++ = pm_conv_out(p, acc, oc);
                    }
                }
            }
        }
    }
    return PM_OK;
}
