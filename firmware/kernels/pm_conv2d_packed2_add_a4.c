/* pm_conv2d_packed2_add_s8 on packed 4-bit tensors: pm_conv2d_packed4_add_a4 on 2-bit weights (pm_act4_conv.h). */
#include "pm_act4_conv.h"

int32_t pm_conv2d_packed2_add_a4_scratch_size(const pm_conv_add_a4_params_t *p)
{
    return pm_a4_conv_add_scratch(p);
}

int pm_conv2d_packed2_add_a4(const pm_conv_add_a4_params_t *p, const int8_t *input, const int8_t *residual,
                             int8_t *scratch, int8_t *output)
{
    return pm_a4_conv_add_run(p, input, residual, scratch, output, PM_W2);
}
