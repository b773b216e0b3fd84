"""TFLite operators added for issue 11: how each becomes an IR operator.

Each converter takes the `_Converter` of tflite_to_ir and one raw operator; registering a TFLite
opcode in CONVERTERS is what makes the frontend accept it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def _transpose(c, op) -> None:
    ins = op.inputs
    rank = len(c.raw.tensors[ins[0]].shape)
    perm = tuple(int(p) for p in np.ravel(c.const(ins[1], op, "the TRANSPOSE permutation")))
    if sorted(p % rank if rank else p for p in perm) != list(range(rank)) or len(perm) != rank:
        raise c.fail(op, f"permutation {perm} is not a permutation of the {rank} input axes")
    c.add(op, "transpose", [ins[0]], {"perm": tuple(p % rank for p in perm)})


def _unary(kind: str) -> Callable:
    def convert(c, op) -> None:
        c.add(op, kind, [op.inputs[0]], {})
    return convert


def _leaky_relu(c, op) -> None:
    alpha = float(np.float32(op.options.Alpha())) if op.options is not None else 0.2
    c.add(op, "leaky_relu", [op.inputs[0]], {"alpha": alpha})


def _binary(kind: str, fused: bool) -> Callable:
    def convert(c, op) -> None:
        attrs = {}
        if fused:
            attrs["activation"] = c.activation(op, op.options.FusedActivationFunction() if op.options else 0)
        c.add(op, kind, list(op.inputs[:2]), attrs)
    return convert


CONVERTERS: dict[str, Callable] = {
    "TRANSPOSE": _transpose,
    "LOGISTIC": _unary("logistic"),
    "TANH": _unary("tanh"),
    "HARD_SWISH": _unary("hard_swish"),
    "RELU": _unary("relu"),
    "RELU6": _unary("relu6"),
    "LEAKY_RELU": _leaky_relu,
    "MUL": _binary("mul", True),
    "SUB": _binary("sub", True),
    "SQUARED_DIFFERENCE": _binary("squared_difference", False),
    "MAXIMUM": _binary("maximum", False),
    "MINIMUM": _binary("minimum", False),
    "PRELU": _binary("prelu", False),
}
