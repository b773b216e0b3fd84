/* Private to firmware/first_layer: the float32 first layer, included by the VFMA and the VMUL+VADD
 * variants after defining PM_FL_F32_FMA to 1 or 0.
 *
 * Register blocking: 16 output channels live in s0..s15 for a whole window; per input value one
 * VLDM brings 8 weights at a time (weights are laid out [out_c/NB][k_h][k_w][in_c][NB] so a window
 * reads them contiguously). VFMA is 3 cycles on a Cortex-M4, VMUL and VADD one each: which wins
 * depends on the core, so both are kept. */
#ifndef PM_FIRST_F32_BODY_H
#define PM_FIRST_F32_BODY_H

#include "pm_first_common.h"

#if defined(__ARM_FP) && defined(__thumb2__) && !defined(PM_DSP_PORTABLE)
#define PM_FL_F32_ASM 1
#else
#define PM_FL_F32_ASM 0
#endif

#if PM_FL_F32_FMA
#define PM_FL_F8(a0, a1, a2, a3, a4, a5, a6, a7)                                                             \
    "vfma.f32 " a0 ", s24, s16\n\t"                                                                          \
    "vfma.f32 " a1 ", s24, s17\n\t"                                                                          \
    "vfma.f32 " a2 ", s24, s18\n\t"                                                                          \
    "vfma.f32 " a3 ", s24, s19\n\t"                                                                          \
    "vfma.f32 " a4 ", s24, s20\n\t"                                                                          \
    "vfma.f32 " a5 ", s24, s21\n\t"                                                                          \
    "vfma.f32 " a6 ", s24, s22\n\t"                                                                          \
    "vfma.f32 " a7 ", s24, s23\n\t"
#else
/* Two product registers alternate so that a VADD never waits on the VMUL just issued. */
#define PM_FL_F8(a0, a1, a2, a3, a4, a5, a6, a7)                                                             \
    "vmul.f32 s25, s24, s16\n\t"                                                                             \
    "vmul.f32 s26, s24, s17\n\t"                                                                             \
    "vadd.f32 " a0 ", " a0 ", s25\n\t"                                                                       \
    "vmul.f32 s25, s24, s18\n\t"                                                                             \
    "vadd.f32 " a1 ", " a1 ", s26\n\t"                                                                       \
    "vmul.f32 s26, s24, s19\n\t"                                                                             \
    "vadd.f32 " a2 ", " a2 ", s25\n\t"                                                                       \
    "vmul.f32 s25, s24, s20\n\t"                                                                             \
    "vadd.f32 " a3 ", " a3 ", s26\n\t"                                                                       \
    "vmul.f32 s26, s24, s21\n\t"                                                                             \
    "vadd.f32 " a4 ", " a4 ", s25\n\t"                                                                       \
    "vmul.f32 s25, s24, s22\n\t"                                                                             \
    "vadd.f32 " a5 ", " a5 ", s26\n\t"                                                                       \
    "vmul.f32 s26, s24, s23\n\t"                                                                             \
    "vadd.f32 " a6 ", " a6 ", s25\n\t"                                                                       \
    "vadd.f32 " a7 ", " a7 ", s26\n\t"
#endif

static void pm_fl_normalise(const pm_first_geom_t *g, const uint8_t *pixels, const float *norm_scale,
                            const float *norm_offset, float *scratch)
{
    const int32_t c = g->in_c, npix = (int32_t)g->in_h * g->in_w;
    if (c == 3) {
        const float s0 = norm_scale[0], s1 = norm_scale[1], s2 = norm_scale[2];
        const float o0 = norm_offset[0], o1 = norm_offset[1], o2 = norm_offset[2];
        for (int32_t i = 0; i < npix; ++i, pixels += 3, scratch += 3) {
            scratch[0] = (float)pixels[0] * s0 + o0;
            scratch[1] = (float)pixels[1] * s1 + o1;
            scratch[2] = (float)pixels[2] * s2 + o2;
        }
        return;
    }
    for (int32_t i = 0; i < npix; ++i) {
        for (int32_t ch = 0; ch < c; ++ch) {
            scratch[i * c + ch] = (float)pixels[i * c + ch] * norm_scale[ch] + norm_offset[ch];
        }
    }
}

/* One window, nb output channels from weights w (already at the window's first tap); C fallback. */
static void pm_fl_window_f32_c(const float *x, int32_t x_row, int32_t rows, int32_t n, const float *w, int32_t w_row,
                               int32_t nb, const float *bias, float *out)
{
    for (int32_t o = 0; o < nb; ++o) {
        float a = bias[o];
        for (int32_t r = 0; r < rows; ++r) {
            for (int32_t j = 0; j < n; ++j) {
                a += x[r * x_row + j] * w[r * w_row + j * nb + o];
            }
        }
        out[o] = a;
    }
}

#if PM_FL_F32_ASM
/* The whole window in one asm statement: the 16 accumulators never leave s0..s15 (as asm operands
 * they would exceed GCC's 30-operand limit). rows >= 1 and n >= 1. */
static void pm_fl_window_f32_16(const float *x, int32_t x_row, int32_t rows, int32_t n, const float *w,
                                int32_t w_row, const float *bias, float *out)
{
    const int32_t n_bytes = n * 4, x_skip = (x_row - n) * 4, w_skip = (w_row - n * 16) * 4;
    const float *end;
    __asm volatile("vldmia %[bias], {s0-s15}\n\t"
                   "2:\n\t"
                   "add %[end], %[x], %[n_bytes]\n\t"
                   "1:\n\t"
                   "vldmia %[x]!, {s24}\n\t"
                   "vldmia %[w]!, {s16-s23}\n\t"
                   PM_FL_F8("s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7")
                   "vldmia %[w]!, {s16-s23}\n\t"
                   PM_FL_F8("s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15")
                   "cmp %[x], %[end]\n\t"
                   "bne 1b\n\t"
                   "add %[x], %[x], %[x_skip]\n\t"
                   "add %[w], %[w], %[w_skip]\n\t"
                   "subs %[rows], %[rows], #1\n\t"
                   "bne 2b\n\t"
                   "vstmia %[out], {s0-s15}"
                   : [x] "+r"(x), [w] "+r"(w), [rows] "+r"(rows), [end] "=&r"(end)
                   : [bias] "r"(bias), [out] "r"(out), [n_bytes] "r"(n_bytes), [x_skip] "r"(x_skip),
                     [w_skip] "r"(w_skip)
                   : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13",
                     "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26",
                     "cc", "memory");
}

/* As pm_fl_window_f32_16 for 8 output channels (s0..s7). */
static void pm_fl_window_f32_8(const float *x, int32_t x_row, int32_t rows, int32_t n, const float *w,
                               int32_t w_row, const float *bias, float *out)
{
    const int32_t n_bytes = n * 4, x_skip = (x_row - n) * 4, w_skip = (w_row - n * 8) * 4;
    const float *end;
    __asm volatile("vldmia %[bias], {s0-s7}\n\t"
                   "2:\n\t"
                   "add %[end], %[x], %[n_bytes]\n\t"
                   "1:\n\t"
                   "vldmia %[x]!, {s24}\n\t"
                   "vldmia %[w]!, {s16-s23}\n\t"
                   PM_FL_F8("s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7")
                   "cmp %[x], %[end]\n\t"
                   "bne 1b\n\t"
                   "add %[x], %[x], %[x_skip]\n\t"
                   "add %[w], %[w], %[w_skip]\n\t"
                   "subs %[rows], %[rows], #1\n\t"
                   "bne 2b\n\t"
                   "vstmia %[out], {s0-s7}"
                   : [x] "+r"(x), [w] "+r"(w), [rows] "+r"(rows), [end] "=&r"(end)
                   : [bias] "r"(bias), [out] "r"(out), [n_bytes] "r"(n_bytes), [x_skip] "r"(x_skip),
                     [w_skip] "r"(w_skip)
                   : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s16", "s17", "s18", "s19", "s20", "s21",
                     "s22", "s23", "s24", "s25", "s26", "cc", "memory");
}
#endif

static void pm_fl_conv_f32_body(const pm_first_geom_t *g, const uint8_t *pixels, const float *norm_scale,
                                const float *norm_offset, const float *weights, const float *bias,
                                float *scratch, float *out)
{
    const int32_t c = g->in_c, co = g->out_c, kw = g->k_w, nb = pm_fl_block(co);
    const int32_t block_stride = (int32_t)g->k_h * kw * c * nb;
    pm_fl_normalise(g, pixels, norm_scale, norm_offset, scratch);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        int32_t ky0, ky1;
        pm_fl_clip(oy, g->stride_h, g->pad_h, g->k_h, g->in_h, &ky0, &ky1);
        for (int32_t ox = 0; ox < g->out_w; ++ox, out += co) {
            int32_t kx0, kx1;
            pm_fl_clip(ox, g->stride_w, g->pad_w, kw, g->in_w, &kx0, &kx1);
            const int32_t iy = oy * g->stride_h - g->pad_h + ky0, ix = ox * g->stride_w - g->pad_w + kx0;
            const float *x = scratch + (iy * g->in_w + ix) * c;
            const int32_t rows = ky1 - ky0, n = (kx1 - kx0) * c;
            const float *w = weights + (ky0 * kw + kx0) * c * nb;
            for (int32_t b = 0; b < co; b += nb, w += block_stride) {
#if PM_FL_F32_ASM
                if (nb == 16 && n > 0 && rows > 0) {
                    pm_fl_window_f32_16(x, g->in_w * c, rows, n, w, kw * c * nb, bias + b, out + b);
                    continue;
                }
                if (nb == 8 && n > 0 && rows > 0) {
                    pm_fl_window_f32_8(x, g->in_w * c, rows, n, w, kw * c * nb, bias + b, out + b);
                    continue;
                }
#endif
                pm_fl_window_f32_c(x, g->in_w * c, rows, n, w, kw * c * nb, nb, bias + b, out + b);
            }
        }
    }
}

#endif /* PM_FIRST_F32_BODY_H */
