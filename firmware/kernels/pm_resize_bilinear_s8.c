/* TFLM's RESIZE_BILINEAR for int8 (ResizeBilinearInteger): four taps weighed in Q10 x Q10, summed in
 * 64 bits and rounded half away from zero at 2^20 (TFLITE_SINGLE_ROUNDING off). Weights may be
 * negative or above 1 for half-pixel centers at the border, as in TFLM. */
#include "pm_kernels.h"

int pm_resize_bilinear_s8(const pm_resize_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == NULL || p->y0 == NULL || p->y1 == NULL || p->sy == NULL || p->x0 == NULL || p->x1 == NULL ||
        p->sx == NULL || input == NULL || output == NULL) {
        return PM_ERR_ARG;
    }
    const int32_t c = p->input.c;
    const int32_t row_len = p->input.w * c;
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *image = input + (size_t)b * p->input.h * row_len;
        for (int32_t y = 0; y < p->output.h; ++y) {
            const int8_t *r0 = image + (size_t)p->y0[y] * row_len;
            const int8_t *r1 = image + (size_t)p->y1[y] * row_len;
            const int64_t fy = p->sy[y] - (1 << 10) * p->y0[y];
            for (int32_t x = 0; x < p->output.w; ++x) {
                const int64_t fx = p->sx[x] - (1 << 10) * p->x0[x];
                const int8_t *ll = r0 + (size_t)p->x0[x] * c;
                const int8_t *lu = r1 + (size_t)p->x0[x] * c;
                const int8_t *rl = r0 + (size_t)p->x1[x] * c;
                const int8_t *ru = r1 + (size_t)p->x1[x] * c;
                for (int32_t k = 0; k < c; ++k) {
                    const int64_t v = ll[k] * ((1 << 10) - fy) * ((1 << 10) - fx) + lu[k] * fy * ((1 << 10) - fx) +
                                      rl[k] * ((1 << 10) - fy) * fx + ru[k] * fy * fx;
                    const int64_t round = v > 0 ? (1 << 19) : -(1 << 19);
                    *output++ = (int8_t)((v + round) / (1 << 20));
                }
            }
        }
    }
    return PM_OK;
}
