/* Private to firmware/first_layer: summing table rows for the folded and joint kernels.
 *
 * A table block holds rows of NB int16 partial sums (NB = 16 or 8 output channels) for consecutive
 * lookups, `lookup_stride` words apart; a lookup picks row `index` of its table. The accumulators are
 * named variables, not an array, so they stay in registers: for NB = 16 that is 8 packed words, the
 * two loaded words and four pointers - exactly the 14 allocatable registers of an Armv7-M core. */
#ifndef PM_FIRST_FOLDED_ROWS_H
#define PM_FIRST_FOLDED_ROWS_H

#include "pm_first_common.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(PM_DSP_PORTABLE) && defined(__thumb2__)
#define PM_FL_ROWS_ASM 1
#else
#define PM_FL_ROWS_ASM 0
#endif

#define PM_FL_ADD2(a, b, row, k)                                                                             \
    do {                                                                                                     \
        a = pm_fl_sadd16(a, (row)[k]);                                                                       \
        b = pm_fl_sadd16(b, (row)[(k) + 1]);                                                                 \
    } while (0)

#define PM_FL_BODY16X3(LOADIDX, ADDROW, STEP)                                                                \
    PM_FL_BODY16(LOADIDX, ADDROW, STEP) PM_FL_BODY16(LOADIDX, ADDROW, STEP) PM_FL_BODY16(LOADIDX, ADDROW, STEP)

/* The hot loop in assembly: GCC 12 keeps the eight accumulators in registers but splits the row into
 * single LDRs and recomputes the row address; this is one LDRD per two lanes. 14 registers in use. */
#define PM_FL_BODY16(LOADIDX, ADDROW, STEP)                                                                  \
    LOADIDX "\n\t" ADDROW "\n\t"                                                                             \
    "ldrd %[x0], %[x1], [%[v]]\n\t"                                                                          \
    "sadd16 %[a0], %[a0], %[x0]\n\t"                                                                         \
    "sadd16 %[a1], %[a1], %[x1]\n\t"                                                                         \
    "ldrd %[x0], %[x1], [%[v], #8]\n\t"                                                                      \
    "sadd16 %[a2], %[a2], %[x0]\n\t"                                                                         \
    "sadd16 %[a3], %[a3], %[x1]\n\t"                                                                         \
    "ldrd %[x0], %[x1], [%[v], #16]\n\t"                                                                     \
    "sadd16 %[a4], %[a4], %[x0]\n\t"                                                                         \
    "sadd16 %[a5], %[a5], %[x1]\n\t"                                                                         \
    "ldrd %[x0], %[x1], [%[v], #24]\n\t"                                                                     \
    "sadd16 %[a6], %[a6], %[x0]\n\t"                                                                         \
    "sadd16 %[a7], %[a7], %[x1]\n\t"                                                                         \
    "add %[tt], %[tt], #" STEP "\n\t"

#define PM_FL_BODY16X3(LOADIDX, ADDROW, STEP)                                                                \
    PM_FL_BODY16(LOADIDX, ADDROW, STEP) PM_FL_BODY16(LOADIDX, ADDROW, STEP) PM_FL_BODY16(LOADIDX, ADDROW, STEP)

/* The hot loop in assembly: GCC 12 keeps the eight accumulators in registers but splits the row into
 * single LDRs and recomputes the row address; this is one LDRD per two lanes, 14 registers in use.
 * BODY is one lookup or, where a kernel row's lookup count is a multiple of three, three. */
#define PM_FL_LOOP16_ASM(BODY)                                                                               \
    __asm volatile("1:\n\t" BODY                                                                             \
                   "cmp %[p], %[end]\n\t"                                                                    \
                   "bne 1b"                                                                                  \
                   : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4),              \
                     [a5] "+r"(a5), [a6] "+r"(a6), [a7] "+r"(a7), [p] "+r"(p), [tt] "+r"(tt),                \
                     [v] "=&r"(v), [x0] "=&r"(x0), [x1] "=&r"(x1)                                            \
                   : [end] "r"(end)                                                                          \
                   : "cc", "memory")

#define PM_FL_WINDOW16_ASM(BODY)                                                                             \
    __asm volatile("ldr %[end], %[init]\n\t"                                                                 \
                   "ldrd %[a0], %[a1], [%[end]]\n\t"                                                         \
                   "ldrd %[a2], %[a3], [%[end], #8]\n\t"                                                     \
                   "ldrd %[a4], %[a5], [%[end], #16]\n\t"                                                    \
                   "ldrd %[a6], %[a7], [%[end], #24]\n\t"                                                    \
                   "ldr %[end], %[n_bytes]\n\t"                                                              \
                   "add %[end], %[end], %[p]\n\t"                                                            \
                   "2:\n\t"                                                                                  \
                   "1:\n\t" BODY                                                                             \
                   "cmp %[p], %[end]\n\t"                                                                    \
                   "bne 1b\n\t"                                                                              \
                   "ldr %[v], %[rows_left]\n\t"                                                              \
                   "subs %[v], %[v], #1\n\t"                                                                 \
                   "beq 3f\n\t"                                                                              \
                   "str %[v], %[rows_left]\n\t"                                                              \
                   "ldr %[v], %[p_skip]\n\t"                                                                 \
                   "add %[p], %[p], %[v]\n\t"                                                                \
                   "ldr %[v], %[t_skip]\n\t"                                                                 \
                   "add %[tt], %[tt], %[v]\n\t"                                                              \
                   "ldr %[end], %[n_bytes]\n\t"                                                              \
                   "add %[end], %[end], %[p]\n\t"                                                            \
                   "b 2b\n\t"                                                                                \
                   "3:"                                                                                      \
                   : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [a4] "=&r"(a4),         \
                     [a5] "=&r"(a5), [a6] "=&r"(a6), [a7] "=&r"(a7), [p] "+r"(p), [tt] "+r"(tt),             \
                     [v] "=&r"(v), [x0] "=&r"(x0), [x1] "=&r"(x1), [end] "=&r"(end),                         \
                     [rows_left] "+m"(rows_left)                                                             \
                   : [n_bytes] "m"(n_bytes), [p_skip] "m"(p_skip), [t_skip] "m"(t_skip), [init] "m"(init)  \
                   : "cc", "memory")

/* Requantize lane word A (two channels) in the window asm, once the sums are done: tt walks the
 * pm_fl_frq_t array, p the output bytes, v/x0/x1/end are free. Bias is already in the lanes. */
#define PM_FL_RQ_LANE(A)                                                                                     \
    "ldrd %[v], %[x0], [%[tt]], #8\n\t"                                                                      \
    "lsl %[x1], %[" A "], #16\n\t"                                                                           \
    "asr %[x1], %[x1], #15\n\t"                                                                              \
    "smmlar %[end], %[x1], %[v], %[x0]\n\t"                                                                  \
    "add %[end], %[end], %[x1], asr #31\n\t"                                                                 \
    "ldr %[v], [%[tt]], #8\n\t"                                                                              \
    "asr %[end], %[end], %[v]\n\t"                                                                           \
    "ssat %[end], #8, %[end]\n\t"                                                                            \
    "ldrd %[v], %[x0], [%[tt]], #8\n\t"                                                                      \
    "asr %[x1], %[" A "], #15\n\t"                                                                           \
    "bic %[x1], %[x1], #1\n\t"                                                                               \
    "smmlar %[" A "], %[x1], %[v], %[x0]\n\t"                                                                \
    "add %[" A "], %[" A "], %[x1], asr #31\n\t"                                                             \
    "ldr %[v], [%[tt]], #8\n\t"                                                                              \
    "asr %[" A "], %[" A "], %[v]\n\t"                                                                       \
    "ssat %[" A "], #8, %[" A "]\n\t"                                                                        \
    "bfi %[end], %[" A "], #8, #8\n\t"                                                                       \
    "strh %[end], [%[p]], #2\n\t"

/* A whole window and its requantization in one asm statement (16 channels, bias in the lanes, no
 * fused activation): the accumulators never leave registers. */
#define PM_FL_WINDOW16_RQ_ASM(BODY)                                                                          \
    __asm volatile("ldr %[end], %[init]\n\t"                                                                 \
                   "ldrd %[a0], %[a1], [%[end]]\n\t"                                                         \
                   "ldrd %[a2], %[a3], [%[end], #8]\n\t"                                                     \
                   "ldrd %[a4], %[a5], [%[end], #16]\n\t"                                                    \
                   "ldrd %[a6], %[a7], [%[end], #24]\n\t"                                                    \
                   "ldr %[end], %[n_bytes]\n\t"                                                              \
                   "add %[end], %[end], %[p]\n\t"                                                            \
                   "2:\n\t"                                                                                  \
                   "1:\n\t" BODY                                                                             \
                   "cmp %[p], %[end]\n\t"                                                                    \
                   "bne 1b\n\t"                                                                              \
                   "ldr %[v], %[rows_left]\n\t"                                                              \
                   "subs %[v], %[v], #1\n\t"                                                                 \
                   "beq 3f\n\t"                                                                              \
                   "str %[v], %[rows_left]\n\t"                                                              \
                   "ldr %[v], %[p_skip]\n\t"                                                                 \
                   "add %[p], %[p], %[v]\n\t"                                                                \
                   "ldr %[v], %[t_skip]\n\t"                                                                 \
                   "add %[tt], %[tt], %[v]\n\t"                                                              \
                   "ldr %[end], %[n_bytes]\n\t"                                                              \
                   "add %[end], %[end], %[p]\n\t"                                                            \
                   "b 2b\n\t"                                                                                \
                   "3:\n\t"                                                                                  \
                   "ldr %[tt], %[frq]\n\t"                                                                   \
                   "ldr %[p], %[outp]\n\t"                                                                   \
                   PM_FL_RQ_LANE("a0") PM_FL_RQ_LANE("a1") PM_FL_RQ_LANE("a2") PM_FL_RQ_LANE("a3")           \
                   PM_FL_RQ_LANE("a4") PM_FL_RQ_LANE("a5") PM_FL_RQ_LANE("a6") PM_FL_RQ_LANE("a7")           \
                   : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [a4] "=&r"(a4),         \
                     [a5] "=&r"(a5), [a6] "=&r"(a6), [a7] "=&r"(a7), [p] "+r"(p), [tt] "+r"(tt),             \
                     [v] "=&r"(v), [x0] "=&r"(x0), [x1] "=&r"(x1), [end] "=&r"(end),                         \
                     [rows_left] "+m"(rows_left)                                                             \
                   : [n_bytes] "m"(n_bytes), [p_skip] "m"(p_skip), [t_skip] "m"(t_skip), [init] "m"(init),   \
                     [frq] "m"(frq), [outp] "m"(out)                                                         \
                   : "cc", "memory")

/* A run of `count` interior windows (same rows and lookups each), one after another along a row of
 * output pixels: the per-pixel bookkeeping lives in a context in memory, read through one pointer,
 * because the window loop itself needs every register. */
typedef struct {
    const void *p0;        /* first lookup of the current window */
    const uint8_t *t0;     /* its table base */
    const uint32_t *init;  /* 8 lane words: the bias */
    const void *frq;       /* 16 pm_fl_frq_t */
    int8_t *out;           /* current output pixel + block offset */
    int32_t rows;          /* kernel rows per window */
    int32_t out_step;      /* bytes between output pixels (out_c) */
    int32_t p_step;        /* bytes between windows (stride * channels * index size) */
    int32_t count;         /* windows left */
} pm_fl_run_t;

#define PM_FL_RUN16_RQ_ASM(BODY)                                                                             \
    __asm volatile("4:\n\t"                                                                                  \
                   "ldr %[v], %[ctx]\n\t"                                                                    \
                   "ldr %[end], [%[v], #8]\n\t"                                                              \
                   "ldrd %[a0], %[a1], [%[end]]\n\t"                                                         \
                   "ldrd %[a2], %[a3], [%[end], #8]\n\t"                                                     \
                   "ldrd %[a4], %[a5], [%[end], #16]\n\t"                                                    \
                   "ldrd %[a6], %[a7], [%[end], #24]\n\t"                                                    \
                   "ldrd %[p], %[tt], [%[v]]\n\t"                                                            \
                   "ldr %[x0], [%[v], #20]\n\t"                                                              \
                   "str %[x0], %[rows_left]\n\t"                                                             \
                   "ldr %[end], %[n_bytes]\n\t"                                                              \
                   "add %[end], %[end], %[p]\n\t"                                                            \
                   "2:\n\t"                                                                                  \
                   "1:\n\t" BODY                                                                             \
                   "cmp %[p], %[end]\n\t"                                                                    \
                   "bne 1b\n\t"                                                                              \
                   "ldr %[v], %[rows_left]\n\t"                                                              \
                   "subs %[v], %[v], #1\n\t"                                                                 \
                   "beq 3f\n\t"                                                                              \
                   "str %[v], %[rows_left]\n\t"                                                              \
                   "ldr %[v], %[p_skip]\n\t"                                                                 \
                   "add %[p], %[p], %[v]\n\t"                                                                \
                   "ldr %[v], %[t_skip]\n\t"                                                                 \
                   "add %[tt], %[tt], %[v]\n\t"                                                              \
                   "ldr %[end], %[n_bytes]\n\t"                                                              \
                   "add %[end], %[end], %[p]\n\t"                                                            \
                   "b 2b\n\t"                                                                                \
                   "3:\n\t"                                                                                  \
                   "ldr %[v], %[ctx]\n\t"                                                                    \
                   "ldr %[tt], [%[v], #12]\n\t"                                                              \
                   "ldr %[p], [%[v], #16]\n\t"                                                               \
                   PM_FL_RQ_LANE("a0") PM_FL_RQ_LANE("a1") PM_FL_RQ_LANE("a2") PM_FL_RQ_LANE("a3")           \
                   PM_FL_RQ_LANE("a4") PM_FL_RQ_LANE("a5") PM_FL_RQ_LANE("a6") PM_FL_RQ_LANE("a7")           \
                   "ldr %[v], %[ctx]\n\t"                                                                    \
                   "ldr %[p], [%[v], #16]\n\t"                                                               \
                   "ldr %[x0], [%[v], #24]\n\t"                                                              \
                   "add %[p], %[p], %[x0]\n\t"                                                               \
                   "str %[p], [%[v], #16]\n\t"                                                               \
                   "ldr %[p], [%[v]]\n\t"                                                                    \
                   "ldr %[x0], [%[v], #28]\n\t"                                                              \
                   "add %[p], %[p], %[x0]\n\t"                                                               \
                   "str %[p], [%[v]]\n\t"                                                                    \
                   "ldr %[x0], [%[v], #32]\n\t"                                                              \
                   "subs %[x0], %[x0], #1\n\t"                                                               \
                   "str %[x0], [%[v], #32]\n\t"                                                              \
                   "bne 4b"                                                                                  \
                   : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [a4] "=&r"(a4),         \
                     [a5] "=&r"(a5), [a6] "=&r"(a6), [a7] "=&r"(a7), [p] "=&r"(p), [tt] "=&r"(tt),           \
                     [v] "=&r"(v), [x0] "=&r"(x0), [x1] "=&r"(x1), [end] "=&r"(end),                         \
                     [rows_left] "=m"(rows_left)                                                             \
                   : [n_bytes] "m"(n_bytes), [p_skip] "m"(p_skip), [t_skip] "m"(t_skip), [ctx] "m"(ctx)      \
                   : "cc", "memory")

/* Run count >= 1 interior windows of 16 channels (see PM_FL_RUN16_RQ_ASM); rows, n >= 1. */
#define PM_FL_DEFINE_RUN16_RQ(NAME, LOADIDX, ADDROW, STEP)                                                   \
    static __attribute__((noinline)) void NAME(pm_fl_run_t *ctx, int32_t n, int32_t idx_row, int32_t idx_size, \
                                               int32_t t_skip)                                               \
    {                                                                                                        \
        uint32_t a0, a1, a2, a3, a4, a5, a6, a7, v, x0, x1;                                                  \
        const uint8_t *p, *end, *tt;                                                                         \
        int32_t rows_left;                                                                                   \
        const int32_t n_bytes = n * idx_size;                                                                \
        const int32_t p_skip = (idx_row - n) * idx_size;                                                     \
        if (n % 9 == 0) {                                                                                    \
            PM_FL_RUN16_RQ_ASM(PM_FL_BODY16X3(LOADIDX, ADDROW, #STEP) PM_FL_BODY16X3(LOADIDX, ADDROW, #STEP) \
                                   PM_FL_BODY16X3(LOADIDX, ADDROW, #STEP));                                  \
        } else if (n % 3 == 0) {                                                                             \
            PM_FL_RUN16_RQ_ASM(PM_FL_BODY16X3(LOADIDX, ADDROW, #STEP));                                      \
        } else {                                                                                             \
            PM_FL_RUN16_RQ_ASM(PM_FL_BODY16(LOADIDX, ADDROW, #STEP));                                        \
        }                                                                                                    \
        (void)a0, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5, (void)a6, (void)a7, (void)v, (void)x0;   \
        (void)x1, (void)end, (void)p, (void)tt, (void)rows_left;                                             \
    }

/* The same for 8-channel blocks (co a multiple of 8 but not of 16): four accumulators. */
#define PM_FL_BODY8(LOADIDX, ADDROW, STEP)                                                                   \
    LOADIDX "\n\t" ADDROW "\n\t"                                                                             \
    "ldrd %[x0], %[x1], [%[v]]\n\t"                                                                          \
    "sadd16 %[a0], %[a0], %[x0]\n\t"                                                                         \
    "sadd16 %[a1], %[a1], %[x1]\n\t"                                                                         \
    "ldrd %[x0], %[x1], [%[v], #8]\n\t"                                                                      \
    "sadd16 %[a2], %[a2], %[x0]\n\t"                                                                         \
    "sadd16 %[a3], %[a3], %[x1]\n\t"                                                                         \
    "add %[tt], %[tt], #" STEP "\n\t"

#define PM_FL_BODY8X3(LOADIDX, ADDROW, STEP)                                                                 \
    PM_FL_BODY8(LOADIDX, ADDROW, STEP) PM_FL_BODY8(LOADIDX, ADDROW, STEP) PM_FL_BODY8(LOADIDX, ADDROW, STEP)

#define PM_FL_RUN8_RQ_ASM(BODY)                                                                              \
    __asm volatile("4:\n\t"                                                                                  \
                   "ldr %[v], %[ctx]\n\t"                                                                    \
                   "ldr %[end], [%[v], #8]\n\t"                                                              \
                   "ldrd %[a0], %[a1], [%[end]]\n\t"                                                         \
                   "ldrd %[a2], %[a3], [%[end], #8]\n\t"                                                     \
                   "ldrd %[p], %[tt], [%[v]]\n\t"                                                            \
                   "ldr %[x0], [%[v], #20]\n\t"                                                              \
                   "str %[x0], %[rows_left]\n\t"                                                             \
                   "ldr %[end], %[n_bytes]\n\t"                                                              \
                   "add %[end], %[end], %[p]\n\t"                                                            \
                   "2:\n\t"                                                                                  \
                   "1:\n\t" BODY                                                                             \
                   "cmp %[p], %[end]\n\t"                                                                    \
                   "bne 1b\n\t"                                                                              \
                   "ldr %[v], %[rows_left]\n\t"                                                              \
                   "subs %[v], %[v], #1\n\t"                                                                 \
                   "beq 3f\n\t"                                                                              \
                   "str %[v], %[rows_left]\n\t"                                                              \
                   "ldr %[v], %[p_skip]\n\t"                                                                 \
                   "add %[p], %[p], %[v]\n\t"                                                                \
                   "ldr %[v], %[t_skip]\n\t"                                                                 \
                   "add %[tt], %[tt], %[v]\n\t"                                                              \
                   "ldr %[end], %[n_bytes]\n\t"                                                              \
                   "add %[end], %[end], %[p]\n\t"                                                            \
                   "b 2b\n\t"                                                                                \
                   "3:\n\t"                                                                                  \
                   "ldr %[v], %[ctx]\n\t"                                                                    \
                   "ldr %[tt], [%[v], #12]\n\t"                                                              \
                   "ldr %[p], [%[v], #16]\n\t"                                                               \
                   PM_FL_RQ_LANE("a0") PM_FL_RQ_LANE("a1") PM_FL_RQ_LANE("a2") PM_FL_RQ_LANE("a3")           \
                   "ldr %[v], %[ctx]\n\t"                                                                    \
                   "ldr %[p], [%[v], #16]\n\t"                                                               \
                   "ldr %[x0], [%[v], #24]\n\t"                                                              \
                   "add %[p], %[p], %[x0]\n\t"                                                               \
                   "str %[p], [%[v], #16]\n\t"                                                               \
                   "ldr %[p], [%[v]]\n\t"                                                                    \
                   "ldr %[x0], [%[v], #28]\n\t"                                                              \
                   "add %[p], %[p], %[x0]\n\t"                                                               \
                   "str %[p], [%[v]]\n\t"                                                                    \
                   "ldr %[x0], [%[v], #32]\n\t"                                                              \
                   "subs %[x0], %[x0], #1\n\t"                                                               \
                   "str %[x0], [%[v], #32]\n\t"                                                              \
                   "bne 4b"                                                                                  \
                   : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [p] "=&r"(p),           \
                     [tt] "=&r"(tt), [v] "=&r"(v), [x0] "=&r"(x0), [x1] "=&r"(x1), [end] "=&r"(end),         \
                     [rows_left] "=m"(rows_left)                                                             \
                   : [n_bytes] "m"(n_bytes), [p_skip] "m"(p_skip), [t_skip] "m"(t_skip), [ctx] "m"(ctx)      \
                   : "cc", "memory")

#define PM_FL_DEFINE_RUN8_RQ(NAME, LOADIDX, ADDROW, STEP)                                                    \
    static __attribute__((noinline)) void NAME(pm_fl_run_t *ctx, int32_t n, int32_t idx_row, int32_t idx_size, \
                                               int32_t t_skip)                                               \
    {                                                                                                        \
        uint32_t a0, a1, a2, a3, v, x0, x1;                                                                  \
        const uint8_t *p, *end, *tt;                                                                         \
        int32_t rows_left;                                                                                   \
        const int32_t n_bytes = n * idx_size;                                                                \
        const int32_t p_skip = (idx_row - n) * idx_size;                                                     \
        if (n % 3 == 0) {                                                                                    \
            PM_FL_RUN8_RQ_ASM(PM_FL_BODY8X3(LOADIDX, ADDROW, #STEP));                                        \
        } else {                                                                                             \
            PM_FL_RUN8_RQ_ASM(PM_FL_BODY8(LOADIDX, ADDROW, #STEP));                                          \
        }                                                                                                    \
        (void)a0, (void)a1, (void)a2, (void)a3, (void)v, (void)x0, (void)x1, (void)end, (void)p, (void)tt;   \
        (void)rows_left;                                                                                     \
    }

/* Sum and requantize one window of 16 channels (see PM_FL_WINDOW16_RQ_ASM); rows_n, n >= 1. */
#define PM_FL_DEFINE_WINDOW16_RQ(NAME, IDX_T, LOADIDX, ADDROW, STEP)                                         \
    static __attribute__((noinline)) void NAME(const IDX_T *idx, int32_t idx_row, int32_t rows_n, int32_t n,  \
                                               const uint8_t *t,                                             \
                            int32_t t_skip, const uint32_t *init, const pm_fl_frq_t *frq, int8_t *out)       \
    {                                                                                                        \
        uint32_t a0, a1, a2, a3, a4, a5, a6, a7, v, x0, x1;                                                  \
        const IDX_T *p = idx, *end;                                                                          \
        const uint8_t *tt = t;                                                                               \
        int32_t rows_left = rows_n;                                                                          \
        const int32_t n_bytes = n * (int32_t)sizeof(IDX_T);                                                  \
        const int32_t p_skip = (idx_row - n) * (int32_t)sizeof(IDX_T);                                       \
        if (n % 9 == 0) {                                                                                    \
            PM_FL_WINDOW16_RQ_ASM(PM_FL_BODY16X3(LOADIDX, ADDROW, #STEP) PM_FL_BODY16X3(LOADIDX, ADDROW, #STEP) \
                                      PM_FL_BODY16X3(LOADIDX, ADDROW, #STEP));                               \
        } else if (n % 3 == 0) {                                                                             \
            PM_FL_WINDOW16_RQ_ASM(PM_FL_BODY16X3(LOADIDX, ADDROW, #STEP));                                   \
        } else {                                                                                             \
            PM_FL_WINDOW16_RQ_ASM(PM_FL_BODY16(LOADIDX, ADDROW, #STEP));                                     \
        }                                                                                                    \
        (void)a0, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5, (void)a6, (void)a7, (void)v, (void)x0;   \
        (void)x1, (void)end;                                                                                 \
    }

#define PM_FL_LOOP8_ASM(LOADIDX, ADDROW, STEP)                                                               \
    __asm volatile("1:\n\t" LOADIDX "\n\t" ADDROW "\n\t"                                                     \
                   "ldrd %[x0], %[x1], [%[v]]\n\t"                                                           \
                   "ldrd %[x2], %[x3], [%[v], #8]\n\t"                                                       \
                   "sadd16 %[a0], %[a0], %[x0]\n\t"                                                          \
                   "sadd16 %[a1], %[a1], %[x1]\n\t"                                                          \
                   "sadd16 %[a2], %[a2], %[x2]\n\t"                                                          \
                   "sadd16 %[a3], %[a3], %[x3]\n\t"                                                          \
                   "add %[tt], %[tt], #" STEP "\n\t"                                                         \
                   "cmp %[p], %[end]\n\t"                                                                    \
                   "bne 1b"                                                                                  \
                   : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [p] "+r"(p), [tt] "+r"(tt), \
                     [v] "=&r"(v), [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3)            \
                   : [end] "r"(end)                                                                          \
                   : "cc", "memory")

/* IDX_T: uint8_t (pixel values: row = index * NB*2 bytes) or uint32_t (joint rows: the index is an
 * element offset). rows_n >= 1 kernel rows of n >= 1 lookups; idx advances by idx_row elements per
 * kernel row, the table pointer by STEP bytes per lookup and t_skip more bytes per row.
 * On Armv7E-M the whole window is one asm statement: the 8 accumulators, the index and table
 * pointers, the row end and three temporaries take all 14 allocatable registers, so the per-row
 * values come from memory operands. */
#define PM_FL_DEFINE_SUM16(NAME, IDX_T, LOADIDX, ADDROW, STEP, SHIFT)                                        \
    static __attribute__((noinline)) void NAME(const IDX_T *idx, int32_t idx_row, int32_t rows_n, int32_t n,  \
                                               const uint8_t *t, int32_t t_skip, const uint32_t *init,       \
                                               uint32_t *out)                                                \
    {                                                                                                        \
        if (PM_FL_ROWS_ASM && rows_n > 0 && n > 0) {                                                         \
            uint32_t a0, a1, a2, a3, a4, a5, a6, a7, v, x0, x1;                                              \
            const IDX_T *p = idx, *end;                                                                      \
            const uint8_t *tt = t;                                                                           \
            int32_t rows_left = rows_n;                                                                      \
            const int32_t n_bytes = n * (int32_t)sizeof(IDX_T);                                              \
            const int32_t p_skip = (idx_row - n) * (int32_t)sizeof(IDX_T);                                   \
            if (n % 9 == 0) {                                                                                \
                PM_FL_WINDOW16_ASM(PM_FL_BODY16X3(LOADIDX, ADDROW, #STEP) PM_FL_BODY16X3(LOADIDX, ADDROW, #STEP) \
                                       PM_FL_BODY16X3(LOADIDX, ADDROW, #STEP));                              \
            } else if (n % 3 == 0) {                                                                         \
                PM_FL_WINDOW16_ASM(PM_FL_BODY16X3(LOADIDX, ADDROW, #STEP));                                  \
            } else {                                                                                         \
                PM_FL_WINDOW16_ASM(PM_FL_BODY16(LOADIDX, ADDROW, #STEP));                                    \
            }                                                                                                \
            out[0] = a0, out[1] = a1, out[2] = a2, out[3] = a3, out[4] = a4, out[5] = a5, out[6] = a6;       \
            out[7] = a7;                                                                                     \
            return;                                                                                          \
        }                                                                                                    \
        uint32_t a0 = init[0], a1 = init[1], a2 = init[2], a3 = init[3], a4 = init[4], a5 = init[5];          \
        uint32_t a6 = init[6], a7 = init[7];                                                                 \
        for (int32_t r = 0; r < rows_n; ++r, idx += idx_row) {                                               \
            const IDX_T *p = idx, *end = idx + n;                                                            \
            while (p < end) {                                                                                \
                const pm_fl_u32a_t *row = (const pm_fl_u32a_t *)(t + ((uint32_t)*p++ << SHIFT));            \
                PM_FL_ADD2(a0, a1, row, 0);                                                                  \
                PM_FL_ADD2(a2, a3, row, 2);                                                                  \
                PM_FL_ADD2(a4, a5, row, 4);                                                                  \
                PM_FL_ADD2(a6, a7, row, 6);                                                                  \
                t += STEP;                                                                                   \
            }                                                                                                \
            t += t_skip;                                                                                     \
        }                                                                                                    \
        out[0] = a0, out[1] = a1, out[2] = a2, out[3] = a3, out[4] = a4, out[5] = a5, out[6] = a6;           \
        out[7] = a7;                                                                                         \
    }

#define PM_FL_DEFINE_SUM8(NAME, IDX_T, LOADIDX, ADDROW, STEP, SHIFT)                                         \
    static __attribute__((noinline)) void NAME(const IDX_T *idx, int32_t idx_row, int32_t rows_n, int32_t n,  \
                                               const uint8_t *t, int32_t t_row, const uint32_t *init,        \
                                               uint32_t *out)                                                \
    {                                                                                                        \
        uint32_t a0 = init[0], a1 = init[1], a2 = init[2], a3 = init[3];                                     \
        for (int32_t r = 0; r < rows_n; ++r, idx += idx_row, t += t_row) {                                   \
            const IDX_T *p = idx, *end = idx + n;                                                            \
            const uint8_t *tt = t;                                                                           \
            if (n <= 0) {                                                                                    \
                continue;                                                                                    \
            }                                                                                                \
            if (PM_FL_ROWS_ASM) {                                                                            \
                uint32_t v, x0, x1, x2, x3;                                                                  \
                PM_FL_LOOP8_ASM(LOADIDX, ADDROW, #STEP);                                                     \
                continue;                                                                                    \
            }                                                                                                \
            while (p < end) {                                                                                \
                const pm_fl_u32a_t *row = (const pm_fl_u32a_t *)(tt + ((uint32_t)*p++ << SHIFT));           \
                PM_FL_ADD2(a0, a1, row, 0);                                                                  \
                PM_FL_ADD2(a2, a3, row, 2);                                                                  \
                tt += STEP;                                                                                  \
            }                                                                                                \
        }                                                                                                    \
        out[0] = a0, out[1] = a1, out[2] = a2, out[3] = a3;                                                  \
    }

/* Any block width and any widening interval: one int16 lane per channel, added into int32 every
 * `widen_every` lookups (0: at the end). acc holds the bias on entry. */
#define PM_FL_DEFINE_SUM_GENERIC(NAME, IDX_T)                                                                \
    static void NAME(const IDX_T *idx, int32_t idx_row, int32_t rows_n, int32_t n, const int16_t *t,         \
                     int32_t t_row, int32_t lookup_stride, int32_t idx_scale, int32_t nb, int32_t widen_every, \
                     int32_t *acc)                                                                           \
    {                                                                                                        \
        int16_t lane[PM_FL_MAX_BLOCK];                                                                       \
        memset(lane, 0, sizeof(int16_t) * (size_t)nb);                                                       \
        int32_t left = widen_every > 0 ? widen_every : INT32_MAX;                                            \
        for (int32_t r = 0; r < rows_n; ++r, idx += idx_row, t += t_row) {                                   \
            const int16_t *tt = t;                                                                           \
            for (int32_t j = 0; j < n; ++j, tt += lookup_stride) {                                           \
                const int16_t *row = tt + (int32_t)idx[j] * idx_scale;                                       \
                for (int32_t o = 0; o < nb; ++o) {                                                           \
                    lane[o] = (int16_t)(uint16_t)((uint32_t)(uint16_t)lane[o] + (uint32_t)(uint16_t)row[o]); \
                }                                                                                            \
                if (--left == 0) {                                                                           \
                    for (int32_t o = 0; o < nb; ++o) {                                                       \
                        acc[o] += lane[o];                                                                   \
                        lane[o] = 0;                                                                         \
                    }                                                                                        \
                    left = widen_every;                                                                      \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
        for (int32_t o = 0; o < nb; ++o) {                                                                   \
            acc[o] += lane[o];                                                                               \
        }                                                                                                    \
    }

#define PM_FL_MAX_BLOCK 256

#endif /* PM_FIRST_FOLDED_ROWS_H */
