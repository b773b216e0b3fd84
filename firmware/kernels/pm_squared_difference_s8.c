/* TFLM's int8 SQUARED_DIFFERENCE: both inputs rescaled to a common scale (left shift 7), the
 * difference squared (at most 2^30, no overflow), then rescaled to the output. */
#include "pm_broadcast.h"

int pm_squared_difference_s8(const pm_binary_params_t *p, const int8_t *input1, const int8_t *input2,
                             int8_t *output)
{
    if (!pm_binary_args_ok(p, input1, input2, output)) {
        return PM_ERR_ARG;
    }
    pm_bcast_iter_t it;
    pm_bcast_start(&it);
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t d = pm_rescaled_difference(p, input1[it.off1], input2[it.off2]);
        const int32_t y = pm_mbqm(d * d, p->output_multiplier, p->output_shift) + p->output_offset;
        output[i] = (int8_t)pm_clamp(y, p->act_min, p->act_max);
        pm_bcast_next(&it, p);
    }
    return PM_OK;
}
