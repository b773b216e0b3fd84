/* Joint-channel folded table for binned embeddings: every channel of a pixel is binned to K levels,
 * and the joint bin (K^in_c values) picks one int16 row of the output channels' partial sums per tap:
 * one lookup per tap instead of one per (tap, channel).
 *
 * A first pass turns each pixel into the element offset of its joint row, stored transposed and
 * padded (column x of the padded image is contiguous; padding points at an all-zero table row). Per
 * output row, the k_h entries of each column are copied into a band (entry (x, r) at x*k_h + r): every
 * window is then k_h*k_w consecutive entries, border windows included, in the table's tap order
 * (kx-major), and a whole output row is one run of the asm window loop.
 * Table layout: [out_c/NB][n_joint + 1][k_w][k_h][NB], row n_joint all zeros, NB from pm_fl_block(). */
#include "pm_first_folded_rows.h"

PM_FL_DEFINE_SUM16(sum16, uint32_t, "ldr %[v], [%[p]], #4", "add %[v], %[tt], %[v], lsl #1", 32, 1)
PM_FL_DEFINE_SUM8(sum8, uint32_t, "ldr %[v], [%[p]], #4", "add %[v], %[tt], %[v], lsl #1", 16, 1)
PM_FL_DEFINE_SUM_GENERIC(sum_generic, uint32_t)
#if PM_FL_ROWS_ASM
PM_FL_DEFINE_RUN16_RQ(run16_rq, "ldr %[v], [%[p]], #4", "add %[v], %[tt], %[v], lsl #1", 32)
PM_FL_DEFINE_RUN8_RQ(run8_rq, "ldr %[v], [%[p]], #4", "add %[v], %[tt], %[v], lsl #1", 16)
#endif

void pm_first_joint_s16(const pm_first_geom_t *g, const uint8_t *pixels, const uint32_t *bin_offset,
                        const int16_t *tables, int32_t n_joint, int32_t widen_every, const int16_t *lane_bias,
                        const pm_first_requant_t *rq, uint32_t *scratch, int8_t *out)
{
    static const uint32_t zero_lanes[8];
    const int32_t c = g->in_c, co = g->out_c, kw = g->k_w, kh = g->k_h, nb = pm_fl_block(co);
    /* The pad_w/pad_h offsets below assume padding before is less than the kernel (TFLite's SAME). */
    const int32_t taps = kh * kw, sw = g->stride_w, in_w = g->in_w, in_h = g->in_h;
    const int32_t block_stride = (n_joint + 1) * taps * nb;
    const uint32_t zero = (uint32_t)(n_joint * taps * nb);
    const int32_t wb = (g->out_w - 1) * sw + kw;                 /* padded width the windows cover */
    const int32_t hp = (g->out_h - 1) * g->stride_h + kh;        /* padded height */
    uint32_t *qt = scratch, *band = scratch + wb * hp;
    for (int32_t i = 0; i < wb * hp; ++i) {
        qt[i] = zero;
    }
    const int32_t x_end = in_w < wb - g->pad_w ? in_w : wb - g->pad_w;
    const int32_t y_end = in_h < hp - g->pad_h ? in_h : hp - g->pad_h;
    for (int32_t y = 0; y < y_end; ++y) {
        const uint8_t *px = pixels + y * in_w * c;
        uint32_t *dst = qt + g->pad_w * hp + g->pad_h + y;
        if (c == 3) {
            const uint32_t *b0 = bin_offset, *b1 = bin_offset + 256, *b2 = bin_offset + 512;
            for (int32_t x = 0; x < x_end; ++x, px += 3, dst += hp) {
                *dst = b0[px[0]] + b1[px[1]] + b2[px[2]];
            }
        } else {
            for (int32_t x = 0; x < x_end; ++x, dst += hp) {
                uint32_t sum = 0;
                for (int32_t ch = 0; ch < c; ++ch) {
                    sum += bin_offset[ch * 256 + *px++];
                }
                *dst = sum;
            }
        }
    }
    pm_fl_frq_t frq[PM_FL_FRQ_MAX_C];
    const int with_bias = lane_bias == NULL;
    const int short_ok = pm_fl_frq_prepare(rq, co, 32768, with_bias, frq);
    const int no_widen = widen_every <= 0 || widen_every >= taps;
    for (int32_t oy = 0; oy < g->out_h; ++oy, out += g->out_w * co) {
        const uint32_t *col = qt + oy * g->stride_h;
        uint32_t *bp = band;
        if (kh == 3) {
            for (int32_t x = 0; x < wb; ++x, col += hp, bp += 3) {
                const uint32_t e0 = col[0], e1 = col[1], e2 = col[2];
                bp[0] = e0, bp[1] = e1, bp[2] = e2;
            }
        } else {
            for (int32_t x = 0; x < wb; ++x, col += hp) {
                for (int32_t r = 0; r < kh; ++r) {
                    *bp++ = col[r];
                }
            }
        }
#if PM_FL_ROWS_ASM
        if (no_widen && nb % 8 == 0 && short_ok && rq->act_min == -128 && rq->act_max == 127 && !with_bias) {
            for (int32_t b = 0; b < co; b += nb) {
                pm_fl_run_t run = {band, (const uint8_t *)(tables + (b / nb) * block_stride),
                                   (const uint32_t *)(const void *)(lane_bias + b), frq + b, out + b, 1, co,
                                   sw * kh * 4, g->out_w};
                if (nb == 16) {
                    run16_rq(&run, taps, 0, 4, 0);
                } else {
                    run8_rq(&run, taps, 0, 4, 0);
                }
            }
            continue;
        }
#endif
        int8_t *o = out;
        for (int32_t ox = 0; ox < g->out_w; ++ox, o += co) {
            const uint32_t *win = band + ox * sw * kh;
            const int16_t *t0 = tables;
            for (int32_t b = 0; b < co; b += nb, t0 += block_stride) {
                if (no_widen && nb % 8 == 0) {
                    uint32_t lanes[8];
                    const uint32_t *init = with_bias ? zero_lanes : (const uint32_t *)(const void *)(lane_bias + b);
                    if (nb == 16) {
                        sum16(win, 0, 1, taps, (const uint8_t *)t0, 0, init, lanes);
                    } else {
                        sum8(win, 0, 1, taps, (const uint8_t *)t0, 0, init, lanes);
                    }
                    pm_fl_requant_lanes(lanes, nb / 2, short_ok, frq, rq, with_bias, b, o);
                } else {
                    int32_t acc[PM_FL_MAX_BLOCK];
                    memcpy(acc, rq->bias + b, sizeof(int32_t) * (size_t)nb);
                    sum_generic(win, 0, 1, taps, t0, 0, nb, 1, nb, widen_every, acc);
                    for (int32_t j = 0; j < nb; ++j) {
                        o[b + j] = pm_fl_requant(acc[j], rq, b + j);
                    }
                }
            }
        }
    }
}
