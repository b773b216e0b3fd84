/* Pixel embedding folded into the first conv: per (tap, channel) one int16 row of the partial sums of
 * the output channels for each pixel value, summed two lanes at a time with SADD16. No multiplies.
 * The generator (pixmcu/first_layer/tables.py) proves that no lane leaves int16 within
 * `widen_every` lookups (0: within a whole window), so wrapping lanes still sum exactly.
 * Table layout: [out_c / NB][k_h*k_w*in_c][256][NB], NB from pm_fl_block(out_c). */
#include "pm_first_folded_rows.h"

PM_FL_DEFINE_SUM16(sum16, uint8_t)
PM_FL_DEFINE_SUM8(sum8, uint8_t)
PM_FL_DEFINE_SUM_GENERIC(sum_generic, uint8_t)

void pm_first_folded_s16(const pm_first_geom_t *g, const uint8_t *pixels, const int16_t *tables,
                         int32_t widen_every, const pm_first_requant_t *rq, int8_t *out)
{
    const int32_t c = g->in_c, co = g->out_c, kw = g->k_w, nb = pm_fl_block(co);
    const int32_t lookups = (int32_t)g->k_h * kw * c;
    const int32_t lookup_stride = 256 * nb, block_stride = lookups * lookup_stride;
    const int32_t in_row = g->in_w * c, t_row = kw * c * lookup_stride;
    const int fast = (widen_every <= 0 || widen_every >= lookups) && nb % 8 == 0;
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        int32_t ky0, ky1;
        pm_fl_clip(oy, g->stride_h, g->pad_h, g->k_h, g->in_h, &ky0, &ky1);
        for (int32_t ox = 0; ox < g->out_w; ++ox, out += co) {
            int32_t kx0, kx1;
            pm_fl_clip(ox, g->stride_w, g->pad_w, kw, g->in_w, &kx0, &kx1);
            const int32_t iy = oy * g->stride_h - g->pad_h + ky0, ix = ox * g->stride_w - g->pad_w + kx0;
            const uint8_t *p0 = pixels + (iy * g->in_w + ix) * c;
            const int16_t *t0 = tables + (ky0 * kw + kx0) * c * lookup_stride;
            const int32_t rows = ky1 - ky0, n = (kx1 - kx0) * c;
            if (fast) {
                for (int32_t b = 0; b < co; b += nb, t0 += block_stride) {
                    uint32_t lanes[8];
                    if (nb == 16) {
                        sum16(p0, in_row, rows, n, (const pm_fl_u32a_t *)t0, t_row / 2, lookup_stride / 2, lanes);
                    } else {
                        sum8(p0, in_row, rows, n, (const pm_fl_u32a_t *)t0, t_row / 2, lookup_stride / 2, lanes);
                    }
                    pm_fl_requant_pairs(lanes, nb / 2, rq, b, out);
                }
            } else {
                int32_t acc[PM_FL_MAX_BLOCK];
                for (int32_t b = 0; b < co; b += nb, t0 += block_stride) {
                    memcpy(acc, rq->bias + b, sizeof(int32_t) * (size_t)nb);
                    sum_generic(p0, in_row, rows, n, t0, t_row, lookup_stride, nb, widen_every, acc);
                    for (int32_t o = 0; o < nb; ++o) {
                        out[b + o] = pm_fl_requant(acc[o], rq, b + o);
                    }
                }
            }
        }
    }
}
