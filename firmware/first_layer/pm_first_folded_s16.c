/* Pixel embedding folded into the first conv: per (tap, channel) one int16 row of the partial sums of
 * the output channels for each pixel value, summed two lanes at a time with SADD16. No multiplies.
 * The generator (pixmcu/first_layer/tables.py) proves that no lane leaves int16 within
 * `widen_every` lookups (0: within a whole window), so wrapping lanes still sum exactly.
 * Table layout: [out_c / NB][k_h*k_w*in_c][256][NB], NB from pm_fl_block(out_c). */
#include "pm_first_folded_rows.h"

PM_FL_DEFINE_SUM16(sum16, uint8_t, "ldrb %[v], [%[p]], #1", "add %[v], %[tt], %[v], lsl #5", 8192, 5)
PM_FL_DEFINE_SUM8(sum8, uint8_t, "ldrb %[v], [%[p]], #1", "add %[v], %[tt], %[v], lsl #4", 4096, 4)
PM_FL_DEFINE_SUM_GENERIC(sum_generic, uint8_t)
#if PM_FL_ROWS_ASM
PM_FL_DEFINE_WINDOW16_RQ(window16_rq, uint8_t, "ldrb %[v], [%[p]], #1", "add %[v], %[tt], %[v], lsl #5", 8192)
PM_FL_DEFINE_RUN16_RQ(run16_rq, "ldrb %[v], [%[p]], #1", "add %[v], %[tt], %[v], lsl #5", 8192)
PM_FL_DEFINE_RUN8_RQ(run8_rq, "ldrb %[v], [%[p]], #1", "add %[v], %[tt], %[v], lsl #4", 4096)
#endif

/* The common case, kept free of per-pixel dispatch: 16-channel blocks, no widening, the short
 * requantization and no fused activation. Interior windows of a row go to the asm in one run. */
static void folded16_fast(const pm_first_geom_t *g, const uint8_t *pixels, const int16_t *tables,
                          const int16_t *lane_bias, const pm_fl_frq_t *frq, const pm_first_requant_t *rq,
                          int8_t *out)
{
    static const uint32_t zero_lanes[8];
    const int32_t c = g->in_c, co = g->out_c, kw = g->k_w, in_w = g->in_w, sw = g->stride_w, pw = g->pad_w;
    const int32_t nb = pm_fl_block(co);
    const int32_t lookup_bytes = 256 * nb * 2, block_bytes = (int32_t)g->k_h * kw * c * lookup_bytes;
    const int32_t in_row = in_w * c, t_row_bytes = kw * c * lookup_bytes;
    const int with_bias = lane_bias == NULL;
    /* Output columns whose windows lie inside the image horizontally. */
#if PM_FL_ROWS_ASM
    const int32_t ox_lo = (pw + sw - 1) / sw;
    int32_t ox_hi = (in_w - kw + pw) / sw + 1;
    ox_hi = ox_hi > g->out_w ? g->out_w : ox_hi;
#endif
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        int32_t ky0, ky1;
        pm_fl_clip(oy, g->stride_h, g->pad_h, g->k_h, g->in_h, &ky0, &ky1);
        const uint8_t *prow = pixels + (oy * g->stride_h - g->pad_h + ky0) * in_row;
        const uint8_t *trow = (const uint8_t *)tables + ky0 * t_row_bytes;
        const int32_t rows = ky1 - ky0;
        for (int32_t ox = 0; ox < g->out_w; ++ox, out += co) {
            const int32_t x0 = ox * sw - pw;
#if PM_FL_ROWS_ASM
            if (ox == ox_lo && ox_hi > ox_lo && !with_bias && rows > 0) {
                const int32_t n = kw * c;
                for (int32_t b = 0; b < co; b += nb) {
                    pm_fl_run_t run = {prow + x0 * c, trow + (b / nb) * block_bytes,
                                       (const uint32_t *)(const void *)(lane_bias + b), frq + b, out + b, rows, co,
                                       sw * c, ox_hi - ox_lo};
                    if (nb == 16) {
                        run16_rq(&run, n, in_row, 1, t_row_bytes - n * lookup_bytes);
                    } else {
                        run8_rq(&run, n, in_row, 1, t_row_bytes - n * lookup_bytes);
                    }
                }
                out += (ox_hi - ox_lo - 1) * co;
                ox = ox_hi - 1;
                continue;
            }
#endif
            const int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = x0 + kw > in_w ? in_w - x0 : kw;
            const int32_t n = (kx1 - kx0) * c;
            const uint8_t *p0 = prow + (x0 + kx0) * c;
            const uint8_t *t0 = trow + kx0 * c * lookup_bytes;
            const int32_t t_skip = t_row_bytes - n * lookup_bytes;
            for (int32_t b = 0; b < co; b += nb, t0 += block_bytes) {
#if PM_FL_ROWS_ASM
                if (nb == 16 && !with_bias && rows > 0 && n > 0) {
                    window16_rq(p0, in_row, rows, n, t0, t_skip, (const uint32_t *)(const void *)(lane_bias + b),
                                frq + b, out + b);
                    continue;
                }
#endif
                uint32_t lanes[8];
                const uint32_t *init = with_bias ? zero_lanes : (const uint32_t *)(const void *)(lane_bias + b);
                if (nb == 16) {
                    sum16(p0, in_row, rows, n, t0, t_skip, init, lanes);
                } else {
                    sum8(p0, in_row, rows, n, t0, t_skip + n * lookup_bytes, init, lanes);
                }
                pm_fl_requant_pairs(lanes, nb / 2, frq + b, rq, with_bias, out + b);
            }
        }
    }
}

void pm_first_folded_s16(const pm_first_geom_t *g, const uint8_t *pixels, const int16_t *tables,
                         int32_t widen_every, const int16_t *lane_bias, const pm_first_requant_t *rq, int8_t *out)
{
    const int32_t c = g->in_c, co = g->out_c, kw = g->k_w, nb = pm_fl_block(co);
    const int32_t lookups = (int32_t)g->k_h * kw * c;
    const int32_t lookup_stride = 256 * nb, block_stride = lookups * lookup_stride;
    const int32_t in_row = g->in_w * c, t_row = kw * c * lookup_stride;
    pm_fl_frq_t frq[PM_FL_FRQ_MAX_C];
    static const uint32_t zero_lanes[8];
    const int with_bias = lane_bias == NULL;
    const int short_ok = pm_fl_frq_prepare(rq, co, 32768, with_bias, frq);
    const int fast = (widen_every <= 0 || widen_every >= lookups) && nb % 8 == 0;
    if (fast && short_ok && rq->act_min == -128 && rq->act_max == 127) {
        folded16_fast(g, pixels, tables, lane_bias, frq, rq, out);
        return;
    }
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
                    const uint32_t *init = with_bias ? zero_lanes : (const uint32_t *)(const void *)(lane_bias + b);
                    if (nb == 16) {
                        sum16(p0, in_row, rows, n, (const uint8_t *)t0, 2 * (t_row - n * lookup_stride), init, lanes);
                    } else {
                        sum8(p0, in_row, rows, n, (const uint8_t *)t0, 2 * t_row, init, lanes);
                    }
                    pm_fl_requant_lanes(lanes, nb / 2, short_ok, frq, rq, with_bias, b, out);
                }
            } else {
                int32_t acc[PM_FL_MAX_BLOCK];
                for (int32_t b = 0; b < co; b += nb, t0 += block_stride) {
                    memcpy(acc, rq->bias + b, sizeof(int32_t) * (size_t)nb);
                    sum_generic(p0, in_row, rows, n, t0, t_row, lookup_stride, nb, nb, widen_every, acc);
                    for (int32_t o = 0; o < nb; ++o) {
                        out[b + o] = pm_fl_requant(acc[o], rq, b + o);
                    }
                }
            }
        }
    }
}
