/* 16x8 MUL: TFLM's MulElementwise / BroadcastMul6DSlow for int16 (the int8 arithmetic, int16 ranges). */
#include "pm_broadcast.h"
#include "pm_requant.h"

int pm_mul_s16(const pm_binary_params_t *p, const void *input1, const void *input2, void *output)
{
    if (!pm_binary_args_ok(p, input1, input2, output)) {
        return PM_ERR_ARG;
    }
    const int16_t *a = (const int16_t *)input1;
    const int16_t *b = (const int16_t *)input2;
    int16_t *out = (int16_t *)output;
    pm_bcast_iter_t it;
    pm_bcast_start(&it);
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t x = p->input1_offset + a[it.off1];
        const int32_t y = p->input2_offset + b[it.off2];
        out[i] = (int16_t)pm_clamp(p->output_offset + pm_mbqm(x * y, p->output_multiplier, p->output_shift),
                                   p->act_min, p->act_max);
        pm_bcast_next(&it, p);
    }
    return PM_OK;
}
