/* pm_conv2d_packed2_s8 on packed 4-bit activations: pm_conv2d_packed4_a4 on 2-bit weights (pm_act4_conv.h). */
#include "pm_act4_conv.h"

int32_t pm_conv2d_packed2_a4_scratch_size(const pm_conv_a4_params_t *p)
{
    return pm_a4_conv_scratch(p);
}

int pm_conv2d_packed2_a4(const pm_conv_a4_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output)
{
    return pm_a4_conv_run(p, input, scratch, output, PM_W2);
}
