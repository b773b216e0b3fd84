/* Private to the kernels: the body of the Helium convolutions (pm_conv2d_mve_*; dilation 1).
 *
 * Per output pixel the window (kh x kw x cin bytes) is one contiguous run: read in place where the
 * input already holds it that way (kh == 1 or kw == in_w, window inside the image), else copied into
 * the scratch (im2col of one window), taps in the padding filled with the input zero point so they add
 * nothing. The run is consumed 16 bytes at a time by VMLADAVA.S8 (16 MACs per instruction) for four
 * output channels at once, every input vector loaded once for the four; the weights are laid out by
 * the generator in exactly that order ([group of 4 oc][16-byte chunk][oc][16], zero-padded), so one
 * pointer walks them for the whole pixel. VMLADAVA multiplies the raw int8 input: the input offset
 * is folded into the bias at generate time (padded taps hold the zero point, so the fold holds for
 * every window). The four sums are then requantized as one vector: VQRDMULH is gemmlowp's
 * SaturatingRoundingDoublingHighMul, and a rounding shift right (VRSHL) after subtracting 1 from
 * negative values is RoundingDivideByPOT (round half away from zero): TFLM's
 * MultiplyByQuantizedMultiplier bit for bit. Off the M55 the same arithmetic runs in plain C.
 * Output pixels are finished in raster order, each after all its input bytes are read (the planner's
 * overlap rule); the optional residual element is read before the sum is written over it.
 */
#ifndef PM_CONV_MVE_H
#define PM_CONV_MVE_H

#include <string.h>

#include "pm_kernels.h"
#include "pm_requant.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(PM_DSP_PORTABLE)
#include <arm_mve.h>
#define PM_HAVE_MVE 1
#else
#define PM_HAVE_MVE 0
#endif

#if defined(__GNUC__)
#define PM_MVE_INLINE inline __attribute__((always_inline))
#else
#define PM_MVE_INLINE inline
#endif

/* Words of the requantization record of one group of four output channels: four folded biases, four
 * multipliers, four left shifts, four negated right shifts. */
#define PM_MVE_REC 16

/* The residual ADD after the convolution (pm_conv2d_mve_add_s8): tables and the output record split. */
typedef struct {
    const int32_t *conv_table;
    const int32_t *residual_table;
    int32_t multiplier, left, neg_right, offset, lo, hi;
} pm_mve_add_t;

static inline int pm_mve_check(const pm_conv_mve_params_t *p, const int8_t *input, const int8_t *scratch,
                               const int8_t *output)
{
    if (p == NULL || input == NULL || scratch == NULL || output == NULL || p->weights == NULL ||
        p->requant == NULL || p->stride_h < 1 || p->stride_w < 1 || p->filter.h < 1 || p->filter.w < 1) {
        return PM_ERR_ARG;
    }
    if (p->input.n != p->output.n || p->filter.c != p->input.c || p->filter.n != p->output.c || p->input.c < 1) {
        return PM_ERR_SHAPE;
    }
    return PM_OK;
}

/* n bytes from s to d; n bytes of `fill` to d. Both return d + n (the loops' write-back runs whole
 * vectors ahead). */
static PM_MVE_INLINE int8_t *pm_mve_copy(int8_t *d, const int8_t *s, int32_t n)
{
#if PM_HAVE_MVE
    int8_t *const end = d + n;
    __asm__ volatile(
        "wlstp.8 lr, %[n], 2f\n"
        "1:\n"
        "vldrb.8 q0, [%[s]], #16\n"
        "vstrb.8 q0, [%[d]], #16\n"
        "letp lr, 1b\n"
        "2:\n"
        : [d] "+r"(d), [s] "+r"(s)
        : [n] "r"(n)
        : "q0", "lr", "memory");
    return end;
#else
    memcpy(d, s, (size_t)n);
    return d + n;
#endif
}

static PM_MVE_INLINE int8_t *pm_mve_fill(int8_t *d, int8_t fill, int32_t n)
{
#if PM_HAVE_MVE
    const int8x16_t v = vdupq_n_s8(fill);
    int8_t *const end = d + n;
    __asm__ volatile(
        "wlstp.8 lr, %[n], 2f\n"
        "1:\n"
        "vstrb.8 %q[v], [%[d]], #16\n"
        "letp lr, 1b\n"
        "2:\n"
        : [d] "+r"(d)
        : [n] "r"(n), [v] "w"(v)
        : "lr", "memory");
    return end;
#else
    memset(d, fill, (size_t)n);
    return d + n;
#endif
}

/* `rows` runs of n >= 1 bytes, `pitch` bytes apart in s, one after the other into d (a window inside
 * the image). */
static PM_MVE_INLINE void pm_mve_rows(int8_t *d, const int8_t *s, int32_t n, int32_t rows, int32_t pitch)
{
#if PM_HAVE_MVE
    /* The loops' write-back runs whole vectors: step back (d) or on (s) by the difference. */
    const int32_t padded = (n + 15) & ~15;
    const int32_t s_skip = pitch - padded, d_skip = n - padded;
    __asm__ volatile(
        "1:\n"
        "dlstp.8 lr, %[n]\n"
        "2:\n"
        "vldrb.8 q0, [%[s]], #16\n"
        "vstrb.8 q0, [%[d]], #16\n"
        "letp lr, 2b\n"
        "add %[s], %[s], %[s_skip]\n"
        "add %[d], %[d], %[d_skip]\n"
        "subs %[rows], %[rows], #1\n"
        "bne 1b\n"
        : [d] "+r"(d), [s] "+r"(s), [rows] "+r"(rows)
        : [n] "r"(n), [s_skip] "r"(s_skip), [d_skip] "r"(d_skip)
        : "q0", "lr", "cc", "memory");
#else
    for (int32_t r = 0; r < rows; ++r, d += n, s += pitch) {
        memcpy(d, s, (size_t)n);
    }
#endif
}

/* The window whose top-left tap is input (y0, x0) as one run in dst, padding taps = fill. */
static inline void pm_mve_window(const int8_t *in_b, int32_t in_h, int32_t in_w, int32_t c, int32_t kh, int32_t kw,
                                 int32_t y0, int32_t x0, int8_t fill, int8_t *dst)
{
    const int32_t kx0 = x0 < 0 ? (-x0 < kw ? -x0 : kw) : 0;
    const int32_t kx1 = in_w - x0 < kw ? (in_w - x0 > kx0 ? in_w - x0 : kx0) : kw;
    const int32_t left = kx0 * c, mid = (kx1 - kx0) * c, right = (kw - kx1) * c;
    for (int32_t ky = 0; ky < kh; ++ky) {
        const int32_t y = y0 + ky;
        if (y < 0 || y >= in_h || mid == 0) {
            dst = pm_mve_fill(dst, fill, kw * c);
            continue;
        }
        if (left) {
            dst = pm_mve_fill(dst, fill, left);
        }
        dst = pm_mve_copy(dst, in_b + ((size_t)y * in_w + x0 + kx0) * c, mid);
        if (right) {
            dst = pm_mve_fill(dst, fill, right);
        }
    }
}

#if PM_HAVE_MVE
/* gemmlowp's RoundingDivideByPOT by -neg_right (0..31) on every lane, after the doubling high multiply. */
static PM_MVE_INLINE int32x4_t pm_mve_mbqm(int32x4_t v, int32x4_t left, int32x4_t multiplier, int32x4_t neg_right)
{
    v = vqrdmulhq_s32(vshlq_s32(v, left), multiplier);
    /* -1 on negative lanes where the shift is non-zero (neg_right has its sign bit set exactly then);
     * saturating, but only INT32_MIN saturates and it rounds to the same value. */
    v = vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, neg_right), 31));
    return vrshlq_s32(v, neg_right);
}
#endif

#if PM_HAVE_MVE
/* The sums of four output channels over the run x (n >= 1 bytes) as one vector; *w advances past
 * their weights. A tail-predicated loop: the last, partial vector's masked lanes are neither read nor
 * counted. VMLADAVA accumulates in even core registers (constraint Te). VMOV Qd[2], Qd[0], Rt, Rt2
 * writes Rt to lane 0 and Rt2 to lane 2. */
static PM_MVE_INLINE int32x4_t pm_mve_dot4(const int8_t *x, int32_t n, const int8_t **wp)
{
    const int8_t *w = *wp;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int32x4_t v;
    __asm__ volatile(
        "dlstp.8 lr, %[n]\n"
        "1:\n"
        "vldrb.8 q0, [%[x]], #16\n"
        "vldrb.8 q1, [%[w]], #16\n"
        "vmladava.s8 %[a0], q0, q1\n"
        "vldrb.8 q1, [%[w]], #16\n"
        "vmladava.s8 %[a1], q0, q1\n"
        "vldrb.8 q1, [%[w]], #16\n"
        "vmladava.s8 %[a2], q0, q1\n"
        "vldrb.8 q1, [%[w]], #16\n"
        "vmladava.s8 %[a3], q0, q1\n"
        "letp lr, 1b\n"
        "vmov %q[v][2], %q[v][0], %[a0], %[a2]\n"
        "vmov %q[v][3], %q[v][1], %[a1], %[a3]\n"
        : [a0] "+Te"(a0), [a1] "+Te"(a1), [a2] "+Te"(a2), [a3] "+Te"(a3), [x] "+r"(x), [w] "+r"(w), [v] "=w"(v)
        : [n] "r"(n)
        : "q0", "q1", "lr", "memory");
    *wp = w;
    return v;
}

/* Requantize, offset and clamp four sums. right_only: every channel of the layer has no left shift
 * and a right shift of at least 1 (the usual case): no VSHL, and every negative lane takes the -1. */
static PM_MVE_INLINE int32x4_t pm_mve_out(int32x4_t acc, const int32_t *rec, int32_t out_offset, int32_t act_min,
                                          int32_t act_max, const int right_only)
{
    acc = vaddq_s32(acc, vldrwq_s32(rec));
    if (right_only) {
        const int32x4_t neg_right = vldrwq_s32(rec + 12);
        acc = vqrdmulhq_s32(acc, vldrwq_s32(rec + 4));
        acc = vrshlq_s32(vqaddq_s32(acc, vshrq_n_s32(acc, 31)), neg_right);
    } else {
        acc = pm_mve_mbqm(acc, vldrwq_s32(rec + 8), vldrwq_s32(rec + 4), vldrwq_s32(rec + 12));
    }
    acc = vaddq_n_s32(acc, out_offset);
    return vminq_s32(vmaxq_s32(acc, vdupq_n_s32(act_min)), vdupq_n_s32(act_max));
}

/* pm_mve_out, stored: channels oc..oc+m-1 (m = 1..4) of one pixel. */
static PM_MVE_INLINE void pm_mve_store(int32x4_t acc, const int32_t *rec, int32_t m, int32_t out_offset,
                                       int32_t act_min, int32_t act_max, int8_t *out, const int right_only)
{
    acc = pm_mve_out(acc, rec, out_offset, act_min, act_max, right_only);
    if (m == 4) {
        vstrbq_s32(out, acc);
    } else {
        vstrbq_p_s32(out, acc, vctp32q((uint32_t)m));
    }
}

/* The residual ADD of four values (the first m when tail). */
static PM_MVE_INLINE void pm_mve_add4(const pm_mve_add_t *add, const int8_t *conv, const int8_t *residual, int8_t *out,
                                      int32x4_t lo, int32x4_t hi, int32_t m, const int tail)
{
    const mve_pred16_t pr = tail ? vctp32q((uint32_t)m) : 0;
    const int32x4_t c = tail ? vldrbq_z_s32(conv, pr) : vldrbq_s32(conv);
    const int32x4_t r = tail ? vldrbq_z_s32(residual, pr) : vldrbq_s32(residual);
    /* Gathers from the middle of the tables: the address Rn + (offset << 2) wraps at 32 bits, so a
     * negative int8 value v reads entry v + 128. */
    int32x4_t s = vaddq_s32(vldrwq_gather_shifted_offset_s32(add->conv_table + 128, vreinterpretq_u32_s32(c)),
                            vldrwq_gather_shifted_offset_s32(add->residual_table + 128, vreinterpretq_u32_s32(r)));
    /* The per-tensor MultiplyByQuantizedMultiplier with scalar operands (pm_mve_mbqm's steps). */
    s = vqrdmulhq_n_s32(vshlq_r_s32(s, add->left), add->multiplier);
    if (add->neg_right != 0) {
        s = vrshlq_n_s32(vqaddq_s32(s, vshrq_n_s32(s, 31)), add->neg_right);
    }
    s = vminq_s32(vmaxq_s32(vaddq_n_s32(s, add->offset), lo), hi);
    if (tail) {
        vstrbq_p_s32(out, s, pr);
    } else {
        vstrbq_s32(out, s);
    }
}

/* The residual ADD over one pixel's n convolution outputs (conv) and residual values. A call of its
 * own: inlined into the pixel loop its constants were spilled to the stack. */
__attribute__((noinline)) static void pm_mve_add_pixel(const pm_mve_add_t *add, const int8_t *conv,
                                                       const int8_t *residual, int32_t n, int8_t *out)
{
    const pm_mve_add_t a = *add;
    const int32x4_t lo = vdupq_n_s32(a.lo), hi = vdupq_n_s32(a.hi);
    int32_t k = 0;
    for (; k + 4 <= n; k += 4) {
        pm_mve_add4(&a, conv + k, residual + k, out + k, lo, hi, 4, 0);
    }
    if (k < n) {
        pm_mve_add4(&a, conv + k, residual + k, out + k, lo, hi, n - k, 1);
    }
}
#else
/* Lane k of pm_mve_out. */
static inline int32_t pm_mve_out1(int32_t acc, const int32_t *rec, int32_t k, int32_t out_offset, int32_t act_min,
                                  int32_t act_max)
{
    const int32_t a = pm_add_wrap(acc, rec[k]);
    const int32_t v = pm_rdbpot(pm_srdhm(pm_shl_wrap(a, (int)rec[8 + k]), rec[4 + k]), (int)-rec[12 + k]);
    return pm_clamp(v + out_offset, act_min, act_max);
}

static inline void pm_mve_store(const int32_t *acc, const int32_t *rec, int32_t m, int32_t out_offset,
                                int32_t act_min, int32_t act_max, int8_t *out, const int right_only)
{
    (void)right_only;  /* the same arithmetic either way */
    for (int32_t k = 0; k < m; ++k) {
        out[k] = (int8_t)pm_mve_out1(acc[k], rec, k, out_offset, act_min, act_max);
    }
}

static inline void pm_mve_add_pixel(const pm_mve_add_t *add, const int8_t *conv, const int8_t *residual, int32_t n,
                                    int8_t *out)
{
    for (int32_t k = 0; k < n; ++k) {
        const int32_t s = pm_add_wrap(add->conv_table[conv[k] + 128], add->residual_table[residual[k] + 128]);
        const int32_t v = pm_rdbpot(pm_srdhm(pm_shl_wrap(s, (int)add->left), add->multiplier), (int)-add->neg_right);
        out[k] = (int8_t)pm_clamp(v + add->offset, add->lo, add->hi);
    }
}
#endif

/* All output channels of one pixel from its window run x (n bytes). */
static PM_MVE_INLINE void pm_mve_pixel(const int8_t *x, int32_t n, const int8_t *w, const int32_t *rec, int32_t out_c,
                                       int32_t out_offset, int32_t act_min, int32_t act_max, int8_t *out,
                                       const int right_only)
{
    for (int32_t oc = 0; oc < out_c; oc += 4, rec += PM_MVE_REC) {
        const int32_t m = out_c - oc < 4 ? out_c - oc : 4;
#if PM_HAVE_MVE
        const int32x4_t acc = pm_mve_dot4(x, n, &w);
#else
        int32_t acc[4];
        for (int32_t k = 0; k < 4; ++k) {
            int32_t a = 0;
            for (int32_t i = 0; i < n; ++i) {
                a = pm_add_wrap(a, (int32_t)x[i] * w[(i >> 4) * 64 + k * 16 + (i & 15)]);
            }
            acc[k] = a;
        }
        w += (size_t)((n + 15) >> 4) * 64;
#endif
        pm_mve_store(acc, rec, m, out_offset, act_min, act_max, out + oc, right_only);
    }
}

/* The convolution; with add != NULL each pixel's values are staged in the scratch after the window
 * (out_c bytes), then go through the residual addition (the sum may be written over the residual). */
static PM_MVE_INLINE void pm_mve_body(const pm_conv_mve_params_t *p, const int8_t *input, const pm_mve_add_t *add,
                                      const int8_t *residual, int8_t *scratch, int8_t *output, const int right_only)
{
    const int32_t in_h = p->input.h, in_w = p->input.w, in_c = p->input.c;
    const int32_t kh = p->filter.h, kw = p->filter.w;
    const int32_t out_c = p->output.c;
    const int32_t n = kh * kw * in_c;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, pad_h = p->pad_h, pad_w = p->pad_w;
    /* Window rows that follow each other in memory: the window is read in place when inside the image. */
    const int contiguous = kh == 1 || kw == in_w;
    const int8_t fill = (int8_t)(-p->input_offset);
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            const int32_t y0 = oy * stride_h - pad_h;
            const int rows_in = y0 >= 0 && y0 + kh <= in_h;
            for (int32_t ox = 0; ox < p->output.w; ++ox) {
                const int32_t x0 = ox * stride_w - pad_w;
                const int8_t *x;
                if (contiguous && rows_in && x0 >= 0 && x0 + kw <= in_w) {
                    x = in_b + ((size_t)y0 * in_w + x0) * in_c;
                } else if (rows_in && x0 >= 0 && x0 + kw <= in_w) {
                    pm_mve_rows(scratch, in_b + ((size_t)y0 * in_w + x0) * in_c, kw * in_c, kh, in_w * in_c);
                    x = scratch;
                } else {
                    pm_mve_window(in_b, in_h, in_w, in_c, kh, kw, y0, x0, fill, scratch);
                    x = scratch;
                }
                if (add != NULL) {
                    int8_t *const stage = scratch + n;
                    pm_mve_pixel(x, n, p->weights, p->requant, out_c, p->output_offset, p->act_min, p->act_max, stage,
                                 right_only);
                    pm_mve_add_pixel(add, stage, residual, out_c, output);
                    residual += out_c;
                } else {
                    pm_mve_pixel(x, n, p->weights, p->requant, out_c, p->output_offset, p->act_min, p->act_max,
                                 output, right_only);
                }
                output += out_c;
            }
        }
    }
}

#endif /* PM_CONV_MVE_H */
