/* Pointwise (1x1, no padding) convolution on 2-bit packed weights (pm_conv2d_packed2_s8's layout): each
 * input pixel is widened to int16 once into scratch, then assembly runs the blocks of four output channels. */
#include "pm_conv_packed.h"

int32_t pm_conv2d_packed2_1x1_s8_scratch_size(const pm_conv_packed_params_t *p)
{
    return pm_packed_1x1_scratch(p);
}

int pm_conv2d_packed2_1x1_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output)
{
    return pm_packed_1x1_run(p, input, scratch, output, PM_W2);
}
