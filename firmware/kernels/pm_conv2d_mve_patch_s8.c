/* Helium convolution for few input channels (an RGB first layer): im2col one output row, then the
 * windows (kh * kw * C bytes, padded to a multiple of 4) go through pm_conv2d_mve_s8's loop as a 1x1
 * convolution: a 3x3x3 window is one 16-byte vector and one predicated tail instead of three tails.
 * Weights: the filter flattened to {cout, 1, 1, window rounded up to 4}, zero-padded, with its own
 * folded bias and tap sums. Taps in the padding hold the input zero point, so they add nothing. */
#include "pm_conv_mve.h"
#include "pm_patch.h"

static int32_t pm_mve_patch_bytes(const pm_conv_mve_params_t *p)
{
    return (p->filter.h * p->filter.w * p->input.c + 3) & ~3;
}

int32_t pm_conv2d_mve_patch_s8_scratch_size(const pm_conv_mve_params_t *p)
{
    return p->output.w * pm_mve_patch_bytes(p);
}

int pm_conv2d_mve_patch_s8(const pm_conv_mve_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output)
{
    if (p == NULL || input == NULL || scratch == NULL || output == NULL || p->input.c < 1 ||
        p->filter.c != p->input.c || p->stride_h < 1 || p->stride_w < 1) {
        return PM_ERR_ARG;
    }
    const int32_t in_h = p->input.h, in_w = p->input.w, c = p->input.c;
    const int32_t kh = p->filter.h, kw = p->filter.w;
    const int32_t out_w = p->output.w, out_c = p->output.c;
    const int32_t kp = pm_mve_patch_bytes(p);
    pm_conv_mve_params_t q = *p;
    q.input = (pm_dims_t){1, 1, out_w, kp};
    q.filter = (pm_dims_t){out_c, 1, 1, kp};
    q.output = (pm_dims_t){1, 1, out_w, out_c};
    q.stride_h = q.stride_w = 1;
    q.pad_h = q.pad_w = 0;
    const int status = pm_mve_check(&q, scratch, output);
    if (status != PM_OK) {
        return status;
    }
    const int8_t fill = (int8_t)(-p->input_offset);
    const int fast = q.short_requant && pm_packed_sat8(q.act_min, q.act_max);
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * c;
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            pm_patch_row(in_b, in_h, in_w, c, kh, kw, p->stride_h, p->stride_w, p->pad_h, p->pad_w, out_w, oy, kp,
                         fill, scratch);
            if (fast) {
                pm_mve_body(&q, scratch, NULL, NULL, output, 1, 1, 0);
            } else if (q.short_requant) {
                pm_mve_body(&q, scratch, NULL, NULL, output, 1, 0, 0);
            } else {
                pm_mve_body(&q, scratch, NULL, NULL, output, 0, 0, 0);
            }
            output += (size_t)out_w * out_c;
        }
    }
    return PM_OK;
}
