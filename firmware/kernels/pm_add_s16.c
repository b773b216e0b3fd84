/* 16x8 ADD: TFLM's AddGeneralParamScale for int16 (the int8 arithmetic with a left shift of 15).
 * Element i is read before it is written, so output may alias either input (in-place plan). */
#include "pm_kernels.h"
#include "pm_requant.h"

int pm_add_s16(const pm_add_params_t *p, const void *input1, const void *input2, void *output)
{
    if (p == NULL || input1 == NULL || input2 == NULL || output == NULL) {
        return PM_ERR_ARG;
    }
    const int16_t *a = (const int16_t *)input1;
    const int16_t *b = (const int16_t *)input2;
    int16_t *out = (int16_t *)output;
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t sa = pm_mbqm((p->input1_offset + a[i]) * (1 << p->left_shift), p->input1_multiplier, p->input1_shift);
        const int32_t sb = pm_mbqm((p->input2_offset + b[i]) * (1 << p->left_shift), p->input2_multiplier, p->input2_shift);
        const int32_t y = pm_mbqm(pm_add_wrap(sa, sb), p->output_multiplier, p->output_shift) + p->output_offset;
        out[i] = (int16_t)pm_clamp(y, p->act_min, p->act_max);
    }
    return PM_OK;
}
