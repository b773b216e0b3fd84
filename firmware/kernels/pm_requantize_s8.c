/* TFLite QUANTIZE between int8 and uint8: TFLM's reference Requantize.
 * Element i is read before it is written, so output may alias input (in-place plan). */
#include "pm_kernels.h"
#include "pm_requant.h"

int pm_requantize_s8(const pm_requant_params_t *p, const void *input, void *output)
{
    if (p == NULL || input == NULL || output == NULL) {
        return PM_ERR_ARG;
    }
    const int8_t *in_s = (const int8_t *)input;
    const uint8_t *in_u = (const uint8_t *)input;
    int8_t *out_s = (int8_t *)output;
    uint8_t *out_u = (uint8_t *)output;
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = (p->input_unsigned ? (int32_t)in_u[i] : (int32_t)in_s[i]) - p->input_zero_point;
        const int32_t q = pm_clamp(pm_mbqm(v, p->multiplier, p->shift) + p->output_zero_point, p->out_min, p->out_max);
        if (p->output_unsigned) {
            out_u[i] = (uint8_t)q;
        } else {
            out_s[i] = (int8_t)q;
        }
    }
    return PM_OK;
}
