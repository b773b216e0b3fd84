/* Depthwise convolution with Helium (depth multiplier 1), eight channels per vector: each tap one
 * VLDRB.S16 of eight input bytes, one of eight weights (consecutive in the generator's
 * [group of 8][ky][kx][8] layout), VMULLB / VMULLT.S16 into the int32 accumulators of the even and
 * the odd channels (MVE has no lane-wise multiply-accumulate; an int8 x int8 product fits int16, a
 * sum of them does not). Windows inside the image multiply the raw input (the input offset is folded
 * into the biases of `requant`); windows cut by the padding start from `bias` (raw minus folded bias)
 * and add (input + offset) x weight over their valid taps only. The even and odd channels are
 * requantized as two vectors and scattered to the output; the last group of a channel count that is
 * not a multiple of 8 loads and stores under predicates. Plain C off the M55, the same arithmetic. */
#include "pm_conv_mve.h"

#if PM_HAVE_MVE
/* Taps ky0..ky1-1 x kx0..kx1-1 of one group of eight channels; x at tap (ky0, kx0). */
static PM_MVE_INLINE void pm_dw_mve_taps(int32x4_t *even, int32x4_t *odd, const int8_t *x, const int8_t *w,
                                         int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1, int32_t kw,
                                         int32_t step_x, int32_t step_y, int32_t offset, mve_pred16_t pr,
                                         const int cut, const int tail)
{
    int32x4_t e = *even, o = *odd;
    for (int32_t ky = ky0; ky < ky1; ++ky, x += step_y) {
        const int8_t *xr = x;
        const int8_t *wr = w + (ky * kw + kx0) * 8;
        for (int32_t kx = kx0; kx < kx1; ++kx, xr += step_x, wr += 8) {
            int16x8_t xv = tail ? vldrbq_z_s16(xr, pr) : vldrbq_s16(xr);
            if (cut) {
                xv = vaddq_n_s16(xv, (int16_t)offset);
            }
            const int16x8_t wv = vldrbq_s16(wr);
            e = vaddq_s32(e, vmullbq_int_s16(xv, wv));
            o = vaddq_s32(o, vmulltq_int_s16(xv, wv));
        }
    }
    *even = e;
    *odd = o;
}


/* One tap of the unrolled 3x3 window: eight input bytes at t, eight weights at w + W, both widened;
 * the products of the even / odd lanes added to the accumulators. */
#define PM_DW_TAP(W)                          \
    "vldrb.s16 q0, [%[t]]\n"                  \
    "vldrb.s16 q1, [%[w], #" W "]\n"          \
    "vmullb.s16 q2, q0, q1\n"                 \
    "vadd.i32 %q[e], %q[e], q2\n"             \
    "vmullt.s16 q2, q0, q1\n"                 \
    "vadd.i32 %q[o], %q[o], q2\n"
#define PM_DW_NEXT_TAP(W) "add %[t], %[t], %[sx]\n" PM_DW_TAP(W)
#define PM_DW_NEXT_ROW "add %[r], %[r], %[sy]\n" "mov %[t], %[r]\n"

/* `count` consecutive output pixels of one row whose 3x3 windows lie inside the image (the common
 * case), all groups of eight channels, taps unrolled. A call of its own, so its pointers stay in
 * registers. */
__attribute__((noinline)) static void pm_dw_mve_run3x3(const pm_dw_mve_params_t *p, const int8_t *x, int8_t *out,
                                                       int32_t count)
{
    const int32_t c_all = p->input.c;
    const int32_t sx = p->dilation_w * c_all, sy = p->dilation_h * p->input.w * c_all;
    const int32_t step = p->stride_w * c_all;
    for (int32_t i = 0; i < count; ++i, x += step, out += c_all) {
        const int8_t *w = p->weights;
        const int32_t *rec = p->requant;
        for (int32_t c = 0; c + 8 <= c_all; c += 8, w += 72, rec += 2 * PM_MVE_REC) {
            /* Scheduled by hand: the compiler hoisted all nine loads and spilled them. Widening loads take
             * a low base register (constraint l). */
            int32x4_t e, o;
            const int8_t *r = x + c, *t = r;
            __asm__(
                "vldrb.s16 q0, [%[t]]\n"
                "vldrb.s16 q1, [%[w]]\n"
                "vmullb.s16 %q[e], q0, q1\n"
                "vmullt.s16 %q[o], q0, q1\n"
                PM_DW_NEXT_TAP("8") PM_DW_NEXT_TAP("16")
                PM_DW_NEXT_ROW PM_DW_TAP("24") PM_DW_NEXT_TAP("32") PM_DW_NEXT_TAP("40")
                PM_DW_NEXT_ROW PM_DW_TAP("48") PM_DW_NEXT_TAP("56") PM_DW_NEXT_TAP("64")
            : [e] "=&w"(e), [o] "=&w"(o), [r] "+r"(r), [t] "+l"(t)
            : [w] "l"(w), [sx] "r"(sx), [sy] "r"(sy)
            : "q0", "q1", "q2", "memory");
            e = pm_mve_out(e, rec, p->output_offset, p->act_min, p->act_max, 0);
            o = pm_mve_out(o, rec + PM_MVE_REC, p->output_offset, p->act_min, p->act_max, 0);
            vstrbq_scatter_offset_s32(out + c, vidupq_n_u32(0, 2), e);
            vstrbq_scatter_offset_s32(out + c, vidupq_n_u32(1, 2), o);
        }
    }
}
#endif

static PM_MVE_INLINE void pm_dw_mve_pixel(const pm_dw_mve_params_t *p, const int8_t *x, int32_t ky0, int32_t ky1,
                                          int32_t kx0, int32_t kx1, int8_t *out, const int cut)
{
    const int32_t c_all = p->input.c;
    const int32_t kh = p->filter.h, kw = p->filter.w, taps = kh * kw;
    const int32_t step_x = p->dilation_w * c_all, step_y = p->dilation_h * p->input.w * c_all;
    const int8_t *w = p->weights;
    const int32_t *rec = p->requant;
    const int32_t *bias = p->bias;
    for (int32_t c = 0; c < c_all; c += 8, w += taps * 8, rec += 2 * PM_MVE_REC, bias += 8) {
        const int32_t m = c_all - c < 8 ? c_all - c : 8;
#if PM_HAVE_MVE
        int32x4_t e = cut ? vldrwq_s32(bias) : vdupq_n_s32(0);
        int32x4_t o = cut ? vldrwq_s32(bias + 4) : vdupq_n_s32(0);
        if (m == 8) {
            pm_dw_mve_taps(&e, &o, x + c, w, ky0, ky1, kx0, kx1, kw, step_x, step_y, p->input_offset, 0, cut, 0);
        } else {
            pm_dw_mve_taps(&e, &o, x + c, w, ky0, ky1, kx0, kx1, kw, step_x, step_y, p->input_offset,
                           vctp16q((uint32_t)m), cut, 1);
        }
        e = pm_mve_out(e, rec, p->output_offset, p->act_min, p->act_max, 0);
        o = pm_mve_out(o, rec + PM_MVE_REC, p->output_offset, p->act_min, p->act_max, 0);
        if (m == 8) {
            vstrbq_scatter_offset_s32(out + c, vidupq_n_u32(0, 2), e);
            vstrbq_scatter_offset_s32(out + c, vidupq_n_u32(1, 2), o);
        } else {
            vstrbq_scatter_offset_p_s32(out + c, vidupq_n_u32(0, 2), e, vctp32q((uint32_t)(m + 1) >> 1));
            vstrbq_scatter_offset_p_s32(out + c, vidupq_n_u32(1, 2), o, vctp32q((uint32_t)m >> 1));
        }
#else
        for (int32_t k = 0; k < m; ++k) {
            const int32_t lane = (k >> 1) + (k & 1) * 4;  /* even channels in lanes 0-3, odd in 4-7 */
            int32_t a = cut ? bias[lane] : 0;
            for (int32_t ky = ky0; ky < ky1; ++ky) {
                for (int32_t kx = kx0; kx < kx1; ++kx) {
                    const int32_t xv = x[c + k + (ky - ky0) * step_y + (kx - kx0) * step_x];
                    const int32_t wv = w[(ky * kw + kx) * 8 + k];
                    a = pm_add_wrap(a, (cut ? xv + p->input_offset : xv) * wv);
                }
            }
            out[c + k] = (int8_t)pm_mve_out1(a, rec + (k & 1) * PM_MVE_REC, k >> 1, p->output_offset, p->act_min,
                                             p->act_max);
        }
#endif
    }
}

static inline int32_t pm_dw_first(int32_t start, int32_t dilation)
{
    /* The first tap k with start + k * dilation >= 0. */
    return start < 0 ? (-start + dilation - 1) / dilation : 0;
}

static inline int32_t pm_dw_end(int32_t start, int32_t k, int32_t dilation, int32_t size)
{
    /* One past the last tap k < `k` with start + k * dilation < size. */
    if (start >= size) {
        return 0;
    }
    const int32_t n = (size - start + dilation - 1) / dilation;
    return n < k ? n : k;
}

int pm_depthwise_conv2d_mve_s8(const pm_dw_mve_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL || p->weights == NULL || p->bias == NULL || p->requant == NULL ||
        p->stride_h < 1 || p->stride_w < 1 || p->dilation_h < 1 || p->dilation_w < 1 || p->filter.h < 1 ||
        p->filter.w < 1) {
        return PM_ERR_ARG;
    }
    if (p->input.n != p->output.n || p->filter.c != p->input.c || p->output.c != p->input.c) {
        return PM_ERR_SHAPE;
    }
    const int32_t in_h = p->input.h, in_w = p->input.w, c = p->input.c;
    const int32_t kh = p->filter.h, kw = p->filter.w;
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * c;
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t ky0 = pm_dw_first(y0, p->dilation_h), ky1 = pm_dw_end(y0, kh, p->dilation_h, in_h);
            for (int32_t ox = 0; ox < p->output.w; ++ox, output += c) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t kx0 = pm_dw_first(x0, p->dilation_w), kx1 = pm_dw_end(x0, kw, p->dilation_w, in_w);
                if (ky0 >= ky1 || kx0 >= kx1) {
                    /* No valid tap: the raw bias alone (the taps of a padded window add nothing). */
                    pm_dw_mve_pixel(p, in_b, 0, 0, 0, 0, output, 1);
                    continue;
                }
                const int8_t *x = in_b + ((size_t)(y0 + ky0 * p->dilation_h) * in_w + x0 + kx0 * p->dilation_w) * c;
                if (ky0 == 0 && ky1 == kh && kx0 == 0 && kx1 == kw && kh == 3 && kw == 3 && c % 8 == 0 && PM_HAVE_MVE) {
#if PM_HAVE_MVE
                    /* This pixel and the following ones whose windows end inside the row. */
                    const int32_t last = (in_w - 1 - 2 * p->dilation_w + p->pad_w) / p->stride_w;
                    const int32_t count = (last < p->output.w - 1 ? last : p->output.w - 1) - ox + 1;
                    pm_dw_mve_run3x3(p, x, output, count);
                    ox += count - 1;
                    output += (size_t)(count - 1) * c;
#endif
                } else if (ky0 == 0 && ky1 == kh && kx0 == 0 && kx1 == kw) {
                    pm_dw_mve_pixel(p, x, 0, kh, 0, kw, output, 0);
                } else {
                    pm_dw_mve_pixel(p, x, ky0, ky1, kx0, kx1, output, 1);
                }
            }
        }
    }
    return PM_OK;
}
