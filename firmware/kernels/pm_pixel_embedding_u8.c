/* Pixel embedding: a table read per pixel and channel. No arithmetic, so nothing to round. */
#include "pm_embedding.h"

int pm_pixel_embedding_u8(const pm_embedding_params_t *p, const uint8_t *input, int8_t *output)
{
    if (p == 0 || input == 0 || output == 0 || p->table == 0) {
        return PM_ERR_ARG;
    }
    if (p->pixels <= 0 || p->channels <= 0 || p->embed_dim <= 0) {
        return PM_ERR_ARG;
    }
    const int32_t d = p->embed_dim;
    /* Stride between channel tables: 0 when shared, so one pointer walk serves both layouts. */
    const int32_t table_stride = p->shared ? 0 : 256 * d;
    for (int32_t i = 0; i < p->pixels; ++i) {
        const int8_t *table = p->table;
        for (int32_t c = 0; c < p->channels; ++c) {
            const int8_t *vec = table + (int32_t)(*input++) * d;
            for (int32_t j = 0; j < d; ++j) {
                *output++ = vec[j];
            }
            table += table_stride;
        }
    }
    return PM_OK;
}
