/* Private to the 16x8 kernels: TFLite's 64-bit MultiplyByQuantizedMultiplier, which TFLM uses for
 * int64 accumulators: the multiplier reduced to 16 bits, then one rounding shift. */
#ifndef PM_REQUANT16_H
#define PM_REQUANT16_H

#include <stdint.h>

#include "pm_kernels.h"

static inline int32_t pm_mbqm64(int64_t x, int32_t multiplier, int32_t shift)
{
    const int64_t reduced = multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
    const int total = 15 - shift;
    /* |x| < 2^47 (TFLM's precondition) keeps the product inside int64; >> on a negative value is
     * arithmetic with every compiler pixmcu supports, as in TFLM. */
    return (int32_t)((x * reduced + ((int64_t)1 << (total - 1))) >> total);
}

static inline int16_t pm_out16(int64_t acc, int32_t multiplier, int32_t shift, int32_t offset, int32_t lo, int32_t hi)
{
    int32_t v = pm_mbqm64(acc, multiplier, shift) + offset;
    v = v < lo ? lo : v;
    return (int16_t)(v > hi ? hi : v);
}

/* Argument checks shared by the 16x8 convolutions. */
static inline int pm_conv16_check(const pm_conv_params_t *p, const void *input, const void *output)
{
    if (input == NULL || output == NULL || p->weights == NULL || p->multiplier == NULL || p->shift == NULL ||
        p->stride_h < 1 || p->stride_w < 1 || p->dilation_h < 1 || p->dilation_w < 1) {
        return PM_ERR_ARG;
    }
    return p->input.n == p->output.n ? PM_OK : PM_ERR_SHAPE;
}

#endif /* PM_REQUANT16_H */
