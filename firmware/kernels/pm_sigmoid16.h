/* Private to the int16 LOGISTIC and TANH kernels: the rescaled input and the interpolated table. */
#ifndef PM_SIGMOID16_H
#define PM_SIGMOID16_H

#include "pm_kernels.h"

/* Rescaled input d (sign kept) and the interpolation of |d| with `frac_bits` fractional bits;
 * *saturated is set when |d| lies beyond the table. */
static inline uint32_t pm_sigmoid16_interp(const pm_sigmoid16_params_t *p, int16_t x, int frac_bits, int32_t *d,
                                           int *saturated)
{
    const int32_t ls = p->input_left_shift;
    const int32_t round = ls > 0 ? 1 << (ls - 1) : 0;
    *d = (int32_t)(((int64_t)x * p->input_multiplier + round) >> ls);
    const uint32_t a = (uint32_t)(*d < 0 ? -*d : *d);
    const uint32_t uh = a >> frac_bits;
    *saturated = uh >= 255;
    if (*saturated) {
        return 0;
    }
    const uint32_t ua = (uint32_t)p->table[uh];
    const uint32_t ub = (uint32_t)p->table[uh + 1];
    const uint32_t ut = a & ((1u << frac_bits) - 1u);
    return (ua << frac_bits) + ut * (ub - ua); /* unsigned wrap when ub < ua, as TFLM */
}

#endif /* PM_SIGMOID16_H */
