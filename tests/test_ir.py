"""The IR refuses graphs that break its invariants, naming the culprit."""

import numpy as np
import pytest

from pixmcu.ir import Graph, GraphError, Operator, Quantization, Tensor


def q(s=0.1, z=0):
    return Quantization((s,), (z,))


def conv_graph(out_shape=(1, 4, 4, 2), w_shape=(2, 3, 3, 3)):
    t = {
        "x": Tensor("x", (1, 4, 4, 3), "int8", q()),
        "w": Tensor("w", w_shape, "int8", Quantization((0.1,) * w_shape[0], (0,) * w_shape[0], 0),
                    np.ones(w_shape, np.int8)),
        "y": Tensor("y", out_shape, "int8", q()),
    }
    op = Operator("conv2d_0", "conv2d", ("x", "w"), ("y",),
                  {"stride": (1, 1), "dilation": (1, 1), "padding": "same", "activation": "none"})
    return Graph(t, (op,), ("x",), ("y",))


def test_valid_graph_builds_and_is_frozen():
    g = conv_graph()
    with pytest.raises(Exception):
        g.tensors["x"] = None
    with pytest.raises(ValueError):
        g.tensors["w"].data[0, 0, 0, 0] = 3


def test_wrong_output_shape_names_the_layer():
    with pytest.raises(GraphError, match=r"conv2d_0.*output shape"):
        conv_graph(out_shape=(1, 3, 3, 2))


def test_channel_mismatch_is_rejected():
    with pytest.raises(GraphError, match="input channels"):
        conv_graph(w_shape=(2, 3, 3, 4))


@pytest.mark.parametrize("kwargs, msg", [
    ({"shape": (1, 0, 3), "dtype": "int8"}, "non-positive"),
    ({"shape": (1, 2), "dtype": "int4"}, "dtype"),
    ({"shape": (2, 2), "dtype": "int8", "data": np.zeros((3,), np.int8)}, "data shape"),
])
def test_tensor_validation(kwargs, msg):
    with pytest.raises(GraphError, match=msg):
        Tensor("t", **kwargs)


def test_quantization_validation():
    # Sign rules depend on the tensor's role (pixmcu.graph_checks); finiteness is universal, and the message
    # names the channels that are wrong, not the first few.
    Quantization((-0.5, 0.0, 0.1), (0, 0, 0), 0)
    with pytest.raises(GraphError, match=r"channel 5 = nan, channel 7 = inf \(2 of 8\)"):
        Quantization((0.1,) * 5 + (float("nan"), 0.1, float("inf")), (0,), 0)
    with pytest.raises(GraphError, match="axis"):
        Quantization((0.1, 0.2), (0, 0))
    with pytest.raises(GraphError, match="per-channel"):
        Tensor("w", (3, 1), "int8", Quantization((0.1, 0.2), (0, 0), 0))


def test_operator_validation():
    with pytest.raises(GraphError, match="missing attributes"):
        Operator("c", "conv2d", ("x",), ("y",), {})
    with pytest.raises(GraphError, match="unknown kind"):
        Operator("c", "no_such_kind", ("x",), ("y",), {})
    with pytest.raises(GraphError, match="identifier"):
        Operator("bad name;", "reshape", ("x",), ("y",), {})


def test_read_before_write_and_double_write():
    t = {"x": Tensor("x", (1, 4), "int8", q()), "y": Tensor("y", (4,), "int8", q()),
         "z": Tensor("z", (2, 2), "int8", q())}
    r1 = Operator("reshape_0", "reshape", ("y",), ("z",), {})
    r0 = Operator("reshape_1", "reshape", ("x",), ("y",), {})
    with pytest.raises(GraphError, match="before it is computed"):
        Graph(t, (r1, r0), ("x",), ("z",))
    with pytest.raises(GraphError, match="more than once"):
        Graph(t, (r0, Operator("reshape_2", "reshape", ("x",), ("y",), {})), ("x",), ("y",))
