/* Int8 first layer on raw int8 input (pixel - 128): each window is widened to int16 with the input
 * offset added (padding stays 0, as TFLM skips it), then the SMLAD GEMM core. Three input channels
 * fit packed int8 SIMD badly; int16 columns let every window length use SMLAD. */
#include "pm_first_gemm.h"

static void fill_column(const pm_first_geom_t *g, const int8_t *input, int32_t input_offset, int32_t pix,
                        int32_t kp, int16_t *col)
{
    const int32_t c = g->in_c, kw = g->k_w;
    const int32_t oy = pix / g->out_w, ox = pix - oy * g->out_w;
    int32_t ky0, ky1, kx0, kx1;
    pm_fl_clip(oy, g->stride_h, g->pad_h, g->k_h, g->in_h, &ky0, &ky1);
    pm_fl_clip(ox, g->stride_w, g->pad_w, kw, g->in_w, &kx0, &kx1);
    const int32_t dk = (int32_t)g->k_h * kw * c;
    if (ky1 - ky0 == g->k_h && kx1 - kx0 == kw) {
        for (int32_t j = dk; j < kp; ++j) { /* only the padding to a multiple of 4 */
            col[j] = 0;
        }
    } else {
        memset(col, 0, sizeof(int16_t) * (size_t)kp);
    }
    const int32_t iy0 = oy * g->stride_h - g->pad_h, ix0 = ox * g->stride_w - g->pad_w;
    const int32_t n = (kx1 - kx0) * c;
    for (int32_t ky = ky0; ky < ky1; ++ky) {
        const int8_t *src = input + ((iy0 + ky) * g->in_w + ix0 + kx0) * c;
        pm_fl_widen_s8(src, col + (ky * kw + kx0) * c, n, input_offset);
    }
}

void pm_first_im2col_s8(const pm_first_geom_t *g, const int8_t *input, int32_t input_offset,
                        const int16_t *weights, const pm_first_requant_t *rq, int16_t *scratch, int8_t *out)
{
    const int32_t k = (int32_t)g->k_h * g->k_w * g->in_c;
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
                fill_column(g, input, input_offset, pix + i, kp, col);
            } else {
                memset(col, 0, sizeof(int16_t) * (size_t)kp);
            }
            pm_fl_interleave(col, kp, cols, i);
        }
        pm_fl_gemm4(cols, npix, weights, kp, &q, co, out + pix * co);
    }
}
