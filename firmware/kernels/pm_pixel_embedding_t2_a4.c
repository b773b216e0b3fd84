/* Pixel embedding from a table of 2-bit codes into packed 4-bit codes (pm_act4.h): a quarter of the int8
 * table's flash. Each pair of codes becomes one output byte. */
#include "pm_act4.h"

int pm_pixel_embedding_t2_a4(const pm_embedding_params_t *p, const uint8_t *input, int8_t *output)
{
    if (p == 0 || input == 0 || output == 0 || p->table == 0) {
        return PM_ERR_ARG;
    }
    if (p->pixels <= 0 || p->channels <= 0 || p->embed_dim <= 0 || p->embed_dim % 2 != 0) {
        return PM_ERR_ARG;
    }
    const int32_t d = p->embed_dim;
    const size_t row = ((size_t)d + 3u) / 4u;
    const size_t table_stride = p->shared ? 0 : 256 * row;
    for (int32_t i = 0; i < p->pixels; ++i) {
        const uint8_t *table = (const uint8_t *)p->table;
        for (int32_t c = 0; c < p->channels; ++c) {
            const uint8_t *vec = table + (size_t)(*input++) * row;
            for (int32_t j = 0; j < d; j += 2) {
                /* Codes j and j + 1 share a byte (j even): bits 2(j % 4) and 2(j % 4) + 2. */
                const uint32_t two = ((uint32_t)vec[j >> 2] >> (2 * (j & 3))) & 15u;
                *output++ = (int8_t)(uint8_t)((two & 3u) | ((two >> 2) << 4));
            }
            table += table_stride;
        }
    }
    return PM_OK;
}
