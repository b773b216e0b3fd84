/* Private to firmware/first_layer: summing table rows for the folded and joint kernels.
 *
 * A table block holds rows of NB int16 partial sums (NB = 16 or 8 output channels) for consecutive
 * lookups, `lookup_stride` words apart; a lookup picks row `index` of its table. The accumulators are
 * named variables, not an array, so they stay in registers: for NB = 16 that is 8 packed words, the
 * two loaded words and four pointers - exactly the 14 allocatable registers of an Armv7-M core. */
#ifndef PM_FIRST_FOLDED_ROWS_H
#define PM_FIRST_FOLDED_ROWS_H

#include "pm_first_common.h"

#define PM_FL_ADD2(a, b, row, k)                                                                             \
    do {                                                                                                     \
        a = pm_fl_sadd16(a, (row)[k]);                                                                       \
        b = pm_fl_sadd16(b, (row)[(k) + 1]);                                                                 \
    } while (0)

/* IDX_T: uint8_t (pixel values, folded) or uint16_t (joint rows). rows_n kernel rows of n lookups;
 * idx advances by idx_row per kernel row, tables by t_row words. */
#define PM_FL_DEFINE_SUM16(NAME, IDX_T)                                                                      \
    static void NAME(const IDX_T *idx, int32_t idx_row, int32_t rows_n, int32_t n, const pm_fl_u32a_t *t,    \
                     int32_t t_row, int32_t lookup_stride, uint32_t *out)                                    \
    {                                                                                                        \
        uint32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;                             \
        for (int32_t r = 0; r < rows_n; ++r, idx += idx_row, t += t_row) {                                   \
            const IDX_T *p = idx, *end = idx + n;                                                            \
            const pm_fl_u32a_t *tt = t;                                                                      \
            while (p < end) {                                                                                \
                const pm_fl_u32a_t *row = tt + ((uint32_t)*p++ << 3);                                        \
                PM_FL_ADD2(a0, a1, row, 0);                                                                  \
                PM_FL_ADD2(a2, a3, row, 2);                                                                  \
                PM_FL_ADD2(a4, a5, row, 4);                                                                  \
                PM_FL_ADD2(a6, a7, row, 6);                                                                  \
                tt += lookup_stride;                                                                         \
            }                                                                                                \
        }                                                                                                    \
        out[0] = a0, out[1] = a1, out[2] = a2, out[3] = a3, out[4] = a4, out[5] = a5, out[6] = a6;           \
        out[7] = a7;                                                                                         \
    }

#define PM_FL_DEFINE_SUM8(NAME, IDX_T)                                                                       \
    static void NAME(const IDX_T *idx, int32_t idx_row, int32_t rows_n, int32_t n, const pm_fl_u32a_t *t,    \
                     int32_t t_row, int32_t lookup_stride, uint32_t *out)                                    \
    {                                                                                                        \
        uint32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                                             \
        for (int32_t r = 0; r < rows_n; ++r, idx += idx_row, t += t_row) {                                   \
            const IDX_T *p = idx, *end = idx + n;                                                            \
            const pm_fl_u32a_t *tt = t;                                                                      \
            while (p < end) {                                                                                \
                const pm_fl_u32a_t *row = tt + ((uint32_t)*p++ << 2);                                        \
                PM_FL_ADD2(a0, a1, row, 0);                                                                  \
                PM_FL_ADD2(a2, a3, row, 2);                                                                  \
                tt += lookup_stride;                                                                         \
            }                                                                                                \
        }                                                                                                    \
        out[0] = a0, out[1] = a1, out[2] = a2, out[3] = a3;                                                  \
    }

/* Any block width and any widening interval: one int16 lane per channel, added into int32 every
 * `widen_every` lookups (0: at the end). acc holds the bias on entry. */
#define PM_FL_DEFINE_SUM_GENERIC(NAME, IDX_T)                                                                \
    static void NAME(const IDX_T *idx, int32_t idx_row, int32_t rows_n, int32_t n, const int16_t *t,         \
                     int32_t t_row, int32_t lookup_stride, int32_t nb, int32_t widen_every, int32_t *acc)    \
    {                                                                                                        \
        int16_t lane[PM_FL_MAX_BLOCK];                                                                       \
        memset(lane, 0, sizeof(int16_t) * (size_t)nb);                                                       \
        int32_t left = widen_every > 0 ? widen_every : INT32_MAX;                                            \
        for (int32_t r = 0; r < rows_n; ++r, idx += idx_row, t += t_row) {                                   \
            const int16_t *tt = t;                                                                           \
            for (int32_t j = 0; j < n; ++j, tt += lookup_stride) {                                           \
                const int16_t *row = tt + (int32_t)idx[j] * nb;                                              \
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
