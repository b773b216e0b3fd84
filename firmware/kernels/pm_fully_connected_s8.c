/* Fully connected int8 layer: TFLM's reference FullyConnected, DSP inner loop where available. */
#include "pm_dsp.h"
#include "pm_kernels.h"
#include "pm_requant.h"

int pm_fully_connected_s8(const pm_fc_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL || p->weights == NULL || p->multiplier == NULL ||
        p->shift == NULL) {
        return PM_ERR_ARG;
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * p->depth;
        for (int32_t u = 0; u < p->units; ++u) {
            int32_t acc = pm_dot_offset_dsp(x, p->weights + (size_t)u * p->depth, p->depth, p->input_offset, 0);
            if (p->bias != NULL) {
                acc = pm_add_wrap(acc, p->bias[u]);
            }
            acc = pm_mbqm(acc, p->multiplier[u], p->shift[u]) + p->output_offset;
            *output++ = (int8_t)pm_clamp(acc, p->act_min, p->act_max);
        }
    }
    return PM_OK;
}
