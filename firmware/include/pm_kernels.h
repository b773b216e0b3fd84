/**
 * @file pm_kernels.h
 * @brief pixmcu's integer kernels: parameter structs and entry points.
 *
 * Every kernel reproduces TFLM's reference integer kernel bit for bit (see pixmcu/reference) and
 * takes its constants from a const parameter struct that `pixmcu generate` fills from
 * pixmcu.lowering. Tensors are NHWC int8 unless stated otherwise. Kernels never allocate; the few
 * that need scratch (the `_scratch_size` companions say how much) take it as the argument before
 * the output, placed by the planner in the arena. Every kernel returns PM_OK or a negative PM_ERR_* code.
 */
#ifndef PM_KERNELS_H
#define PM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @name Status codes */
/**@{*/
#define PM_OK 0              /**< success */
#define PM_ERR_ARG (-1)      /**< a NULL pointer or an impossible parameter */
#define PM_ERR_SHAPE (-2)    /**< shapes that do not fit together */
/**@}*/

/** @brief A 4-D NHWC shape (lower ranks are padded with leading 1s). */
typedef struct {
    int32_t n; /**< batch */
    int32_t h; /**< height */
    int32_t w; /**< width */
    int32_t c; /**< channels */
} pm_dims_t;

/**
 * @brief Parameters of a 2-D convolution or depthwise convolution.
 *
 * Convolution filters are OHWI ({cout, kh, kw, cin}); depthwise filters are {1, kh, kw, cin*mult},
 * output channel c*mult+m reading input channel c. Taps that fall into the padding are skipped.
 */
typedef struct {
    pm_dims_t input;            /**< input shape */
    pm_dims_t filter;           /**< filter shape, see above */
    pm_dims_t output;           /**< output shape */
    int32_t stride_h;           /**< vertical stride */
    int32_t stride_w;           /**< horizontal stride */
    int32_t dilation_h;         /**< vertical dilation */
    int32_t dilation_w;         /**< horizontal dilation */
    int32_t pad_h;              /**< padding before the first row */
    int32_t pad_w;              /**< padding before the first column */
    int32_t depth_multiplier;   /**< depthwise only; 1 for convolution */
    int32_t input_offset;       /**< minus the input zero point */
    int32_t output_offset;      /**< the output zero point */
    int32_t act_min;            /**< lower clamp (fused activation) */
    int32_t act_max;            /**< upper clamp (fused activation) */
    const int8_t *weights;      /**< filter values */
    const int32_t *bias;        /**< one per output channel, or NULL */
    const int32_t *multiplier;  /**< requantization multiplier per output channel */
    const int32_t *shift;       /**< requantization shift per output channel */
} pm_conv_params_t;

/** @brief Parameters of a fully connected layer: output[b][u] = W[u] . (input[b] + input_offset). */
typedef struct {
    int32_t batches;            /**< rows of the input */
    int32_t depth;              /**< input values per row */
    int32_t units;              /**< output values per row */
    int32_t input_offset;       /**< minus the input zero point */
    int32_t output_offset;      /**< the output zero point */
    int32_t act_min;            /**< lower clamp */
    int32_t act_max;            /**< upper clamp */
    const int8_t *weights;      /**< [units][depth] */
    const int32_t *bias;        /**< [units], or NULL */
    const int32_t *multiplier;  /**< per unit */
    const int32_t *shift;       /**< per unit */
} pm_fc_params_t;

/** @brief Parameters of average and max pooling (windows are clipped to the image). */
typedef struct {
    pm_dims_t input;   /**< input shape */
    pm_dims_t output;  /**< output shape (same channels) */
    int32_t filter_h;  /**< window height */
    int32_t filter_w;  /**< window width */
    int32_t stride_h;  /**< vertical stride */
    int32_t stride_w;  /**< horizontal stride */
    int32_t pad_h;     /**< padding before the first row */
    int32_t pad_w;     /**< padding before the first column */
    int32_t act_min;   /**< lower clamp */
    int32_t act_max;   /**< upper clamp */
} pm_pool_params_t;

/** @brief Parameters of the mean over height and width (global average pooling). */
typedef struct {
    pm_dims_t input;            /**< input shape; the output is {n, 1, 1, c} */
    int32_t input_zero_point;   /**< input zero point */
    int32_t output_zero_point;  /**< output zero point */
    int32_t multiplier;         /**< input scale / output scale */
    int32_t shift;              /**< its shift */
    int32_t count;              /**< h * w */
} pm_mean_params_t;

/** @brief Parameters of the element-wise addition of two int8 tensors with their own scales. */
typedef struct {
    int32_t size;               /**< elements */
    int32_t input1_offset;      /**< minus the first input's zero point */
    int32_t input2_offset;      /**< minus the second input's zero point */
    int32_t output_offset;      /**< the output zero point */
    int32_t left_shift;         /**< headroom shift applied to both inputs */
    int32_t input1_multiplier;  /**< first input rescale */
    int32_t input1_shift;       /**< its shift */
    int32_t input2_multiplier;  /**< second input rescale */
    int32_t input2_shift;       /**< its shift */
    int32_t output_multiplier;  /**< output rescale */
    int32_t output_shift;       /**< its shift */
    int32_t act_min;            /**< lower clamp */
    int32_t act_max;            /**< upper clamp */
} pm_add_params_t;

/** @brief Parameters of TFLM's int8 softmax (output scale 1/256, zero point -128). */
typedef struct {
    int32_t outer;              /**< rows */
    int32_t depth;              /**< values per row (the softmax axis) */
    int32_t input_multiplier;   /**< beta * input scale in Q5.26, as a multiplier */
    int32_t input_left_shift;   /**< its left shift */
    int32_t diff_min;           /**< differences below this give exp = 0 */
} pm_softmax_params_t;

/** @brief Parameters of constant padding of a tensor of rank <= 4 (extended with leading 1s). */
typedef struct {
    pm_dims_t input;      /**< input shape */
    pm_dims_t before;     /**< padding before, per dimension */
    pm_dims_t after;      /**< padding after, per dimension */
    int32_t pad_value;    /**< the fill value (the output zero point) */
} pm_pad_params_t;

/** @brief Parameters of concatenation: `outer` repetitions of each input's `copy_bytes[i]` block. */
typedef struct {
    int32_t num_inputs;          /**< number of inputs */
    int32_t outer;               /**< product of the dimensions before the axis */
    const int32_t *copy_bytes;   /**< per input: its size along the axis times the inner size */
} pm_concat_params_t;

/** @brief Parameters of requantization between int8 and uint8 (TFLite QUANTIZE). */
typedef struct {
    int32_t size;               /**< elements */
    int32_t input_zero_point;   /**< input zero point */
    int32_t output_zero_point;  /**< output zero point */
    int32_t multiplier;         /**< input scale / output scale */
    int32_t shift;              /**< its shift */
    int32_t out_min;            /**< output type minimum */
    int32_t out_max;            /**< output type maximum */
    int32_t input_unsigned;     /**< 1: input bytes are uint8 */
    int32_t output_unsigned;    /**< 1: output bytes are uint8 */
} pm_requant_params_t;

/**
 * @brief Parameters of a convolution fused with the residual ADD that consumes it.
 *
 * The convolution's int8 result never reaches memory: each value goes straight into the addition
 * with the residual tensor at the same index, so the sum may be written over the residual.
 */
typedef struct {
    pm_conv_params_t conv;    /**< the convolution */
    pm_add_params_t add;      /**< the addition (size = the convolution's output size) */
    int32_t conv_is_input1;   /**< 1: the convolution's output is the addition's first input */
} pm_conv_add_params_t;

/**
 * @brief Parameters of a convolution on generator-packed weights (pm_conv2d_packed_*; dilation 1).
 *
 * `weights` holds, per block of four output channels (the last block padded with zero filters), per
 * tap (ky, kx) and per group of four input channels, eight words: for each of the four output channels,
 * the int16 weights of input channels {0, 2} then {1, 3} of the group, low halfword first (the layout
 * pixmcu/codegen/packing.py writes). Filters whose input channels are not a multiple of 4 are packed
 * as if padded with zero channels. Bias (the layer's bias or 0) and requantization records are padded
 * likewise to a multiple of 4 output channels.
 */
typedef struct {
    pm_dims_t input;            /**< input shape */
    pm_dims_t filter;           /**< {cout, kh, kw, cin} of the original filter */
    pm_dims_t output;           /**< output shape */
    int32_t stride_h;           /**< vertical stride */
    int32_t stride_w;           /**< horizontal stride */
    int32_t pad_h;              /**< padding before the first row */
    int32_t pad_w;              /**< padding before the first column */
    int32_t input_offset;       /**< minus the input zero point */
    int32_t output_offset;      /**< the output zero point */
    int32_t act_min;            /**< lower clamp */
    int32_t act_max;            /**< upper clamp */
    int32_t short_requant;      /**< 1: every accumulator << (left shift) fits int32 (proved at generate time) */
    const int32_t *weights;     /**< packed weights, see above */
    const int32_t *bias;        /**< initial accumulator per output channel */
    const int32_t *requant;     /**< per output channel {multiplier, left shift, right shift, 2^right - 1}; with
                                     short_requant two words {multiplier, right shift} */
} pm_conv_packed_params_t;

/**
 * @brief A packed convolution fused with the residual ADD that consumes it.
 *
 * The ADD's input rescaling is tabulated: `conv_table[v + 128]` / `residual_table[v + 128]` is the
 * rescaled value of int8 v from the convolution / the residual; their sum is requantized with
 * `requant` (one record as in pm_conv_packed_params_t, padded to four words), offset and clamped.
 */
typedef struct {
    pm_conv_packed_params_t conv;   /**< the convolution */
    int32_t short_requant;          /**< 1: the ADD's sums take the short requantization path */
    int32_t output_offset;          /**< the ADD's output zero point */
    int32_t act_min;                /**< the ADD's lower clamp */
    int32_t act_max;                /**< the ADD's upper clamp */
    const int32_t *conv_table;      /**< 256 rescaled values of the convolution's int8 output */
    const int32_t *residual_table;  /**< 256 rescaled values of the residual */
    const int32_t *requant;         /**< the ADD's output requantization record */
} pm_conv_packed_add_params_t;

/**
 * @brief Parameters of a Helium convolution (pm_conv2d_mve_*; dilation 1) on int8 weights.
 *
 * `weights` holds the filter flattened per output channel to its window of n = kh * kw * cin bytes
 * (OHWI order), regrouped as [cout / 4][n / 16][4][16] with n rounded up to 16 and cout to 4 by zero
 * weights: per group of four output channels, 16 window bytes of each channel in turn. `requant`
 * holds per group of four output channels 16 words: the biases with input_offset x (sum of the filter)
 * folded in, the multipliers, the left shifts and the negated right shifts of TFLM's
 * MultiplyByQuantizedMultiplier (zeros for padding channels). Taps in the padding read the input zero
 * point, so the fold holds for every window.
 */
typedef struct {
    pm_dims_t input;            /**< input shape */
    pm_dims_t filter;           /**< {cout, kh, kw, cin} */
    pm_dims_t output;           /**< output shape */
    int32_t stride_h;           /**< vertical stride */
    int32_t stride_w;           /**< horizontal stride */
    int32_t pad_h;              /**< padding before the first row */
    int32_t pad_w;              /**< padding before the first column */
    int32_t input_offset;       /**< minus the input zero point (folded into the biases) */
    int32_t output_offset;      /**< the output zero point */
    int32_t act_min;            /**< lower clamp */
    int32_t act_max;            /**< upper clamp */
    int32_t right_only;         /**< 1: no channel has a left shift, each a right shift >= 1 (or multiplier 0) */
    const int8_t *weights;      /**< the regrouped filter */
    const int32_t *requant;     /**< per group of four output channels: biases, multipliers, left, -right shifts */
} pm_conv_mve_params_t;

/** @brief A Helium convolution fused with the residual ADD that consumes it (fields as pm_conv_packed_add_params_t). */
typedef struct {
    pm_conv_mve_params_t conv;      /**< the convolution */
    int32_t short_requant;          /**< 1: the ADD's sums take the short requantization path */
    int32_t output_offset;          /**< the ADD's output zero point */
    int32_t act_min;                /**< the ADD's lower clamp */
    int32_t act_max;                /**< the ADD's upper clamp */
    const int32_t *conv_table;      /**< 256 rescaled values of the convolution's int8 output */
    const int32_t *residual_table;  /**< 256 rescaled values of the residual */
    const int32_t *requant;         /**< the ADD's output requantization record */
} pm_conv_mve_add_params_t;

/**
 * @brief Parameters of the Helium depthwise convolution (pm_depthwise_conv2d_mve_s8; depth multiplier 1).
 *
 * `weights` is the filter {1, kh, kw, C} regrouped as [cp / 8][kh][kw][8] int8, cp = C rounded up to 8
 * with zero channels. `requant` holds per group of eight channels two records of 16 words as
 * pm_conv_mve_params_t's (biases with input_offset x (sum of the channel's taps) folded in,
 * multipliers, left shifts, negated right shifts), the first for the group's even channels, the second
 * for its odd ones; `bias` holds in the same lane order (cp words) raw bias minus folded bias, the start
 * of a window cut by the padding, whose valid taps then add (input + input_offset) x weight.
 */
typedef struct {
    pm_dims_t input;            /**< input shape */
    pm_dims_t filter;           /**< {1, kh, kw, C} of the original filter */
    pm_dims_t output;           /**< output shape (C channels) */
    int32_t stride_h;           /**< vertical stride */
    int32_t stride_w;           /**< horizontal stride */
    int32_t dilation_h;         /**< vertical dilation */
    int32_t dilation_w;         /**< horizontal dilation */
    int32_t pad_h;              /**< padding before the first row */
    int32_t pad_w;              /**< padding before the first column */
    int32_t input_offset;       /**< minus the input zero point */
    int32_t output_offset;      /**< the output zero point */
    int32_t act_min;            /**< lower clamp */
    int32_t act_max;            /**< upper clamp */
    const int8_t *weights;      /**< [cp / 8][kh][kw][8] int8 */
    const int32_t *bias;        /**< [cp] raw minus folded bias, for windows cut by the padding */
    const int32_t *requant;     /**< per group of eight channels: even, odd channels' records */
} pm_dw_mve_params_t;

/** @brief General convolution, portable C. */
int pm_conv2d_s8(const pm_conv_params_t *p, const int8_t *input, int8_t *output);
/** @brief General convolution with the DSP dual-MAC inner loop (portable stand-ins off-target). */
int pm_conv2d_dsp_s8(const pm_conv_params_t *p, const int8_t *input, int8_t *output);
/** @brief Scratch bytes pm_conv2d_dsp_s8 needs (0: it widens operands in registers). */
int32_t pm_conv2d_dsp_s8_scratch_size(const pm_conv_params_t *p);
/** @brief 1x1 convolution without padding (any stride); DSP inner loop where available. */
int pm_conv2d_1x1_s8(const pm_conv_params_t *p, const int8_t *input, int8_t *output);
/**
 * @brief Convolution followed by a residual addition, bit-identical to running both layers.
 * @p output may be the same buffer as @p residual, never overlapping @p input.
 */
int pm_conv2d_add_s8(const pm_conv_add_params_t *p, const int8_t *input, const int8_t *residual, int8_t *output);
/** @brief Convolution on packed weights; input channels a multiple of 4. DSP inner loop where available. */
int pm_conv2d_packed_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *output);
/**
 * @brief pm_conv2d_packed_s8 followed by the residual ADD, bit-identical to running both layers.
 * @p output may be the same buffer as @p residual, never overlapping @p input.
 */
int pm_conv2d_packed_add_s8(const pm_conv_packed_add_params_t *p, const int8_t *input, const int8_t *residual,
                            int8_t *output);
/**
 * @brief pm_conv2d_packed_s8 on int8 weights (half the flash): `weights` holds per block of four
 * output channels, tap and group of four input channels four words, one per output channel, each the
 * four int8 weights of the group's input channels (byte k = channel k). Widened with SXTB16 in the kernel.
 */
int pm_conv2d_packed8_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *output);
/**
 * @brief Pointwise convolution (1x1, no padding, any stride) on pm_conv2d_packed_s8's weights: each
 * input pixel is widened to int16 once in @p scratch (4-byte aligned, pm_conv2d_packed_1x1_s8_scratch_size
 * bytes), then all output channels are summed over it.
 */
int pm_conv2d_packed_1x1_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output);
/** @brief Scratch bytes of pm_conv2d_packed_1x1_s8 and pm_conv2d_packed8_1x1_s8. */
int32_t pm_conv2d_packed_1x1_s8_scratch_size(const pm_conv_packed_params_t *p);
/** @brief pm_conv2d_packed_1x1_s8 on pm_conv2d_packed8_s8's int8 weights. */
int pm_conv2d_packed8_1x1_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output);
/** @brief Scratch bytes of pm_conv2d_packed8_1x1_s8 (as pm_conv2d_packed_1x1_s8_scratch_size). */
int32_t pm_conv2d_packed8_1x1_s8_scratch_size(const pm_conv_packed_params_t *p);
/** @brief pm_conv2d_packed_add_s8 on pm_conv2d_packed8_s8's int8 weights. */
int pm_conv2d_packed8_add_s8(const pm_conv_packed_add_params_t *p, const int8_t *input, const int8_t *residual,
                             int8_t *output);
/**
 * @brief pm_conv2d_packed_s8 on int4 weights (a quarter of the flash; every weight in [-8, 7]):
 * `weights` holds per block of four output channels, tap and group of four input channels two words,
 * word j byte k = input channel k of output channel 2j (low nibble) and 2j+1 (high nibble). The
 * generator takes this layout only where 16 x the largest |dot product| fits int32 (the kernel sums
 * the nibbles widened times 16).
 */
int pm_conv2d_packed4_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *output);
/** @brief pm_conv2d_packed_1x1_s8 on pm_conv2d_packed4_s8's int4 weights. */
int pm_conv2d_packed4_1x1_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output);
/** @brief Scratch bytes of pm_conv2d_packed4_1x1_s8 (as pm_conv2d_packed_1x1_s8_scratch_size). */
int32_t pm_conv2d_packed4_1x1_s8_scratch_size(const pm_conv_packed_params_t *p);
/** @brief pm_conv2d_packed_add_s8 on pm_conv2d_packed4_s8's int4 weights. */
int pm_conv2d_packed4_add_s8(const pm_conv_packed_add_params_t *p, const int8_t *input, const int8_t *residual,
                             int8_t *output);
/**
 * @brief pm_conv2d_packed_s8 on 2-bit weights (an eighth of the flash; every weight in [-2, 1]):
 * `weights` holds per block of four output channels, tap and group of four input channels one word,
 * byte k = input channel k, bits 2j+1:2j = output channel j (lowest bits first, two's complement). The
 * generator takes this layout only where 64 x the largest |dot product| fits int32 (the kernel sums
 * the fields widened times 64).
 */
int pm_conv2d_packed2_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *output);
/** @brief pm_conv2d_packed_1x1_s8 on pm_conv2d_packed2_s8's 2-bit weights. */
int pm_conv2d_packed2_1x1_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output);
/** @brief Scratch bytes of pm_conv2d_packed2_1x1_s8 (as pm_conv2d_packed_1x1_s8_scratch_size). */
int32_t pm_conv2d_packed2_1x1_s8_scratch_size(const pm_conv_packed_params_t *p);
/** @brief pm_conv2d_packed_add_s8 on pm_conv2d_packed2_s8's 2-bit weights. */
int pm_conv2d_packed2_add_s8(const pm_conv_packed_add_params_t *p, const int8_t *input, const int8_t *residual,
                             int8_t *output);
/** @brief Packed convolution for any input channel count: pads the channels to a multiple of 4 in @p scratch. */
int pm_conv2d_packed_pad_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output);
/** @brief Scratch bytes pm_conv2d_packed_pad_s8 needs: the input with channels rounded up to a multiple of 4. */
int32_t pm_conv2d_packed_pad_s8_scratch_size(const pm_conv_packed_params_t *p);
/**
 * @brief Convolution with Helium (MVE) dot products on Cortex-M55; portable C elsewhere. Windows cut
 * by the padding (or not contiguous in the input) are copied into @p scratch first.
 */
int pm_conv2d_mve_s8(const pm_conv_mve_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output);
/** @brief Scratch bytes pm_conv2d_mve_s8 needs: one window, kh * kw * cin. */
int32_t pm_conv2d_mve_s8_scratch_size(const pm_conv_mve_params_t *p);
/**
 * @brief pm_conv2d_mve_s8 followed by the residual ADD, bit-identical to running both layers.
 * @p output may be the same buffer as @p residual, never overlapping @p input.
 */
int pm_conv2d_mve_add_s8(const pm_conv_mve_add_params_t *p, const int8_t *input, const int8_t *residual,
                         int8_t *scratch, int8_t *output);
/** @brief Scratch bytes pm_conv2d_mve_add_s8 needs: one window and one pixel's outputs, kh * kw * cin + cout. */
int32_t pm_conv2d_mve_add_s8_scratch_size(const pm_conv_mve_add_params_t *p);
/**
 * @brief Packed convolution for few input channels (an RGB first layer): each output row's windows are
 * copied into @p scratch as contiguous patches, then multiplied as a 1x1 convolution. The weights are
 * packed from the filter flattened to {cout, 1, 1, kh * kw * cin}.
 */
int pm_conv2d_packed_patch_s8(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output);
/** @brief Scratch bytes pm_conv2d_packed_patch_s8 needs: one output row of patches (kh*kw*cin rounded up to 4). */
int32_t pm_conv2d_packed_patch_s8_scratch_size(const pm_conv_packed_params_t *p);
/**
 * @brief Parameters of the SIMD depthwise convolution (pm_depthwise_conv2d_dsp_s8; depth multiplier 1).
 *
 * `weights` is the filter {1, kh, kw, C} widened to int16 and regrouped as [cp / 4][kh][kw][4], cp = C
 * rounded up to 4 with zero channels, each tap's four channels in the lane order 0, 2, 1, 3 (the
 * layout pixmcu/codegen/kernels.py writes): a tap's weights are two words {w0|w2, w1|w3}, the lanes
 * SXTB16 makes of four input bytes, and a group's taps are consecutive. Bias and requantization
 * records (pm_requant_fast.h) are padded likewise to cp. With short_requant = 1 weights and bias are
 * stored doubled (the accumulators are then the doubled sums the short path requantizes).
 */
typedef struct {
    pm_dims_t input;            /**< input shape */
    pm_dims_t filter;           /**< {1, kh, kw, C} of the original filter */
    pm_dims_t output;           /**< output shape (C channels) */
    int32_t stride_h;           /**< vertical stride */
    int32_t stride_w;           /**< horizontal stride */
    int32_t dilation_h;         /**< vertical dilation */
    int32_t dilation_w;         /**< horizontal dilation */
    int32_t pad_h;              /**< padding before the first row */
    int32_t pad_w;              /**< padding before the first column */
    int32_t input_offset;       /**< minus the input zero point */
    int32_t output_offset;      /**< the output zero point */
    int32_t act_min;            /**< lower clamp */
    int32_t act_max;            /**< upper clamp */
    int32_t short_requant;      /**< 1: the short requantization path is exact (proved at generate time) */
    const int16_t *weights;     /**< [cp / 4][kh][kw][4] int16, lanes 0, 2, 1, 3; see above */
    const int32_t *bias;        /**< [cp] initial accumulators */
    const int32_t *requant;     /**< [cp] requantization records (as in pm_conv_packed_params_t) */
} pm_dw_params_t;

/**
 * @brief Depthwise convolution (multiplier 1, any kernel size, stride, dilation and padding) with the
 * Armv7E-M dual 16-bit multiplies: four channels per 32-bit load, widened with SXTAB16, each lane
 * multiplied with SMLABB/SMLATT against pre-widened weights; portable C elsewhere. Bit-exact with TFLM's reference.
 */
int pm_depthwise_conv2d_dsp_s8(const pm_dw_params_t *p, const int8_t *input, int8_t *output);
/**
 * @brief Depthwise convolution (multiplier 1, any kernel size, stride, dilation and padding) with
 * Helium: eight channels per vector (VLDRB.S16, VMULLB/VMULLT.S16), requantized as a vector; portable C
 * elsewhere. Bit-exact with TFLM's reference.
 */
int pm_depthwise_conv2d_mve_s8(const pm_dw_mve_params_t *p, const int8_t *input, int8_t *output);
/** @brief General depthwise convolution. */
int pm_depthwise_conv2d_s8(const pm_conv_params_t *p, const int8_t *input, int8_t *output);
/** @brief Depthwise 3x3 convolution, dilation 1, depth multiplier 1. */
int pm_depthwise_conv2d_3x3_s8(const pm_conv_params_t *p, const int8_t *input, int8_t *output);
/** @brief Fully connected layer. */
int pm_fully_connected_s8(const pm_fc_params_t *p, const int8_t *input, int8_t *output);
/** @brief Average pooling. */
int pm_avg_pool2d_s8(const pm_pool_params_t *p, const int8_t *input, int8_t *output);
/** @brief Max pooling. */
int pm_max_pool2d_s8(const pm_pool_params_t *p, const int8_t *input, int8_t *output);
/** @brief Mean over height and width (global average pooling). */
int pm_mean_s8(const pm_mean_params_t *p, const int8_t *input, int8_t *output);
/** @brief Element-wise addition; @p output may be the same buffer as either input. */
int pm_add_s8(const pm_add_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);
/** @brief Softmax over the last axis. */
int pm_softmax_s8(const pm_softmax_params_t *p, const int8_t *input, int8_t *output);
/** @brief Constant padding. */
int pm_pad_s8(const pm_pad_params_t *p, const int8_t *input, int8_t *output);
/** @brief Concatenation of p->num_inputs tensors. */
int pm_concatenation_s8(const pm_concat_params_t *p, const int8_t *const *inputs, int8_t *output);
/** @brief int8 <-> uint8 requantization; @p output may be the same buffer as @p input. */
int pm_requantize_s8(const pm_requant_params_t *p, const void *input, void *output);

#ifdef __cplusplus
}
#endif

#include "pm_kernels_ops.h" /* issue 11 operators */

#endif /* PM_KERNELS_H */
