/* pm_conv2d_packed4_add_s8 on packed 4-bit tensors (pm_act4.h), one output row per call (pm_act4_conv.h):
 * the residual row is unpacked into scratch before the row is written, so the sum may be stored over the
 * residual even where it is stored smaller (a packed sum over an int8 residual). */
#include "pm_act4_conv.h"

int32_t pm_conv2d_packed4_add_a4_scratch_size(const pm_conv_add_a4_params_t *p)
{
    return pm_a4_conv_add_scratch(p);
}

int pm_conv2d_packed4_add_a4(const pm_conv_add_a4_params_t *p, const int8_t *input, const int8_t *residual,
                             int8_t *scratch, int8_t *output)
{
    return pm_a4_conv_add_run(p, input, residual, scratch, output, PM_W4);
}
