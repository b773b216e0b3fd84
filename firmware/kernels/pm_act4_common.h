/* Private to the kernels: packed 4-bit activations (pm_act4.h), two per byte, low nibble first,
 * each stored as value - low. */
#ifndef PM_ACT4_COMMON_H
#define PM_ACT4_COMMON_H

#include "pm_act4.h"
#include "pm_pool_common.h"
#include "pm_requant.h"

/* Element i of a packed or int8 tensor. */
static inline int32_t pm_a4_get(const int8_t *t, size_t i, int packed, int32_t low)
{
    if (!packed) {
        return t[i];
    }
    const uint32_t b = (uint8_t)t[i >> 1];
    return (int32_t)((i & 1u) ? b >> 4 : b & 15u) + low;
}

/* n (even) packed values from src into int8 dst. */
static inline void pm_a4_unpack(const int8_t *src, size_t n, int32_t low, int8_t *dst)
{
    for (size_t i = 0; i < n / 2; ++i) {
        const uint32_t b = (uint8_t)src[i];
        dst[2 * i] = (int8_t)((int32_t)(b & 15u) + low);
        dst[2 * i + 1] = (int8_t)((int32_t)(b >> 4) + low);
    }
}

/* n (even) int8 values in [low, low + 15] packed from src into dst. */
static inline void pm_a4_pack(const int8_t *src, size_t n, int32_t low, int8_t *dst)
{
    for (size_t i = 0; i < n / 2; ++i) {
        const uint32_t a = (uint32_t)(src[2 * i] - low) & 15u, b = (uint32_t)(src[2 * i + 1] - low) & 15u;
        dst[i] = (int8_t)(uint8_t)(a | (b << 4));
    }
}

/* Pooling over packed and/or int8 tensors (max: avg == 0). The byte of channels 2k, 2k + 1 of an output
 * pixel is written once both are computed: after every read of that pixel's channels up to 2k + 1. */
static inline int pm_pool_a4_body(const pm_pool_a4_params_t *a, const int8_t *input, int8_t *output, const int avg)
{
    const pm_pool_params_t *p = a == NULL ? NULL : &a->pool;
    const int status = pm_pool_check(p, input, output);
    if (status != PM_OK) {
        return status;
    }
    const int in_packed = a->input_packed != 0, out_packed = a->output_packed != 0;
    const int32_t in_h = p->input.h, in_w = p->input.w, c = p->input.c;
    if ((in_packed || out_packed) && c % 2 != 0) {
        return PM_ERR_SHAPE;
    }
    size_t o = 0;
    uint32_t pending = 0;
    for (int32_t b = 0; b < p->output.n; ++b) {
        const size_t in_b = (size_t)b * in_h * in_w * c;
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            for (int32_t ox = 0; ox < p->output.w; ++ox) {
                const pm_window_t w = pm_pool_window(p, oy, ox);
                const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
                if (count <= 0) {
                    return PM_ERR_SHAPE;
                }
                for (int32_t ch = 0; ch < c; ++ch) {
                    int32_t acc = avg ? 0 : -128;
                    for (int32_t y = w.y0; y < w.y1; ++y) {
                        for (int32_t x = w.x0; x < w.x1; ++x) {
                            const int32_t v = pm_a4_get(input, in_b + ((size_t)y * in_w + x) * c + ch, in_packed,
                                                        a->input_low);
                            acc = avg ? acc + v : (v > acc ? v : acc);
                        }
                    }
                    const int32_t r = pm_clamp(avg ? pm_div_round(acc, count) : acc, p->act_min, p->act_max);
                    if (!out_packed) {
                        output[o++] = (int8_t)r;
                    } else if ((ch & 1) == 0) {
                        pending = (uint32_t)(r - a->output_low) & 15u;
                    } else {
                        output[o++] = (int8_t)(uint8_t)(pending | (((uint32_t)(r - a->output_low) & 15u) << 4));
                    }
                }
            }
        }
    }
    return PM_OK;
}

#endif /* PM_ACT4_COMMON_H */
