/* Private to the kernels: im2col of one output row into contiguous window patches (few-channel inputs). */
#ifndef PM_PATCH_H
#define PM_PATCH_H

#include <stdint.h>
#include <string.h>

#include "pm_kernels.h"

static inline void pm_copy_run(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, dst += 4, src += 4) {
        uint32_t v;
        memcpy(&v, src, 4);
        memcpy(dst, &v, 4);
    }
    for (; n > 0; --n) {
        *dst++ = *src++;
    }
}

/* The windows of output row oy, kp bytes apart (kp >= kh*kw*c, a multiple of 4; bytes past the window
 * are zero). Taps in the padding hold `fill` (the input zero point: they then add nothing). */
static inline void pm_patch_row(const int8_t *in_b, int32_t in_h, int32_t in_w, int32_t c, int32_t kh, int32_t kw,
                                int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w, int32_t out_w,
                                int32_t oy, int32_t kp, int8_t fill, int8_t *patch)
{
    const int32_t y0 = oy * stride_h - pad_h;
    for (int32_t ox = 0; ox < out_w; ++ox, patch += kp) {
        const int32_t x0 = ox * stride_w - pad_w;
        const int32_t kx0 = x0 < 0 ? -x0 : 0;
        const int32_t kx1 = in_w - x0 < kw ? (in_w - x0 > 0 ? in_w - x0 : 0) : kw;
        /* Zero the bytes past the window first (one word store; the window overwrites the rest of that
         * word), so no memset call per pixel. */
        const uint32_t zero = 0;
        memcpy(patch + kp - 4, &zero, 4);
        int8_t *dst = patch;
        for (int32_t ky = 0; ky < kh; ++ky, dst += kw * c) {
            const int32_t y = y0 + ky;
            if (y < 0 || y >= in_h || kx1 <= kx0) {
                memset(dst, fill, (size_t)(kw * c));
                continue;
            }
            if (kx0 > 0) {
                memset(dst, fill, (size_t)(kx0 * c));
            }
            pm_copy_run(dst + kx0 * c, in_b + ((size_t)y * in_w + (x0 + kx0)) * c, (kx1 - kx0) * c);
            if (kx1 < kw) {
                memset(dst + kx1 * c, fill, (size_t)((kw - kx1) * c));
            }
        }
    }
}

#endif /* PM_PATCH_H */
