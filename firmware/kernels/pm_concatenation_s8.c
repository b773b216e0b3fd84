/* Concatenation along one axis: TFLM copies each input's block per outer index, bytes unscaled. */
#include <string.h>

#include "pm_kernels.h"

int pm_concatenation_s8(const pm_concat_params_t *p, const int8_t *const *inputs, int8_t *output)
{
    if (p == NULL || inputs == NULL || output == NULL || p->copy_bytes == NULL) {
        return PM_ERR_ARG;
    }
    for (int32_t o = 0; o < p->outer; ++o) {
        for (int32_t i = 0; i < p->num_inputs; ++i) {
            const int32_t n = p->copy_bytes[i];
            memcpy(output, inputs[i] + (size_t)o * n, (size_t)n);
            output += n;
        }
    }
    return PM_OK;
}
