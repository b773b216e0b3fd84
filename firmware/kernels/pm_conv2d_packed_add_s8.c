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
    return pm_packed_add_run(p, input, residual, output, 0);
}
