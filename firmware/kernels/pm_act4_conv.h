/* Private to the kernels: the row walk of the packed-activation convolutions (pm_conv2d_packed4_a4,
 * pm_conv2d_packed4_add_a4). Each output row is one call of the packed body on a one-row problem whose
 * input is the rows its windows read: in place in the arena, or copied into scratch when the input is
 * packed (unpacked there) or its channels are not a multiple of 4 (padded there with zeros, which meet
 * zero weights). */
#ifndef PM_ACT4_CONV_H
#define PM_ACT4_CONV_H

#include <string.h>

#include "pm_act4_common.h"
#include "pm_conv_packed.h"

static inline size_t pm_a4_round4(size_t n)
{
    return (n + 3u) & ~(size_t)3u;
}

/* Whether the input rows go through scratch, and how many bytes they take there. */
static inline int pm_a4_copies(const pm_conv_packed_params_t *c, int32_t packed, int32_t channels)
{
    return packed || channels != c->input.c;
}

static inline size_t pm_a4_rows_bytes(const pm_conv_packed_params_t *c, int32_t packed, int32_t channels)
{
    return pm_a4_copies(c, packed, channels) ? pm_a4_round4((size_t)c->filter.h * c->input.w * c->input.c) : 0;
}

static inline int pm_a4_check(const pm_conv_packed_params_t *c, int32_t packed, int32_t channels, int32_t out_packed)
{
    if (channels < 1 || channels > c->input.c || c->input.c - channels > 3 || (packed && channels % 2 != 0) ||
        (out_packed && c->output.c % 2 != 0)) {
        return PM_ERR_SHAPE;
    }
    return PM_OK;
}

/* The input of output row oy of batch b as the one-row problem *s (its input height and top padding
 * set here): a pointer into the arena, or `rows` filled. */
static inline const int8_t *pm_a4_rows(const pm_conv_packed_params_t *c, int32_t packed, int32_t low,
                                       int32_t channels, const int8_t *input, int32_t b, int32_t oy, int8_t *rows,
                                       pm_conv_packed_params_t *s)
{
    const int32_t in_h = c->input.h, kh = c->filter.h, cp = c->input.c;
    const int32_t y = oy * c->stride_h - c->pad_h;
    const int32_t ya = y < 0 ? 0 : (y > in_h ? in_h : y);
    const int32_t yb = y + kh < ya ? ya : (y + kh > in_h ? in_h : y + kh);
    s->input.h = yb - ya;
    s->pad_h = ya - y;
    const size_t pixels = (size_t)(yb - ya) * c->input.w;
    const size_t first = ((size_t)b * in_h + ya) * c->input.w * channels;  /* in values */
    if (!pm_a4_copies(c, packed, channels)) {
        return input + first;
    }
    if (channels == cp) {
        pm_a4_unpack(input + first / 2, pixels * (size_t)cp, low, rows);
        return rows;
    }
    for (size_t px = 0; px < pixels; ++px) {
        const size_t e = first + px * (size_t)channels;
        int8_t *const d = rows + px * (size_t)cp;
        if (packed) {
            pm_a4_unpack(input + e / 2, (size_t)channels, low, d);
        } else {
            memcpy(d, input + e, (size_t)channels);
        }
        memset(d + channels, 0, (size_t)(cp - channels));
    }
    return rows;
}

#endif /* PM_ACT4_CONV_H */
