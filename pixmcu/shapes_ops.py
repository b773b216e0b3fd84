"""Shape, dtype and quantization rules of the operators added for issue 11 (see pixmcu.shapes).

Each rule checks what TFLM's Prepare() checks for the int8 kernel, no more: a model TFLM runs is
accepted, and one it refuses is refused here with the values that are wrong.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from pixmcu.ir import Operator, Tensor

MAX_RANK = 6
UNARY = ("logistic", "tanh", "hard_swish", "relu", "relu6", "leaky_relu")
BINARY = ("mul", "sub", "squared_difference", "maximum", "minimum", "prelu")


def act_dtypes(*tensors: "Tensor") -> bool:
    """All int8, or all int16 (TFLite's 16x8 mode: int16 activations with int8 weights)."""
    return len({t.dtype for t in tensors}) == 1 and tensors[0].dtype in ("int8", "int16")


def bias_dtype(x: "Tensor") -> str:
    """int32 bias for int8 activations, int64 for int16 (16x8)."""
    return "int64" if x.dtype == "int16" else "int32"


def check_16x8(op: "Operator", t: list["Tensor"], out: "Tensor", expect: Callable) -> None:
    """TFLM's int16 convolutions and fully connected layers have no zero points: it checks they are 0."""
    if op.kind in ("conv2d", "depthwise_conv2d", "fully_connected") and t[0].dtype == "int16":
        for x in (t[0], out):
            expect(op, x.quant.zero_point == (0,),
                   f"int16 tensor '{x.name}' has zero point {x.quant.zero_point[0]}; 16x8 layers need 0 (TFLM checks it)")


def check_softmax_16(op: "Operator", x: "Tensor", out: "Tensor", expect: Callable) -> None:
    """TFLM's int16 SOFTMAX: zero points 0, output scale 1/32768 (within 0.1 %)."""
    expect(op, out.dtype == "int16", f"int16 softmax needs an int16 output, got {out.dtype}")
    expect(op, x.quant.zero_point == out.quant.zero_point == (0,),
           f"int16 softmax needs zero points 0, got {x.quant.zero_point[0]} and {out.quant.zero_point[0]}")
    expect(op, abs(out.quant.scale[0] - 1 / 32768) <= 0.001 / 32768,
           f"int16 softmax output scale must be 1/32768, got {out.quant.scale[0]}")


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """Numpy/TFLite broadcasting (shapes aligned on the right), or None when they do not broadcast."""
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(out)


def _transpose(op: "Operator", t: list["Tensor"], out: "Tensor", expect: Callable) -> None:
    x = t[0]
    perm = tuple(op.attrs["perm"])
    expect(op, len(x.shape) <= MAX_RANK, f"rank {len(x.shape)} is above {MAX_RANK}")
    expect(op, sorted(perm) == list(range(len(x.shape))), f"perm {perm} is not a permutation of rank {len(x.shape)}")
    exp = tuple(x.shape[p] for p in perm)
    expect(op, out.shape == exp, f"output shape {out.shape} should be {exp}")
    expect(op, x.dtype == out.dtype == "int8", f"input and output must be int8, got {x.dtype} and {out.dtype}")


def _unary(op: "Operator", t: list["Tensor"], out: "Tensor", expect: Callable) -> None:
    x = t[0]
    expect(op, len(t) == 1, f"expects one input, got {len(t)}")
    if op.kind in ("logistic", "tanh") and x.dtype == "int16":
        expect(op, out.dtype == "int16" and x.quant.zero_point == out.quant.zero_point == (0,),
               "int16 LOGISTIC / TANH need int16 input and output with zero point 0 (TFLM checks it)")
        expect(op, x.shape == out.shape, f"output shape {out.shape} must equal the input's {x.shape}")
        return
    expect(op, x.dtype == "int8" and out.dtype == "int8", f"input and output must be int8, got {x.dtype} and {out.dtype}")
    expect(op, x.shape == out.shape, f"output shape {out.shape} must equal the input's {x.shape}")
    if op.kind == "logistic":
        expect(op, out.quant.zero_point[0] == -128,
               f"int8 LOGISTIC output zero point must be -128 (TFLM checks it), got {out.quant.zero_point[0]}")


def _binary(op: "Operator", t: list["Tensor"], out: "Tensor", expect: Callable) -> None:
    expect(op, len(t) == 2, f"expects two inputs, got {len(t)}")
    a, b = t
    allowed = act_dtypes(a, b, out) if op.kind == "mul" else a.dtype == b.dtype == out.dtype == "int8"
    expect(op, allowed, f"inputs and output must be int8{' (or all int16)' if op.kind == 'mul' else ''}, "
                        f"got {a.dtype}, {b.dtype} and {out.dtype}")
    shape = broadcast_shape(a.shape, b.shape)
    expect(op, shape is not None, f"input shapes {a.shape} and {b.shape} do not broadcast")
    expect(op, len(shape) <= MAX_RANK, f"rank {len(shape)} is above {MAX_RANK}")
    expect(op, out.shape == shape, f"output shape {out.shape} should be the broadcast shape {shape}")
    for x in t + [out]:
        expect(op, not x.quant.per_channel, f"tensor '{x.name}' is quantized per channel; {op.kind} takes one scale")


def _slice(op: "Operator", t: list["Tensor"], out: "Tensor", expect: Callable) -> None:
    x = t[0]
    begin, strides, shape = (tuple(op.attrs[k]) for k in ("begin", "strides", "shape"))
    rank = len(x.shape)
    expect(op, rank <= MAX_RANK, f"rank {rank} is above {MAX_RANK}")
    expect(op, len(begin) == len(strides) == len(shape) == rank,
           f"begin {begin}, strides {strides} and shape {shape} must each have the input's rank {rank}")
    for d in range(rank):
        last = begin[d] + (shape[d] - 1) * strides[d]
        expect(op, strides[d] != 0 and 0 <= begin[d] < x.shape[d] and 0 <= last < x.shape[d],
               f"axis {d}: elements {begin[d]}..{last} step {strides[d]} leave the input's {x.shape[d]}")
    n = 1
    for d in shape:
        n *= d
    expect(op, out.size == n, f"output shape {out.shape} does not hold the slice {shape}")
    expect(op, x.dtype == out.dtype == "int8", f"input and output must be int8, got {x.dtype} and {out.dtype}")


def _resize(op: "Operator", t: list["Tensor"], out: "Tensor", expect: Callable) -> None:
    x = t[0]
    expect(op, len(x.shape) == 4 and len(out.shape) == 4, "input and output must be 4-D NHWC")
    expect(op, x.shape[0] == out.shape[0] and x.shape[3] == out.shape[3],
           f"output {out.shape} must keep the input's batch and channels {x.shape}")
    expect(op, x.dtype == out.dtype == "int8", f"input and output must be int8, got {x.dtype} and {out.dtype}")
    expect(op, not (op.attrs["align_corners"] and op.attrs["half_pixel_centers"]),
           "align_corners and half_pixel_centers cannot both be set (TFLM refuses it)")
    if op.kind == "resize_bilinear":
        from pixmcu.lowering_ops import bilinear_axis

        # TFLM's Q10 scale is rounded and its lower source index is not clamped: past some upscale
        # factor the last rows or columns read beyond the input.
        for axis, (n_in, n_out) in (("row", (x.shape[1], out.shape[1])), ("column", (x.shape[2], out.shape[2]))):
            lo = int(bilinear_axis(n_in, n_out, op.attrs["align_corners"], op.attrs["half_pixel_centers"])[1].max(initial=0))
            expect(op, lo < n_in, f"resizing {n_in} to {n_out} {axis}s reads source {axis} {lo} of {n_in} with TFLM's "
                                  "integer scale; the upscale factor is too large")


def _svdf(op: "Operator", t: list["Tensor"], out: "Tensor", expect: Callable) -> None:
    """TFLM's SVDF Prepare for the int8 variant (int16 weights_time and state), batch 1."""
    expect(op, len(t) == 5, "expects input, weights_feature, weights_time, bias and state")
    x, wf, wt, b, s = t
    rank = op.attrs["rank"]
    expect(op, [x.dtype, wf.dtype, wt.dtype, b.dtype, s.dtype, out.dtype] ==
           ["int8", "int8", "int16", "int32", "int16", "int8"],
           "supports int8 input, weights_feature and output, int16 weights_time and state, int32 bias; got "
           f"{x.dtype}, {wf.dtype}, {wt.dtype}, {s.dtype}, {b.dtype}, {out.dtype}")
    expect(op, len(x.shape) == 2 and x.shape[0] == 1, f"input must be [1, features], got {x.shape}")
    expect(op, wf.is_constant and wt.is_constant and b.is_constant, "weights and bias must be constant")
    expect(op, s.variable, f"state tensor '{s.name}' must be a variable tensor")
    expect(op, len(wf.shape) == 2 and wf.shape[1] == x.shape[1],
           f"weights_feature {wf.shape} must be [filters, {x.shape[1]}]")
    n_filter = wf.shape[0]
    expect(op, rank > 0 and n_filter % rank == 0, f"rank {rank} must divide the {n_filter} filters")
    expect(op, len(wt.shape) == 2 and wt.shape[0] == n_filter, f"weights_time {wt.shape} must be [{n_filter}, memory]")
    memory = wt.shape[1]
    expect(op, b.shape == (n_filter // rank,), f"bias {b.shape} must be [{n_filter // rank}]")
    expect(op, s.size == n_filter * memory, f"state {s.shape} must hold {n_filter} x {memory} values")
    expect(op, out.shape == (1, n_filter // rank), f"output {out.shape} must be [1, {n_filter // rank}]")
    expect(op, s.quant is not None and s.quant.zero_point[0] == 0,
           "the state must be symmetric (zero point 0), as TFLM's integer SVDF assumes")
    for w in (wf, wt):
        expect(op, not w.quant.per_channel, f"'{w.name}' must be quantized per tensor")


def _lstm(op: "Operator", t: list["Tensor"], out: "Tensor", expect: Callable) -> None:
    """TFLM's integer LSTM Prepare: int8 input, weights, hidden state and output, int32 biases, int16 cell
    state with a power-of-two scale, batch 1."""
    x, w, b, (h, c) = t[0], t[1:9], t[9:13], t[13:15]
    expect(op, len(x.shape) == 3 and x.shape[0] == 1, f"input must be [1, steps, features], got {x.shape}")
    expect(op, [x.dtype, out.dtype, h.dtype, c.dtype] == ["int8", "int8", "int8", "int16"],
           "supports int8 input, output and hidden state and an int16 cell state; got "
           f"{x.dtype}, {out.dtype}, {h.dtype}, {c.dtype}")
    units = h.size
    expect(op, all(v.dtype == "int8" and v.is_constant and not v.quant.per_channel for v in w),
           "the eight weight tensors must be constant int8, quantized per tensor")
    expect(op, all(v.shape == (units, x.shape[2]) for v in w[:4]), f"input weights must be [{units}, {x.shape[2]}]")
    expect(op, all(v.shape == (units, units) for v in w[4:]), f"recurrent weights must be [{units}, {units}]")
    expect(op, all(v.dtype == "int32" and v.is_constant and v.shape == (units,) for v in b),
           f"the four biases must be constant int32 [{units}]")
    expect(op, h.variable and c.variable, "the hidden and cell states must be variable tensors")
    expect(op, c.size == units, f"cell state {c.shape} must hold {units} values")
    expect(op, out.shape == (1, x.shape[1], units), f"output {out.shape} must be [1, {x.shape[1]}, {units}]")
    expect(op, all(v.quant is not None and v.quant.zero_point[0] == 0 for v in (*w, c)),
           "the weights and the cell state must be symmetric (zero point 0)")
    expect(op, out.quant.scale[0] == h.quant.scale[0] and out.quant.zero_point[0] == h.quant.zero_point[0],
           "the output must be quantized as the hidden state (TFLM copies one to the other)")
    log2 = math.log2(float(c.quant.scale[0]))
    expect(op, log2 == round(log2), f"the cell state scale {c.quant.scale[0]} must be a power of two")


CHECKS: dict[str, Callable] = {"svdf": _svdf, "unidirectional_sequence_lstm": _lstm, "transpose": _transpose, "slice": _slice, "resize_nearest": _resize,
                               "resize_bilinear": _resize, **{k: _unary for k in UNARY}, **{k: _binary for k in BINARY}}
