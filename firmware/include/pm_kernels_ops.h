/**
 * @file pm_kernels_ops.h
 * @brief Kernels of the operators added for issue 11: activations by table, broadcasting binary
 *        operators, strided copies (TRANSPOSE, slices), resizing.
 *
 * Same conventions as pm_kernels.h (which includes this header): int8 tensors, const parameter
 * structs filled by `pixmcu generate` from pixmcu.lowering, PM_OK or a negative PM_ERR_* code.
 */
#ifndef PM_KERNELS_OPS_H
#define PM_KERNELS_OPS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Dimensions the broadcasting and transposing kernels walk (lower ranks padded with leading 1s). */
#define PM_MAX_RANK 6

/**
 * @brief An int8 -> int8 function as a table: output[i] = table[(uint8_t)input[i]].
 *
 * LOGISTIC, TANH, HARD_SWISH, RELU, RELU6 and LEAKY_RELU map each of the 256 int8 values to one
 * int8 value; the generator evaluates TFLM's fixed-point arithmetic once per value (pixmcu.reference)
 * and the kernel only looks the result up.
 */
typedef struct {
    int32_t size;          /**< elements */
    const int8_t *table;   /**< 256 entries, indexed by the input byte (0..127 then -128..-1) */
} pm_lut_params_t;

/**
 * @brief Parameters of an int8 binary element-wise operator with broadcasting.
 *
 * Output element i (row-major over `shape`) reads input1 at offset sum(idx[d] * strides1[d]) and
 * input2 likewise; a broadcast dimension has stride 0. `shape` NULL means both inputs have the
 * output's shape (offset i for both). Which fields an operator reads is documented at its kernel.
 */
typedef struct {
    int32_t size;                /**< output elements */
    const int32_t *shape;        /**< PM_MAX_RANK output dimensions, or NULL */
    const int32_t *strides1;     /**< PM_MAX_RANK element strides of input1 (0: broadcast) */
    const int32_t *strides2;     /**< PM_MAX_RANK element strides of input2 */
    int32_t input1_offset;       /**< minus input1's zero point */
    int32_t input2_offset;       /**< minus input2's zero point */
    int32_t output_offset;       /**< the output zero point */
    int32_t left_shift;          /**< SUB / SQUARED_DIFFERENCE: headroom shift of both inputs */
    int32_t input1_multiplier;   /**< input1 rescale (SUB, SQUARED_DIFFERENCE); PRELU: x >= 0 rescale */
    int32_t input1_shift;        /**< its shift */
    int32_t input2_multiplier;   /**< input2 rescale (SUB, SQUARED_DIFFERENCE) */
    int32_t input2_shift;        /**< its shift */
    int32_t output_multiplier;   /**< output rescale; PRELU: rescale of x * alpha for x < 0 */
    int32_t output_shift;        /**< its shift */
    int32_t act_min;             /**< lower clamp */
    int32_t act_max;             /**< upper clamp */
} pm_binary_params_t;

/**
 * @brief Parameters of a strided copy (TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, UNPACK):
 *        output element idx (row-major over `shape`) reads input at offset + sum(idx[d] * strides[d]).
 */
typedef struct {
    int32_t size;              /**< elements */
    int32_t offset;            /**< input element of output element 0 */
    const int32_t *shape;      /**< PM_MAX_RANK output dimensions */
    const int32_t *strides;    /**< PM_MAX_RANK input strides (may be negative), one per output dimension */
} pm_strided_copy_params_t;

/**
 * @brief Parameters of RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR (int8 NHWC).
 *
 * The generator evaluates TFLM's coordinate arithmetic per output row and column: nearest reads
 * input row y0[y] and column x0[x]; bilinear also reads y1/x1 and weighs with the Q10 source
 * coordinates sy[y] / sx[x] exactly as TFLM's ResizeBilinearInteger.
 */
typedef struct {
    pm_dims_t input;         /**< input shape */
    pm_dims_t output;        /**< output shape (same n and c) */
    const int32_t *y0;       /**< output_h source rows (lower) */
    const int32_t *y1;       /**< output_h source rows (upper; bilinear) */
    const int32_t *sy;       /**< output_h Q10 source coordinates (bilinear) */
    const int32_t *x0;       /**< output_w source columns (lower) */
    const int32_t *x1;       /**< output_w source columns (upper; bilinear) */
    const int32_t *sx;       /**< output_w Q10 source coordinates (bilinear) */
} pm_resize_params_t;

/**
 * @name 16x8 mode
 * TFLite's int16-activation mode: int16 activations (zero point 0 for convolutions and fully
 * connected layers), int8 weights, int64 bias. Activation pointers are `void *` holding int16
 * (int8 or int16 for requantize) so generated code passes arena bytes without casts.
 */
/**@{*/
/** @brief A 16x8 convolution or depthwise convolution: `conv` as for int8 (its bias NULL), 64-bit bias here. */
typedef struct {
    pm_conv_params_t conv;   /**< shapes, strides, padding, per-channel requantization, clamps */
    const int64_t *bias;     /**< one per output channel, or NULL */
} pm_conv_s16_params_t;

/** @brief A 16x8 fully connected layer: `fc` as for int8 (its bias NULL), 64-bit bias here. */
typedef struct {
    pm_fc_params_t fc;       /**< sizes, requantization, clamps */
    const int64_t *bias;     /**< one per unit, or NULL */
} pm_fc_s16_params_t;

/** @brief QUANTIZE between int8 and int16: q = clamp(MBQM(x - input_zero_point) + output_zero_point). */
typedef struct {
    int32_t size;                /**< elements */
    int32_t input_zero_point;    /**< input zero point */
    int32_t output_zero_point;   /**< output zero point */
    int32_t multiplier;          /**< input scale / output scale */
    int32_t shift;               /**< its shift */
    int32_t out_min;             /**< output type minimum */
    int32_t out_max;             /**< output type maximum */
    int32_t input_bytes;         /**< 1: int8 input, 2: int16 */
    int32_t output_bytes;        /**< 1: int8 output, 2: int16 */
} pm_requant16_params_t;

/**
 * @brief int16 LOGISTIC and TANH: input * input_multiplier >> input_left_shift (rounded) indexes a
 *        256-entry table of sigmoid(i / 24) in unsigned 0.16 with linear interpolation, as TFLM.
 */
typedef struct {
    int32_t size;              /**< elements */
    int32_t input_multiplier;  /**< rescales the input to 3 * 4096 steps per unit */
    int32_t input_left_shift;  /**< rounding right shift after the multiplication */
    const int32_t *table;      /**< 256 entries */
} pm_sigmoid16_params_t;

/** @brief int16 LOGISTIC (see pm_sigmoid16_params_t). Output may alias input. */
int pm_logistic_s16(const pm_sigmoid16_params_t *p, const void *input, void *output);
/** @brief int16 TANH = 2 sigmoid(2x) - 1 on the same table. Output may alias input. */
int pm_tanh_s16(const pm_sigmoid16_params_t *p, const void *input, void *output);

/** @brief int16 SOFTMAX over the last dimension; the tables come from pixmcu (TFLite's gen_lut). */
typedef struct {
    int32_t outer;              /**< rows */
    int32_t depth;              /**< values per row */
    int32_t input_multiplier;   /**< input scale x beta / (10 / 65535) */
    int32_t input_shift;        /**< its shift */
    const int32_t *exp_lut;     /**< 513 entries: exp on [-10, 0] in Q0.15 */
    const int32_t *recip_lut;   /**< 513 entries: 1/(1+x) on [0, 1] in Q0.15 */
} pm_softmax16_params_t;

/** @brief int16 SOFTMAX (TFLM's SoftmaxInt16). Output may alias input only row by row: not in place. */
int pm_softmax_s16(const pm_softmax16_params_t *p, const void *input, void *output);

/** @brief 16x8 CONV_2D (TFLM reference, int64 accumulators, 64-bit requantization). */
int pm_conv2d_s16(const pm_conv_s16_params_t *p, const void *input, void *output);
/** @brief 16x8 DEPTHWISE_CONV_2D. */
int pm_depthwise_conv2d_s16(const pm_conv_s16_params_t *p, const void *input, void *output);
/** @brief 16x8 FULLY_CONNECTED. */
int pm_fully_connected_s16(const pm_fc_s16_params_t *p, const void *input, void *output);
/** @brief int16 ADD (pm_add_params_t with left_shift 15). Output may alias an input. */
int pm_add_s16(const pm_add_params_t *p, const void *input1, const void *input2, void *output);
/** @brief int16 AVERAGE_POOL_2D. */
int pm_avg_pool2d_s16(const pm_pool_params_t *p, const void *input, void *output);
/** @brief int16 MAX_POOL_2D. */
int pm_max_pool2d_s16(const pm_pool_params_t *p, const void *input, void *output);
/** @brief int16 MUL with broadcasting (pm_binary_params_t as pm_mul_s8). Output may alias a same-size input. */
int pm_mul_s16(const pm_binary_params_t *p, const void *input1, const void *input2, void *output);
/** @brief QUANTIZE int8 <-> int16 (see pm_requant16_params_t). */
int pm_requantize_s16(const pm_requant16_params_t *p, const void *input, void *output);
/**@}*/

/** @brief Table lookup (see pm_lut_params_t). Output may alias input. */
int pm_lut_s8(const pm_lut_params_t *p, const int8_t *input, int8_t *output);
/** @brief TFLM MUL: clamp(output_offset + MBQM((a + off1) * (b + off2), output_multiplier, output_shift)). */
int pm_mul_s8(const pm_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);
/** @brief TFLM SUB: both inputs shifted left and rescaled, subtracted, rescaled to the output (as ADD). */
int pm_sub_s8(const pm_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);
/** @brief TFLM SQUARED_DIFFERENCE: as SUB, the difference squared before the output rescale. */
int pm_squared_difference_s8(const pm_binary_params_t *p, const int8_t *input1, const int8_t *input2,
                             int8_t *output);
/** @brief TFLM MAXIMUM: the larger raw value (no rescaling, as TFLM). */
int pm_maximum_s8(const pm_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);
/** @brief TFLM MINIMUM: the smaller raw value (no rescaling, as TFLM). */
int pm_minimum_s8(const pm_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);
/** @brief TFLM PRELU: input1 = x, input2 = alpha; x >= 0 rescaled by input1_multiplier, else x * alpha by output_multiplier. */
int pm_prelu_s8(const pm_binary_params_t *p, const int8_t *input, const int8_t *alpha, int8_t *output);
/** @brief Strided copy (see pm_strided_copy_params_t). Buffers must not overlap. */
int pm_strided_copy_s8(const pm_strided_copy_params_t *p, const int8_t *input, int8_t *output);
/** @brief RESIZE_NEAREST_NEIGHBOR (see pm_resize_params_t). Buffers must not overlap. */
int pm_resize_nearest_s8(const pm_resize_params_t *p, const int8_t *input, int8_t *output);
/** @brief RESIZE_BILINEAR, TFLM's integer interpolation (see pm_resize_params_t). Buffers must not overlap. */
int pm_resize_bilinear_s8(const pm_resize_params_t *p, const int8_t *input, int8_t *output);

/**
 * @brief Parameters of TFLM's int8 SVDF (int16 weights_time and state; batch 1).
 *
 * feature[f] = clamp16(MBQM(sum_c weights_feature[f][c] * (input[c] + input_offset), multiplier_1, shift_1));
 * output[u] = clamp8(MBQM(bias[u] + sum over the unit's `rank` filters of sum_j weights_time[f][j] *
 * state[f][j], multiplier_2, shift_2) + output_offset), int32 sums wrapping as TFLM's.
 */
typedef struct {
    int32_t input_size;             /**< features per input */
    int32_t filters;                /**< rows of weights_feature; units = filters / rank */
    int32_t rank;
    int32_t memory;                 /**< state values per filter */
    int32_t input_offset;           /**< -input zero point */
    int32_t output_offset;          /**< output zero point */
    int32_t multiplier_1, shift_1;  /**< input x weights_feature -> state */
    int32_t multiplier_2, shift_2;  /**< state x weights_time -> output */
    const int8_t *weights_feature;  /**< [filters][input_size] */
    const int16_t *weights_time;    /**< [filters][memory] */
    const int32_t *bias;            /**< [units] */
} pm_svdf_params_t;

/** @brief TFLM SVDF, int8 with an int16 state of filters x memory values that the call updates:
 * the model's state, kept by the caller across inferences and zeroed to start a sequence. */
int pm_svdf_s8(const pm_svdf_params_t *p, const int8_t *input, int16_t *state, int8_t *output);

/**
 * @brief Parameters of TFLM's integer UNIDIRECTIONAL_SEQUENCE_LSTM (int8 input, weights and hidden
 *        state, int16 cell state; batch 1; no peephole, projection or layer norm).
 *
 * Per step and unit, gate k (input, forget, cell, output) = act(clamp16(clamp16(MBQM(W_k (x + input_offset)
 * + bias_k)) + clamp16(MBQM(R_k (h - hidden_zero_point))))) in Q0.15 (int16 LOGISTIC, TANH for the cell
 * gate, both read Q3.12); c = clamp16(clamp16(MBQM(f c, forget)) + clamp16(MBQM(i g, input_mul))), clipped
 * to +-cell_clip when > 0; h = clamp8(MBQM(tanh(c) o, output) + hidden_zero_point), tanh reading c with
 * tanh_multiplier / tanh_shift. h is the step's output and the next step's hidden state.
 */
typedef struct {
    int32_t steps, input_size, units;
    int32_t input_offset;                            /**< -input zero point */
    int32_t hidden_zero_point;                       /**< hidden state (= output) zero point */
    int32_t forget_multiplier, forget_shift;         /**< forget gate x cell -> cell */
    int32_t input_mul_multiplier, input_mul_shift;   /**< input gate x cell gate -> cell */
    int32_t output_multiplier, output_shift;         /**< tanh(cell) x output gate -> hidden */
    int32_t tanh_multiplier, tanh_shift;             /**< int16 TANH rescale of the cell state */
    int32_t cell_clip;                               /**< quantized clip; 0: none */
    const int8_t *input_weights;                     /**< [4][units][input_size] */
    const int8_t *recurrent_weights;                 /**< [4][units][units] */
    const int32_t *bias;                             /**< [4][units] */
    const int32_t *gate_requant;                     /**< [4][input m, s, recurrent m, s] */
    const int32_t *table;                            /**< the int16 LOGISTIC / TANH table (256 entries) */
} pm_lstm_params_t;

/** @brief TFLM's integer LSTM over `steps` time steps; `hidden` (int8) and `cell` (int16), `units` values
 * each, are the model's state, updated by the call and kept by the caller across inferences. */
int pm_unidirectional_sequence_lstm_s8(const pm_lstm_params_t *p, const int8_t *input, int8_t *hidden,
                                        int16_t *cell, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* PM_KERNELS_OPS_H */
