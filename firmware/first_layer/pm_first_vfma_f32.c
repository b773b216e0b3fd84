/* Float32 first layer, multiply-adds fused into VFMA (the paper's floating-point baseline). */
#define PM_FL_F32_FMA 1
#pragma GCC optimize("fp-contract=fast")
#include "pm_first_f32_body.h"

void pm_first_vfma_f32(const pm_first_geom_t *g, const uint8_t *pixels, const float *norm_scale,
                       const float *norm_offset, const float *weights, const float *bias, float *scratch,
                       float *out)
{
    pm_fl_conv_f32_body(g, pixels, norm_scale, norm_offset, weights, bias, scratch, out);
}
