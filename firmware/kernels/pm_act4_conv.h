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

static inline int32_t pm_a4_conv_scratch(const pm_conv_a4_params_t *p)
{
    const pm_conv_packed_params_t *c = &p->conv;
    return (int32_t)(pm_a4_rows_bytes(c, p->input_packed, p->input_channels) +
                     (p->output_packed ? (size_t)c->output.w * c->output.c : 0));
}

/* The body of pm_conv2d_packed{4,2}_a4; wk: the weight layout (PM_W4, PM_W2). */
static PM_ALWAYS_INLINE int pm_a4_conv_run(const pm_conv_a4_params_t *p, const int8_t *input, int8_t *scratch,
                                           int8_t *output, const int wk)
{
    if (p == NULL || scratch == NULL || ((uintptr_t)scratch & 3u) != 0) {
        return PM_ERR_ARG;
    }
    const pm_conv_packed_params_t *c = &p->conv;
    int status = pm_packed_check(c, input, output);
    if (status == PM_OK) {
        status = pm_a4_check(c, p->input_packed, p->input_channels, p->output_packed);
    }
    if (status != PM_OK) {
        return status;
    }
    const size_t out_row = (size_t)c->output.w * c->output.c;
    int8_t *const row_out = scratch + pm_a4_rows_bytes(c, p->input_packed, p->input_channels);
    pm_conv_packed_params_t s = *c;
    s.input.n = 1;
    s.output.n = 1;
    s.output.h = 1;
    for (int32_t b = 0; b < c->output.n; ++b) {
        for (int32_t oy = 0; oy < c->output.h; ++oy) {
            const int8_t *src = pm_a4_rows(c, p->input_packed, p->input_low, p->input_channels, input, b, oy,
                                           scratch, &s);
            const size_t o = ((size_t)b * c->output.h + oy) * out_row;
            int8_t *const dst = p->output_packed ? row_out : output + o;
            PM_PACKED_DISPATCH_W(&s, src, dst, wk);
            if (p->output_packed) {
                pm_a4_pack(row_out, out_row, p->output_low, output + o / 2);
            }
        }
    }
    return PM_OK;
}

static inline size_t pm_a4_res_bytes(const pm_conv_add_a4_params_t *p)
{
    return p->residual_packed ? pm_a4_round4((size_t)p->add.conv.output.w * p->add.conv.output.c) : 0;
}

static inline int32_t pm_a4_conv_add_scratch(const pm_conv_add_a4_params_t *p)
{
    const pm_conv_packed_params_t *c = &p->add.conv;
    return (int32_t)(pm_a4_rows_bytes(c, p->input_packed, p->input_channels) + pm_a4_res_bytes(p) +
                     (p->output_packed ? (size_t)c->output.w * c->output.c : 0));
}

/* The body of pm_conv2d_packed{4,2}_add_a4; wk: the weight layout (PM_W4, PM_W2). */
static PM_ALWAYS_INLINE int pm_a4_conv_add_run(const pm_conv_add_a4_params_t *p, const int8_t *input,
                                               const int8_t *residual, int8_t *scratch, int8_t *output, const int wk)
{
    if (p == NULL || residual == NULL || scratch == NULL || ((uintptr_t)scratch & 3u) != 0) {
        return PM_ERR_ARG;
    }
    const pm_conv_packed_params_t *c = &p->add.conv;
    int status = pm_packed_check(c, input, output);
    if (status == PM_OK) {
        status = pm_a4_check(c, p->input_packed, p->input_channels, p->output_packed);
    }
    if (status == PM_OK && p->residual_packed && c->output.c % 2 != 0) {
        status = PM_ERR_SHAPE;
    }
    if (status != PM_OK) {
        return status;
    }
    const size_t out_row = (size_t)c->output.w * c->output.c;
    int8_t *const res_row = scratch + pm_a4_rows_bytes(c, p->input_packed, p->input_channels);
    int8_t *const row_out = res_row + pm_a4_res_bytes(p);
    pm_conv_packed_add_params_t s = p->add;
    s.conv.input.n = 1;
    s.conv.output.n = 1;
    s.conv.output.h = 1;
    for (int32_t b = 0; b < c->output.n; ++b) {
        for (int32_t oy = 0; oy < c->output.h; ++oy) {
            const int8_t *src = pm_a4_rows(c, p->input_packed, p->input_low, p->input_channels, input, b, oy,
                                           scratch, &s.conv);
            const size_t o = ((size_t)b * c->output.h + oy) * out_row;
            const int8_t *res = residual + o;
            if (p->residual_packed) {
                pm_a4_unpack(residual + o / 2, out_row, p->residual_low, res_row);
                res = res_row;
            }
            int8_t *const dst = p->output_packed ? row_out : output + o;
            status = pm_packed_add_run(&s, src, res, dst, wk);
            if (status != PM_OK) {
                return status;
            }
            if (p->output_packed) {
                pm_a4_pack(row_out, out_row, p->output_low, output + o / 2);
            }
        }
    }
    return PM_OK;
}

#endif /* PM_ACT4_CONV_H */
