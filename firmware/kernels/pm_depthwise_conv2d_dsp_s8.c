/* Depthwise convolution, depth multiplier 1, SIMD across channels.
 *
 * A depthwise output needs one product per tap and channel, so SMLAD (which sums two products into
 * one accumulator) only pays where a pair of taps is shared, and forming the pairs (PKHBT) costs what
 * it saves. Instead one LDR fetches four channels of a tap's input and SXTAB16 widens them, with the
 * input offset added, to 16-bit lanes (channels 0|2 and, with ROR #8, 1|3); the generator stores the
 * filter pre-widened to int16 in the same lane order, [group][ky][kx]{w0|w2, w1|w3}, so one LDRD
 * fetches a tap's four weights, and SMLABB / SMLATT add each lane's product to its channel's
 * accumulator: 4 MACs in 8 instructions. One assembly call runs every group of four channels of an
 * output pixel (up to PM_DW_CHUNK channels) without returning to C; a 3x3 window, whole or cut by the
 * padding to 2 rows and/or 2 columns, is unrolled (no loop counters); other windows walk their valid
 * taps with loops. With few channels a run of whole-width windows along a row goes in one call.
 * The accumulators (bias first) come back in a small stack buffer and are requantized in C with the
 * generator-proved paths (pm_requant_fast.h); on the short path the generator stores weights and bias
 * doubled, so the accumulators arrive as the doubled sums that path multiplies (one shift less per
 * value). Channels past the last multiple of 4 run byte-wise, so
 * no load reads past a pixel's channels. Each output pixel is written after all its input is read, in
 * raster order (the planner's overlap rule).
 */
#include <stddef.h>
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

/* Channels per assembly call: the accumulators' stack buffer (a multiple of 4). */
#define PM_DW_CHUNK 64

/* What the window routines read (the assembly by offset: keep the order). out/bias advance by one
 * group per group; the window of every group is rows x cols taps, x stepping xstep bytes per tap and
 * xrow more per row, the weights (int16 elements) wrow bytes more per row; after a group x moves xg
 * bytes and the weights wg bytes to the next group's first valid tap. After a pixel's groups (out ==
 * end) the next of npix pixels starts: x moves pstep, weights and bias go back, end moves on. */
typedef struct {
    int32_t *out;        /* 0: next group's accumulators */
    const int32_t *bias; /* 4: next group's bias */
    const int32_t *end;  /* 8: out after the last group */
    uint32_t off2;       /* 12: the input offset in both 16-bit lanes */
    int32_t xstep;       /* 16 */
    int32_t rows;        /* 20 */
    int32_t cols;        /* 24 */
    int32_t xrow;        /* 28 */
    int32_t wrow;        /* 32 */
    int32_t xg;          /* 36 */
    int32_t wg;          /* 40 */
    int32_t rcnt;        /* 44: the assembly's row counter */
    int32_t npix;        /* 48: output pixels, each all groups (consecutive in x, the same window shape) */
    int32_t pstep;       /* 52: x from after a pixel's last group to the next pixel's first tap */
    int32_t wback;       /* 56: weight bytes back to the first group */
    int32_t bback;       /* 60: bias bytes back to the first group (the accumulators go on) */
} pm_dw_ctx_t;

#if PM_HAVE_DSP && defined(__thumb2__) && UINTPTR_MAX == 0xFFFFFFFFu
#define PM_DW_ASM 1
#define PM_UNUSED __attribute__((unused))

/* After a pixel's last group: the next pixel, or return. */
#define PM_DW_NEXT_PIXEL                                                                                             \
        "ldr    r9, [r2, #48]\n\t"                                                                                   \
        "subs   r9, r9, #1\n\t"                                                                                      \
        "str    r9, [r2, #48]\n\t"                                                                                   \
        "beq    9f\n\t"                                                                                              \
        "ldr    r9, [r2, #52]\n\t"                                                                                   \
        "add    r0, r0, r9\n\t"                                                                                      \
        "ldr    r9, [r2, #56]\n\t"                                                                                   \
        "sub    r1, r1, r9\n\t"                                                                                      \
        "ldr    r10, [r2, #60]\n\t"                                                                                  \
        "ldr    r9, [r2, #4]\n\t"                                                                                    \
        "sub    r9, r9, r10\n\t"                                                                                     \
        "str    r9, [r2, #4]\n\t"                                                                                    \
        "ldr    r9, [r2, #8]\n\t"                                                                                    \
        "add    r9, r9, r10\n\t"                                                                                     \
        "str    r9, [r2, #8]\n\t"                                                                                    \
        "b      1b\n\t"                                                                                              \
        "9:\n\t"                                                                                                     \
        "pop    {r4-r11, pc}\n\t"

/* One tap of four channels: x at ADDR, weights {w0|w2, w1|w3} at r1 (post-incremented). */
#define PM_DW_TAP(ADDR)                                                                                                  \
    "ldr    r8, " ADDR "\n\t"                                                                                            \
    "ldrd   r10, r11, [r1], #8\n\t"                                                                                      \
    "sxtab16 r9, r3, r8\n\t"                                                                                             \
    "sxtab16 r8, r3, r8, ror #8\n\t"                                                                                     \
    "smlabb r4, r9, r10, r4\n\t"                                                                                         \
    "smlatt r6, r9, r10, r6\n\t"                                                                                         \
    "smlabb r5, r8, r11, r5\n\t"                                                                                         \
    "smlatt r7, r8, r11, r7\n\t"

/* Every group's window, rows x cols taps (both >= 1), any steps: 11 instructions per tap. */
__attribute__((naked, noinline)) static void pm_dw_groups_asm(PM_UNUSED const int8_t *x, PM_UNUSED const int16_t *w,
                                                             PM_UNUSED pm_dw_ctx_t *s)
{
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "ldr    r3, [r2, #12]\n\t"
        "ldr    r12, [r2, #16]\n\t"
        "1:\n\t"
        "ldr    r8, [r2, #4]\n\t"
        "ldmia  r8!, {r4-r7}\n\t"
        "str    r8, [r2, #4]\n\t"
        "ldr    r8, [r2, #20]\n\t"
        "str    r8, [r2, #44]\n\t"
        "2:\n\t"
        "ldr    lr, [r2, #24]\n\t"
        "3:\n\t"
        PM_DW_TAP("[r0]")
        "add    r0, r0, r12\n\t"
        "subs   lr, lr, #1\n\t"
        "bne    3b\n\t"
        "ldr    r8, [r2, #28]\n\t"
        "add    r0, r0, r8\n\t"
        "ldr    r8, [r2, #32]\n\t"
        "add    r1, r1, r8\n\t"
        "ldr    r8, [r2, #44]\n\t"
        "subs   r8, r8, #1\n\t"
        "str    r8, [r2, #44]\n\t"
        "bne    2b\n\t"
        "ldr    r8, [r2, #0]\n\t"
        "stmia  r8!, {r4-r7}\n\t"
        "str    r8, [r2, #0]\n\t"
        "ldr    r9, [r2, #36]\n\t"
        "add    r0, r0, r9\n\t"
        "ldr    r9, [r2, #40]\n\t"
        "add    r1, r1, r9\n\t"
        "ldr    r9, [r2, #8]\n\t"
        "cmp    r8, r9\n\t"
        "bne    1b\n\t" PM_DW_NEXT_PIXEL);
}

/* Every group's 3x3 window (dilation 1 along x), whole or cut by the padding to 2 rows and/or 2
 * columns, unrolled: taps at x, x + C, x + 2C, rows xrow apart; 8 instructions per tap, 13 per group.
 * ROWS: the window's rows, each a ROW of taps. */
#define PM_DW_ROW3 PM_DW_TAP("[r0]") PM_DW_TAP("[r0, r12]") PM_DW_TAP("[r0, r12, lsl #1]")
/* A row of a 3-wide window cut to 2 columns by the padding (either side): the missing tap's weights skipped. */
#define PM_DW_ROW2 PM_DW_TAP("[r0]") PM_DW_TAP("[r0, r12]") "add    r1, r1, #8\n\t"
/* Three rows; two rows (the third row's weights skipped: kernel height 3). */
#define PM_DW_ROWS3(ROW) ROW "add    r0, r0, lr\n\t" ROW "add    r0, r0, lr\n\t" ROW
#define PM_DW_ROWS2(ROW) ROW "add    r0, r0, lr\n\t" ROW "add    r1, r1, #24\n\t"
#define PM_DW_GROUPS3_ASM(ROWS)                                                                                          \
    "push   {r4-r11, lr}\n\t"                                                                                            \
    "ldr    r3, [r2, #12]\n\t"                                                                                           \
    "ldr    r12, [r2, #16]\n\t"                                                                                          \
    "ldr    lr, [r2, #28]\n\t"                                                                                           \
    "1:\n\t"                                                                                                             \
    "ldr    r8, [r2, #4]\n\t"                                                                                            \
    "ldmia  r8!, {r4-r7}\n\t"                                                                                            \
    "str    r8, [r2, #4]\n\t" ROWS                                                                                       \
    "ldr    r8, [r2, #0]\n\t"                                                                                            \
    "stmia  r8!, {r4-r7}\n\t"                                                                                            \
    "str    r8, [r2, #0]\n\t"                                                                                            \
    "ldr    r9, [r2, #36]\n\t"                                                                                           \
    "add    r0, r0, r9\n\t"                                                                                              \
    "ldr    r9, [r2, #8]\n\t"                                                                                            \
    "cmp    r8, r9\n\t"                                                                                                  \
    "bne    1b\n\t" PM_DW_NEXT_PIXEL

__attribute__((naked, noinline)) static void pm_dw_groups3x3_asm(PM_UNUSED const int8_t *x,
                                                                PM_UNUSED const int16_t *w, PM_UNUSED pm_dw_ctx_t *s)
{
    __asm__ volatile(PM_DW_GROUPS3_ASM(PM_DW_ROWS3(PM_DW_ROW3)));
}

__attribute__((naked, noinline)) static void pm_dw_groups3x2_asm(PM_UNUSED const int8_t *x,
                                                                PM_UNUSED const int16_t *w, PM_UNUSED pm_dw_ctx_t *s)
{
    __asm__ volatile(PM_DW_GROUPS3_ASM(PM_DW_ROWS3(PM_DW_ROW2)));
}

__attribute__((naked, noinline)) static void pm_dw_groups2x3_asm(PM_UNUSED const int8_t *x,
                                                                PM_UNUSED const int16_t *w, PM_UNUSED pm_dw_ctx_t *s)
{
    __asm__ volatile(PM_DW_GROUPS3_ASM(PM_DW_ROWS2(PM_DW_ROW3)));
}

__attribute__((naked, noinline)) static void pm_dw_groups2x2_asm(PM_UNUSED const int8_t *x,
                                                                PM_UNUSED const int16_t *w, PM_UNUSED pm_dw_ctx_t *s)
{
    __asm__ volatile(PM_DW_GROUPS3_ASM(PM_DW_ROWS2(PM_DW_ROW2)));
}
/* The short-path, int8-clamp requantization of n4 groups of four doubled accumulators (records
 * {multiplier, right - 1}, pm_requant_fast.h; kk = 2 * output offset + 1), one LDM per four values
 * and one LDRD per record: 7 instructions per value, what pm_packed_out_short2 computes. */
__attribute__((naked, noinline)) static void pm_dw_requant_asm(PM_UNUSED const int32_t *acc,
                                                              PM_UNUSED const int32_t *rec, PM_UNUSED int8_t *out,
                                                              PM_UNUSED int32_t n4, PM_UNUSED int32_t kk)
{
#define PM_DW_REQ(R)                                                                                                     \
    "ldrd   r8, r9, [r1], #8\n\t"                                                                                     \
    "smmulr " R ", " R ", r8\n\t"                                                                                     \
    "add    " R ", " R ", " R ", asr #31\n\t"                                                                         \
    "asr    " R ", " R ", r9\n\t"                                                                                     \
    "add    " R ", " R ", r12\n\t"                                                                                    \
    "ssat   " R ", #8, " R ", asr #1\n\t"                                                                             \
    "strb   " R ", [r2], #1\n\t"
    __asm__ volatile(
        "push   {r4-r9, lr}\n\t"
        "ldr    r12, [sp, #28]\n\t"
        "1:\n\t"
        "ldmia  r0!, {r4-r7}\n\t"
        PM_DW_REQ("r4") PM_DW_REQ("r5") PM_DW_REQ("r6") PM_DW_REQ("r7")
        "subs   r3, r3, #1\n\t"
        "bne    1b\n\t"
        "pop    {r4-r9, pc}\n\t");
#undef PM_DW_REQ
}

_Static_assert(offsetof(pm_dw_ctx_t, off2) == 12 && offsetof(pm_dw_ctx_t, xrow) == 28 &&
                   offsetof(pm_dw_ctx_t, rcnt) == 44 && offsetof(pm_dw_ctx_t, bback) == 60,
               "pm_dw_ctx_t offsets are the assembly's");
#else
#define PM_DW_ASM 0
#endif

/* The portable equivalent of pm_dw_groups_asm (the host, cores without the DSP extension). */
static PM_ALWAYS_INLINE void pm_dw_groups_c(const int8_t *x, const int16_t *w, pm_dw_ctx_t *s)
{
    for (;;) {
        int32_t a0 = s->bias[0], a1 = s->bias[1], a2 = s->bias[2], a3 = s->bias[3];
        s->bias += 4;
        for (int32_t r = 0; r < s->rows; ++r) {
            for (int32_t c = 0; c < s->cols; ++c) {
                const uint32_t xv = pm_read_u32(x);
                uint32_t w02, w13;
                memcpy(&w02, w, 4);
                memcpy(&w13, w + 2, 4);
                x += s->xstep;
                w += 4;
                const uint32_t x02 = (uint32_t)pm_sxtab16(s->off2, xv);
                const uint32_t x13 = (uint32_t)pm_sxtab16_ror8(s->off2, xv);
                a0 = pm_smlabb(x02, w02, a0);
                a2 = pm_smlatt(x02, w02, a2);
                a1 = pm_smlabb(x13, w13, a1);
                a3 = pm_smlatt(x13, w13, a3);
            }
            x += s->xrow;
            w += s->wrow / (int32_t)sizeof(int16_t);
        }
        s->out[0] = a0;
        s->out[1] = a1;
        s->out[2] = a2;
        s->out[3] = a3;
        s->out += 4;
        x += s->xg;
        w += s->wg / (int32_t)sizeof(int16_t);
        if (s->out != s->end) {
            continue;
        }
        if (--s->npix == 0) {
            return;
        }
        x += s->pstep;
        w -= s->wback / (int32_t)sizeof(int16_t);
        s->bias -= s->bback / (int32_t)sizeof(int32_t);
        s->end += s->bback / (int32_t)sizeof(int32_t);
    }
}

/* The window routine for s (whole3: a 3x3 window of 2-3 rows and 2-3 columns, dilation 1 along x). */
static PM_ALWAYS_INLINE void pm_dw_run(const int8_t *x, const int16_t *w, pm_dw_ctx_t *s, const int whole3)
{
#if PM_DW_ASM
    if (whole3 && s->rows == 3) {
        (s->cols == 3 ? pm_dw_groups3x3_asm : pm_dw_groups3x2_asm)(x, w, s);
    } else if (whole3) {
        (s->cols == 3 ? pm_dw_groups2x3_asm : pm_dw_groups2x2_asm)(x, w, s);
    } else {
        pm_dw_groups_asm(x, w, s);
    }
#else
    (void)whole3;
    pm_dw_groups_c(x, w, s);
#endif
}

/* Byte-wise sum of one channel over the window (channels past the last multiple of 4); w: the
 * channel's weight at the first valid tap, 4 int16 per tap. */
static inline int32_t pm_dw_channel(const int8_t *x, const int16_t *w, int32_t rows, int32_t cols, int32_t xstep,
                                    int32_t xrow, int32_t wrow, int32_t offset, int32_t acc)
{
    for (int32_t r = 0; r < rows; ++r) {
        for (int32_t c = 0; c < cols; ++c) {
            acc += (int32_t)*w * ((int32_t)*x + offset);
            x += xstep;
            w += 4;
        }
        x += xrow;
        w += wrow;
    }
    return acc;
}

static PM_ALWAYS_INLINE void pm_dw_store(const int32_t *acc, const int32_t *rec, int32_t m, int8_t *out,
                                         int32_t offset, int32_t lo, int32_t hi, const int short_path, const int sat8)
{
#if PM_DW_ASM
    if (short_path && sat8 && m % 4 == 0) {
        pm_dw_requant_asm(acc, rec, out, m / 4, 2 * offset + 1);
        return;
    }
#endif
#pragma GCC unroll 4
    for (int32_t k = 0; k < m; ++k) {
        /* On the short path the accumulators are doubled already (weights and bias stored doubled). */
        out[k] = (int8_t)(short_path ? pm_packed_out_short2(acc[k], rec + 2 * k, offset, lo, hi, sat8)
                                     : pm_packed_out(acc[k], rec + 4 * k, offset, lo, hi, 0, 0));
    }
}

static PM_ALWAYS_INLINE void pm_dw_body(const pm_dw_params_t *p, const int8_t *input, int8_t *output,
                                        const int short_path, const int sat8)
{
    const int32_t in_h = p->input.h, in_w = p->input.w, c = p->input.c;
    const int32_t kh = p->filter.h, kw = p->filter.w;
    const int32_t dh = p->dilation_h, dw = p->dilation_w;
    const int32_t c4 = c & ~3;
    const int32_t group_elems = kh * kw * 4;
    const int32_t out_h = p->output.h, out_w = p->output.w;
    const int32_t offset = p->input_offset;
    const int32_t out_offset = p->output_offset, act_min = p->act_min, act_max = p->act_max;
    const int32_t xstep = dw * c;
    const int32_t row_bytes = dh * in_w * c;
    int32_t acc[PM_DW_CHUNK];
    pm_dw_ctx_t s;
    s.off2 = ((uint32_t)(uint16_t)offset) | ((uint32_t)(uint16_t)offset << 16);
    s.xstep = xstep;
    s.rcnt = 0;
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * c;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            int32_t ky0, ky1;
            pm_dw_range(y0, kh, dh, in_h, &ky0, &ky1);
            const int32_t rows = ky1 - ky0;
            for (int32_t ox = 0; ox < out_w;) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                int32_t kx0, kx1;
                pm_dw_range(x0, kw, dw, in_w, &kx0, &kx1);
                const int32_t cols = kx1 - kx0;
                const int8_t *x_first = in_b + ((size_t)(y0 + ky0 * dh) * in_w + (size_t)(x0 + kx0 * dw)) * c;
                const int16_t *w_first = p->weights + ((size_t)ky0 * kw + kx0) * 4;
                /* A 3x3 window, whole or cut to 2 rows and/or 2 columns, takes the unrolled routines
                 * (their xrow: the full row step). */
                const int whole3 = PM_DW_ASM && kh == 3 && kw == 3 && rows >= 2 && cols >= 2 && dw == 1;
                s.rows = rows;
                s.cols = cols;
                s.xrow = whole3 ? row_bytes : row_bytes - cols * xstep;
                s.wrow = (kw - cols) * 4 * (int32_t)sizeof(int16_t);
                s.xg = whole3 ? 4 - (rows - 1) * row_bytes : 4 - rows * row_bytes;
                s.wg = (kh - rows) * kw * 4 * (int32_t)sizeof(int16_t);
                /* Few channels: a run of whole-width windows (the same shape) in one call, so the
                 * per-call work is shared by up to PM_DW_CHUNK / C pixels. */
                int32_t npix = 1;
                if (c == c4 && c4 <= PM_DW_CHUNK / 2 && rows > 0 && cols == kw) {
                    const int32_t ox_hi = (in_w - 1 - (kw - 1) * dw + p->pad_w) / p->stride_w;
                    npix = PM_DW_CHUNK / c4;
                    npix = ox_hi - ox + 1 < npix ? ox_hi - ox + 1 : npix;
                    npix = out_w - ox < npix ? out_w - ox : npix;
                }
                s.pstep = p->stride_w * c - c4;
                s.wback = c4 * kh * kw * (int32_t)sizeof(int16_t);
                s.bback = c4 * (int32_t)sizeof(int32_t);
                if (npix > 1) {
                    s.out = acc;
                    s.bias = p->bias;
                    s.end = acc + c4;
                    s.npix = npix;
                    pm_dw_run(x_first, w_first, &s, whole3);
                    for (int32_t k = 0; k < npix; ++k) {
                        pm_dw_store(acc + k * c4, p->requant, c4, output, out_offset, act_min, act_max, short_path,
                                    sat8);
                        output += c;
                    }
                    ox += npix;
                    continue;
                }
                for (int32_t ch = 0; ch < c4; ch += PM_DW_CHUNK) {
                    const int32_t m = c4 - ch < PM_DW_CHUNK ? c4 - ch : PM_DW_CHUNK;
                    if (rows > 0 && cols > 0) {
                        s.out = acc;
                        s.bias = p->bias + ch;
                        s.end = acc + m;
                        s.npix = 1;
                        pm_dw_run(x_first + ch, w_first + (size_t)(ch / 4) * group_elems, &s, whole3);
                        pm_dw_store(acc, p->requant + PM_REC_WORDS(short_path) * ch, m, output + ch, out_offset,
                                    act_min, act_max, short_path, sat8);
                    } else {
                        pm_dw_store(p->bias + ch, p->requant + PM_REC_WORDS(short_path) * ch, m, output + ch,
                                    out_offset, act_min, act_max, short_path, sat8);
                    }
                }
                for (int32_t ch = c4; ch < c; ++ch) {
                    int32_t a = p->bias[ch];
                    if (rows > 0 && cols > 0) {
                        /* Lane order of a group's tap: w0, w2, w1, w3. */
                        const int16_t *wc = w_first + (size_t)(ch / 4) * group_elems + (ch & 1) * 2 + ((ch & 3) >> 1);
                        a = pm_dw_channel(x_first + ch, wc, rows, cols, xstep, row_bytes - cols * xstep,
                                          (kw - cols) * 4, offset, a);
                    }
                    pm_dw_store(&a, p->requant + PM_REC_WORDS(short_path) * ch, 1, output + ch, out_offset, act_min,
                                act_max, short_path, sat8);
                }
                output += c;
                ++ox;
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
