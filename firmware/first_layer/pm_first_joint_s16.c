/* Joint-channel folded table for binned embeddings: every channel of a pixel is binned to K levels,
 * and the joint bin (K^in_c values) picks one int16 row of the output channels' partial sums per tap:
 * one lookup per tap instead of one per (tap, channel). A first pass turns each pixel into its joint
 * row, so the window loop reads one halfword per tap.
 * Table layout: [out_c / NB][k_h*k_w][n_joint][NB], NB from pm_fl_block(out_c). */
#include "pm_first_folded_rows.h"

PM_FL_DEFINE_SUM16(sum16, uint16_t)
PM_FL_DEFINE_SUM8(sum8, uint16_t)
PM_FL_DEFINE_SUM_GENERIC(sum_generic, uint16_t)

void pm_first_joint_s16(const pm_first_geom_t *g, const uint8_t *pixels, const uint16_t *bin_offset,
                        const int16_t *tables, int32_t n_joint, int32_t widen_every,
                        const pm_first_requant_t *rq, uint16_t *scratch, int8_t *out)
{
    const int32_t c = g->in_c, co = g->out_c, kw = g->k_w, nb = pm_fl_block(co);
    const int32_t npix = (int32_t)g->in_h * g->in_w;
    if (c == 3) {
        const uint16_t *b0 = bin_offset, *b1 = bin_offset + 256, *b2 = bin_offset + 512;
        for (int32_t i = 0; i < npix; ++i, pixels += 3) {
            scratch[i] = (uint16_t)(b0[pixels[0]] + b1[pixels[1]] + b2[pixels[2]]);
        }
    } else {
        for (int32_t i = 0; i < npix; ++i) {
            uint32_t s = 0;
            for (int32_t ch = 0; ch < c; ++ch) {
                s += bin_offset[ch * 256 + *pixels++];
            }
            scratch[i] = (uint16_t)s;
        }
    }
    const int32_t taps = (int32_t)g->k_h * kw;
    const int32_t lookup_stride = n_joint * nb, block_stride = taps * lookup_stride;
    const int32_t t_row = kw * lookup_stride;
    const int fast = (widen_every <= 0 || widen_every >= taps) && nb % 8 == 0;
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        int32_t ky0, ky1;
        pm_fl_clip(oy, g->stride_h, g->pad_h, g->k_h, g->in_h, &ky0, &ky1);
        for (int32_t ox = 0; ox < g->out_w; ++ox, out += co) {
            int32_t kx0, kx1;
            pm_fl_clip(ox, g->stride_w, g->pad_w, kw, g->in_w, &kx0, &kx1);
            const int32_t iy = oy * g->stride_h - g->pad_h + ky0, ix = ox * g->stride_w - g->pad_w + kx0;
            const uint16_t *q0 = scratch + iy * g->in_w + ix;
            const int16_t *t0 = tables + (ky0 * kw + kx0) * lookup_stride;
            const int32_t rows = ky1 - ky0, n = kx1 - kx0;
            if (fast) {
                for (int32_t b = 0; b < co; b += nb, t0 += block_stride) {
                    uint32_t lanes[8];
                    if (nb == 16) {
                        sum16(q0, g->in_w, rows, n, (const pm_fl_u32a_t *)t0, t_row / 2, lookup_stride / 2, lanes);
                    } else {
                        sum8(q0, g->in_w, rows, n, (const pm_fl_u32a_t *)t0, t_row / 2, lookup_stride / 2, lanes);
                    }
                    pm_fl_requant_pairs(lanes, nb / 2, rq, b, out);
                }
            } else {
                int32_t acc[PM_FL_MAX_BLOCK];
                for (int32_t b = 0; b < co; b += nb, t0 += block_stride) {
                    memcpy(acc, rq->bias + b, sizeof(int32_t) * (size_t)nb);
                    sum_generic(q0, g->in_w, rows, n, t0, t_row, lookup_stride, nb, widen_every, acc);
                    for (int32_t o = 0; o < nb; ++o) {
                        out[b + o] = pm_fl_requant(acc[o], rq, b + o);
                    }
                }
            }
        }
    }
}
