/* Convolution on generator-packed 2-bit weights, four per byte (input channels a multiple of 4,
 * dilation 1): an eighth of the flash of pm_conv2d_packed_s8, the fields widened in registers. */
#include "pm_conv_packed.h"

int pm_conv2d_packed2_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *output)
{
    const int status = pm_packed_check(p, input, output);
    if (status != PM_OK) {
        return status;
    }
    PM_PACKED_DISPATCH_W(p, input, output, PM_W2);
    return PM_OK;
}
