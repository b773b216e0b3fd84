/* 16x8 fully connected layer: TFLM's reference FullyConnected for int16 (int64 accumulators). */
#include "pm_kernels.h"
#include "pm_requant16.h"

int pm_fully_connected_s16(const pm_fc_s16_params_t *p16, const void *input, void *output)
{
    const pm_fc_params_t *p = &p16->fc;
    if (input == NULL || output == NULL || p->weights == NULL || p->multiplier == NULL || p->shift == NULL) {
        return PM_ERR_ARG;
    }
    const int16_t *in = (const int16_t *)input;
    int16_t *out = (int16_t *)output;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *x = in + (size_t)b * p->depth;
        for (int32_t u = 0; u < p->units; ++u) {
            const int8_t *w = p->weights + (size_t)u * p->depth;
            int64_t acc = 0;
            for (int32_t i = 0; i < p->depth; ++i) {
                acc += (int32_t)w[i] * (int32_t)x[i];
            }
            if (p16->bias != NULL) {
                acc += p16->bias[u];
            }
            *out++ = pm_out16(acc, p->multiplier[u], p->shift[u], p->output_offset, p->act_min, p->act_max);
        }
    }
    return PM_OK;
}
