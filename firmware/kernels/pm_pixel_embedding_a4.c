/* Pixel embedding into packed 4-bit codes (pm_act4.h): the generator packs each table vector, so a
 * pixel channel costs one copy of d / 2 bytes. */
#include <string.h>

#include "pm_act4.h"

int pm_pixel_embedding_a4(const pm_embedding_params_t *p, const uint8_t *input, int8_t *output)
{
    if (p == 0 || input == 0 || output == 0 || p->table == 0) {
        return PM_ERR_ARG;
    }
    if (p->pixels <= 0 || p->channels <= 0 || p->embed_dim <= 0 || p->embed_dim % 2 != 0) {
        return PM_ERR_ARG;
    }
    const size_t half = (size_t)p->embed_dim / 2;
    const size_t table_stride = p->shared ? 0 : 256 * half;
    for (int32_t i = 0; i < p->pixels; ++i) {
        const int8_t *table = p->table;
        for (int32_t c = 0; c < p->channels; ++c) {
            memcpy(output, table + (size_t)(*input++) * half, half);
            output += half;
            table += table_stride;
        }
    }
    return PM_OK;
}
