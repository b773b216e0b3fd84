/* Average pooling: TFLM's reference AveragePool (clipped windows, count of taps inside).
 *
 * Where the DSP extension is (and on the host, through pm_dsp.h's portable stand-ins, so the tests
 * run this path) four channels are summed per 32-bit load: SXTAB16 adds bytes 0|2 and, with ROR #8,
 * 1|3 into 16-bit lanes. A window of at most 256 taps keeps every lane's sum in [-32768, 32512], so
 * the lanes never carry into each other and the sums are exact. */
#include "pm_dsp.h"
#include "pm_pool_common.h"
#include "pm_requant.h"

#if PM_HAVE_DSP || !defined(__arm__)
#define PM_POOL_SIMD 1
#else
#define PM_POOL_SIMD 0
#endif

/* Sums of four channels over the window rows [y0, y1) x columns [x0, x1); first: the window's first tap. */
static inline void pm_avg_sum4(const int8_t *first, int32_t rows, int32_t cols, int32_t c, int32_t in_w, int32_t *acc)
{
    uint32_t s02 = 0, s13 = 0;
    for (int32_t y = 0; y < rows; ++y) {
        const int8_t *px = first + (size_t)y * in_w * c;
#pragma GCC unroll 2
        for (int32_t x = 0; x < cols; ++x) {
            const uint32_t v = pm_read_u32(px);
            px += c;
            s02 = (uint32_t)pm_sxtab16(s02, v);
            s13 = (uint32_t)pm_sxtab16_ror8(s13, v);
        }
    }
    acc[0] = (int16_t)(uint16_t)(s02 & 0xFFFFu);
    acc[1] = (int16_t)(uint16_t)(s13 & 0xFFFFu);
    acc[2] = (int16_t)(uint16_t)(s02 >> 16);
    acc[3] = (int16_t)(uint16_t)(s13 >> 16);
}

int pm_avg_pool2d_s8(const pm_pool_params_t *p, const int8_t *input, int8_t *output)
{
    const int status = pm_pool_check(p, input, output);
    if (status != PM_OK) {
        return status;
    }
    const int32_t in_h = p->input.h, in_w = p->input.w, c = p->input.c;
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * c;
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            for (int32_t ox = 0; ox < p->output.w; ++ox) {
                const pm_window_t w = pm_pool_window(p, oy, ox);
                const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
                if (count <= 0) {
                    return PM_ERR_SHAPE; /* TFLM fails the same way: a window wholly in the padding */
                }
                int32_t ch = 0;
#if PM_POOL_SIMD
                if (count <= 256) {
                    const int8_t *first = in_b + ((size_t)w.y0 * in_w + w.x0) * c;
                    for (; ch + 4 <= c; ch += 4) {
                        int32_t acc[4];
                        pm_avg_sum4(first + ch, w.y1 - w.y0, w.x1 - w.x0, c, in_w, acc);
                        for (int32_t k = 0; k < 4; ++k) {
                            *output++ = (int8_t)pm_clamp(pm_div_round(acc[k], count), p->act_min, p->act_max);
                        }
                    }
                }
#endif
                for (; ch < c; ++ch) {
                    int32_t acc = 0;
                    for (int32_t y = w.y0; y < w.y1; ++y) {
                        for (int32_t x = w.x0; x < w.x1; ++x) {
                            acc += in_b[((size_t)y * in_w + x) * c + ch];
                        }
                    }
                    *output++ = (int8_t)pm_clamp(pm_div_round(acc, count), p->act_min, p->act_max);
                }
            }
        }
    }
    return PM_OK;
}
