"""Reference of TFLM's int8 binary element-wise operators, with broadcasting (issue 11).

Shapes broadcast as in numpy (aligned on the right), which is what TFLM's Broadcast*Slow kernels
compute; constant operands (a PRELU alpha, a MINIMUM bound) come from the graph.
"""

from __future__ import annotations

import numpy as np

from pixmcu import quant
from pixmcu.ir import Graph, Operator


def operands(graph: Graph, op: Operator, inputs) -> list[np.ndarray]:
    """Both operands as int64 arrays (batch axis first), each reshaped to the output's rank."""
    rank = len(graph.tensors[op.outputs[0]].shape)
    it = iter(inputs)
    out = []
    for name in op.inputs:
        t = graph.tensors[name]
        v = t.data[None] if t.is_constant else next(it)
        lead = rank - len(t.shape)
        out.append(v.reshape((v.shape[0],) + (1,) * lead + t.shape).astype(np.int64))
    return out


def _clamp(y, p, dtype="int8") -> np.ndarray:
    return np.clip(y, p["act_min"], p["act_max"]).astype(dtype)


def mul(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    """int8, and int16 (16x8) with the same arithmetic in int16 ranges."""
    a, b = operands(graph, op, inputs)
    prod = quant.wrap32((a + p["input1_offset"]) * (b + p["input2_offset"]))
    return _clamp(p["output_offset"] + quant.multiply_by_quantized_multiplier(prod, p["output_multiplier"],
                                                                              p["output_shift"]), p,
                  graph.tensors[op.outputs[0]].dtype)


def _scaled(a, b, p):
    def one(x, offset, m, s):
        return quant.multiply_by_quantized_multiplier(quant.wrap32((x + offset) << p["left_shift"]), m, s)

    return (one(a, p["input1_offset"], p["input1_multiplier"], p["input1_shift"]),
            one(b, p["input2_offset"], p["input2_multiplier"], p["input2_shift"]))


def sub(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    sa, sb = _scaled(*operands(graph, op, inputs), p)
    raw = quant.multiply_by_quantized_multiplier(quant.wrap32(sa - sb), p["output_multiplier"], p["output_shift"])
    return _clamp(raw + p["output_offset"], p)


def squared_difference(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    sa, sb = _scaled(*operands(graph, op, inputs), p)
    d = quant.wrap32(sa - sb)
    raw = quant.multiply_by_quantized_multiplier(quant.wrap32(d * d), p["output_multiplier"], p["output_shift"])
    return _clamp(raw + p["output_offset"], p)


def maximum(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    a, b = operands(graph, op, inputs)
    return np.maximum(a, b).astype(np.int8)


def minimum(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    a, b = operands(graph, op, inputs)
    return np.minimum(a, b).astype(np.int8)


def prelu(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    x, alpha = operands(graph, op, inputs)
    v = x + p["input_offset"]
    pos = quant.multiply_by_quantized_multiplier(v, p["identity_multiplier"], p["identity_shift"])
    neg = quant.multiply_by_quantized_multiplier(quant.wrap32(v * (alpha + p["alpha_offset"])),
                                                 p["alpha_multiplier"], p["alpha_shift"])
    y = np.where(v >= 0, pos, neg) + p["output_offset"]
    return np.clip(y, -128, 127).astype(np.int8)


OPS = {"mul": mul, "sub": sub, "squared_difference": squared_difference, "maximum": maximum,
       "minimum": minimum, "prelu": prelu}
