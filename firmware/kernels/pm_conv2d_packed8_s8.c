/* Convolution on generator-packed int8 weights (input channels a multiple of 4, dilation 1): half
 * the flash of pm_conv2d_packed_s8, the weights widened in the kernel with SXTB16. */
#include "pm_conv_packed.h"

int pm_conv2d_packed8_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *output)
{
    const int status = pm_packed_check(p, input, output);
    if (status != PM_OK) {
        return status;
    }
    PM_PACKED_DISPATCH_W(p, input, output, 1);
    return PM_OK;
}
