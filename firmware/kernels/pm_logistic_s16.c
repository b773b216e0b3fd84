/* TFLM's int16 LOGISTIC (reference_integer_ops::Logistic for int16): table interpolation in 0.25
 * fixed point, the negative half mirrored. */
#include "pm_sigmoid16.h"

int pm_logistic_s16(const pm_sigmoid16_params_t *p, const void *input, void *output)
{
    if (p == NULL || p->table == NULL || input == NULL || output == NULL || p->size < 0) {
        return PM_ERR_ARG;
    }
    const int16_t *in = (const int16_t *)input;
    int16_t *out = (int16_t *)output;
    for (int32_t i = 0; i < p->size; ++i) {
        int32_t d;
        int saturated;
        uint32_t r = pm_sigmoid16_interp(p, in[i], 9, &d, &saturated);
        if (saturated) {
            r = 0x7FFFu << 10;
        }
        r = d >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u;
        out[i] = (int16_t)(r >> 10);
    }
    return PM_OK;
}
