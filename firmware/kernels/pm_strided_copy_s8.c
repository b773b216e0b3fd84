/* Data movement with TFLM's TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V and UNPACK semantics:
 * the output is written in order while the input offset follows per-dimension strides (permuted for
 * a transpose, scaled by the step for a slice; an odometer, no division per element). */
#include "pm_kernels.h"

int pm_strided_copy_s8(const pm_strided_copy_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == NULL || p->shape == NULL || p->strides == NULL || input == NULL || output == NULL || p->size < 0) {
        return PM_ERR_ARG;
    }
    int32_t idx[PM_MAX_RANK] = {0};
    int32_t off = p->offset;
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = input[off];
        for (int d = PM_MAX_RANK - 1; d >= 0; --d) {
            off += p->strides[d];
            if (++idx[d] < p->shape[d]) {
                break;
            }
            off -= p->strides[d] * p->shape[d];
            idx[d] = 0;
        }
    }
    return PM_OK;
}
