"""Integer parameters of the operators added for issue 11, as TFLM's Prepare() derives them.

Registered into pixmcu.lowering; the reference and the code generator read them from there.
Scales are float32 as TFLite stores them; where TFLM computes in float, so does this module.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pixmcu import quant
from pixmcu.ir import Graph, Operator

# gemmlowp's logistic and tanh take the input in Q4.27 (TFLM's kInputIntegerBits).
LUT_INPUT_INTEGER_BITS = 4
SUB_LEFT_SHIFT = 20  # int8; TFLM uses 15 for int16
SQUARED_DIFFERENCE_LEFT_SHIFT = 7


def _s(t) -> np.float32:
    return np.float32(t.quant.scale[0])


def _zp(t) -> int:
    return int(t.quant.zero_point[0])


def _io(graph: Graph, op: Operator):
    return graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]


def input_radius(integer_bits: int, left_shift: int, total_signed_bits: int = 31) -> int:
    """TFLite CalculateInputRadius."""
    rescaled = 1.0 * ((1 << integer_bits) - 1) * (1 << (total_signed_bits - integer_bits)) / (1 << left_shift)
    return int(math.floor(rescaled))


def _sigmoid_like_16(x) -> dict[str, Any]:
    """LOGISTIC and TANH (int16): the input rescaled so that 3 * 4096 steps are one unit (TFLM's Prepare);
    a power-of-two scale takes multiplier 3 << shift."""
    f = np.float32(x.quant.scale[0])
    log2 = float(np.float32(np.float32(math.log(float(f))) * np.float32(1.0 / math.log(2.0))))
    rounded = quant.tflite_round(log2)
    left_shift = (15 - 3) + int(rounded)
    if abs(log2 - rounded) < 1e-3 and left_shift in (0, 1):
        return {"input_multiplier": 3 << left_shift, "input_left_shift": 0}
    m = float(f) * 4096.0 * 3.0
    left_shift = 0
    while m <= 32767.0 / 2.0 and left_shift <= 30:
        left_shift += 1
        m *= 2.0
    if m >= 1 << 16:  # TFLM multiplies the int16 input in int32: a wider multiplier overflows there
        raise ValueError(f"int16 input scale {float(f)!r} is too large: the input multiplier {m:.0f} exceeds "
                         "the 16 bits TFLM's int16 LOGISTIC/TANH multiply in int32")
    return {"input_multiplier": int(m), "input_left_shift": left_shift}


def _sigmoid_like(graph: Graph, op: Operator) -> dict[str, Any]:
    """LOGISTIC and TANH (int8): input rescaled to Q4.27 with a frexp multiplier (a left shift)."""
    x, _ = _io(graph, op)
    if x.dtype == "int16":
        return _sigmoid_like_16(x)
    real = float(_s(x)) * float(1 << (31 - LUT_INPUT_INTEGER_BITS))
    q, left_shift = math.frexp(real)
    mult = int(quant.tflite_round(q * (1 << 31)))
    return {"input_zero_point": _zp(x), "input_multiplier": mult, "input_left_shift": left_shift,
            "input_range_radius": input_radius(LUT_INPUT_INTEGER_BITS, left_shift)}


def _down_scale_int16(m: int) -> int:
    """TFLite DownScaleInt32ToInt16Multiplier."""
    if m >= quant.INT32_MAX - (1 << 15):
        return 32767
    return (m + (1 << 15)) >> 16


def _hard_swish(graph: Graph, op: Operator) -> dict[str, Any]:
    x, out = _io(graph, op)
    hires = np.float32(np.float32(1.0 / 128.0) * _s(x))
    reluish_scale = np.float32(3.0 / 32768.0)
    om, oe = quant.quantize_multiplier(float(np.float32(hires / _s(out))))
    rm, re = quant.quantize_multiplier(float(np.float32(hires / reluish_scale)))
    if oe > 0:
        raise ValueError(f"HARD_SWISH output multiplier exponent {oe} > 0 (TFLM refuses it)")
    return {"input_zero_point": _zp(x), "output_zero_point": _zp(out),
            "output_multiplier": _down_scale_int16(om), "output_exponent": oe,
            "reluish_multiplier": _down_scale_int16(rm), "reluish_exponent": re}


def _relu(graph: Graph, op: Operator) -> dict[str, Any]:
    """RELU (int8): requantize, then clamp at zero; TFLM's ReluQuantized."""
    x, out = _io(graph, op)
    m, s = quant.quantize_multiplier(float(_s(x)) / float(_s(out)))
    act_min = max(-128, _zp(out) + int(quant.tflite_round(float(np.float32(0.0) / _s(out)))))
    return {"input_offset": _zp(x), "output_offset": _zp(out), "multiplier": m, "shift": s,
            "act_min": act_min, "act_max": 127}


def _relu6(graph: Graph, op: Operator) -> dict[str, Any]:
    """RELU6 (int8): TFLM clamps raw input values to [zp, q(6)] in the INPUT's quantization and
    does not requantize, whatever the output scale says."""
    x, _ = _io(graph, op)
    six = int(quant.tflite_round(float(np.float32(6.0) / _s(x)))) + _zp(x)
    return {"lower": _zp(x), "upper": int(np.clip(six, -128, 127))}


def _leaky_relu(graph: Graph, op: Operator) -> dict[str, Any]:
    x, out = _io(graph, op)
    alpha = np.float32(op.attrs["alpha"])
    ma, sa = quant.quantize_multiplier(float(np.float32(np.float32(_s(x) * alpha) / _s(out))))
    mi, si = quant.quantize_multiplier(float(np.float32(_s(x) / _s(out))))
    return {"input_zero_point": _zp(x), "output_zero_point": _zp(out), "alpha_multiplier": ma,
            "alpha_shift": sa, "identity_multiplier": mi, "identity_shift": si}


def _binary_io(graph: Graph, op: Operator):
    return graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]], graph.tensors[op.outputs[0]]


def _act(op: Operator, out) -> tuple[int, int]:
    return quant.activation_range(op.attrs.get("activation", "none"), _s(out), _zp(out), out.dtype)


def _mul(graph: Graph, op: Operator) -> dict[str, Any]:
    a, b, out = _binary_io(graph, op)
    m, s = quant.quantize_multiplier(float(_s(a)) * float(_s(b)) / float(_s(out)))
    lo, hi = _act(op, out)
    return {"input1_offset": -_zp(a), "input2_offset": -_zp(b), "output_offset": _zp(out),
            "output_multiplier": m, "output_shift": s, "act_min": lo, "act_max": hi}


def _scaled_pair(a, b, out, left_shift: int, square: bool) -> dict[str, Any]:
    sa, sb, so = float(_s(a)), float(_s(b)), float(_s(out))
    twice_max = 2.0 * max(sa, sb)
    m1, s1 = quant.quantize_multiplier(sa / twice_max)
    m2, s2 = quant.quantize_multiplier(sb / twice_max)
    if square:
        real_out = twice_max * twice_max / float(np.float32((1 << (2 * left_shift)) * np.float32(so)))
    else:
        real_out = twice_max / ((1 << left_shift) * so)
    mo, s_o = quant.quantize_multiplier(real_out)
    return {"input1_offset": -_zp(a), "input2_offset": -_zp(b), "output_offset": _zp(out),
            "left_shift": left_shift, "input1_multiplier": m1, "input1_shift": s1,
            "input2_multiplier": m2, "input2_shift": s2, "output_multiplier": mo, "output_shift": s_o}


def _sub(graph: Graph, op: Operator) -> dict[str, Any]:
    a, b, out = _binary_io(graph, op)
    lo, hi = _act(op, out)
    return {**_scaled_pair(a, b, out, SUB_LEFT_SHIFT, False), "act_min": lo, "act_max": hi}


def _squared_difference(graph: Graph, op: Operator) -> dict[str, Any]:
    a, b, out = _binary_io(graph, op)
    return {**_scaled_pair(a, b, out, SQUARED_DIFFERENCE_LEFT_SHIFT, True), "act_min": -128, "act_max": 127}


def _prelu(graph: Graph, op: Operator) -> dict[str, Any]:
    x, alpha, out = _binary_io(graph, op)
    m1, s1 = quant.quantize_multiplier(float(_s(x)) / float(_s(out)))
    m2, s2 = quant.quantize_multiplier(float(_s(x)) * float(_s(alpha)) / float(_s(out)))
    return {"input_offset": -_zp(x), "alpha_offset": -_zp(alpha), "output_offset": _zp(out),
            "identity_multiplier": m1, "identity_shift": s1, "alpha_multiplier": m2, "alpha_shift": s2}


def _none(graph: Graph, op: Operator) -> dict[str, Any]:
    return {}


def _transpose(graph: Graph, op: Operator) -> dict[str, Any]:
    return {"perm": tuple(op.attrs["perm"])}


def _slice(graph: Graph, op: Operator) -> dict[str, Any]:
    return {k: tuple(int(v) for v in op.attrs[k]) for k in ("begin", "strides", "shape")}


def _nearest_index(i: int, in_size: int, out_size: int, align: bool, half: bool) -> int:
    """TFLite GetNearestNeighbor, in float32 as TFLM computes it."""
    f32 = np.float32
    scale = f32(in_size - 1) / f32(out_size - 1) if align and out_size > 1 else f32(in_size) / f32(out_size)
    v = f32(f32(i) + f32(0.5 if half else 0.0)) * scale
    j = int(quant.tflite_round(float(v))) if align else int(math.floor(float(v)))
    j = min(j, in_size - 1)
    return max(0, j) if half else j


def bilinear_axis(in_size: int, out_size: int, align: bool, half: bool):
    """TFLite ComputeInterpolationValuesInteger for every output index: (Q10 source, lower, upper)."""
    scale = ((1 << 10) * in_size + out_size // 2) // out_size
    if align and out_size > 1:
        scale = ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    src, lo, hi = [], [], []
    for i in range(out_size):
        v = i * scale + (scale // 2 - (1 << 9) if half else 0)
        src.append(v)
        lo.append(max(int(v / 1024) if v < 0 else v // 1024, 0))  # C division truncates
        up = v + (1 << 10) - 1
        hi.append(min(int(up / 1024) if up < 0 else up // 1024, in_size - 1))
    return np.array(src, np.int64), np.array(lo, np.int64), np.array(hi, np.int64)


def _resize(graph: Graph, op: Operator) -> dict[str, Any]:
    x, out = _io(graph, op)
    align, half = bool(op.attrs["align_corners"]), bool(op.attrs["half_pixel_centers"])
    (_, h, w, _), (_, oh, ow, _) = x.shape, out.shape
    if op.kind == "resize_nearest":
        return {"y0": np.array([_nearest_index(i, h, oh, align, half) for i in range(oh)], np.int64),
                "x0": np.array([_nearest_index(i, w, ow, align, half) for i in range(ow)], np.int64)}
    sy, y0, y1 = bilinear_axis(h, oh, align, half)
    sx, x0, x1 = bilinear_axis(w, ow, align, half)
    return {"sy": sy, "y0": y0, "y1": y1, "sx": sx, "x0": x0, "x1": x1}


def _add(graph: Graph, op: Operator) -> dict[str, Any]:
    """ADD: TFLM's int8 parameters (left shift 20), or for int16 (16x8) the same with left shift 15."""
    from pixmcu.lowering import _add as add_int8

    a, b, out = _binary_io(graph, op)
    if a.dtype != "int16":
        return add_int8(graph, op)
    lo, hi = _act(op, out)
    return {**_scaled_pair(a, b, out, 15, False), "act_min": lo, "act_max": hi}


def _softmax(graph: Graph, op: Operator) -> dict[str, Any]:
    """SOFTMAX: TFLM's int8 parameters, or for int16 the input rescale that maps [-10, 0] to [-65535, 0]."""
    from pixmcu.lowering import _softmax as softmax_int8

    x, _ = _io(graph, op)
    if x.dtype != "int16":
        return softmax_int8(graph, op)
    # scale * beta is a float product in TFLM, then divided in double.
    m, s = quant.quantize_multiplier(float(np.float32(_s(x) * np.float32(op.attrs["beta"]))) / (10.0 / 65535.0))
    return {"input_multiplier": m, "input_shift": s, "depth": x.shape[-1]}


def _svdf(graph: Graph, op: Operator) -> dict[str, Any]:
    """TFLM's SVDF Prepare: both effective scales are float32 products widened to double."""
    x, wf, wt, b, s = (graph.tensors[n] for n in op.inputs)
    out = graph.tensors[op.outputs[0]]
    m1, sh1 = quant.quantize_multiplier(float(_s(x) * _s(wf) / _s(s)))
    m2, sh2 = quant.quantize_multiplier(float(_s(s) * _s(wt) / _s(out)))
    return {"rank": int(op.attrs["rank"]), "memory": int(wt.shape[1]), "input_offset": -_zp(x),
            "output_offset": _zp(out), "multiplier_1": m1, "shift_1": sh1, "multiplier_2": m2, "shift_2": sh2}


def _lstm(graph: Graph, op: Operator) -> dict[str, Any]:
    """TFLM's integer LSTM Prepare: gate FCs into Q3.12 (float32 scale products, then double), gate
    outputs in Q0.15, the inter-gate products' multipliers in double, and the cell state's power of two."""
    t = [graph.tensors[n] for n in op.inputs]
    x, h, c = t[0], t[13], t[14]
    gate_in, gate_out = 2.0 ** -12, 2.0 ** -15
    p: dict[str, Any] = {"input_offset": -_zp(x), "hidden_zero_point": _zp(h)}
    for i, g in enumerate(("input", "forget", "cell", "output")):
        p[f"{g}_input_multiplier"], p[f"{g}_input_shift"] = quant.quantize_multiplier(float(_s(x) * _s(t[1 + i])) / gate_in)
        p[f"{g}_recurrent_multiplier"], p[f"{g}_recurrent_shift"] = quant.quantize_multiplier(
            float(_s(h) * _s(t[5 + i])) / gate_in)
    cs = float(_s(c))
    p["forget_multiplier"], p["forget_shift"] = quant.quantize_multiplier(gate_out * cs / cs)
    p["input_mul_multiplier"], p["input_mul_shift"] = quant.quantize_multiplier(gate_out * gate_out / cs)
    p["output_multiplier"], p["output_shift"] = quant.quantize_multiplier(gate_out * gate_out / float(_s(h)))
    power = int(round(math.log2(cs)))
    left = 15 + power - 3
    # TFLM's int16 tanh: a power-of-two input scale takes multiplier 3 << shift; a negative shift becomes
    # multiplier 3 with a right shift.
    p["tanh_multiplier"], p["tanh_shift"] = (3 << left, 0) if left >= 0 else (3, -left)
    clip = float(op.attrs["cell_clip"])
    p["cell_clip"] = int(min(max(clip / cs, -32768.0), 32767.0)) if clip > 0 else 0
    return p


LOWER = {
    "svdf": _svdf,
    "unidirectional_sequence_lstm": _lstm,
    "add": _add,
    "softmax": _softmax,
    "slice": _slice, "resize_nearest": _resize, "resize_bilinear": _resize,
    "transpose": _transpose, "logistic": _sigmoid_like, "tanh": _sigmoid_like, "hard_swish": _hard_swish,
    "relu": _relu, "relu6": _relu6, "leaky_relu": _leaky_relu, "mul": _mul, "sub": _sub,
    "squared_difference": _squared_difference, "maximum": _none, "minimum": _none, "prelu": _prelu,
}
