/* Packed-weight convolution for inputs whose channel count is not a multiple of 4 (an RGB first
 * layer): the input is first copied into scratch with its channels padded to a multiple of 4 (the
 * packed weights of the padding channels are zero), so the inner loop stays the four-byte one. */
#include <string.h>

#include "pm_conv_packed.h"

int32_t pm_conv2d_packed_pad_s8_scratch_size(const pm_conv_packed_params_t *p)
{
    const int32_t c4 = (p->input.c + 3) & ~3;
    return p->input.n * p->input.h * p->input.w * c4;
}

int pm_conv2d_packed_pad_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output)
{
    if (p == NULL || scratch == NULL || p->input.c < 1 || p->filter.c != p->input.c) {
        return PM_ERR_ARG;
    }
    pm_conv_packed_params_t q = *p;
    const int32_t c = p->input.c;
    q.input.c = (c + 3) & ~3;
    q.filter.c = q.input.c;
    const int status = pm_packed_check(&q, input, output);
    if (status != PM_OK) {
        return status;
    }
    const int32_t pixels = p->input.n * p->input.h * p->input.w;
    int8_t *dst = scratch;
    for (int32_t i = 0; i < pixels; ++i) {
        int32_t k = 0;
        for (; k < c; ++k) {
            dst[k] = *input++;
        }
        for (; k < q.input.c; ++k) {
            dst[k] = 0;
        }
        dst += q.input.c;
    }
    PM_PACKED_DISPATCH(&q, scratch, output);
    return PM_OK;
}
