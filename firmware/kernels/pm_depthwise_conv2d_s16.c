/* 16x8 depthwise convolution: TFLM's reference DepthwiseConvPerChannel for int16 (int64 accumulators). */
#include "pm_kernels.h"
#include "pm_requant16.h"

int pm_depthwise_conv2d_s16(const pm_conv_s16_params_t *p16, const void *input, void *output)
{
    const pm_conv_params_t *p = &p16->conv;
    const int status = pm_conv16_check(p, input, output);
    if (status != PM_OK) {
        return status;
    }
    const int32_t in_h = p->input.h, in_w = p->input.w, in_c = p->input.c;
    const int32_t kh = p->filter.h, kw = p->filter.w, mult = p->depth_multiplier, out_c = p->output.c;
    if (mult < 1 || out_c != in_c * mult || p->filter.c != out_c) {
        return PM_ERR_SHAPE;
    }
    const int16_t *in = (const int16_t *)input;
    int16_t *out = (int16_t *)output;
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int16_t *in_b = in + (size_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->output.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int32_t ic = oc / mult;
                    int64_t acc = 0;
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
                            acc += (int32_t)p->weights[((size_t)ky * kw + kx) * out_c + oc] *
                                   (int32_t)in_b[((size_t)y * in_w + x) * in_c + ic];
                        }
                    }
                    if (p16->bias != NULL) {
                        acc += p16->bias[oc];
                    }
                    *out++ = pm_out16(acc, p->multiplier[oc], p->shift[oc], p->output_offset, p->act_min, p->act_max);
                }
            }
        }
    }
    return PM_OK;
}
