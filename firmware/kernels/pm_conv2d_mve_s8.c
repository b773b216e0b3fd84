/* Convolution with Helium VMLADAVA.S8 on int8 weights (dilation 1); plain C off the M55. */
#include "pm_conv_mve.h"

int pm_conv2d_mve_s8(const pm_conv_mve_params_t *p, const int8_t *input, int8_t *output)
{
    const int status = pm_mve_check(p, input, output);
    if (status != PM_OK) {
        return status;
    }
    if (p->short_requant && pm_packed_sat8(p->act_min, p->act_max)) {
        pm_mve_body(p, input, NULL, NULL, output, 1, 1, 0);
    } else if (p->short_requant) {
        pm_mve_body(p, input, NULL, NULL, output, 1, 0, 0);
    } else {
        pm_mve_body(p, input, NULL, NULL, output, 0, 0, 0);
    }
    return PM_OK;
}
