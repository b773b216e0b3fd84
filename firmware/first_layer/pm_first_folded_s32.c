/* Pixel embedding folded into the first conv with int32 rows: the fallback when the weights make
 * int16 partial sums unsafe even for a single lookup. */
#include "pm_first_common.h"

#define PM_FL_MAX_OUT_C 256

void pm_first_folded_s32(const pm_first_geom_t *g, const uint8_t *pixels, const int32_t *tables,
                         const pm_first_requant_t *rq, int8_t *out)
{
    const int32_t c = g->in_c, co = g->out_c, kw = g->k_w;
    const int32_t tap_stride = 256 * co;
    int32_t acc[PM_FL_MAX_OUT_C];
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        int32_t ky0, ky1;
        pm_fl_clip(oy, g->stride_h, g->pad_h, g->k_h, g->in_h, &ky0, &ky1);
        for (int32_t ox = 0; ox < g->out_w; ++ox) {
            int32_t kx0, kx1;
            pm_fl_clip(ox, g->stride_w, g->pad_w, kw, g->in_w, &kx0, &kx1);
            const int32_t iy = oy * g->stride_h - g->pad_h + ky0, ix = ox * g->stride_w - g->pad_w + kx0;
            const int32_t n = (kx1 - kx0) * c;
            for (int32_t o = 0; o < co; ++o) {
                acc[o] = rq->bias[o];
            }
            for (int32_t ky = ky0; ky < ky1; ++ky) {
                const uint8_t *p = pixels + ((iy + ky - ky0) * g->in_w + ix) * c;
                const int32_t *t = tables + (ky * kw + kx0) * c * tap_stride;
                for (int32_t j = 0; j < n; ++j, t += tap_stride) {
                    const int32_t *row = t + (int32_t)p[j] * co;
                    for (int32_t o = 0; o < co; ++o) {
                        acc[o] = (int32_t)((uint32_t)acc[o] + (uint32_t)row[o]);
                    }
                }
            }
            for (int32_t o = 0; o < co; ++o) {
                out[o] = pm_fl_requant(acc[o], rq, o);
            }
            out += co;
        }
    }
}
