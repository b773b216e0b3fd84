"""Issue 12: every one-edit reproducer of a malformed .tflite gets one PixmcuError naming the file
(and the layer where there is one), exit 2 from the CLI, never a traceback."""

import pytest

from conftest import FIXTURES
from pixmcu.errors import PixmcuError
from pixmcu.frontend import load_model
from pixmcu.fuzz.tflite_fields import set_field

MODELS = FIXTURES / "models"
OPS = "subgraphs[0].operators"

# (fixture, field path suffix, new value, expected message part): the reproducers of issue 12.
REPRODUCERS = {
    "op_without_outputs": ("residual", f"{OPS}[2].outputs.length", 0, r"layer 2 \(ADD\): the operator has no output"),
    "subgraph_input_out_of_range": ("float_io", "subgraphs[0].inputs.length", 2, r"subgraph input tensor index"),
    "subgraph_input_index": ("float_io", "subgraphs[0].inputs[0]", 23, r"index 23 is out of range \(the model has 23"),
    "avg_pool_stride_0": ("uint8_io", f"{OPS}[3].Pool2DOptions.StrideH", 0, r"stride \(0, 1\) must be >= 1"),
    "opcode_of_another_op": ("conv_ops", f"{OPS}[5].OpcodeIndex", 0,
                             r"layer 5 \(CONV_2D\): its options table is of type Pool2DOptions"),
    "opcode_index_out_of_range": ("conv_ops", f"{OPS}[5].OpcodeIndex", 3, r"opcode index 3, but the model defines 3"),
    "conv_without_options": ("conv_ops", f"{OPS}[0].builtin_options@vtable", 0,
                             r"layer 0 \(CONV_2D\): has no CONV_2D options table"),
    "options_offset_out_of_file": ("conv_ops", f"{OPS}[0].builtin_options@offset", 1 << 30, r"malformed or truncated"),
    "mean_input_rank_0": ("mean_keepdims", "tensors[5].shape.length", 0, r"must be 4-D, has shape \(\)"),
    "softmax_beta_negative": ("pools_dense", f"{OPS}[6].SoftmaxOptions.Beta", -1.0, r"softmax beta -1.0 .* above 1"),
    "softmax_beta_tiny": ("pools_dense", f"{OPS}[6].SoftmaxOptions.Beta", 1e-6, r"softmax beta .* above 1"),
    "zero_point_int64_min": ("conv_ops", "tensors[0].quantization.zero_point[0]", -(1 << 63),
                             r"zero point outside int8 \[-128, 127\]: -9223372036854775808"),
    "zero_point_1000": ("conv_ops", "tensors[0].quantization.zero_point[0]", 1000, r"zero point outside int8 .*: 1000"),
    "scale_1e-30": ("conv_ops", "tensors[13].quantization.scale[0]", 1e-30, r"shift outside the -31..31 bits"),
    "scale_1e30": ("conv_ops", "tensors[2].quantization.scale[1]", 1e30, r"shift outside .*channel 1 = "),
    "dilation_2_20": ("conv_ops", f"{OPS}[2].Conv2DOptions.DilationHFactor", 1 << 20,
                      r"dilation \(1048576, 2\) stretches the 3x3 filter to 2097153x5, over pixmcu's limit of 65536"),
    "depthwise_dilation_2_31": ("conv_ops", f"{OPS}[3].DepthwiseConv2DOptions.DilationWFactor", (1 << 31) - 1,
                                r"layer 'depthwise_conv2d_3' .*dilation \(2, 2147483647\) does not fit"),
    # Found by the fuzzer on the issue-11 operators: requantization shifts are checked for every kind.
    "prelu_input_scale_3e8": ("../ops/bin_prelu", "subgraphs[0].tensors[0].quantization.scale[0]", 313690592.0,
                              r"layer .*\(prelu\): requantization .*shift outside the -31..31 bits"),
    "tanh16_input_scale_1e30": ("../ops/a16_tanh_8p0", "subgraphs[0].tensors[0].quantization.scale[0]", 1e30,
                                r"layer .*\(tanh\): .*input multiplier .* exceeds the 16 bits"),
    "logistic16_input_scale_2e6": ("../ops/a16_logistic_8p0", "subgraphs[0].tensors[0].quantization.scale[0]", 2441465.0,
                                   r"layer .*\(logistic\): .*input multiplier .* exceeds the 16 bits"),
    "conv_stride_0": ("conv_ops", f"{OPS}[0].Conv2DOptions.StrideW", 0, r"strides and dilations must be >= 1"),
}


def mutant(tmp_path, case):
    name, suffix, value, _ = REPRODUCERS[case]
    p = tmp_path / f"{case}.tflite"
    p.write_bytes(set_field((MODELS / f"{name}.tflite").read_bytes(), suffix, value))
    return p


@pytest.mark.parametrize("case", sorted(REPRODUCERS))
def test_reproducer_is_one_clear_error(tmp_path, case):
    path = mutant(tmp_path, case)
    with pytest.raises(PixmcuError, match=REPRODUCERS[case][3]) as info:
        load_model(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and "\n" not in msg


@pytest.mark.parametrize("case", ["softmax_beta_negative", "dilation_2_20", "options_offset_out_of_file",
                                  "op_without_outputs"])
def test_cli_exits_2_without_traceback(tmp_path, case, pixmcu_cli):
    path = mutant(tmp_path, case)
    for args in (("inspect", path), ("generate", path, "-o", tmp_path / "out")):
        code, out, err = pixmcu_cli(*args)
        assert code == 2, (args, err)
        assert str(path) in err and "Traceback" not in err


def test_constant_model_input_is_refused():
    import numpy as np

    from pixmcu.ir import Graph, GraphError, Operator, Quantization, Tensor
    from pixmcu.graph_checks import validate_graph

    q = Quantization((0.5,), (0,))
    tensors = {"x": Tensor("x", (1, 4), "int8", q, np.zeros((1, 4), np.int8)), "y": Tensor("y", (4,), "int8", q)}
    g = Graph(tensors, (Operator("r", "reshape", ("x",), ("y",), {}),), ("x",), ("y",))
    with pytest.raises(GraphError, match="the model input 'x' is a constant tensor"):
        validate_graph(g)


def test_tensor_type_enums(tmp_path):
    p = tmp_path / "t.tflite"
    p.write_bytes(set_field((MODELS / "conv_ops.tflite").read_bytes(), "subgraphs[0].tensors[0].Type", 99))
    with pytest.raises(PixmcuError, match=r"tensor 0 has tensor type 99, which TensorFlow Lite does not define"):
        load_model(p)
    p.write_bytes(set_field((MODELS / "conv_ops.tflite").read_bytes(), "subgraphs[0].tensors[0].Type", 5))  # STRING
    with pytest.raises(PixmcuError, match=r"has type string"):
        load_model(p)


def test_16x8_bias_beyond_the_int64_requantization_range(tmp_path):
    """Fuzzer find: two bytes of a 16x8 conv's int64 bias set to 0xFF overflowed TFLM's 64-bit
    requantization (x * multiplier in int64) in the generated C; now refused at load."""
    buf = bytearray((FIXTURES / "ops" / "q16_int16io.tflite").read_bytes())
    buf[5073] = buf[774] = 255
    p = tmp_path / "bias64.tflite"
    p.write_bytes(bytes(buf))
    with pytest.raises(PixmcuError, match=r"layer 'conv2d_0' \(conv2d\): int64 bias beyond .* inside \+-140737488355328: channel 3 ="):
        load_model(p)
