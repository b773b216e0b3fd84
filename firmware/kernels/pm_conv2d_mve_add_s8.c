/* Helium convolution fused with the residual ADD that is its only consumer (see
 * pm_conv2d_packed_add_s8.c for the tabulated addition). The sum may be written over the residual.
 * Scratch: one window then one pixel's convolution outputs (pm_conv2d_mve_add_s8_scratch_size). */
#include "pm_conv_mve.h"

int32_t pm_conv2d_mve_add_s8_scratch_size(const pm_conv_mve_add_params_t *p)
{
    return p->conv.filter.h * p->conv.filter.w * p->conv.input.c + p->conv.output.c;
}

int pm_conv2d_mve_add_s8(const pm_conv_mve_add_params_t *p, const int8_t *input, const int8_t *residual,
                         int8_t *scratch, int8_t *output)
{
    if (p == NULL || residual == NULL || p->conv_table == NULL || p->residual_table == NULL || p->requant == NULL) {
        return PM_ERR_ARG;
    }
    const int status = pm_mve_check(&p->conv, input, scratch, output);
    if (status != PM_OK) {
        return status;
    }
    /* The ADD's output record (pm_requant_fast.h: short {m, right - 1} or long {m, left, right, mask}). */
    const int32_t right = p->short_requant ? p->requant[1] + 1 : p->requant[2];
    const pm_mve_add_t add = {
        .conv_table = p->conv_table, .residual_table = p->residual_table, .multiplier = p->requant[0],
        .left = p->short_requant ? 0 : p->requant[1], .neg_right = -right, .offset = p->output_offset,
        .lo = p->act_min, .hi = p->act_max,
    };
    if (p->conv.right_only) {
        pm_mve_body(&p->conv, input, &add, residual, scratch, output, 1);
    } else {
        pm_mve_body(&p->conv, input, &add, residual, scratch, output, 0);
    }
    return PM_OK;
}
