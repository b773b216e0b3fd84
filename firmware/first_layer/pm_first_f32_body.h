/* Private to firmware/first_layer: the float32 first layer, included by the VFMA and the VMUL+VADD
 * variants. Which instructions it becomes depends on the includer's floating-point contraction
 * setting: contracted, a*b+c is one VFMA (3 cycles on a Cortex-M4); not, a VMUL and a VADD (1 each). */
#ifndef PM_FIRST_F32_BODY_H
#define PM_FIRST_F32_BODY_H

#include "pm_first_common.h"

/* Eight output channels live in registers for a whole window (register blocking): each input value
 * is loaded once per block and each weight once per window. */
static void pm_fl_conv_f32_body(const pm_first_geom_t *g, const uint8_t *pixels, const float *norm_scale,
                                const float *norm_offset, const float *weights, const float *bias,
                                float *scratch, float *out)
{
    const int32_t c = g->in_c, co = g->out_c, kw = g->k_w;
    const int32_t npix = (int32_t)g->in_h * g->in_w;
    for (int32_t i = 0; i < npix; ++i) {
        for (int32_t ch = 0; ch < c; ++ch) {
            scratch[i * c + ch] = (float)pixels[i * c + ch] * norm_scale[ch] + norm_offset[ch];
        }
    }
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        int32_t ky0, ky1;
        pm_fl_clip(oy, g->stride_h, g->pad_h, g->k_h, g->in_h, &ky0, &ky1);
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            int32_t kx0, kx1;
            pm_fl_clip(ox, g->stride_w, g->pad_w, kw, g->in_w, &kx0, &kx1);
            const int32_t iy = oy * g->stride_h - g->pad_h, ix = ox * g->stride_w - g->pad_w;
            const int32_t n = (kx1 - kx0) * c;
            int32_t b = 0;
            for (; b + 8 <= co; b += 8) {
                float a0 = bias[b], a1 = bias[b + 1], a2 = bias[b + 2], a3 = bias[b + 3];
                float a4 = bias[b + 4], a5 = bias[b + 5], a6 = bias[b + 6], a7 = bias[b + 7];
                for (int32_t ky = ky0; ky < ky1; ++ky) {
                    const float *x = scratch + ((iy + ky) * g->in_w + ix + kx0) * c;
                    const float *w = weights + ((ky * kw + kx0) * c) * co + b;
                    for (int32_t j = 0; j < n; ++j, w += co) {
                        const float v = x[j];
                        a0 += v * w[0];
                        a1 += v * w[1];
                        a2 += v * w[2];
                        a3 += v * w[3];
                        a4 += v * w[4];
                        a5 += v * w[5];
                        a6 += v * w[6];
                        a7 += v * w[7];
                    }
                }
                float *o = out + (oy * g->out_w + ox) * co + b;
                o[0] = a0, o[1] = a1, o[2] = a2, o[3] = a3, o[4] = a4, o[5] = a5, o[6] = a6, o[7] = a7;
            }
            for (; b < co; ++b) {
                float a = bias[b];
                for (int32_t ky = ky0; ky < ky1; ++ky) {
                    const float *x = scratch + ((iy + ky) * g->in_w + ix + kx0) * c;
                    const float *w = weights + ((ky * kw + kx0) * c) * co + b;
                    for (int32_t j = 0; j < n; ++j, w += co) {
                        a += x[j] * w[0];
                    }
                }
                out[(oy * g->out_w + ox) * co + b] = a;
            }
        }
    }
}

#endif /* PM_FIRST_F32_BODY_H */
