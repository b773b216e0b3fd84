/* 1x1 convolution without padding: per output pixel, a matrix-vector product over channels. */
#include "pm_conv_common.h"
#include "pm_dsp.h"

int pm_conv2d_1x1_s8(const pm_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int status = pm_conv_check(p, input, output);
    if (status != PM_OK) {
        return status;
    }
    const int32_t in_h = p->input.h, in_w = p->input.w, in_c = p->input.c;
    const int32_t out_c = p->output.c;
    if (p->filter.h != 1 || p->filter.w != 1 || p->filter.c != in_c || p->filter.n != out_c || p->pad_h != 0 ||
        p->pad_w != 0) {
        return PM_ERR_SHAPE;
    }
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            for (int32_t ox = 0; ox < p->output.w; ++ox) {
                const int8_t *px = in_b + ((size_t)oy * p->stride_h * in_w + (size_t)ox * p->stride_w) * in_c;
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int32_t acc = pm_dot_offset_dsp(px, p->weights + (size_t)oc * in_c, in_c, p->input_offset, 0);
                    *output++ = pm_conv_out(p, acc, oc);
                }
            }
        }
    }
    return PM_OK;
}
