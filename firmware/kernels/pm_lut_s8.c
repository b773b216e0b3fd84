/* Element-wise int8 activations by table: TFLM's fixed-point result for each of the 256 values is
 * computed at generate time, so any int8 -> int8 function costs one load per element.
 * Element i is read before it is written, so output may alias input (in-place plan). */
#include "pm_kernels.h"

int pm_lut_s8(const pm_lut_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == NULL || p->table == NULL || input == NULL || output == NULL || p->size < 0) {
        return PM_ERR_ARG;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = p->table[(uint8_t)input[i]];
    }
    return PM_OK;
}
