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


def _emit(c, op, kind: str, inputs: list[str], out_idx: int, attrs: dict) -> None:
    """Append one IR operator (an operator with several outputs becomes several of these)."""
    _emit_named(c, op, kind, inputs, c.tensor(out_idx, op), attrs)


def _slice_out(c, op, x_idx: int, out_idx: int, begin, strides, shape) -> None:
    expected = c.raw.tensors[out_idx].shape
    if int(np.prod(shape)) != int(np.prod(expected or (1,))):
        raise c.fail(op, f"the slice computed as {tuple(shape)} does not fit output shape {expected}")
    _emit(c, op, "slice", [c.tensor(x_idx, op)], out_idx,
          {"begin": tuple(int(b) for b in begin), "strides": tuple(int(s) for s in strides),
           "shape": tuple(int(n) for n in shape)})


def _strided_slice(c, op) -> None:
    x_idx = op.inputs[0]
    dims = c.raw.tensors[x_idx].shape
    rank = len(dims)
    begin, end, strides = (np.ravel(c.const(i, op, what)).astype(np.int64).tolist()
                           for i, what in zip(op.inputs[1:4], ("begin", "end", "strides")))
    o = op.options
    masks = {k: int(getattr(o, k)()) if o is not None else 0
             for k in ("BeginMask", "EndMask", "EllipsisMask", "NewAxisMask", "ShrinkAxisMask")}
    if masks["EllipsisMask"] or masks["NewAxisMask"]:
        raise c.fail(op, f"ellipsis mask {masks['EllipsisMask']} / new-axis mask {masks['NewAxisMask']} "
                         "are not supported (TFLM does not run them)")
    if o is not None and hasattr(o, "Offset") and o.Offset():
        raise c.fail(op, "STRIDED_SLICE with offset=true is not supported")
    if not len(begin) == len(end) == len(strides) == rank:
        raise c.fail(op, f"begin {begin}, end {end}, strides {strides} must have the input's rank {rank}")
    starts, sizes = [], []
    big = 1 << 40
    for d in range(rank):
        n, st = dims[d], strides[d]
        if st == 0:
            raise c.fail(op, f"stride 0 on axis {d}")
        # TFLM's StartForAxis / StopForAxis: masks, negative indices, clamping.
        start = (-big if st > 0 else big) if masks["BeginMask"] >> d & 1 else begin[d]
        start += n if start < 0 else 0
        start = min(max(start, 0), n) if st > 0 else min(max(start, -1), n - 1)
        if masks["ShrinkAxisMask"] >> d & 1:
            stop = start + 1
        else:
            stop = (big if st > 0 else -big) if masks["EndMask"] >> d & 1 else end[d]
            stop += n if stop < 0 else 0
            stop = min(max(stop, 0), n) if st > 0 else min(max(stop, -1), n - 1)
        count = max(0, -(-(stop - start) // st)) if st > 0 else max(0, -(-(start - stop) // -st))
        if count == 0:
            raise c.fail(op, f"axis {d} selects no element (begin {begin[d]}, end {end[d]}, stride {st})")
        starts.append(start)
        sizes.append(count)
    _slice_out(c, op, x_idx, op.outputs[0], starts, strides, sizes)


def _slice(c, op) -> None:
    x_idx = op.inputs[0]
    dims = c.raw.tensors[x_idx].shape
    begin = np.ravel(c.const(op.inputs[1], op, "the SLICE begin")).astype(np.int64).tolist()
    size = np.ravel(c.const(op.inputs[2], op, "the SLICE size")).astype(np.int64).tolist()
    size = [n - b if s == -1 else s for n, b, s in zip(dims, begin, size)]
    _slice_out(c, op, x_idx, op.outputs[0], begin, [1] * len(dims), size)


def _split_along(c, op, x_idx: int, axis_idx: int, sizes: list[int]) -> None:
    dims = c.raw.tensors[x_idx].shape
    axis = int(np.ravel(c.const(axis_idx, op, "the split axis"))[0]) % len(dims)
    if sum(sizes) != dims[axis] or len(sizes) != len(op.outputs):
        raise c.fail(op, f"split sizes {sizes} do not add up to axis {axis} of {dims} over {len(op.outputs)} outputs")
    at = 0
    for out_idx, n in zip(op.outputs, sizes):
        begin = [0] * len(dims)
        begin[axis] = at
        shape = list(dims)
        shape[axis] = n
        _slice_out(c, op, x_idx, out_idx, begin, [1] * len(dims), shape)
        at += n


def _split(c, op) -> None:
    axis_idx, x_idx = op.inputs[0], op.inputs[1]
    dims = c.raw.tensors[x_idx].shape
    axis = int(np.ravel(c.const(axis_idx, op, "the split axis"))[0]) % len(dims)
    num = len(op.outputs)
    if dims[axis] % num:
        raise c.fail(op, f"axis {axis} of {dims} does not split into {num} equal parts")
    _split_along(c, op, x_idx, axis_idx, [dims[axis] // num] * num)


def _split_v(c, op) -> None:
    x_idx, sizes_idx, axis_idx = op.inputs[:3]
    dims = c.raw.tensors[x_idx].shape
    axis = int(np.ravel(c.const(axis_idx, op, "the split axis"))[0]) % len(dims)
    sizes = np.ravel(c.const(sizes_idx, op, "the split sizes")).astype(np.int64).tolist()
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = dims[axis] - (sum(sizes) + 1)
    _split_along(c, op, x_idx, axis_idx, sizes)


def _unpack(c, op) -> None:
    x_idx = op.inputs[0]
    dims = c.raw.tensors[x_idx].shape
    axis = int(op.options.Axis()) % len(dims) if op.options is not None else 0
    for i, out_idx in enumerate(op.outputs):
        begin = [0] * len(dims)
        begin[axis] = i
        shape = list(dims)
        shape[axis] = 1
        _slice_out(c, op, x_idx, out_idx, begin, [1] * len(dims), shape)


def _pack(c, op) -> None:
    """PACK = each input viewed with a 1 inserted at the axis (RESHAPE, no code), then CONCATENATION."""
    from pixmcu.ir import Tensor

    out_rank = len(c.raw.tensors[op.outputs[0]].shape)
    axis = int(op.options.Axis()) % out_rank if op.options is not None else 0
    views = []
    for k, idx in enumerate(op.inputs):
        src = c.tensors[c.tensor(idx, op)]
        shape = src.shape[:axis] + (1,) + src.shape[axis:] if len(src.shape) == out_rank - 1 else src.shape
        name = f"{src.name}#pack{op.index}_{k}"
        c.tensors[name] = Tensor(name, shape, src.dtype, src.quant)
        _emit_named(c, op, "reshape", [src.name], name, {})
        views.append(name)
    _emit(c, op, "concatenation", views, op.outputs[0], {"axis": axis, "activation": "none"})


def _emit_named(c, op, kind: str, inputs: list[str], out: str, attrs: dict) -> None:
    from pixmcu.ir import GraphError, Operator

    try:
        c.ops.append(Operator(f"{kind}_{len(c.ops)}", kind, tuple(inputs), (out,), attrs))
    except GraphError as exc:
        raise c.fail(op, str(exc)) from None


def _resize(kind: str) -> Callable:
    def convert(c, op) -> None:
        o = op.options
        attrs = {"align_corners": bool(o.AlignCorners()) if o is not None else False,
                 "half_pixel_centers": bool(o.HalfPixelCenters()) if o is not None else False}
        out = c.raw.tensors[op.outputs[0]].shape
        size = np.ravel(c.const(op.inputs[1], op, "the output size")).tolist()
        if len(out) != 4 or list(out[1:3]) != [int(v) for v in size]:
            raise c.fail(op, f"output shape {out} does not match the requested size {size}")
        c.add(op, kind, [op.inputs[0]], attrs)
    return convert


def _svdf(c, op) -> None:
    """SVDF as TFLM runs it in int8: the fused activation is not applied (TFLM's integer kernel ignores it)."""
    ins = op.inputs
    if len(ins) != 5 or ins[3] < 0:
        raise c.fail(op, "SVDF needs input, weights_feature, weights_time, bias and state tensors (a bias is required)")
    if not c.raw.tensors[ins[4]].variable:
        raise c.fail(op, f"the SVDF state tensor '{c.raw.tensors[ins[4]].name}' is not a variable tensor")
    c.add(op, "svdf", list(ins), {"rank": int(op.options.Rank()) if op.options is not None else 0})


# UNIDIRECTIONAL_SEQUENCE_LSTM inputs pixmcu does not run, by position (TFLite's lstm_shared.h).
_LSTM_UNSUPPORTED = {9: "peephole (cell_to_input) weights", 10: "peephole (cell_to_forget) weights",
                     11: "peephole (cell_to_output) weights", 16: "a projection layer", 17: "a projection bias",
                     20: "layer normalization", 21: "layer normalization", 22: "layer normalization",
                     23: "layer normalization"}


def _lstm(c, op) -> None:
    """The LSTM of TFLM's int8 keyword models: four gates, no peephole, projection or layer norm, batch-major."""
    ins, o = op.inputs, op.options
    for k, what in _LSTM_UNSUPPORTED.items():
        if ins[k] >= 0:
            raise c.fail(op, f"UNIDIRECTIONAL_SEQUENCE_LSTM with {what} is not supported "
                             "(pixmcu runs the plain four-gate LSTM)")
    if ins[1] < 0 or ins[5] < 0:
        raise c.fail(op, "UNIDIRECTIONAL_SEQUENCE_LSTM without an input gate (CIFG) is not supported")
    if o is None:
        raise c.fail(op, "UNIDIRECTIONAL_SEQUENCE_LSTM has no options table")
    if o.TimeMajor():
        raise c.fail(op, "a time-major UNIDIRECTIONAL_SEQUENCE_LSTM is not supported (batch-major only)")
    if o.FusedActivationFunction() != 4:  # TANH, the Keras LSTM's cell activation
        raise c.fail(op, "UNIDIRECTIONAL_SEQUENCE_LSTM supports only the TANH cell activation")
    if o.DiagonalRecurrentTensors():
        raise c.fail(op, "UNIDIRECTIONAL_SEQUENCE_LSTM with diagonal recurrent tensors is not supported")
    for k, what in ((18, "hidden (output) state"), (19, "cell state")):
        if not c.raw.tensors[ins[k]].variable:
            raise c.fail(op, f"the LSTM {what} tensor '{c.raw.tensors[ins[k]].name}' is not a variable tensor")
    c.add(op, "unidirectional_sequence_lstm", [ins[0], *ins[1:9], *ins[12:16], ins[18], ins[19]],
          {"cell_clip": float(o.CellClip())})


CONVERTERS: dict[str, Callable] = {
    "SVDF": _svdf,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": _lstm,
    "STRIDED_SLICE": _strided_slice,
    "SLICE": _slice,
    "SPLIT": _split,
    "SPLIT_V": _split_v,
    "UNPACK": _unpack,
    "PACK": _pack,
    "RESIZE_NEAREST_NEIGHBOR": _resize("resize_nearest"),
    "RESIZE_BILINEAR": _resize("resize_bilinear"),
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
