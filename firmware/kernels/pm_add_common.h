/* Private to the kernels: one element of TFLM's int8 AddElementwise. */
#ifndef PM_ADD_COMMON_H
#define PM_ADD_COMMON_H

#include "pm_kernels.h"
#include "pm_requant.h"

static inline int8_t pm_add_one(const pm_add_params_t *p, int32_t x1, int32_t x2)
{
    const int32_t a = pm_shl_wrap(x1 + p->input1_offset, p->left_shift);
    const int32_t b = pm_shl_wrap(x2 + p->input2_offset, p->left_shift);
    const int32_t sa = pm_mbqm(a, p->input1_multiplier, p->input1_shift);
    const int32_t sb = pm_mbqm(b, p->input2_multiplier, p->input2_shift);
    const int32_t raw = pm_mbqm(pm_add_wrap(sa, sb), p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)pm_clamp(raw, p->act_min, p->act_max);
}

#endif /* PM_ADD_COMMON_H */
