/* Element-wise int8 addition with two input scales: TFLM's reference AddElementwise.
 * Each element is read before it is written, so output may alias either input (in-place plan). */
#include "pm_add_common.h"

int pm_add_s8(const pm_add_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (p == NULL || input1 == NULL || input2 == NULL || output == NULL || p->left_shift < 0 ||
        p->left_shift > 30) {
        return PM_ERR_ARG;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = pm_add_one(p, input1[i], input2[i]);
    }
    return PM_OK;
}
