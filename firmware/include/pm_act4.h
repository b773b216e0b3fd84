/**
 * @file pm_act4.h
 * @brief Kernels on packed 4-bit activations (issue 16, docs/lowbit.md).
 *
 * A tensor whose values all lie in [low, low + 15] (the clamp of the layer that writes it, e.g. a
 * ReLU6 output at scale 0.4 and zero point -128) is stored two values per byte in the arena:
 * element 2i in the low nibble of byte i, element 2i + 1 in the high nibble, each as value - low.
 * Packing is lossless, so these kernels are bit-exact with their int8 counterparts.
 */
#ifndef PM_ACT4_H
#define PM_ACT4_H

#include "pm_embedding.h"
#include "pm_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief pm_conv2d_packed4_s8's parameters, and which side of the layer is packed. */
typedef struct {
    pm_conv_packed_params_t conv; /**< the convolution (int4 weights, pm_conv2d_packed4_s8's layout) */
    int32_t input_packed;         /**< 1: the input is packed (value = nibble + input_low) */
    int32_t input_low;            /**< the smallest input value */
    int32_t output_packed;        /**< 1: the output is written packed (nibble = value - output_low) */
    int32_t output_low;           /**< the smallest output value (conv.act_min) */
    int32_t input_channels;       /**< channels of the input as stored; conv.input.c rounds them up to a
                                       multiple of 4 (the extra channels meet zero weights) */
} pm_conv_a4_params_t;

/** @brief pm_conv2d_packed4_add_s8's parameters, and which of its tensors are packed. */
typedef struct {
    pm_conv_packed_add_params_t add; /**< the convolution and the residual ADD (int4 weights) */
    int32_t input_packed;            /**< 1: the convolution's input is packed */
    int32_t input_low;               /**< its smallest value */
    int32_t output_packed;           /**< 1: the sum is written packed */
    int32_t output_low;              /**< the smallest sum (add.act_min) */
    int32_t input_channels;          /**< as in pm_conv_a4_params_t */
    int32_t residual_packed;         /**< 1: the residual is packed */
    int32_t residual_low;            /**< its smallest value */
} pm_conv_add_a4_params_t;

/** @brief A pooling layer's parameters, and which side of it is packed. */
typedef struct {
    pm_pool_params_t pool;  /**< the pooling layer */
    int32_t input_packed;   /**< 1: the input is packed */
    int32_t input_low;      /**< the smallest input value */
    int32_t output_packed;  /**< 1: the output is written packed */
    int32_t output_low;     /**< the smallest output value */
} pm_pool_a4_params_t;

/**
 * @brief pm_conv2d_packed4_s8 with a packed input and/or output, one output row at a time: the input
 * rows of its windows are unpacked into @p scratch, the row is computed into @p scratch and packed
 * out. Writes of a row land after all its reads (the planner's row overlap rule). Channels even.
 * @p scratch: 4-byte aligned, pm_conv2d_packed4_a4_scratch_size bytes.
 */
int pm_conv2d_packed4_a4(const pm_conv_a4_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output);
/** @brief Scratch bytes of pm_conv2d_packed4_a4: kh input rows if the input is packed, one output row if the output is. */
int32_t pm_conv2d_packed4_a4_scratch_size(const pm_conv_a4_params_t *p);
/**
 * @brief pm_conv2d_packed4_add_s8 on packed tensors, one output row at a time (as pm_conv2d_packed4_a4):
 * the residual row is unpacked into scratch before the row is written, so the output may start where
 * the residual starts even when it is stored smaller. @p scratch: pm_conv2d_packed4_add_a4_scratch_size bytes.
 */
int pm_conv2d_packed4_add_a4(const pm_conv_add_a4_params_t *p, const int8_t *input, const int8_t *residual,
                             int8_t *scratch, int8_t *output);
/** @brief Scratch bytes of pm_conv2d_packed4_add_a4. */
int32_t pm_conv2d_packed4_add_a4_scratch_size(const pm_conv_add_a4_params_t *p);
/** @brief pm_conv2d_packed4_a4 on pm_conv2d_packed2_s8's 2-bit weights (four per byte). */
int pm_conv2d_packed2_a4(const pm_conv_a4_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output);
/** @brief Scratch bytes of pm_conv2d_packed2_a4 (as pm_conv2d_packed4_a4_scratch_size). */
int32_t pm_conv2d_packed2_a4_scratch_size(const pm_conv_a4_params_t *p);
/** @brief pm_conv2d_packed4_add_a4 on pm_conv2d_packed2_s8's 2-bit weights. */
int pm_conv2d_packed2_add_a4(const pm_conv_add_a4_params_t *p, const int8_t *input, const int8_t *residual,
                             int8_t *scratch, int8_t *output);
/** @brief Scratch bytes of pm_conv2d_packed2_add_a4. */
int32_t pm_conv2d_packed2_add_a4_scratch_size(const pm_conv_add_a4_params_t *p);
/**
 * @brief pm_pixel_embedding_u8 writing packed 4-bit codes: @p p->table holds each vector packed
 * ([tables][256][d / 2] bytes, d even, nibble = value - the table's smallest value), copied per pixel.
 */
int pm_pixel_embedding_a4(const pm_embedding_params_t *p, const uint8_t *input, int8_t *output);
/**
 * @brief pm_pixel_embedding_a4 on a table of 2-bit codes (every entry within low..low + 3): each vector
 * stored as ceil(d / 4) bytes, entry j in bits 2(j % 4) of byte j / 4, widened to the output's nibbles.
 */
int pm_pixel_embedding_t2_a4(const pm_embedding_params_t *p, const uint8_t *input, int8_t *output);
/** @brief pm_max_pool2d_s8 reading and/or writing packed 4-bit values (channels even). */
int pm_max_pool2d_a4(const pm_pool_a4_params_t *p, const int8_t *input, int8_t *output);
/** @brief pm_avg_pool2d_s8 reading and/or writing packed 4-bit values (channels even). */
int pm_avg_pool2d_a4(const pm_pool_a4_params_t *p, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* PM_ACT4_H */
