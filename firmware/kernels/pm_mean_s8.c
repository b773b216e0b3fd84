/* Mean over height and width (TFLM's QuantizedMeanOrSum for int8): the sum less count * input zero
 * point, rescaled by a multiplier into which pixmcu.lowering has folded 1/count, plus the output zero
 * point, saturated. No division on the device. */
#include "pm_kernels.h"
#include "pm_requant.h"

int pm_mean_s8(const pm_mean_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL || p->count < 1) {
        return PM_ERR_ARG;
    }
    const int32_t hw = p->input.h * p->input.w, c = p->input.c;
    if (hw != p->count) {
        return PM_ERR_SHAPE;
    }
    const int32_t zero_sum = (int32_t)((uint32_t)p->input_zero_point * (uint32_t)p->count);
    for (int32_t b = 0; b < p->input.n; ++b) {
        const int8_t *in_b = input + (size_t)b * hw * c;
        for (int32_t ch = 0; ch < c; ++ch) {
            int32_t acc = 0;
            for (int32_t i = 0; i < hw; ++i) {
                acc += in_b[(size_t)i * c + ch];
            }
            acc = pm_mbqm(pm_sub_wrap(acc, zero_sum), p->multiplier, p->shift);
            *output++ = (int8_t)pm_clamp(acc + p->output_zero_point, -128, 127);
        }
    }
    return PM_OK;
}
