/* TFLM's int8 MUL (reference_integer_ops::Mul / BroadcastMul6DSlow). */
#include "pm_broadcast.h"
#include "pm_requant.h"

int pm_mul_s8(const pm_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (!pm_binary_args_ok(p, input1, input2, output)) {
        return PM_ERR_ARG;
    }
    pm_bcast_iter_t it;
    pm_bcast_start(&it);
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t a = p->input1_offset + input1[it.off1];
        const int32_t b = p->input2_offset + input2[it.off2];
        const int32_t y = p->output_offset + pm_mbqm(a * b, p->output_multiplier, p->output_shift);
        output[i] = (int8_t)pm_clamp(y, p->act_min, p->act_max);
        pm_bcast_next(&it, p);
    }
    return PM_OK;
}
