/* Convolution fused with the residual ADD that is its only consumer (ResNet blocks).
 *
 * Each convolution value is requantized to int8 exactly as pm_conv2d_s8 does and immediately added
 * to the residual element at the same index, so the result equals running both layers while the
 * convolution's output tensor never exists: the block needs one activation buffer less. The sum is
 * written over the residual after that element has been read. DSP dual-MAC inner loop where available.
 */
#include "pm_add_common.h"
#include "pm_conv_common.h"
#include "pm_dsp.h"

int pm_conv2d_add_s8(const pm_conv_add_params_t *p, const int8_t *input, const int8_t *residual, int8_t *output)
{
    if (p == NULL || residual == NULL) {
        return PM_ERR_ARG;
    }
    const pm_conv_params_t *c = &p->conv;
    const int status = pm_conv_check(c, input, output);
    if (status != PM_OK) {
        return status;
    }
    const int32_t in_h = c->input.h, in_w = c->input.w, in_c = c->input.c;
    const int32_t kh = c->filter.h, kw = c->filter.w;
    const int32_t out_c = c->output.c;
    if (c->filter.c != in_c || c->filter.n != out_c ||
        p->add.size != c->output.n * c->output.h * c->output.w * out_c || p->add.left_shift < 0 ||
        p->add.left_shift > 30) {
        return PM_ERR_SHAPE;
    }
    const size_t filter_size = (size_t)kh * kw * in_c;
    size_t idx = 0;
    for (int32_t b = 0; b < c->output.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < c->output.h; ++oy) {
            const int32_t y0 = oy * c->stride_h - c->pad_h;
            for (int32_t ox = 0; ox < c->output.w; ++ox) {
                const int32_t x0 = ox * c->stride_w - c->pad_w;
                int32_t kx0, kx1;
                pm_conv_cols(c, x0, &kx0, &kx1);
                const int32_t run = c->dilation_w == 1 ? (kx1 - kx0) * in_c : in_c;
                const int32_t step = c->dilation_w == 1 ? kx1 - kx0 : 1;
                for (int32_t oc = 0; oc < out_c; ++oc, ++idx) {
                    const int8_t *w_oc = c->weights + (size_t)oc * filter_size;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < kh; ++ky) {
                        const int32_t y = y0 + ky * c->dilation_h;
                        if (y < 0 || y >= in_h) {
                            continue;
                        }
                        const int8_t *row = in_b + (size_t)y * in_w * in_c;
                        for (int32_t kx = kx0; kx < kx1; kx += step) {
                            acc = pm_dot_offset_dsp(row + (size_t)(x0 + kx * c->dilation_w) * in_c,
                                                    w_oc + ((size_t)ky * kw + kx) * in_c, run, c->input_offset, acc);
                        }
                    }
                    const int32_t conv = pm_conv_out(c, acc, oc);
                    const int32_t res = residual[idx];
                    output[idx] = p->conv_is_input1 ? pm_add_one(&p->add, conv, res) : pm_add_one(&p->add, res, conv);
                }
            }
        }
    }
    return PM_OK;
}
