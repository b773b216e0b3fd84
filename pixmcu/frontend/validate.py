"""Structural checks of a parsed .tflite model, before any conversion trusts its indices.

TFLM's micro_allocator and each kernel's Prepare() refuse a model whose indices, counts or option
tables are inconsistent; this module checks the same things once, so `tflite_to_ir` and everything
after it may index freely. Operators pixmcu does not know get only the generic checks.
"""

from __future__ import annotations

import numpy as np

from pixmcu.errors import PixmcuError
from pixmcu.frontend.tflite_reader import RawModel, RawOperator

_ONE = (1, 1)
# TFLite's operator signatures: opcode -> ((fewest, most inputs), (fewest, most outputs)); None = any.
# Facts about the format (TFLM's kernels check the same), so they cover operators pixmcu may add later.
ARITY = {
    "CONV_2D": ((2, 3), _ONE), "DEPTHWISE_CONV_2D": ((2, 3), _ONE), "FULLY_CONNECTED": ((2, 3), _ONE),
    "ADD": ((2, 2), _ONE), "AVERAGE_POOL_2D": (_ONE, _ONE), "MAX_POOL_2D": (_ONE, _ONE), "MEAN": ((2, 2), _ONE),
    "RESHAPE": ((1, 2), _ONE), "SOFTMAX": (_ONE, _ONE), "PAD": ((2, 2), _ONE), "PADV2": ((2, 3), _ONE),
    "CONCATENATION": ((1, None), _ONE), "QUANTIZE": (_ONE, _ONE), "DEQUANTIZE": (_ONE, _ONE),
    "TRANSPOSE": ((2, 2), _ONE), "LOGISTIC": (_ONE, _ONE), "TANH": (_ONE, _ONE), "HARD_SWISH": (_ONE, _ONE),
    "RELU": (_ONE, _ONE), "RELU6": (_ONE, _ONE), "LEAKY_RELU": (_ONE, _ONE), "PRELU": ((2, 2), _ONE),
    "MUL": ((2, 2), _ONE), "SUB": ((2, 2), _ONE), "SQUARED_DIFFERENCE": ((2, 2), _ONE),
    "MAXIMUM": ((2, 2), _ONE), "MINIMUM": ((2, 2), _ONE), "RESIZE_NEAREST_NEIGHBOR": ((2, 2), _ONE),
    "RESIZE_BILINEAR": ((2, 2), _ONE), "STRIDED_SLICE": ((4, 4), _ONE), "SLICE": ((3, 3), _ONE),
    "SPLIT": ((2, 2), (1, None)), "SPLIT_V": ((3, 3), (1, None)), "PACK": ((1, None), _ONE),
    "UNPACK": (_ONE, (1, None)), "SVDF": ((5, 5), _ONE), "UNIDIRECTIONAL_SEQUENCE_LSTM": ((24, 24), _ONE),
}
# Input positions that may be -1 (an omitted optional tensor, as TFLite writes it).
OPTIONAL_INPUTS = {"CONV_2D": (2,), "DEPTHWISE_CONV_2D": (2,), "FULLY_CONNECTED": (2,), "SVDF": (3,),
                   "UNIDIRECTIONAL_SEQUENCE_LSTM": (1, 5, 9, 10, 11, 12, 16, 17, 20, 21, 22, 23)}
# Data inputs that must have at least one axis (their axis arguments index it).
RANK1_INPUTS = {"TRANSPOSE": (0,), "STRIDED_SLICE": (0,), "SLICE": (0,), "SPLIT": (1,), "SPLIT_V": (0,),
                "UNPACK": (0,)}
_BIAS_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
# Operators whose parameters live only in their options table: without one there is nothing to run.
NEEDS_OPTIONS = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION")
# Rank-4 tensors by role: (input positions, and whether the output is too).
RANK4 = {"CONV_2D": ((0, 1), True), "DEPTHWISE_CONV_2D": ((0, 1), True), "AVERAGE_POOL_2D": ((0,), True),
         "MAX_POOL_2D": ((0,), True)}


def _fail(raw: RawModel, op: RawOperator | None, msg: str) -> PixmcuError:
    where = f" layer {op.index} ({op.opcode}):" if op is not None else ""
    return PixmcuError(f"{raw.path}:{where} {msg}")


def check_raw(raw: RawModel) -> None:
    """Raise PixmcuError naming the file and layer if the model's structure cannot be trusted."""
    n = len(raw.tensors)
    for role, idx in (("input", raw.inputs), ("output", raw.outputs)):
        if not idx:
            raise _fail(raw, None, f"the subgraph lists no {role} tensor")
        bad = [i for i in idx if not 0 <= i < n]
        if bad:
            raise _fail(raw, None, f"subgraph {role} tensor index {bad[0]} is out of range (the model has {n} tensors)")
    for op in raw.operators:
        _check_indices(raw, op, n)
        if op.opcode in ARITY:
            _check_known(raw, op)


def _check_indices(raw: RawModel, op: RawOperator, n: int) -> None:
    if not op.outputs:
        raise _fail(raw, op, "the operator has no output tensor")
    for role, idx, low in (("input", op.inputs, -1), ("output", op.outputs, 0)):
        bad = [i for i in idx if not low <= i < n]
        if bad:
            raise _fail(raw, op, f"{role} tensor index {bad[0]} is out of range (the model has {n} tensors)")


def _rank(raw: RawModel, idx: int) -> int:
    return len(raw.tensors[idx].shape)


def _check_known(raw: RawModel, op: RawOperator) -> None:
    code = op.opcode
    for role, (lo, hi), got in (("input", ARITY[code][0], len(op.inputs)), ("output", ARITY[code][1], len(op.outputs))):
        if not lo <= got <= (hi if hi is not None else got):
            want = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi is not None else f"at least {lo}"
            raise _fail(raw, op, f"expects {want} {role} tensors, the model gives {got}")
    optional = OPTIONAL_INPUTS.get(code, ())
    missing = [k for k, i in enumerate(op.inputs) if i < 0 and k not in optional]
    if missing:
        raise _fail(raw, op, f"input {missing[0]} is missing (index -1) but is required")
    for k in RANK1_INPUTS.get(code, ()):
        if _rank(raw, op.inputs[k]) < 1:
            raise _fail(raw, op, f"input {k} '{raw.tensors[op.inputs[k]].name}' has no axes (shape ())")
    if code in NEEDS_OPTIONS and op.options is None:
        raise _fail(raw, op, f"has no {code} options table (strides, padding and activation live there)")
    if code in RANK4:
        positions, with_out = RANK4[code]
        for k in positions:
            if _rank(raw, op.inputs[k]) != 4:
                raise _fail(raw, op, f"input {k} '{raw.tensors[op.inputs[k]].name}' must be 4-D, "
                                     f"has shape {raw.tensors[op.inputs[k]].shape}")
        if with_out and _rank(raw, op.outputs[0]) != 4:
            raise _fail(raw, op, f"output '{raw.tensors[op.outputs[0]].name}' must be 4-D, "
                                 f"has shape {raw.tensors[op.outputs[0]].shape}")
    if code == "MEAN":
        rank = _rank(raw, op.inputs[0])
        axes = _int_const(raw, op, 1, "the MEAN axis")
        if rank < 1 or axes.size == 0 or not all(-rank <= a < rank for a in axes.ravel()):
            raise _fail(raw, op, f"MEAN axes {axes.ravel().tolist()} are outside the input's rank {rank}")
    elif code == "CONCATENATION":
        rank = _rank(raw, op.outputs[0])
        axis = int(op.options.Axis())
        if not -rank <= axis < rank:
            raise _fail(raw, op, f"concatenation axis {axis} is outside the output's rank {rank}")
    elif code in ("PAD", "PADV2"):
        rank = _rank(raw, op.inputs[0])
        pads = _int_const(raw, op, 1, "the paddings")
        if pads.size != 2 * rank:
            raise _fail(raw, op, f"paddings hold {pads.size} values, a rank-{rank} input needs {2 * rank}")
        if len(op.inputs) > 2 and op.inputs[2] >= 0 and _int_const(raw, op, 2, "the pad value").size != 1:
            raise _fail(raw, op, "the pad value must hold exactly one value")


def _int_const(raw: RawModel, op: RawOperator, k: int, what: str) -> np.ndarray:
    t = raw.tensors[op.inputs[k]]
    if t.data is None:
        raise _fail(raw, op, f"{what} must be a constant tensor")
    if t.data.dtype.kind not in "iu":
        raise _fail(raw, op, f"{what} must be integers, tensor '{t.name}' is {t.dtype}")
    return np.asarray(t.data, dtype=np.int64)


def ignore_bias_axis(raw: RawModel) -> None:
    """TFLM never reads a bias tensor's quantized_dimension (its person-detection model writes 3 on
    1-D biases): give per-channel biases axis 0, or keep the first scale TFLM's params.scale holds."""
    for op in raw.operators:
        if op.opcode not in _BIAS_OPS or len(op.inputs) < 3 or op.inputs[2] < 0:
            continue
        t = raw.tensors[op.inputs[2]]
        if len(t.scale) <= 1:
            continue
        if len(t.shape) == 1 and t.shape[0] == len(t.scale):
            t.axis = 0
        else:
            t.scale, t.zero_point, t.axis = t.scale[:1], t.zero_point[:1], 0
