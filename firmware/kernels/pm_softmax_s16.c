/* TFLM's int16 SOFTMAX (SoftmaxInt16): exp of the rescaled differences from two interpolated tables
 * built at generate time (exp on [-10, 0], 1/(1+x) on [0, 1]), the sum normalised by its leading
 * zeros. The exponentials are recomputed for the output pass instead of stored: no scratch. */
#include "pm_kernels.h"
#include "pm_requant.h"

static int32_t lookup(int32_t v, const int32_t *lut)
{
    const int32_t idx = 256 + (v >> 7); /* arithmetic shift, as TFLM */
    const int32_t base = lut[idx];
    return base + (((lut[idx + 1] - base) * (v & 0x7F) + 64) >> 7);
}

static int32_t exp_of(const pm_softmax16_params_t *p, int32_t diff)
{
    const int32_t scaled = pm_clamp(pm_mbqm(diff, p->input_multiplier, p->input_shift) + 32767, -32768, 32767);
    return (int16_t)lookup(scaled, p->exp_lut);
}

static int clz32(uint32_t x)
{
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

int pm_softmax_s16(const pm_softmax16_params_t *p, const void *input, void *output)
{
    if (p == NULL || p->exp_lut == NULL || p->recip_lut == NULL || input == NULL || output == NULL || p->depth < 1) {
        return PM_ERR_ARG;
    }
    const int16_t *in = (const int16_t *)input;
    int16_t *out = (int16_t *)output;
    for (int32_t r = 0; r < p->outer; ++r) {
        const int16_t *row = in + (size_t)r * p->depth;
        int32_t max = -32768;
        for (int32_t j = 0; j < p->depth; ++j) {
            max = row[j] > max ? row[j] : max;
        }
        int32_t sum = 0;
        for (int32_t j = 0; j < p->depth; ++j) {
            sum += exp_of(p, row[j] - max);
        }
        const int headroom = clz32((uint32_t)sum);
        const int32_t shifted = (int32_t)((((int64_t)sum << (headroom - 1)) + (1 << 13)) >> 14);
        const int32_t sym = pm_clamp(shifted - ((1 << 15) + (1 << 16)), -32768, 32767);
        const int64_t recip = (int16_t)lookup(sym, p->recip_lut);
        const int right = 31 - headroom;
        for (int32_t j = 0; j < p->depth; ++j) {
            const int64_t v = ((int64_t)exp_of(p, row[j] - max) * recip + ((int64_t)1 << (right - 1))) >> right;
            out[(size_t)r * p->depth + j] = (int16_t)(v < 0 ? 0 : (v > 32767 ? 32767 : v));
        }
    }
    return PM_OK;
}
