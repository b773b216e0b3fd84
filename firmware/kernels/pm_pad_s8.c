/* Constant padding of a rank <= 4 tensor: TFLM's reference Pad, as fill-then-copy of rows. */
#include <string.h>

#include "pm_kernels.h"

int pm_pad_s8(const pm_pad_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL) {
        return PM_ERR_ARG;
    }
    const pm_dims_t in = p->input;
    const int32_t on = in.n + p->before.n + p->after.n;
    const int32_t oh = in.h + p->before.h + p->after.h;
    const int32_t ow = in.w + p->before.w + p->after.w;
    const int32_t oc = in.c + p->before.c + p->after.c;
    memset(output, (int8_t)p->pad_value, (size_t)on * oh * ow * oc);
    for (int32_t b = 0; b < in.n; ++b) {
        for (int32_t y = 0; y < in.h; ++y) {
            for (int32_t x = 0; x < in.w; ++x) {
                const size_t src = (((size_t)b * in.h + y) * in.w + x) * in.c;
                const size_t dst =
                    ((((size_t)(b + p->before.n) * oh + (y + p->before.h)) * ow + (x + p->before.w)) * oc) + p->before.c;
                memcpy(output + dst, input + src, (size_t)in.c);
            }
        }
    }
    return PM_OK;
}
