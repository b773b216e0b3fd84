/* General int8 convolution with the Armv7E-M dual 16-bit MAC (SMLAD) over input channels.
 *
 * Operands are widened in registers (SXTB16/SXTAB16), so unlike CMSIS-NN's im2col path this needs
 * no scratch buffer: the arena stays at the planner's minimum. Four output channels share each
 * widened input word (two for the last channels). Each output pixel is finished before the next
 * starts, the order the planner's overlap rule relies on. Off-target, pm_dsp.h supplies bit-identical stand-ins of the intrinsics.
 */
#include "pm_conv_common.h"
#include "pm_dsp.h"

int32_t pm_conv2d_dsp_s8_scratch_size(const pm_conv_params_t *p)
{
    (void)p;
    return 0;
}

/* Four output channels' dot products over one run of input bytes: each input word is widened once
 * for four filters (filters are `fs` bytes apart). */
static inline void pm_dot4(const int8_t *x, const int8_t *w, size_t fs, int32_t n, uint32_t off2, int32_t offset,
                           int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t *w1 = w + fs, *w2 = w + 2 * fs, *w3 = w + 3 * fs;
    const int8_t *const x_end4 = x + (n & ~3);
    const int8_t *const x_end = x + n;
    /* Pointers only (no index) keep the loop's live values within the core's registers. */
    while (x != x_end4) {
        const uint32_t xv = pm_read_u32(x);
        x += 4;
        const uint32_t x02 = (uint32_t)pm_sxtab16(off2, xv);
        const uint32_t x13 = (uint32_t)pm_sxtab16_ror8(off2, xv);
        uint32_t v = pm_read_u32(w);
        w += 4;
        a0 = pm_smlad(x02, (uint32_t)pm_sxtb16(v), a0);
        a0 = pm_smlad(x13, (uint32_t)pm_sxtb16_ror8(v), a0);
        v = pm_read_u32(w1);
        w1 += 4;
        a1 = pm_smlad(x02, (uint32_t)pm_sxtb16(v), a1);
        a1 = pm_smlad(x13, (uint32_t)pm_sxtb16_ror8(v), a1);
        v = pm_read_u32(w2);
        w2 += 4;
        a2 = pm_smlad(x02, (uint32_t)pm_sxtb16(v), a2);
        a2 = pm_smlad(x13, (uint32_t)pm_sxtb16_ror8(v), a2);
        v = pm_read_u32(w3);
        w3 += 4;
        a3 = pm_smlad(x02, (uint32_t)pm_sxtb16(v), a3);
        a3 = pm_smlad(x13, (uint32_t)pm_sxtb16_ror8(v), a3);
    }
    while (x != x_end) {
        const int32_t xi = (int32_t)*x++ + offset;
        a0 += (int32_t)*w++ * xi;
        a1 += (int32_t)*w1++ * xi;
        a2 += (int32_t)*w2++ * xi;
        a3 += (int32_t)*w3++ * xi;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* Two output channels' dot products over one run of input bytes. */
static inline void pm_dot2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, uint32_t off2,
                           int32_t offset, int32_t *acc0, int32_t *acc1)
{
    int32_t a0 = *acc0, a1 = *acc1;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t xv = pm_read_u32(x + i);
        const uint32_t x02 = (uint32_t)pm_sxtab16(off2, xv);
        const uint32_t x13 = (uint32_t)pm_sxtab16_ror8(off2, xv);
        const uint32_t v0 = pm_read_u32(w0 + i);
        const uint32_t v1 = pm_read_u32(w1 + i);
        a0 = pm_smlad(x02, (uint32_t)pm_sxtb16(v0), a0);
        a0 = pm_smlad(x13, (uint32_t)pm_sxtb16_ror8(v0), a0);
        a1 = pm_smlad(x02, (uint32_t)pm_sxtb16(v1), a1);
        a1 = pm_smlad(x13, (uint32_t)pm_sxtb16_ror8(v1), a1);
    }
    for (; i < n; ++i) {
        const int32_t xi = (int32_t)x[i] + offset;
        a0 += (int32_t)w0[i] * xi;
        a1 += (int32_t)w1[i] * xi;
    }
    *acc0 = a0;
    *acc1 = a1;
}

int pm_conv2d_dsp_s8(const pm_conv_params_t *p, const int8_t *input, int8_t *output)
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
    const int32_t offset = p->input_offset;
    const uint32_t off2 = ((uint32_t)(uint16_t)offset) | ((uint32_t)(uint16_t)offset << 16);
    const size_t filter_size = (size_t)kh * kw * in_c;
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
                int32_t oc = 0;
                for (; oc + 4 <= out_c; oc += 4) {
                    const int8_t *w = p->weights + (size_t)oc * filter_size;
                    int32_t acc[4] = {0, 0, 0, 0};
                    for (int32_t ky = 0; ky < kh; ++ky) {
                        const int32_t y = y0 + ky * p->dilation_h;
                        if (y < 0 || y >= in_h) {
                            continue;
                        }
                        const int8_t *row = in_b + (size_t)y * in_w * in_c;
                        for (int32_t kx = kx0; kx < kx1; kx += step) {
                            pm_dot4(row + (size_t)(x0 + kx * p->dilation_w) * in_c,
                                    w + ((size_t)ky * kw + kx) * in_c, filter_size, run, off2, offset, acc);
                        }
                    }
                    for (int32_t k = 0; k < 4; ++k) {
                        output[oc + k] = pm_conv_out(p, acc[k], oc + k);
                    }
                }
                for (; oc < out_c; oc += 2) {
                    /* An odd last channel pairs with itself; only the first result is stored. */
                    const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
                    const int8_t *w0 = p->weights + (size_t)oc * filter_size;
                    const int8_t *w1 = p->weights + (size_t)oc1 * filter_size;
                    int32_t acc0 = 0, acc1 = 0;
                    for (int32_t ky = 0; ky < kh; ++ky) {
                        const int32_t y = y0 + ky * p->dilation_h;
                        if (y < 0 || y >= in_h) {
                            continue;
                        }
                        const int8_t *row = in_b + (size_t)y * in_w * in_c;
                        for (int32_t kx = kx0; kx < kx1; kx += step) {
                            const size_t tap = ((size_t)ky * kw + kx) * in_c;
                            pm_dot2(row + (size_t)(x0 + kx * p->dilation_w) * in_c, w0 + tap, w1 + tap, run, off2,
                                    offset, &acc0, &acc1);
                        }
                    }
                    output[oc] = pm_conv_out(p, acc0, oc);
                    if (oc1 != oc) {
                        output[oc1] = pm_conv_out(p, acc1, oc1);
                    }
                }
                output += out_c;
            }
        }
    }
    return PM_OK;
}
