"""Integer parameters of each operator, derived from the IR exactly as TFLM's Prepare() does.

The numpy reference and the C code generator both read their numbers from here, so the two can
only disagree in the kernels, never in the constants.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pixmcu import quant
from pixmcu.ir import Graph, Operator
from pixmcu.shapes import pad_before

SOFTMAX_DIFF_INTEGER_BITS = 5
ADD_LEFT_SHIFT = 20


def _scale(t) -> np.float32:
    return np.float32(t.quant.scale[0])


def _zp(t) -> int:
    return int(t.quant.zero_point[0])


def _act(op: Operator, out) -> tuple[int, int]:
    return quant.activation_range(op.attrs.get("activation", "none"), _scale(out), _zp(out), out.dtype)


def _conv_like(graph: Graph, op: Operator) -> dict[str, Any]:
    x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    out = graph.tensors[op.outputs[0]]
    cout = out.shape[-1]
    # PopulateConvolutionQuantizationParams: float32 scales widened to double, product in double.
    in_s = float(_scale(x))
    out_s = float(_scale(out))
    w_s = w.quant.scales(cout).astype(np.float64)
    mult, shift = quant.quantize_multipliers(in_s * w_s / out_s)
    act_min, act_max = _act(op, out)
    p: dict[str, Any] = {
        "input_offset": -_zp(x),
        "output_offset": _zp(out),
        "multiplier": mult,
        "shift": shift,
        "act_min": act_min,
        "act_max": act_max,
        "bias": (graph.tensors[op.inputs[2]].data.astype(np.int64) if len(op.inputs) > 2 else np.zeros(cout, np.int64)),
    }
    if op.kind in ("conv2d", "depthwise_conv2d"):
        _, h, wd, _ = x.shape
        kh, kw = w.shape[1], w.shape[2]
        sh, sw = op.attrs["stride"]
        dh, dw = op.attrs["dilation"]
        oh, ow = out.shape[1], out.shape[2]
        p.update(
            stride=(sh, sw),
            dilation=(dh, dw),
            pad=(pad_before(h, kh, sh, dh, oh), pad_before(wd, kw, sw, dw, ow)),
        )
    return p


def _fully_connected(graph: Graph, op: Operator) -> dict[str, Any]:
    x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    out = graph.tensors[op.outputs[0]]
    if w.quant.per_channel:
        return _conv_like(graph, op)
    # GetQuantizedConvolutionMultipler: input*filter scale in float32, then double division.
    product = float(np.float32(_scale(x) * np.float32(w.quant.scale[0])))
    m, s = quant.quantize_multiplier(product / float(_scale(out)))
    p = _conv_like(graph, op)
    cout = out.shape[-1]
    p["multiplier"] = np.full(cout, m, np.int64)
    p["shift"] = np.full(cout, s, np.int64)
    return p


def _add(graph: Graph, op: Operator) -> dict[str, Any]:
    a, b = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    out = graph.tensors[op.outputs[0]]
    sa, sb, so = float(_scale(a)), float(_scale(b)), float(_scale(out))
    twice_max = 2.0 * max(sa, sb)
    m1, s1 = quant.quantize_multiplier(sa / twice_max)
    m2, s2 = quant.quantize_multiplier(sb / twice_max)
    mo, so_ = quant.quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * so))
    act_min, act_max = _act(op, out)
    return {
        "input1_offset": -_zp(a),
        "input2_offset": -_zp(b),
        "output_offset": _zp(out),
        "left_shift": ADD_LEFT_SHIFT,
        "input1_multiplier": m1,
        "input1_shift": s1,
        "input2_multiplier": m2,
        "input2_shift": s2,
        "output_multiplier": mo,
        "output_shift": so_,
        "act_min": act_min,
        "act_max": act_max,
    }


def _pool(graph: Graph, op: Operator) -> dict[str, Any]:
    x = graph.tensors[op.inputs[0]]
    out = graph.tensors[op.outputs[0]]
    fh, fw = op.attrs["filter"]
    sh, sw = op.attrs["stride"]
    act_min, act_max = _act(op, out)
    return {
        "filter": (fh, fw),
        "stride": (sh, sw),
        "pad": (pad_before(x.shape[1], fh, sh, 1, out.shape[1]), pad_before(x.shape[2], fw, sw, 1, out.shape[2])),
        "act_min": act_min,
        "act_max": act_max,
    }


def _mean(graph: Graph, op: Operator) -> dict[str, Any]:
    x = graph.tensors[op.inputs[0]]
    out = graph.tensors[op.outputs[0]]
    m, s = quant.quantize_multiplier(float(_scale(x)) / float(_scale(out)))
    count = x.shape[1] * x.shape[2]
    # QuantizedMeanOrSum folds 1/count into the multiplier, trading a few bits for no division.
    extra = min(count.bit_length() - 1, 32, 31 + s)
    m = (m << extra) // count
    return {"input_zero_point": _zp(x), "output_zero_point": _zp(out), "multiplier": m, "shift": s - extra,
            "count": count}


def _softmax(graph: Graph, op: Operator) -> dict[str, Any]:
    x = graph.tensors[op.inputs[0]]
    bits = SOFTMAX_DIFF_INTEGER_BITS
    # PreprocessSoftmaxScaling
    real = min(float(op.attrs["beta"]) * float(_scale(x)) * (1 << (31 - bits)), float((1 << 31) - 1))
    m, left_shift = quant.quantize_multiplier(real)
    # CalculateInputRadius
    radius = math.floor(((1 << bits) - 1) * (1 << (31 - bits)) / (1 << left_shift))
    return {"input_multiplier": m, "input_left_shift": left_shift, "diff_min": -int(radius),
            "depth": x.shape[-1]}


def _pad(graph: Graph, op: Operator) -> dict[str, Any]:
    out = graph.tensors[op.outputs[0]]
    return {"paddings": tuple(tuple(p) for p in op.attrs["paddings"]),
            "pad_value": int(op.attrs.get("pad_value", _zp(out)))}


def _quantize(graph: Graph, op: Operator) -> dict[str, Any]:
    x = graph.tensors[op.inputs[0]]
    out = graph.tensors[op.outputs[0]]
    m, s = quant.quantize_multiplier(float(_scale(x)) / float(_scale(out)))
    return {"input_zero_point": _zp(x), "output_zero_point": _zp(out), "multiplier": m, "shift": s,
            "out_min": quant.ACT_RANGES[out.dtype][0], "out_max": quant.ACT_RANGES[out.dtype][1]}


def _concatenation(graph: Graph, op: Operator) -> dict[str, Any]:
    return {"axis": op.attrs["axis"]}


def _pixel_embedding(graph: Graph, op: Operator) -> dict[str, Any]:
    x, table = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    # A pure table read: no requantization, the table already holds the output's int8 values.
    return {"channels": x.shape[3], "embed_dim": int(op.attrs["embed_dim"]), "tables": table.shape[0],
            "shared": table.shape[0] == 1, "pixels": x.shape[1] * x.shape[2]}


def _none(graph: Graph, op: Operator) -> dict[str, Any]:
    return {}


_LOWER = {
    "conv2d": _conv_like,
    "depthwise_conv2d": _conv_like,
    "fully_connected": _fully_connected,
    "add": _add,
    "avg_pool2d": _pool,
    "max_pool2d": _pool,
    "mean": _mean,
    "softmax": _softmax,
    "pad": _pad,
    "quantize": _quantize,
    "pixel_embedding": _pixel_embedding,
    "concatenation": _concatenation,
    "reshape": _none,
}


def lower(graph: Graph, op: Operator) -> dict[str, Any]:
    """Integer parameters of `op`; arrays are int64 numpy arrays holding int32 values."""
    return _LOWER[op.kind](graph, op)


def macs(graph: Graph, op: Operator) -> int:
    """Multiply-accumulates of one inference of `op` (0 for data movement)."""
    out = graph.tensors[op.outputs[0]]
    if op.kind == "conv2d":
        w = graph.tensors[op.inputs[1]]
        return out.size * w.shape[1] * w.shape[2] * w.shape[3]
    if op.kind == "depthwise_conv2d":
        w = graph.tensors[op.inputs[1]]
        return out.size * w.shape[1] * w.shape[2]
    if op.kind == "fully_connected":
        w = graph.tensors[op.inputs[1]]
        return out.size * w.shape[1]
    if op.kind == "svdf":
        wf, wt = graph.tensors[op.inputs[1]], graph.tensors[op.inputs[2]]
        return wf.size + wt.size  # feature matmul, then the time dot products
    if op.kind == "unidirectional_sequence_lstm":
        steps = graph.tensors[op.inputs[0]].shape[1]
        return steps * sum(graph.tensors[n].size for n in op.inputs[1:9])  # 4 input + 4 recurrent FCs a step
    return 0


# Operators added for issue 11 keep their lowering in their own module.
from pixmcu.lowering_ops import LOWER as _LOWER_OPS  # noqa: E402

_LOWER.update(_LOWER_OPS)
