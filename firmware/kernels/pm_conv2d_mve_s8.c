/* Convolution with Helium VMLADAVA.S8 on int8 weights (dilation 1); plain C off the M55. */
#include "pm_conv_mve.h"

int32_t pm_conv2d_mve_s8_scratch_size(const pm_conv_mve_params_t *p)
{
    return p->filter.h * p->filter.w * p->input.c;
}

int pm_conv2d_mve_s8(const pm_conv_mve_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output)
{
    const int status = pm_mve_check(p, input, scratch, output);
    if (status != PM_OK) {
        return status;
    }
    if (p->right_only) {
        pm_mve_body(p, input, NULL, NULL, scratch, output, 1);
    } else {
        pm_mve_body(p, input, NULL, NULL, scratch, output, 0);
    }
    return PM_OK;
}
