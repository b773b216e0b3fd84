/* Private to the kernels: the body of the Helium convolutions (pm_conv2d_mve_*; dilation 1).
 *
 * Weights stay int8 in TFLite's OHWI order, so for one output channel and one kernel row the valid
 * taps' weights are contiguous, like the input bytes they meet: each row is one run of
 * (valid taps) x (input channels) bytes, consumed 16 at a time by VMLADAVA.S8 (16 MACs per
 * instruction), four output channels sharing every input vector, the last partial vector under a
 * VCTP predicate. VMLADAVA multiplies the raw int8 input, so the input offset is folded at generate
 * time: bias' = bias + offset * (sum of the filter), and a window cut by the padding adds back
 * offset * (tap sums) of its valid taps only. Off the M55 the same loop runs in plain C.
 * Output pixels are finished in raster order, each after all its input bytes are read (the planner's
 * overlap rule); the optional residual element is read before the sum is written over it.
 */
#ifndef PM_CONV_MVE_H
#define PM_CONV_MVE_H

#include <string.h>

#include "pm_kernels.h"
#include "pm_requant_fast.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(PM_DSP_PORTABLE)
#include <arm_mve.h>
#define PM_HAVE_MVE 1
#else
#define PM_HAVE_MVE 0
#endif

/* m (1..4) output channels' sums over one run of n bytes; filters are `fs` bytes apart. On the M55 a
 * real call: inlined into the pixel loop, its pointers were spilled to the stack every vector. */
#if PM_HAVE_MVE
__attribute__((noinline)) static void pm_mve_run(
#else
static PM_ALWAYS_INLINE void pm_mve_run(
#endif
    const int8_t *x, const int8_t *w, size_t fs, int32_t n, int32_t m, int32_t *acc)
{
#if PM_HAVE_MVE
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t *w1 = w + fs, *w2 = w + 2 * fs, *w3 = w + 3 * fs;
    int32_t i = 0;
    if (m == 4) {
        for (; i + 16 <= n; i += 16) {
            const int8x16_t xv = vldrbq_s8(x + i);
            a0 = vmladavaq_s8(a0, xv, vldrbq_s8(w + i));
            a1 = vmladavaq_s8(a1, xv, vldrbq_s8(w1 + i));
            a2 = vmladavaq_s8(a2, xv, vldrbq_s8(w2 + i));
            a3 = vmladavaq_s8(a3, xv, vldrbq_s8(w3 + i));
        }
        if (i < n) {
            /* Masked lanes are neither read nor counted. */
            const mve_pred16_t pr = vctp8q((uint32_t)(n - i));
            const int8x16_t xv = vldrbq_z_s8(x + i, pr);
            a0 = vmladavaq_s8(a0, xv, vldrbq_z_s8(w + i, pr));
            a1 = vmladavaq_s8(a1, xv, vldrbq_z_s8(w1 + i, pr));
            a2 = vmladavaq_s8(a2, xv, vldrbq_z_s8(w2 + i, pr));
            a3 = vmladavaq_s8(a3, xv, vldrbq_z_s8(w3 + i, pr));
        }
    } else {
        for (; i < n; i += 16) {
            const mve_pred16_t pr = vctp8q((uint32_t)(n - i));
            const int8x16_t xv = vldrbq_z_s8(x + i, pr);
            a0 = vmladavaq_s8(a0, xv, vldrbq_z_s8(w + i, pr));
            if (m > 1) {
                a1 = vmladavaq_s8(a1, xv, vldrbq_z_s8(w1 + i, pr));
            }
            if (m > 2) {
                a2 = vmladavaq_s8(a2, xv, vldrbq_z_s8(w2 + i, pr));
            }
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
#else
    for (int32_t k = 0; k < m; ++k) {
        const int8_t *wk = w + (size_t)k * fs;
        int32_t a = acc[k];
        for (int32_t i = 0; i < n; ++i) {
            a = pm_add_wrap(a, (int32_t)x[i] * wk[i]);
        }
        acc[k] = a;
    }
#endif
}

static inline int pm_mve_check(const pm_conv_mve_params_t *p, const int8_t *input, const int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL || p->weights == NULL || p->bias == NULL ||
        p->tap_sums == NULL || p->requant == NULL || p->stride_h < 1 || p->stride_w < 1) {
        return PM_ERR_ARG;
    }
    if (p->input.n != p->output.n || p->filter.c != p->input.c || p->filter.n != p->output.c) {
        return PM_ERR_SHAPE;
    }
    return PM_OK;
}

/* The convolution; with add != NULL each value then goes through the residual addition (its
 * rescaling tabulated, as in pm_conv2d_packed_add_s8). short_path, sat8 and add_fast are
 * compile-time constants in each instantiation. */
static PM_ALWAYS_INLINE void pm_mve_body(const pm_conv_mve_params_t *p, const int8_t *input,
                                         const pm_conv_mve_add_params_t *add, const int8_t *residual, int8_t *output,
                                         const int short_path, const int sat8, const int add_fast)
{
    const int32_t in_h = p->input.h, in_w = p->input.w, in_c = p->input.c;
    const int32_t kh = p->filter.h, kw = p->filter.w;
    const int32_t out_c = p->output.c;
    const size_t fs = (size_t)kh * kw * in_c;
    const size_t row_bytes = (size_t)in_w * in_c;
    const int32_t out_offset = p->output_offset, act_min = p->act_min, act_max = p->act_max;
    const int32_t *const conv_table = add != NULL ? add->conv_table + 128 : NULL;
    const int32_t *const residual_table = add != NULL ? add->residual_table + 128 : NULL;
    int32_t add_rec[4] = {0, 0, 0, 0};
    int32_t add_offset = 0, add_min = -128, add_max = 127, add_short = 0;
    if (add != NULL) {
        for (int k = 0; k < 4; ++k) {
            add_rec[k] = add->requant[k];
        }
        add_offset = add->output_offset;
        add_min = add->act_min;
        add_max = add->act_max;
        add_short = add->short_requant;
    }
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * row_bytes;
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t ky0 = y0 < 0 ? -y0 : 0;
            const int32_t ky1 = in_h - y0 < kh ? in_h - y0 : kh;
            for (int32_t ox = 0; ox < p->output.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t kx0 = x0 < 0 ? -x0 : 0;
                const int32_t kx1 = in_w - x0 < kw ? in_w - x0 : kw;
                const int32_t n = kx1 > kx0 ? (kx1 - kx0) * in_c : 0;
                const int full = ky0 == 0 && ky1 == kh && kx0 == 0 && kx1 == kw;
                const int8_t *x_first = in_b + (size_t)(y0 + ky0) * row_bytes + (size_t)(x0 + kx0) * in_c;
                const int32_t *rec = p->requant;
                for (int32_t oc = 0; oc < out_c; oc += 4) {
                    const int32_t m = out_c - oc < 4 ? out_c - oc : 4;
                    int32_t acc[4] = {0, 0, 0, 0};
                    if (full && m == 4) {
                        memcpy(acc, p->bias + oc, sizeof acc);  /* offset x whole filter already folded in */
                    }
                    for (int32_t k = 0; k < m && !(full && m == 4); ++k) {
                        if (full) {
                            acc[k] = p->bias[oc + k];
                        } else {
                            /* The raw bias plus offset x the valid taps' sums. */
                            const int32_t *ts = p->tap_sums + (size_t)(oc + k) * (kh * kw + 1);
                            int32_t a = ts[kh * kw];
                            for (int32_t ky = ky0; ky < ky1; ++ky) {
                                for (int32_t kx = kx0; kx < kx1; ++kx) {
                                    a = pm_add_wrap(a, ts[ky * kw + kx]);
                                }
                            }
                            acc[k] = a;
                        }
                    }
                    const int8_t *xr = x_first;
                    const int8_t *wr = p->weights + (size_t)oc * fs + ((size_t)ky0 * kw + kx0) * in_c;
                    for (int32_t ky = ky0; ky < ky1 && n > 0; ++ky) {
                        pm_mve_run(xr, wr, fs, n, m, acc);
                        xr += row_bytes;
                        wr += (size_t)kw * in_c;
                    }
                    if (m == 4) {
                        pm_packed_epilogue(acc, rec, 4, output, residual, conv_table, residual_table, add_rec,
                                           out_offset, act_min, act_max, add_offset, add_min, add_max, add_short,
                                           add != NULL, short_path, sat8, add_fast);
                    } else {
                        pm_packed_epilogue(acc, rec, m, output, residual, conv_table, residual_table, add_rec,
                                           out_offset, act_min, act_max, add_offset, add_min, add_max, add_short,
                                           add != NULL, short_path, sat8, add_fast);
                    }
                    rec += (size_t)m * PM_REC_WORDS(short_path);
                    output += m;
                    if (add != NULL) {
                        residual += m;
                    }
                }
            }
        }
    }
}

#endif /* PM_CONV_MVE_H */
