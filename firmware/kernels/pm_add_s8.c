/* Element-wise int8 addition with two input scales: TFLM's reference AddElementwise.
 * Each element is read before it is written, so output may alias either input (in-place plan). */
#include "pm_kernels.h"
#include "pm_requant.h"

int pm_add_s8(const pm_add_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (p == NULL || input1 == NULL || input2 == NULL || output == NULL || p->left_shift < 0 ||
        p->left_shift > 30) {
        return PM_ERR_ARG;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t a = pm_shl_wrap((int32_t)input1[i] + p->input1_offset, p->left_shift);
        const int32_t b = pm_shl_wrap((int32_t)input2[i] + p->input2_offset, p->left_shift);
        const int32_t sa = pm_mbqm(a, p->input1_multiplier, p->input1_shift);
        const int32_t sb = pm_mbqm(b, p->input2_multiplier, p->input2_shift);
        const int32_t raw = pm_mbqm(pm_add_wrap(sa, sb), p->output_multiplier, p->output_shift) + p->output_offset;
        output[i] = (int8_t)pm_clamp(raw, p->act_min, p->act_max);
    }
    return PM_OK;
}
