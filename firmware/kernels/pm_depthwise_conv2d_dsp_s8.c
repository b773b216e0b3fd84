/* Depthwise convolution, depth multiplier 1, SIMD across channels.
 *
 * A depthwise output needs one product per tap and channel, so SMLAD (which sums two products into
 * one accumulator) does not apply across channels. Instead one LDR fetches four channels of a tap's
 * input and one more their weights (the generator stores the filter as groups of four channels,
 * [group][ky][kx][4], so a group's taps are consecutive words); SXTAB16 / SXTB16 widen them to
 * 16-bit lanes (channels 0|2 and, with ROR #8, 1|3) and SMLABB / SMLATT add each lane's product to
 * its channel's accumulator: 4 MACs in 13 instructions with the loop, against about 40 for a
 * byte-wise loop. The bias starts the accumulators and the requantization takes the generator-proved
 * short path (pm_requant_fast.h). Channels past the last multiple of 4 run byte-wise, so no load reads
 * past a pixel's channels. Each output pixel is written after all its input is read, in raster order
 * (the planner's overlap rule).
 */
#include <string.h>

#include "pm_dsp.h"
#include "pm_kernels.h"
#include "pm_requant_fast.h"

/* The window's valid taps along one axis: [*k0, *k1) for a window starting at x0 (dilation d). */
static inline void pm_dw_range(int32_t x0, int32_t k, int32_t d, int32_t size, int32_t *k0, int32_t *k1)
{
    int32_t lo = x0 < 0 ? (-x0 + d - 1) / d : 0;
    int32_t hi = k;
    const int32_t room = size - x0;
    if (room <= 0) {
        hi = 0;
    } else if ((room - 1) / d + 1 < hi) {
        hi = (room - 1) / d + 1;
    }
    *k0 = lo;
    *k1 = hi > lo ? hi : lo;
}

#if PM_HAVE_DSP && defined(__thumb2__)
#define PM_DW_ASM 1
#define PM_UNUSED __attribute__((unused))
/* Four channels' sums over the window of one pixel, in assembly (GCC spills an accumulator and the
 * steps in C): 13 instructions per tap for 4 MACs. s = {acc0..acc3, off2, rows, cols, xstep, xrow,
 * wrow}; x, w: the first valid tap; acc0..acc3 are updated in place. */
__attribute__((naked, noinline)) static void pm_dw_window_asm(PM_UNUSED const int8_t *x, PM_UNUSED const int8_t *w,
                                                             PM_UNUSED int32_t *s)
{
    __asm__ volatile(
        "push   {r2, r4-r11, lr}\n\t"
        "ldm    r2, {r4-r7}\n\t"
        "ldr    r3, [r2, #16]\n\t"
        "ldr    lr, [r2, #20]\n\t"
        "ldr    r8, [r2, #28]\n\t"
        "0:\n\t"
        "ldr    r9, [sp]\n\t"
        "ldr    r9, [r9, #24]\n\t"
        "1:\n\t"
        "ldr    r10, [r0]\n\t"
        "add    r0, r0, r8\n\t"
        "ldr    r11, [r1], #4\n\t"
        "sxtab16 r12, r3, r10\n\t"
        "sxtb16 r2, r11\n\t"
        "smlabb r4, r12, r2, r4\n\t"
        "smlatt r6, r12, r2, r6\n\t"
        "sxtab16 r12, r3, r10, ror #8\n\t"
        "sxtb16 r2, r11, ror #8\n\t"
        "smlabb r5, r12, r2, r5\n\t"
        "smlatt r7, r12, r2, r7\n\t"
        "subs   r9, r9, #1\n\t"
        "bne    1b\n\t"
        "ldr    r2, [sp]\n\t"
        "ldr    r10, [r2, #32]\n\t"
        "ldr    r11, [r2, #36]\n\t"
        "add    r0, r0, r10\n\t"
        "add    r1, r1, r11\n\t"
        "subs   lr, lr, #1\n\t"
        "bne    0b\n\t"
        "ldr    r2, [sp]\n\t"
        "stm    r2, {r4-r7}\n\t"
        "pop    {r2, r4-r11, pc}\n\t");
}

/* The same for a whole row of three taps (kernel width 3, dilation 1, window inside the image): the
 * taps are addressed as x, x + C and x + 2C, so a tap costs 10 instructions and a row 3 more.
 * s[7] = C (the tap step), s[8] = the input step between rows. */
__attribute__((naked, noinline)) static void pm_dw_window3_asm(PM_UNUSED const int8_t *x, PM_UNUSED const int8_t *w,
                                                              PM_UNUSED int32_t *s)
{
    __asm__ volatile(
        "push   {r2, r4-r11, lr}\n\t"
        "ldm    r2, {r4-r7}\n\t"
        "ldr    r3, [r2, #16]\n\t"
        "ldr    lr, [r2, #20]\n\t"
        "ldr    r8, [r2, #28]\n\t"
        "ldr    r9, [r2, #32]\n\t"
        "0:\n\t"
        "ldr    r10, [r0]\n\t"
        "ldr    r11, [r1], #4\n\t"
        "sxtab16 r12, r3, r10\n\t"
        "sxtb16 r2, r11\n\t"
        "smlabb r4, r12, r2, r4\n\t"
        "smlatt r6, r12, r2, r6\n\t"
        "sxtab16 r12, r3, r10, ror #8\n\t"
        "sxtb16 r2, r11, ror #8\n\t"
        "smlabb r5, r12, r2, r5\n\t"
        "smlatt r7, r12, r2, r7\n\t"
        "ldr    r10, [r0, r8]\n\t"
        "ldr    r11, [r1], #4\n\t"
        "sxtab16 r12, r3, r10\n\t"
        "sxtb16 r2, r11\n\t"
        "smlabb r4, r12, r2, r4\n\t"
        "smlatt r6, r12, r2, r6\n\t"
        "sxtab16 r12, r3, r10, ror #8\n\t"
        "sxtb16 r2, r11, ror #8\n\t"
        "smlabb r5, r12, r2, r5\n\t"
        "smlatt r7, r12, r2, r7\n\t"
        "ldr    r10, [r0, r8, lsl #1]\n\t"
        "ldr    r11, [r1], #4\n\t"
        "sxtab16 r12, r3, r10\n\t"
        "sxtb16 r2, r11\n\t"
        "smlabb r4, r12, r2, r4\n\t"
        "smlatt r6, r12, r2, r6\n\t"
        "sxtab16 r12, r3, r10, ror #8\n\t"
        "sxtb16 r2, r11, ror #8\n\t"
        "smlabb r5, r12, r2, r5\n\t"
        "smlatt r7, r12, r2, r7\n\t"
        "add    r0, r0, r9\n\t"
        "subs   lr, lr, #1\n\t"
        "bne    0b\n\t"
        "ldr    r2, [sp]\n\t"
        "stm    r2, {r4-r7}\n\t"
        "pop    {r2, r4-r11, pc}\n\t");
}
#else
#define PM_DW_ASM 0
/* Four channels' sums over the window of one pixel (s as for the assembly version). */
static void pm_dw_window_c(const int8_t *x, const int8_t *w, int32_t *s)
{
    int32_t a0 = s[0], a1 = s[1], a2 = s[2], a3 = s[3];
    const uint32_t off2 = (uint32_t)s[4];
    const int32_t rows = s[5], cols = s[6], xstep = s[7], xrow = s[8], wrow = s[9];
    for (int32_t r = 0; r < rows; ++r) {
        for (int32_t c = 0; c < cols; ++c) {
            const uint32_t xv = pm_read_u32(x);
            const uint32_t wv = pm_read_u32(w);
            x += xstep;
            w += 4;
            const uint32_t x02 = (uint32_t)pm_sxtab16(off2, xv);
            const uint32_t x13 = (uint32_t)pm_sxtab16_ror8(off2, xv);
            const uint32_t w02 = (uint32_t)pm_sxtb16(wv);
            const uint32_t w13 = (uint32_t)pm_sxtb16_ror8(wv);
            a0 = pm_smlabb(x02, w02, a0);
            a2 = pm_smlatt(x02, w02, a2);
            a1 = pm_smlabb(x13, w13, a1);
            a3 = pm_smlatt(x13, w13, a3);
        }
        x += xrow;
        w += wrow;
    }
    s[0] = a0;
    s[1] = a1;
    s[2] = a2;
    s[3] = a3;
}
#endif

/* Byte-wise sum of one channel over the window (channels past the last multiple of 4). */
static inline int32_t pm_dw_channel(const int8_t *x, const int8_t *w, int32_t rows, int32_t cols, int32_t xstep,
                                    int32_t xrow, int32_t wstep, int32_t wrow, int32_t offset, int32_t acc)
{
    for (int32_t r = 0; r < rows; ++r) {
        for (int32_t c = 0; c < cols; ++c) {
            acc += (int32_t)*w * ((int32_t)*x + offset);
            x += xstep;
            w += wstep;
        }
        x += xrow;
        w += wrow;
    }
    return acc;
}

static PM_ALWAYS_INLINE void pm_dw_store(const int32_t *acc, const int32_t *rec, int32_t m, int8_t *out,
                                         int32_t offset, int32_t lo, int32_t hi, const int short_path, const int sat8)
{
#pragma GCC unroll 4
    for (int32_t k = 0; k < m; ++k) {
        out[k] = (int8_t)pm_packed_out(acc[k], rec + PM_REC_WORDS(short_path) * k, offset, lo, hi, short_path,
                                       sat8);
    }
}

static PM_ALWAYS_INLINE void pm_dw_body(const pm_dw_params_t *p, const int8_t *input, int8_t *output,
                                        const int short_path, const int sat8)
{
    const int32_t in_h = p->input.h, in_w = p->input.w, c = p->input.c;
    const int32_t kh = p->filter.h, kw = p->filter.w;
    const int32_t dh = p->dilation_h, dw = p->dilation_w;
    const int32_t c4 = c & ~3;
    const size_t group_bytes = (size_t)kh * kw * 4;
    const int32_t out_h = p->output.h, out_w = p->output.w;
    const int32_t offset = p->input_offset;
    const int32_t out_offset = p->output_offset, act_min = p->act_min, act_max = p->act_max;
    const int32_t xstep = dw * c;
    int32_t s[10];
    s[4] = (int32_t)(((uint32_t)(uint16_t)offset) | ((uint32_t)(uint16_t)offset << 16));
    s[7] = xstep;
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * c;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            int32_t ky0, ky1;
            pm_dw_range(y0, kh, dh, in_h, &ky0, &ky1);
            const int32_t rows = ky1 - ky0;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                int32_t kx0, kx1;
                pm_dw_range(x0, kw, dw, in_w, &kx0, &kx1);
                const int32_t cols = kx1 - kx0;
                const int8_t *x_first = in_b + ((size_t)(y0 + ky0 * dh) * in_w + (size_t)(x0 + kx0 * dw)) * c;
                const int8_t *w_first = p->weights + ((size_t)ky0 * kw + kx0) * 4;
                const int32_t xrow = dh * in_w * c - cols * xstep;
                const int32_t wrow = (kw - cols) * 4;
                /* A whole row of three taps takes the unrolled window (its s[8]: the full row step). */
                const int three = PM_DW_ASM && kw == 3 && cols == 3 && dw == 1;
                s[5] = rows;
                s[6] = cols;
                s[8] = three ? dh * in_w * c : xrow;
                s[9] = wrow;
                const int32_t *bias = p->bias;
                const int32_t *rec = p->requant;
                int32_t ch = 0;
                for (; ch < c4; ch += 4) {
                    memcpy(s, bias + ch, 4 * sizeof(int32_t));
                    if (rows > 0 && cols > 0) {
#if PM_DW_ASM
                        if (three) {
                            pm_dw_window3_asm(x_first + ch, w_first, s);
                        } else {
                            pm_dw_window_asm(x_first + ch, w_first, s);
                        }
#else
                        pm_dw_window_c(x_first + ch, w_first, s);
#endif
                    }
                    w_first += group_bytes;
                    pm_dw_store(s, rec + PM_REC_WORDS(short_path) * ch, 4, output + ch, out_offset, act_min, act_max,
                                short_path, sat8);
                }
                for (; ch < c; ++ch) {
                    int32_t acc = bias[ch];
                    if (rows > 0 && cols > 0) {
                        acc = pm_dw_channel(x_first + ch, w_first + (ch & 3), rows, cols, xstep, xrow, 4, wrow,
                                            offset, acc);
                    }
                    pm_dw_store(&acc, rec + PM_REC_WORDS(short_path) * ch, 1, output + ch, out_offset, act_min,
                                act_max, short_path, sat8);
                }
                output += c;
            }
        }
    }
}

int pm_depthwise_conv2d_dsp_s8(const pm_dw_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL || p->weights == NULL || p->bias == NULL ||
        p->requant == NULL || p->stride_h < 1 || p->stride_w < 1 || p->dilation_h < 1 || p->dilation_w < 1) {
        return PM_ERR_ARG;
    }
    if (p->input.n != p->output.n || p->output.c != p->input.c || p->filter.c != p->input.c || p->filter.n != 1) {
        return PM_ERR_SHAPE;
    }
    if (p->short_requant && pm_packed_sat8(p->act_min, p->act_max)) {
        pm_dw_body(p, input, output, 1, 1);
    } else if (p->short_requant) {
        pm_dw_body(p, input, output, 1, 0);
    } else {
        pm_dw_body(p, input, output, 0, 0);
    }
    return PM_OK;
}
