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
#include <string.h>

#include "pm_conv_packed.h"

static int32_t pm_patch_bytes(const pm_conv_packed_params_t *p)
{
    return (p->filter.h * p->filter.w * p->input.c + 3) & ~3;
}

int32_t pm_conv2d_packed_patch_s8_scratch_size(const pm_conv_packed_params_t *p)
{
    return p->output.w * pm_patch_bytes(p);
}

static void pm_copy_run(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, dst += 4, src += 4) {
        uint32_t v;
        memcpy(&v, src, 4);
        memcpy(dst, &v, 4);
    }
    for (; n > 0; --n) {
        *dst++ = *src++;
    }
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
    const int32_t k = kh * kw * c, kp = pm_patch_bytes(p);
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
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            int8_t *patch = scratch;
            for (int32_t ox = 0; ox < out_w; ++ox, patch += kp) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t kx0 = x0 < 0 ? -x0 : 0;
                const int32_t kx1 = in_w - x0 < kw ? (in_w - x0 > 0 ? in_w - x0 : 0) : kw;
                int8_t *dst = patch;
                for (int32_t ky = 0; ky < kh; ++ky, dst += kw * c) {
                    const int32_t y = y0 + ky;
                    if (y < 0 || y >= in_h || kx1 <= kx0) {
                        memset(dst, fill, (size_t)(kw * c));
                        continue;
                    }
                    if (kx0 > 0) {
                        memset(dst, fill, (size_t)(kx0 * c));
                    }
                    pm_copy_run(dst + kx0 * c, in_b + ((size_t)y * in_w + (x0 + kx0)) * c, (kx1 - kx0) * c);
                    if (kx1 < kw) {
                        memset(dst + kx1 * c, fill, (size_t)((kw - kx1) * c));
                    }
                }
                for (int32_t i = k; i < kp; ++i) {
                    patch[i] = 0;
                }
            }
            PM_PACKED_DISPATCH(&q, scratch, output);
            output += (size_t)out_w * out_c;
        }
    }
    return PM_OK;
}
