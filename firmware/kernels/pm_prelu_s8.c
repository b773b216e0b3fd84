/* TFLM's int8 PRELU (BroadcastPrelu4DSlow): x >= 0 is rescaled alone, x < 0 multiplied by alpha first. */
#include "pm_broadcast.h"
#include "pm_requant.h"

int pm_prelu_s8(const pm_binary_params_t *p, const int8_t *input, const int8_t *alpha, int8_t *output)
{
    if (!pm_binary_args_ok(p, input, alpha, output)) {
        return PM_ERR_ARG;
    }
    pm_bcast_iter_t it;
    pm_bcast_start(&it);
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t x = p->input1_offset + input[it.off1];
        int32_t y;
        if (x >= 0) {
            y = pm_mbqm(x, p->input1_multiplier, p->input1_shift);
        } else {
            const int32_t a = p->input2_offset + alpha[it.off2];
            y = pm_mbqm(x * a, p->output_multiplier, p->output_shift);
        }
        output[i] = (int8_t)pm_clamp(y + p->output_offset, -128, 127);
        pm_bcast_next(&it, p);
    }
    return PM_OK;
}
