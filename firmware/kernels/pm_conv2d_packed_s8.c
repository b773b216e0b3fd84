/* Convolution on generator-packed int16 weights (input channels a multiple of 4, dilation 1). */
#include "pm_conv_packed.h"

int pm_conv2d_packed_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *output)
{
    const int status = pm_packed_check(p, input, output);
    if (status != PM_OK) {
        return status;
    }
    PM_PACKED_DISPATCH(p, input, output);
    return PM_OK;
}
