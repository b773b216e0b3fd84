/* pm_conv2d_packed_add_s8 on 2-bit packed weights (pm_conv2d_packed2_s8's layout). */
#include "pm_conv_packed.h"

int pm_conv2d_packed2_add_s8(const pm_conv_packed_add_params_t *p, const int8_t *input, const int8_t *residual,
                             int8_t *output)
{
    return pm_packed_add_run(p, input, residual, output, PM_W2);
}
