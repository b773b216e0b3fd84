/* TFLite QUANTIZE between int8 and int16 (either way, or int16 to int16): TFLM's reference
 * Requantize. Element i is read before it is written; output may alias input when the widths match. */
#include "pm_kernels.h"
#include "pm_requant.h"

int pm_requantize_s16(const pm_requant16_params_t *p, const void *input, void *output)
{
    if (p == NULL || input == NULL || output == NULL || (p->input_bytes != 1 && p->input_bytes != 2) ||
        (p->output_bytes != 1 && p->output_bytes != 2)) {
        return PM_ERR_ARG;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t x = p->input_bytes == 1 ? ((const int8_t *)input)[i] : ((const int16_t *)input)[i];
        const int32_t q = pm_clamp(pm_mbqm(x - p->input_zero_point, p->multiplier, p->shift) + p->output_zero_point,
                                   p->out_min, p->out_max);
        if (p->output_bytes == 1) {
            ((int8_t *)output)[i] = (int8_t)q;
        } else {
            ((int16_t *)output)[i] = (int16_t)q;
        }
    }
    return PM_OK;
}
