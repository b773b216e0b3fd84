/**
 * @file pm_first_layer.h
 * @brief First-layer kernels: a conv2d over the raw image, computed several ways.
 *
 * Every variant computes the same first layer of a CNN, a 2-D convolution with TFLite SAME/VALID
 * geometry (padding given explicitly) over an NHWC image of one batch:
 *  - float32 from uint8 pixels, normalisation included (the floating-point baseline),
 *  - int8 on raw pixels (pixel - 128, the TFLite user's baseline),
 *  - pixel embedding (Tokunaga et al., arXiv 2407.16174) then an int8 conv over C*d channels,
 *  - the embedding folded into the conv: per (tap, channel) a table of the partial sums of all output
 *    channels for each of the 256 pixel values (no multiplies),
 *  - the joint-channel folded table for binned embeddings: per tap one table indexed by the joint bin
 *    of all channels of a pixel.
 * Integer variants requantize exactly as TFLM does (MultiplyByQuantizedMultiplier, double rounding)
 * and are bit-exact with pixmcu/first_layer/reference.py. Tables, packed weights and the proofs that
 * int16 partial sums cannot overflow come from pixmcu/first_layer/tables.py.
 *
 * Arrays read with multi-word loads (weights, tables, scratch) must be 8-byte aligned.
 */
#ifndef PM_FIRST_LAYER_H
#define PM_FIRST_LAYER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Geometry of the first layer (square or rectangular kernel, explicit padding before). */
typedef struct {
    uint16_t in_h;     /**< input height */
    uint16_t in_w;     /**< input width */
    uint16_t in_c;     /**< input channels (3 for RGB, 1 for grey) */
    uint16_t out_h;    /**< output height */
    uint16_t out_w;    /**< output width */
    uint16_t out_c;    /**< output channels */
    uint8_t k_h;       /**< kernel height */
    uint8_t k_w;       /**< kernel width */
    uint8_t stride_h;  /**< vertical stride */
    uint8_t stride_w;  /**< horizontal stride */
    uint8_t pad_h;     /**< rows of zero padding above (TFLite's padding before) */
    uint8_t pad_w;     /**< columns of zero padding to the left */
} pm_first_geom_t;

/** @brief Per-output-channel requantization, as TFLM's conv computes it. */
typedef struct {
    const int32_t *bias;        /**< [out_c] int32 bias, added to the accumulator */
    const int32_t *multiplier;  /**< [out_c] QuantizeMultiplier mantissas */
    const int32_t *shift;       /**< [out_c] QuantizeMultiplier exponents */
    int32_t output_offset;      /**< output zero point */
    int32_t act_min;            /**< fused activation clamp, low */
    int32_t act_max;            /**< fused activation clamp, high */
} pm_first_requant_t;

/**
 * @brief Float32 conv from uint8 pixels with VFMA and register blocking (8 output channels per block).
 * @param g        geometry
 * @param pixels   [in_h][in_w][in_c] uint8 image
 * @param norm_scale, norm_offset [in_c]: normalised value = pixel * scale + offset
 * @param weights  [out_c/NB][k_h][k_w][in_c][NB] float32, NB = 16 if out_c is a multiple of 16, else 8
 *                 if a multiple of 8, else out_c
 * @param bias     [out_c] float32
 * @param scratch  [in_h * in_w * in_c] float32: the normalised image
 * @param out      [out_h][out_w][out_c] float32 (no activation)
 */
void pm_first_vfma_f32(const pm_first_geom_t *g, const uint8_t *pixels, const float *norm_scale,
                       const float *norm_offset, const float *weights, const float *bias, float *scratch,
                       float *out);

/** @brief As pm_first_vfma_f32, with separate VMUL and VADD (no fused multiply-add). */
void pm_first_vmul_f32(const pm_first_geom_t *g, const uint8_t *pixels, const float *norm_scale,
                       const float *norm_offset, const float *weights, const float *bias, float *scratch,
                       float *out);

/**
 * @brief Int8 conv on raw int8 input: im2col of two output pixels to int16, SMLAD on 2x2 blocks.
 * @param input        [in_h][in_w][in_c] int8 (pixel - 128 for a TFLite model fed raw pixels)
 * @param input_offset minus the input zero point, in [-127, 128]
 * @param weights      int16 [ceil(out_c/2)][kp/2][2][2]: kp = k_h*k_w*in_c rounded up to a multiple of 4,
 *                     zero-filled; channel pairs interleaved two weights at a time (an odd last channel
 *                     paired with zeros)
 * @param scratch      [5 * kp] int16 (one column and four interleaved columns), 4-byte aligned
 */
void pm_first_im2col_s8(const pm_first_geom_t *g, const int8_t *input, int32_t input_offset,
                        const int16_t *weights, const pm_first_requant_t *rq, int16_t *scratch, int8_t *out);

/**
 * @brief Pixel embedding then int8 conv over in_c*d channels; the embedding is read straight into
 *        the int16 im2col buffer, so the embedded image is never stored.
 * @param lut          [in_c][256][d] int16: the embedding table plus the conv's input offset
 * @param d            embedding dimension
 * @param weights      as for pm_first_im2col_s8 with kp = k_h*k_w*in_c*d rounded up to a multiple of 4
 * @param scratch      [5 * kp] int16 (one column and four interleaved columns), 4-byte aligned
 */
void pm_first_embedconv_s8(const pm_first_geom_t *g, const uint8_t *pixels, const int16_t *lut, int32_t d,
                           const int16_t *weights, const pm_first_requant_t *rq, int16_t *scratch,
                           int8_t *out);

/**
 * @brief Embedding folded into the conv, int16 tables and int16 SIMD accumulators.
 * @param tables      [out_c/NB][k_h*k_w*in_c][256][NB] int16 partial sums, NB = 16 if out_c is a
 *                    multiple of 16, else 8 if a multiple of 8, else out_c
 * @param widen_every lookups after which the int16 lanes are added into int32 (0: only at the end);
 *                    the generator proves no lane overflows within that many lookups
 * @param lane_bias   [out_c] int16 copy of the bias to start the lanes from, where the generator proved
 *                    bias plus any window sum fits int16 (rq->bias must hold the same values); NULL: the
 *                    bias is added at requantization
 */
void pm_first_folded_s16(const pm_first_geom_t *g, const uint8_t *pixels, const int16_t *tables,
                         int32_t widen_every, const int16_t *lane_bias, const pm_first_requant_t *rq, int8_t *out);

/** @brief Embedding folded into the conv with int32 tables, for weights whose sums need 32 bits. */
void pm_first_folded_s32(const pm_first_geom_t *g, const uint8_t *pixels, const int32_t *tables,
                         const pm_first_requant_t *rq, int8_t *out);

/**
 * @brief Joint-channel folded table for binned embeddings: one lookup per tap.
 * @param bin_offset  [in_c][256] uint32: bin of the value times its channel's place value (K^(in_c-1-c))
 *                    times k_h*k_w*NB; a pixel's joint row offset (in elements) is the sum over channels
 * @param tables      [out_c/NB][n_joint + 1][k_w][k_h][NB] int16 (taps kx-major), row n_joint all zeros
 *                    (what padding reads); n_joint = K^in_c, NB = 16 if out_c is a multiple of 16, else 8
 *                    if a multiple of 8, else out_c
 * @param n_joint     joint rows, not counting the zero row
 * @param widen_every as for pm_first_folded_s16
 * @param lane_bias   as for pm_first_folded_s16
 * @param scratch     [W * (H + k_h)] uint32, W = (out_w - 1)*stride_w + k_w, H = (out_h - 1)*stride_h + k_h:
 *                    the padded, transposed joint-row image, then one output row's band
 */
void pm_first_joint_s16(const pm_first_geom_t *g, const uint8_t *pixels, const uint32_t *bin_offset,
                        const int16_t *tables, int32_t n_joint, int32_t widen_every, const int16_t *lane_bias,
                        const pm_first_requant_t *rq, uint32_t *scratch, int8_t *out);

/**
 * @brief One generated first layer (pixel embedding + conv2d) with the code generator's calling
 *        convention: `status = pm_first_<variant>_layer(&params, pixels, scratch, out)`.
 *
 * The generator (pixmcu/codegen/first_layer.py) fills the fields its variant reads and leaves the
 * others zero/NULL; each adapter only forwards them to its kernel, so a firmware image links only the
 * kernel it calls (-ffunction-sections, --gc-sections).
 */
typedef struct {
    pm_first_geom_t geom;        /**< geometry of the conv */
    pm_first_requant_t rq;       /**< the conv's requantization */
    int32_t embed_dim;           /**< d (pe_embed_conv) */
    int32_t n_joint;             /**< joint rows without the zero row (pe_joint_s16) */
    int32_t widen_every;         /**< as for pm_first_folded_s16 / pm_first_joint_s16 */
    const int16_t *table16;      /**< folded or joint int16 tables, or the int16 LUT of pe_embed_conv */
    const int32_t *table32;      /**< int32 folded tables (pe_folded_s32) */
    const int16_t *weights;      /**< packed int16 weights (pe_embed_conv) */
    const uint32_t *bin_offset;  /**< joint row offsets per channel value (pe_joint_s16) */
    const int16_t *lane_bias;    /**< int16 lane start values, or NULL */
} pm_first_params_t;

/** @brief Adapters: 0 (PM_OK) on success, -1 (PM_ERR_ARG) on a NULL pointer. `scratch` (arena,
 *  16-byte aligned) is only read by the variants that need it (joint, embed-then-conv). */
int pm_first_folded_s16_layer(const pm_first_params_t *p, const uint8_t *pixels, void *scratch, int8_t *out);
int pm_first_folded_s32_layer(const pm_first_params_t *p, const uint8_t *pixels, void *scratch, int8_t *out);
int pm_first_joint_s16_layer(const pm_first_params_t *p, const uint8_t *pixels, void *scratch, int8_t *out);
int pm_first_embedconv_s8_layer(const pm_first_params_t *p, const uint8_t *pixels, void *scratch, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* PM_FIRST_LAYER_H */
