/* Pixel embedding then an int8 conv over in_c*d channels. The embedding vectors go straight into the
 * int16 im2col column (lut already holds value + input offset), so the embedded image, d times the
 * input, is never stored; the GEMM is the int8 kernel's. */
#include "pm_first_gemm.h"

static void fill_column(const pm_first_geom_t *g, const uint8_t *pixels, const int16_t *lut, int32_t d,
                        int32_t pix, int32_t kp, int16_t *col)
{
    const int32_t c = g->in_c, kw = g->k_w;
    const int32_t oy = pix / g->out_w, ox = pix - oy * g->out_w;
    int32_t ky0, ky1, kx0, kx1;
    pm_fl_clip(oy, g->stride_h, g->pad_h, g->k_h, g->in_h, &ky0, &ky1);
    pm_fl_clip(ox, g->stride_w, g->pad_w, kw, g->in_w, &kx0, &kx1);
    const int32_t dk = (int32_t)g->k_h * kw * c * d;
    if (ky1 - ky0 == g->k_h && kx1 - kx0 == kw) {
        for (int32_t j = dk; j < kp; ++j) { /* only the padding to a multiple of 4 */
            col[j] = 0;
        }
    } else {
        memset(col, 0, sizeof(int16_t) * (size_t)kp);
    }
    const int32_t iy0 = oy * g->stride_h - g->pad_h, ix0 = ox * g->stride_w - g->pad_w;
    for (int32_t ky = ky0; ky < ky1; ++ky) {
        const uint8_t *src = pixels + ((iy0 + ky) * g->in_w + ix0 + kx0) * c;
        int16_t *dst = col + (ky * kw + kx0) * c * d;
        for (int32_t kx = kx0; kx < kx1; ++kx) {
            for (int32_t ch = 0; ch < c; ++ch) {
                const int16_t *e = lut + (ch * 256 + *src++) * d;
                for (int32_t i = 0; i < d; ++i) {
                    *dst++ = e[i];
                }
            }
        }
    }
}

void pm_first_embedconv_s8(const pm_first_geom_t *g, const uint8_t *pixels, const int16_t *lut, int32_t d,
                           const int16_t *weights, const pm_first_requant_t *rq, int16_t *scratch,
                           int8_t *out)
{
    const int32_t k = (int32_t)g->k_h * g->k_w * g->in_c * d;
    const int32_t kp = (k + 3) & ~3;
    const int32_t pixels_n = (int32_t)g->out_h * g->out_w, co = g->out_c;
    int16_t *col = scratch;
    uint32_t *cols = (uint32_t *)(void *)(scratch + kp);
    pm_fl_frq_t frq[PM_FL_FRQ_MAX_C];
    pm_fl_gemm_rq_t q;
    pm_fl_gemm_rq_init(&q, rq, co, kp, frq);
    for (int32_t pix = 0; pix < pixels_n; pix += 4) {
        const int32_t npix = pixels_n - pix < 4 ? pixels_n - pix : 4;
        for (int32_t i = 0; i < 4; ++i) {
            if (i < npix) {
                fill_column(g, pixels, lut, d, pix + i, kp, col);
            } else {
                memset(col, 0, sizeof(int16_t) * (size_t)kp);
            }
            pm_fl_interleave(col, kp, cols, i);
        }
        pm_fl_gemm4(cols, npix, weights, kp, &q, co, out + pix * co);
    }
}
