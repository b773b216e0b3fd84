/**
 * @file pm_embedding.h
 * @brief Pixel embedding (Tokunaga et al., arXiv 2407.16174): each 8-bit pixel value of each
 *        channel reads a vector of d low-bit codes from a const table.
 *
 * Input: uint8 pixels, NHWC. Output: int8, NHWC with C*d channels; channel c*d+j holds entry j of
 * the vector that channel c's value selects. The table is [tables][256][d] int8 with tables = 1
 * (one table shared by all channels) or C (one per channel); it already holds the output's int8
 * values (code + zero point), so the kernel only copies. Binned tables arrive expanded to 256 entries.
 */
#ifndef PM_EMBEDDING_H
#define PM_EMBEDDING_H

#include <stdint.h>

#include "pm_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Parameters of the pixel-embedding lookup (filled from pixmcu.lowering). */
typedef struct {
    int32_t pixels;       /**< N*H*W: pixel positions to embed */
    int32_t channels;     /**< C: input channels per pixel position */
    int32_t embed_dim;    /**< d: entries per vector */
    int32_t shared;       /**< 1: table[0] serves every channel; 0: table[c] serves channel c */
    const int8_t *table;  /**< [shared ? 1 : C][256][d] */
} pm_embedding_params_t;

/**
 * @brief Embed @p input (pixels*channels bytes) into @p output (pixels*channels*embed_dim bytes).
 * @return PM_OK, or PM_ERR_ARG for NULL pointers or non-positive sizes. Buffers must not overlap.
 */
int pm_pixel_embedding_u8(const pm_embedding_params_t *p, const uint8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* PM_EMBEDDING_H */
