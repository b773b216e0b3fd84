/* Packed-weight convolution for few input channels (an RGB first layer): im2col one output row.
 *
 * With 3 channels a kernel row holds 9 bytes, which the four-byte SMLAD loop can only take padded to
 * 12 and in three separate runs. Here each output pixel's whole window (kh * kw * C bytes, taps in
 * the padding filled with the input zero point so they add nothing) is first copied into one
 * contiguous patch, rounded up to a multiple of 4 with zero-weight bytes: for a 3x3x3 window 28
 * bytes, 7 groups in one run. The patches of one output row then go through the packed body as a
 * 1x1 convolution (weights packed from the filter flattened to {cout, 1, 1, kh * kw * C}).
 * Scratch: one output row of patches. Output rows are written in order, after their input rows are read.
 */
#include "pm_conv_packed.h"
#include "pm_patch.h"

static int32_t pm_patch_bytes(const pm_conv_packed_params_t *p)
{
    return (p->filter.h * p->filter.w * p->input.c + 3) & ~3;
}

int32_t pm_conv2d_packed_patch_s8_scratch_size(const pm_conv_packed_params_t *p)
{
    return p->output.w * pm_patch_bytes(p);
}

int pm_conv2d_packed_patch_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output)
{
    if (p == NULL || input == NULL || scratch == NULL || output == NULL || p->input.c < 1 ||
        p->filter.c != p->input.c || p->stride_h < 1 || p->stride_w < 1) {
        return PM_ERR_ARG;
    }
    const int32_t in_h = p->input.h, in_w = p->input.w, c = p->input.c;
    const int32_t kh = p->filter.h, kw = p->filter.w;
    const int32_t out_w = p->output.w, out_c = p->output.c;
    const int32_t kp = pm_patch_bytes(p);
    /* The patch row is an image of height 1 for the packed body. */
    pm_conv_packed_params_t q = *p;
    q.input = (pm_dims_t){1, 1, out_w, kp};
    q.filter = (pm_dims_t){out_c, 1, 1, kp};
    q.output = (pm_dims_t){1, 1, out_w, out_c};
    q.stride_h = q.stride_w = 1;
    q.pad_h = q.pad_w = 0;
    const int status = pm_packed_check(&q, scratch, output);
    if (status != PM_OK) {
        return status;
    }
    const int8_t fill = (int8_t)(-p->input_offset);  /* (fill + input_offset) = 0: a skipped tap */
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * c;
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            pm_patch_row(in_b, in_h, in_w, c, kh, kw, p->stride_h, p->stride_w, p->pad_h, p->pad_w, out_w, oy, kp,
                         fill, scratch);
            PM_PACKED_DISPATCH(&q, scratch, output);
            output += (size_t)out_w * out_c;
        }
    }
    return PM_OK;
}
