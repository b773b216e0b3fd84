/* TFLM's int16 TANH: tanh(x) = 2 sigmoid(2x) - 1, interpolated on the sigmoid table with 8
 * fractional bits, the negative half mirrored. */
#include "pm_sigmoid16.h"

int pm_tanh_s16(const pm_sigmoid16_params_t *p, const void *input, void *output)
{
    if (p == NULL || p->table == NULL || input == NULL || output == NULL || p->size < 0) {
        return PM_ERR_ARG;
    }
    const int16_t *in = (const int16_t *)input;
    int16_t *out = (int16_t *)output;
    for (int32_t i = 0; i < p->size; ++i) {
        int32_t d;
        int saturated;
        uint32_t u = pm_sigmoid16_interp(p, in[i], 8, &d, &saturated);
        if (saturated) {
            u = 0xFFFFu << 8;
        }
        const int32_t r = (int32_t)u;
        const int32_t v = d >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
        out[i] = (int16_t)(v >> 8); /* arithmetic shift, as TFLM */
    }
    return PM_OK;
}
