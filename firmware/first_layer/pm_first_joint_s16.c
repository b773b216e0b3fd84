/* Joint-channel folded table for binned embeddings: every channel of a pixel is binned to K levels,
 * and the joint bin (K^in_c values) picks one int16 row of the output channels' partial sums per tap:
 * one lookup per tap instead of one per (tap, channel). A first pass turns each pixel into the
 * element offset of its joint row, so the window loop reads one word per tap.
 * Table layout: [out_c / NB][n_joint][k_h*k_w][NB], NB from pm_fl_block(out_c): the taps of one joint
 * row are adjacent, so stepping to the next tap is a constant NB. */
#include "pm_first_folded_rows.h"

PM_FL_DEFINE_SUM16(sum16, uint32_t, "ldr %[v], [%[p]], #4", "add %[v], %[tt], %[v], lsl #1", 32, 1)
PM_FL_DEFINE_SUM8(sum8, uint32_t, "ldr %[v], [%[p]], #4", "add %[v], %[tt], %[v], lsl #1", 16, 1)
PM_FL_DEFINE_SUM_GENERIC(sum_generic, uint32_t)
#if PM_FL_ROWS_ASM
PM_FL_DEFINE_WINDOW16_RQ(window16_rq, uint32_t, "ldr %[v], [%[p]], #4", "add %[v], %[tt], %[v], lsl #1", 32)
PM_FL_DEFINE_RUN16_RQ(run16_rq, "ldr %[v], [%[p]], #4", "add %[v], %[tt], %[v], lsl #1", 32)
#endif

/* The common case, kept free of per-pixel dispatch: 16-channel blocks, no widening, the short
 * requantization and no fused activation. Interior windows of a row go to the asm in one run. */
static void joint16_fast(const pm_first_geom_t *g, const uint32_t *rows_of, const int16_t *tables, int32_t n_joint,
                         const int16_t *lane_bias, const pm_fl_frq_t *frq, const pm_first_requant_t *rq, int8_t *out)
{
    static const uint32_t zero_lanes[8];
    const int32_t co = g->out_c, kw = g->k_w, in_w = g->in_w, sw = g->stride_w, pw = g->pad_w;
    const int32_t taps = (int32_t)g->k_h * kw;
    const int32_t block_bytes = n_joint * taps * 16 * 2, t_row_bytes = kw * 16 * 2;
    const int with_bias = lane_bias == NULL;
#if PM_FL_ROWS_ASM
    const int32_t ox_lo = (pw + sw - 1) / sw;
    int32_t ox_hi = (in_w - kw + pw) / sw + 1;
    ox_hi = ox_hi > g->out_w ? g->out_w : ox_hi;
#endif
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        int32_t ky0, ky1;
        pm_fl_clip(oy, g->stride_h, g->pad_h, g->k_h, g->in_h, &ky0, &ky1);
        const uint32_t *qrow = rows_of + (oy * g->stride_h - g->pad_h + ky0) * in_w;
        const uint8_t *trow = (const uint8_t *)tables + ky0 * t_row_bytes;
        const int32_t rows = ky1 - ky0;
        for (int32_t ox = 0; ox < g->out_w; ++ox, out += co) {
            const int32_t x0 = ox * sw - pw;
#if PM_FL_ROWS_ASM
            if (ox == ox_lo && ox_hi > ox_lo && !with_bias && rows > 0) {
                for (int32_t b = 0; b < co; b += 16) {
                    pm_fl_run_t run = {qrow + x0, trow + (b / 16) * block_bytes,
                                       (const uint32_t *)(const void *)(lane_bias + b), frq + b, out + b, rows, co,
                                       sw * 4, ox_hi - ox_lo};
                    run16_rq(&run, kw, in_w, 4, 0);
                }
                out += (ox_hi - ox_lo - 1) * co;
                ox = ox_hi - 1;
                continue;
            }
#endif
            const int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = x0 + kw > in_w ? in_w - x0 : kw;
            const int32_t n = kx1 - kx0;
            const uint8_t *t0 = trow + kx0 * 16 * 2;
            const int32_t t_skip = t_row_bytes - n * 16 * 2;
            for (int32_t b = 0; b < co; b += 16, t0 += block_bytes) {
#if PM_FL_ROWS_ASM
                if (!with_bias && rows > 0 && n > 0) {
                    window16_rq(qrow + x0 + kx0, in_w, rows, n, t0, t_skip,
                                (const uint32_t *)(const void *)(lane_bias + b), frq + b, out + b);
                    continue;
                }
#endif
                uint32_t lanes[8];
                sum16(qrow + x0 + kx0, in_w, rows, n, t0, t_skip,
                      with_bias ? zero_lanes : (const uint32_t *)(const void *)(lane_bias + b), lanes);
                pm_fl_requant_pairs(lanes, 8, frq + b, rq, with_bias, out + b);
            }
        }
    }
}

void pm_first_joint_s16(const pm_first_geom_t *g, const uint8_t *pixels, const uint32_t *bin_offset,
                        const int16_t *tables, int32_t n_joint, int32_t widen_every,
                        const int16_t *lane_bias, const pm_first_requant_t *rq, uint32_t *scratch, int8_t *out)
{
    const int32_t c = g->in_c, co = g->out_c, kw = g->k_w, nb = pm_fl_block(co);
    const int32_t npix = (int32_t)g->in_h * g->in_w;
    if (c == 3) {
        const uint32_t *b0 = bin_offset, *b1 = bin_offset + 256, *b2 = bin_offset + 512;
        for (int32_t i = 0; i < npix; ++i, pixels += 3) {
            scratch[i] = b0[pixels[0]] + b1[pixels[1]] + b2[pixels[2]];
        }
    } else {
        for (int32_t i = 0; i < npix; ++i) {
            uint32_t s = 0;
            for (int32_t ch = 0; ch < c; ++ch) {
                s += bin_offset[ch * 256 + *pixels++];
            }
            scratch[i] = s;
        }
    }
    const int32_t taps = (int32_t)g->k_h * kw;
    const int32_t block_stride = n_joint * taps * nb;
    const int32_t t_row = kw * nb;
    pm_fl_frq_t frq[PM_FL_FRQ_MAX_C];
    static const uint32_t zero_lanes[8];
    const int with_bias = lane_bias == NULL;
    const int short_ok = pm_fl_frq_prepare(rq, co, 32768, with_bias, frq);
    const int fast = (widen_every <= 0 || widen_every >= taps) && nb % 8 == 0;
    if (fast && nb == 16 && short_ok && rq->act_min == -128 && rq->act_max == 127) {
        joint16_fast(g, scratch, tables, n_joint, lane_bias, frq, rq, out);
        return;
    }
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        int32_t ky0, ky1;
        pm_fl_clip(oy, g->stride_h, g->pad_h, g->k_h, g->in_h, &ky0, &ky1);
        for (int32_t ox = 0; ox < g->out_w; ++ox, out += co) {
            int32_t kx0, kx1;
            pm_fl_clip(ox, g->stride_w, g->pad_w, kw, g->in_w, &kx0, &kx1);
            const int32_t iy = oy * g->stride_h - g->pad_h + ky0, ix = ox * g->stride_w - g->pad_w + kx0;
            const uint32_t *q0 = scratch + iy * g->in_w + ix;
            const int16_t *t0 = tables + (ky0 * kw + kx0) * nb;
            const int32_t rows = ky1 - ky0, n = kx1 - kx0;
            if (fast) {
                for (int32_t b = 0; b < co; b += nb, t0 += block_stride) {
                    uint32_t lanes[8];
                    const uint32_t *init = with_bias ? zero_lanes : (const uint32_t *)(const void *)(lane_bias + b);
                    if (nb == 16) {
                        sum16(q0, g->in_w, rows, n, (const uint8_t *)t0, 2 * (t_row - n * nb), init, lanes);
                    } else {
                        sum8(q0, g->in_w, rows, n, (const uint8_t *)t0, 2 * t_row, init, lanes);
                    }
                    pm_fl_requant_lanes(lanes, nb / 2, short_ok, frq, rq, with_bias, b, out);
                }
            } else {
                int32_t acc[PM_FL_MAX_BLOCK];
                for (int32_t b = 0; b < co; b += nb, t0 += block_stride) {
                    memcpy(acc, rq->bias + b, sizeof(int32_t) * (size_t)nb);
                    sum_generic(q0, g->in_w, rows, n, t0, t_row, nb, 1, nb, widen_every, acc);
                    for (int32_t o = 0; o < nb; ++o) {
                        out[b + o] = pm_fl_requant(acc[o], rq, b + o);
                    }
                }
            }
        }
    }
}
