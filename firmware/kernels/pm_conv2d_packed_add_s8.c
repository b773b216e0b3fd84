/* Packed-weight convolution fused with the residual ADD that is its only consumer.
 *
 * The convolution's int8 value goes straight into the addition, whose per-input rescaling was
 * tabulated at generate time (256 entries per input: (x + offset) << left_shift, requantized), so the
 * ADD costs two table loads and one requantization per element, and the convolution's output tensor
 * never exists. The sum may be written over the residual (each element is read first).
 */
#include "pm_conv_packed.h"

int pm_conv2d_packed_add_s8(const pm_conv_packed_add_params_t *p, const int8_t *input, const int8_t *residual,
                            int8_t *output)
{
    if (p == NULL || residual == NULL || p->conv_table == NULL || p->residual_table == NULL || p->requant == NULL) {
        return PM_ERR_ARG;
    }
    const int status = pm_packed_check(&p->conv, input, output);
    if (status != PM_OK) {
        return status;
    }
    const pm_conv_packed_params_t *c = &p->conv;
    /* The ResNet case gets its own instantiation; everything else the general one. */
    if (c->short_requant && pm_packed_sat8(c->act_min, c->act_max) && p->short_requant &&
        pm_packed_sat8(p->act_min, p->act_max)) {
        pm_packed_body(c, input, p, residual, output, 1, 1, 1);
    } else if (c->short_requant) {  /* the records of the two paths differ: never mix them */
        pm_packed_body(c, input, p, residual, output, 1, 0, 0);
    } else {
        pm_packed_body(c, input, p, residual, output, 0, 0, 0);
    }
    return PM_OK;
}
