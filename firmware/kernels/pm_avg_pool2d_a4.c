/* Average pooling on packed 4-bit activations (pm_act4.h); TFLM's reference AveragePool on the values. */
#include "pm_act4_common.h"

int pm_avg_pool2d_a4(const pm_pool_a4_params_t *p, const int8_t *input, int8_t *output)
{
    return pm_pool_a4_body(p, input, output, 1);
}
