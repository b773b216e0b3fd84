/* Private to the kernels: packed 4-bit activations (pm_act4.h), two per byte, low nibble first,
 * each stored as value - low. */
#ifndef PM_ACT4_COMMON_H
#define PM_ACT4_COMMON_H

#include "pm_act4.h"
#include "pm_pool_common.h"
#include "pm_requant.h"

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

/* Pooling over packed and/or int8 tensors (max: avg == 0), a pair of channels at a time (channels even):
 * a packed window byte holds both. The output byte of channels 2k, 2k + 1 is written after every read
 * of that pixel's channels up to 2k + 1 (the planner's per-pixel overlap rule). */
static inline int pm_pool_a4_body(const pm_pool_a4_params_t *a, const int8_t *input, int8_t *output, const int avg)
{
    const pm_pool_params_t *p = a == NULL ? NULL : &a->pool;
    const int status = pm_pool_check(p, input, output);
    if (status != PM_OK) {
        return status;
    }
    const int in_packed = a->input_packed != 0, out_packed = a->output_packed != 0;
    const int32_t in_h = p->input.h, in_w = p->input.w, c = p->input.c;
    if (c % 2 != 0) {
        return PM_ERR_SHAPE;
    }
    /* Window sums and maxima run on the stored codes (value - low, or the int8 value with low 0). */
    const int32_t low = in_packed ? a->input_low : 0;
    const size_t pixel = in_packed ? (size_t)c / 2 : (size_t)c;
    const uint8_t *const in = (const uint8_t *)input;
    for (int32_t b = 0; b < p->output.n; ++b) {
        const size_t in_b = (size_t)b * in_h * in_w * pixel;
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            for (int32_t ox = 0; ox < p->output.w; ++ox) {
                const pm_window_t w = pm_pool_window(p, oy, ox);
                const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
                if (count <= 0) {
                    return PM_ERR_SHAPE;
                }
                for (int32_t ch = 0; ch < c; ch += 2) {
                    int32_t a0 = avg ? 0 : INT32_MIN, a1 = a0;
                    for (int32_t y = w.y0; y < w.y1; ++y) {
                        const uint8_t *px = in + in_b + ((size_t)y * in_w + w.x0) * pixel;
                        for (int32_t x = w.x0; x < w.x1; ++x, px += pixel) {
                            int32_t v0, v1;
                            if (in_packed) {
                                const uint32_t byte = px[ch >> 1];
                                v0 = (int32_t)(byte & 15u);
                                v1 = (int32_t)(byte >> 4);
                            } else {
                                v0 = (int8_t)px[ch];
                                v1 = (int8_t)px[ch + 1];
                            }
                            if (avg) {
                                a0 += v0;
                                a1 += v1;
                            } else {
                                a0 = v0 > a0 ? v0 : a0;
                                a1 = v1 > a1 ? v1 : a1;
                            }
                        }
                    }
                    /* The average of values = low + the average of codes (round half away from zero is
                     * not shift-invariant, so the sum is rebased first). */
                    const int32_t r0 = pm_clamp(avg ? pm_div_round(a0 + low * count, count) : a0 + low, p->act_min,
                                                p->act_max);
                    const int32_t r1 = pm_clamp(avg ? pm_div_round(a1 + low * count, count) : a1 + low, p->act_min,
                                                p->act_max);
                    if (out_packed) {
                        *output++ = (int8_t)(uint8_t)(((uint32_t)(r0 - a->output_low) & 15u) |
                                                      (((uint32_t)(r1 - a->output_low) & 15u) << 4));
                    } else {
                        *output++ = (int8_t)r0;
                        *output++ = (int8_t)r1;
                    }
                }
            }
        }
    }
    return PM_OK;
}

#endif /* PM_ACT4_COMMON_H */
