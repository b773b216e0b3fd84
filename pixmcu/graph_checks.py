"""What a graph must satisfy beyond its shapes before the reference and the generated C may run it.

`Graph` checks structure and shapes on construction; this module checks the numbers, once, at load:
quantization as TFLM reads it (which tensors may have negative or per-channel scales, zero points
inside the dtype, TFLM's own Prepare() checks), requantization constants the kernels can represent
(shifts of at most 31 bits either way, pm_requant.h), and caps on sizes that keep the host reference
and the device arena finite. Every failure is a GraphError naming the layer and the values at fault.
"""

from __future__ import annotations

import math

import numpy as np

from pixmcu.ir import Graph, GraphError, Operator, Tensor, describe_values
from pixmcu.quant import ACT_RANGES, INT32_MAX, INT32_MIN

# Per-tensor element cap (16 Mi): 64x the largest activation of any MCU model we know, and small
# enough that the reference's int64 temporaries of one image stay far below 1 GB.
MAX_TENSOR_ELEMENTS = 1 << 24
# Cap on all activations together: the arena can never exceed it.
MAX_ACTIVATION_BYTES = 64 << 20
# Cap on the values one output pixel's window reads times the output pixels (the reference's im2col).
MAX_WINDOW_ELEMENTS = 1 << 25
# Strides, dilated filter extents and pool filters: keeps every index computation of the C kernels
# (out * stride + tap) far inside int32.
MAX_EXTENT = 1 << 16
# Shifts pm_requant.h represents (pm_shl_wrap and pm_rdbpot take 0..31). Every lowered parameter
# `<p>shift` (or `shift<s>`) that has its `<p>multiplier` (`multiplier<s>`) beside it is a
# quantize_multiplier pair the kernels apply through pm_mbqm, whatever the operator kind.
SHIFT_RANGE = (-31, 31)
# TFLM's 64-bit MultiplyByQuantizedMultiplier (16x8 convolutions and FC) shifts by 15 - shift >= 8.
SHIFT_RANGE_16X8 = (-31, 7)
# Inputs that carry weights (any finite scale, per-channel allowed) and biases (quantization ignored,
# as TFLM ignores it, except FULLY_CONNECTED's per-tensor check) per operator kind.
WEIGHT_INPUTS = {"conv2d": (1,), "depthwise_conv2d": (1,), "fully_connected": (1,)}
BIAS_INPUTS = {"conv2d": (2,), "depthwise_conv2d": (2,), "fully_connected": (2,)}
_F32_TINY = float(np.finfo(np.float32).tiny)


def _err(op: Operator | None, msg: str) -> GraphError:
    return GraphError(f"layer '{op.name}' ({op.kind}): {msg}" if op is not None else msg)


def validate_graph(graph: Graph) -> None:
    """Raise GraphError if `graph` holds numbers pixmcu (or TFLM) cannot run."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise _err(None, f"the model has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
                         "pixmcu runs models with one input and one output")
    for role, name in (("input", graph.inputs[0]), ("output", graph.outputs[0])):
        if graph.tensors[name].is_constant:
            raise _err(None, f"the model {role} '{name}' is a constant tensor")
    _check_state(graph)
    _check_sizes(graph)
    roles = _roles(graph)
    for name, t in graph.tensors.items():
        _check_tensor(t, roles.get(name, ("activation", None)))
    for op in graph.operators:
        _check_operator(graph, op)


# Operators that keep state, and how many of their last inputs are the variable tensors they update.
STATE_INPUTS = {"svdf": 1, "unidirectional_sequence_lstm": 2}


def _check_state(graph: Graph) -> None:
    """A variable (state) tensor belongs to the one stateful operator that reads and updates it: never
    the model's input or output, never another layer's output or input."""
    for name, t in graph.tensors.items():
        if not t.variable:
            continue
        if name in graph.inputs or name in graph.outputs:
            raise _err(None, f"the model {'input' if name in graph.inputs else 'output'} '{name}' is marked as a "
                             "variable (state) tensor")
        readers = [op for op in graph.operators if name in op.inputs]
        for op in graph.operators:
            if name in op.outputs:
                raise _err(op, f"writes the variable (state) tensor '{name}', which only its stateful reader updates")
        if len(readers) != 1 or name not in readers[0].inputs[-STATE_INPUTS.get(readers[0].kind, len(readers[0].inputs) + 1):]:
            users = ", ".join(f"'{op.name}' ({op.kind})" for op in readers) or "no layer"
            raise _err(None, f"variable (state) tensor '{name}' is read by {users}; it must be the state input of one "
                             f"stateful layer ({', '.join(sorted(STATE_INPUTS))})")


def _roles(graph: Graph) -> dict[str, tuple[str, Operator]]:
    roles: dict[str, tuple[str, Operator]] = {}
    for op in graph.operators:
        for k in WEIGHT_INPUTS.get(op.kind, ()):
            if k < len(op.inputs):
                roles[op.inputs[k]] = ("weight", op)
        for k in BIAS_INPUTS.get(op.kind, ()):
            if k < len(op.inputs):
                roles[op.inputs[k]] = ("bias", op)
    return roles


def _check_tensor(t: Tensor, role: tuple[str, Operator | None]) -> None:
    kind, op = role
    where = f"tensor '{t.name}'" + (f" ({kind} of layer '{op.name}')" if op is not None else "")
    q = t.quant
    if q is None or kind == "bias":
        return
    lo, hi = ACT_RANGES.get(t.dtype, (None, None))
    if lo is not None:
        bad = [(i, z) for i, z in enumerate(q.zero_point) if not lo <= z <= hi]
        if bad:
            raise GraphError(f"{where}: zero point outside {t.dtype} [{lo}, {hi}]: "
                             f"{describe_values(bad, len(q.zero_point))}")
    if kind == "weight":
        return  # any finite scale: TFLM runs negative (and zero) per-channel weight scales
    if q.per_channel:
        raise GraphError(f"{where}: per-channel quantization ({len(q.scale)} scales) is supported on "
                         "weights only, as in TFLM")
    s = q.scale[0]
    if not _F32_TINY <= s:
        raise GraphError(f"{where}: an activation scale must be a positive normal float32, got {s!r}")


def _check_operator(graph: Graph, op: Operator) -> None:
    from pixmcu.lowering import lower

    a = op.attrs
    if op.kind in ("conv2d", "depthwise_conv2d"):
        _bounded(op, "stride", a["stride"])
        w = graph.tensors[op.inputs[1]]
        ext = tuple((k - 1) * d + 1 for k, d in zip(w.shape[1:3], a["dilation"]))
        if not all(1 <= e <= MAX_EXTENT for e in ext):
            raise _err(op, f"dilation {tuple(a['dilation'])} stretches the {w.shape[1]}x{w.shape[2]} filter to "
                           f"{ext[0]}x{ext[1]}, over pixmcu's limit of {MAX_EXTENT}")
        _bounded(op, "dilation", a["dilation"])  # a 1x1 filter's extent does not bound its dilation
        _check_window(graph, op, w.shape[1:3])
    elif op.kind in ("avg_pool2d", "max_pool2d"):
        _bounded(op, "stride", a["stride"])
        _bounded(op, "filter", a["filter"])
    elif op.kind == "fully_connected":
        _check_fc_scales(graph, op)
    if op.kind in BIAS_INPUTS:
        _check_bias_range(graph, op)
    elif op.kind == "softmax":
        _check_softmax(graph, op)
    elif op.kind == "pad" and "pad_value" in a:
        out = graph.tensors[op.outputs[0]]
        lo, hi = ACT_RANGES.get(out.dtype, (None, None))
        if lo is not None and not (isinstance(a["pad_value"], int) and lo <= a["pad_value"] <= hi):
            raise _err(op, f"pad value {a['pad_value']!r} is outside {out.dtype} [{lo}, {hi}]")
    try:
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            params = lower(graph, op)
    except (ValueError, OverflowError, ZeroDivisionError, FloatingPointError, ArithmeticError) as exc:
        raise _err(op, f"its quantization parameters cannot be turned into integer constants ({exc})") from None
    for key, value in params.items():
        if isinstance(value, (int, np.integer)) and not INT32_MIN <= int(value) <= INT32_MAX:
            raise _err(op, f"requantization parameter {key} = {int(value)} does not fit int32; the scales of its "
                           "input, weights and output are too far apart")
        if "shift" not in key or key.replace("shift", "multiplier", 1) not in params:
            continue
        lo, hi = SHIFT_RANGE_16X8 if key == "shift" and _int64_accumulator(graph, op) else SHIFT_RANGE
        v = np.atleast_1d(np.asarray(value, dtype=np.int64))
        bad = [(i, int(s)) for i, s in enumerate(v) if not lo <= s <= hi]
        if bad:
            raise _err(op, f"requantization {key} outside the {lo}..{hi} bits the kernels represent: "
                           f"{describe_values(bad, v.size)}; the scales of its input, weights and output are too "
                           "far apart")


def _int64_accumulator(graph: Graph, op: Operator) -> bool:
    """16x8 convolutions and FC: int64 accumulators, requantized by TFLM's 64-bit routine."""
    return op.kind in BIAS_INPUTS and graph.tensors[op.inputs[0]].dtype == "int16"


def _bounded(op: Operator, what: str, values) -> None:
    if not all(1 <= int(v) <= MAX_EXTENT for v in values):
        raise _err(op, f"{what} {tuple(values)} must be between 1 and {MAX_EXTENT}")


def _check_window(graph: Graph, op: Operator, kernel: tuple[int, int]) -> None:
    x = graph.tensors[op.inputs[0]]
    out = graph.tensors[op.outputs[0]]
    (sh, sw), (dh, dw) = op.attrs["stride"], op.attrs["dilation"]
    (kh, kw), (oh, ow) = kernel, out.shape[1:3]
    padded = ((oh - 1) * sh + (kh - 1) * dh + 1) * ((ow - 1) * sw + (kw - 1) * dw + 1) * out.shape[3]
    im2col = oh * ow * kh * kw * x.shape[3]
    worst = max(padded, im2col)
    if worst > MAX_WINDOW_ELEMENTS:
        raise _err(op, f"its strides, dilations and filter make a padded window of {worst} values per image, "
                       f"over pixmcu's limit of {MAX_WINDOW_ELEMENTS}")


def _check_fc_scales(graph: Graph, op: Operator) -> None:
    """TFLM's GetQuantizedConvolutionMultipler (per-tensor weights only): the bias scale must be within
    2% of an output step of input*weight scale, and that product must not be negative."""
    w = graph.tensors[op.inputs[1]]
    if w.quant.per_channel:
        return
    x, out = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    in_s, w_s, out_s = (float(np.float32(t.quant.scale[0])) for t in (x, w, out))
    if len(op.inputs) > 2:
        b = graph.tensors[op.inputs[2]]
        bias_s = float(np.float32(b.quant.scale[0])) if b.quant is not None else 0.0
        diff = abs(in_s * w_s - bias_s) / out_s
        if not diff <= 0.02:
            raise _err(op, f"bias scale {bias_s!r} differs from input x weight scale {in_s * w_s!r} by {diff:.3g} "
                           "output steps; TFLM allows 0.02")
    if float(np.float32(in_s) * np.float32(w_s)) < 0:
        raise _err(op, f"per-tensor weight scale {w_s!r} is negative; TFLM runs negative scales per channel only")


# Accumulator range per input (activation) dtype: (the bound |accumulator| must stay below, the most
# one tap adds).
# int8: |x - zero point| <= 255 and |w| <= 128, so a tap adds under 2^15 (also with the input offset
# folded into the bias, as the kernels do). 16x8: TFLM's 64-bit requantization needs |acc| < 2^47
# (its product with the 16-bit multiplier stays inside int64); a tap adds at most 2^15 * 2^7.
ACC_RANGE = {"int8": (1 << 31, 1 << 15), "int16": (1 << 47, 1 << 22)}


def _check_bias_range(graph: Graph, op: Operator) -> None:
    """The bias plus every tap's product must fit the accumulator (TFLM's kernels overflow, which is
    undefined behaviour in C, where it does not)."""
    x = graph.tensors[op.inputs[0]]
    if len(op.inputs) < 3 or x.dtype not in ACC_RANGE:
        return
    w, b = graph.tensors[op.inputs[1]], graph.tensors[op.inputs[2]]
    if not b.is_constant or w.size == 0:
        return
    acc, per_tap = ACC_RANGE[x.dtype]
    taps = w.size // (w.shape[-1] if op.kind == "depthwise_conv2d" else w.shape[0])
    limit = acc - taps * per_tap
    if limit <= 0:
        raise _err(op, f"its {taps} taps per output can overflow the accumulator (+-{acc})")
    v = [int(x) for x in np.asarray(b.data, dtype=np.int64).ravel()]
    bad = [(i, x) for i, x in enumerate(v) if abs(x) >= limit]
    if bad:
        raise _err(op, f"{b.dtype} bias beyond the +-{limit} that keeps its {taps}-tap accumulator inside "
                       f"+-{acc}: {describe_values(bad, len(v))}")


def _check_softmax(graph: Graph, op: Operator) -> None:
    """TFLM's PreprocessSoftmaxScaling -> QuantizeMultiplierGreaterThanOne requires beta * scale * 2^26 > 1."""
    beta = float(op.attrs["beta"])
    s = float(np.float32(graph.tensors[op.inputs[0]].quant.scale[0]))
    real = beta * s * (1 << 26) if math.isfinite(beta) else math.nan
    if not (math.isfinite(real) and real > 1.0):
        raise _err(op, f"softmax beta {beta!r} with input scale {s!r} gives beta*scale*2^26 = {real!r}; "
                       "TFLM needs it finite and above 1")


def _check_sizes(graph: Graph) -> None:
    total = 0
    for t in graph.tensors.values():
        if t.size > MAX_TENSOR_ELEMENTS:
            raise GraphError(f"tensor '{t.name}' {t.shape} has {t.size} elements, over pixmcu's limit of "
                             f"{MAX_TENSOR_ELEMENTS}")
        if not t.is_constant:
            total += t.nbytes
    if total > MAX_ACTIVATION_BYTES:
        raise GraphError(f"the activations take {total} bytes together, over pixmcu's arena limit of "
                         f"{MAX_ACTIVATION_BYTES} bytes")
