/* TFLM's RESIZE_NEAREST_NEIGHBOR: whole channel runs copied from the source pixel the generator chose. */
#include <string.h>

#include "pm_kernels.h"

int pm_resize_nearest_s8(const pm_resize_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == NULL || p->y0 == NULL || p->x0 == NULL || input == NULL || output == NULL) {
        return PM_ERR_ARG;
    }
    const int32_t c = p->input.c;
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *image = input + (size_t)b * p->input.h * p->input.w * c;
        for (int32_t y = 0; y < p->output.h; ++y) {
            const int8_t *row = image + (size_t)p->y0[y] * p->input.w * c;
            for (int32_t x = 0; x < p->output.w; ++x) {
                memcpy(output, row + (size_t)p->x0[x] * c, (size_t)c);
                output += c;
            }
        }
    }
    return PM_OK;
}
