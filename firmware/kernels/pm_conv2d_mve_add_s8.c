/* Helium convolution fused with the residual ADD that is its only consumer (see
 * pm_conv2d_packed_add_s8.c for the tabulated addition). The sum may be written over the residual. */
#include "pm_conv_mve.h"

int pm_conv2d_mve_add_s8(const pm_conv_mve_add_params_t *p, const int8_t *input, const int8_t *residual,
                         int8_t *output)
{
    if (p == NULL || residual == NULL || p->conv_table == NULL || p->residual_table == NULL || p->requant == NULL) {
        return PM_ERR_ARG;
    }
    const pm_conv_mve_params_t *c = &p->conv;
    const int status = pm_mve_check(c, input, output);
    if (status != PM_OK) {
        return status;
    }
    if (c->short_requant && pm_packed_sat8(c->act_min, c->act_max) && p->short_requant &&
        pm_packed_sat8(p->act_min, p->act_max)) {
        pm_mve_body(c, input, p, residual, output, 1, 1, 1);
    } else if (c->short_requant) {  /* the records of the two paths differ: never mix them */
        pm_mve_body(c, input, p, residual, output, 1, 0, 0);
    } else {
        pm_mve_body(c, input, p, residual, output, 0, 0, 0);
    }
    return PM_OK;
}
