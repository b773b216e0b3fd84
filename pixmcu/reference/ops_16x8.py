"""TFLite's 16x8 mode (int16 activations, int8 weights, int64 bias) as TFLM's reference runs it.

Convolutions and fully connected layers accumulate in int64 and requantize with the 64-bit
MultiplyByQuantizedMultiplier (a 16-bit reduced multiplier, one rounding); ADD, pooling, RESHAPE
and QUANTIZE share the int8 code with int16 ranges. `wrap_16x8` puts the int16 path in front of
an operator kind's int8 reference.
"""

from __future__ import annotations

import numpy as np

from pixmcu import quant
from pixmcu.ir import Graph, Operator
from pixmcu.reference import ops as ops8


def mbqm64(x: np.ndarray, multiplier, shift) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier(int64_t x, int32_t multiplier, int shift)."""
    m = np.asarray(multiplier, np.int64)
    reduced = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - np.asarray(shift, np.int64)
    # static_cast<int32_t> of the 64-bit result, as TFLM (it only DCHECKs the range).
    return quant.wrap32((np.asarray(x, np.int64) * reduced + (np.int64(1) << (total - 1))) >> total)


def _requant16(acc: np.ndarray, p: dict) -> np.ndarray:
    out = mbqm64(acc, p["multiplier"], p["shift"]) + p["output_offset"]
    return np.clip(out, p["act_min"], p["act_max"]).astype(np.int16)


def _conv16(acc_fn):
    def run(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
        out_shape = graph.tensors[op.outputs[0]].shape
        return _requant16(acc_fn(graph, op, inputs, p), p).reshape(inputs[0].shape[:1] + out_shape)
    return run


KERNELS_16X8 = {
    "conv2d": _conv16(ops8.conv2d_acc),
    "depthwise_conv2d": _conv16(ops8.depthwise_acc),
    "fully_connected": _conv16(ops8.fully_connected_acc),
}


def is_16x8(graph: Graph, op: Operator) -> bool:
    return graph.tensors[op.inputs[0]].dtype == "int16"


def wrap_16x8(kind: str, int8_fn):
    fn16 = KERNELS_16X8[kind]

    def run(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
        return (fn16 if is_16x8(graph, op) else int8_fn)(graph, op, inputs, p)
    run.__name__ = kind
    return run


OPS = {kind: wrap_16x8(kind, ops8.OPS[kind]) for kind in KERNELS_16X8}
