"""Numpy reference kernels, bit-exact with TFLM's reference integer kernels.

Every function takes `(graph, op, inputs, params)`: `inputs` are arrays with a leading batch axis in
front of the IR shape, `params` come from `pixmcu.lowering.lower`. Accumulations are exact: int64, or
float64 matrix products whose every partial sum stays far below 2**53.
"""

from __future__ import annotations

import numpy as np

from pixmcu import quant
from pixmcu.ir import Graph, Operator
from pixmcu.reference.softmax import softmax_s8


def _clamp_s8(x: np.ndarray, lo: int = -128, hi: int = 127, dtype: str = "int8") -> np.ndarray:
    return np.clip(x, lo, hi).astype(dtype)


def _requant(acc: np.ndarray, p: dict) -> np.ndarray:
    """Per-channel requantization along the last axis, then output offset and clamp."""
    acc = quant.wrap32(acc)
    out = quant.multiply_by_quantized_multiplier(acc, p["multiplier"], p["shift"]) + p["output_offset"]
    return _clamp_s8(out, p["act_min"], p["act_max"])


def _exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # |a| <= 255, |b| <= 128 and depth < 2**20 keep every float64 partial sum exact.
    return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)


def _nhwc(x: np.ndarray) -> np.ndarray:
    """Fold the reference batch axis into the IR batch axis: (B, n, h, w, c) -> (B*n, h, w, c)."""
    return x.reshape((-1,) + x.shape[-3:])


def _padded(xs: np.ndarray, pad: tuple[int, int], need: tuple[int, int]) -> np.ndarray:
    """Zero-pad shifted input (x - zero point) so every window lies inside; zero adds nothing, as TFLM's skip."""
    n, h, w, c = xs.shape
    top, left = pad
    bottom = max(0, need[0] - h - top)
    right = max(0, need[1] - w - left)
    return np.pad(xs, ((0, 0), (top, bottom), (left, right), (0, 0)))


def _taps(xp: np.ndarray, kh: int, kw: int, stride, dilation, oh: int, ow: int):
    sh, sw = stride
    dh, dw = dilation
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            yield xp[:, y0:y0 + (oh - 1) * sh + 1:sh, x0:x0 + (ow - 1) * sw + 1:sw, :]


def conv2d(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    return _requant(conv2d_acc(graph, op, inputs, p), p).reshape(inputs[0].shape[:1] + graph.tensors[op.outputs[0]].shape)


def conv2d_acc(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    """Accumulators (bias included) of a convolution, int64 (N, OH, OW, CO)."""
    x = _nhwc(inputs[0]).astype(np.int64) + p["input_offset"]
    w = graph.tensors[op.inputs[1]].data.astype(np.int64)
    out_shape = graph.tensors[op.outputs[0]].shape
    co, kh, kw, ci = w.shape
    oh, ow = out_shape[1], out_shape[2]
    need = ((oh - 1) * p["stride"][0] + (kh - 1) * p["dilation"][0] + 1,
            (ow - 1) * p["stride"][1] + (kw - 1) * p["dilation"][1] + 1)
    xp = _padded(x, p["pad"], need)
    cols = np.concatenate(list(_taps(xp, kh, kw, p["stride"], p["dilation"], oh, ow)), axis=-1)
    acc = _exact_matmul(cols.reshape(-1, kh * kw * ci), w.reshape(co, -1).T)
    return acc.reshape(cols.shape[:3] + (co,)) + p["bias"]


def depthwise_conv2d(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    return _requant(depthwise_acc(graph, op, inputs, p), p).reshape(
        inputs[0].shape[:1] + graph.tensors[op.outputs[0]].shape)


def depthwise_acc(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    """Accumulators (bias included) of a depthwise convolution, int64 (N, OH, OW, CO)."""
    x = _nhwc(inputs[0]).astype(np.int64) + p["input_offset"]
    w = graph.tensors[op.inputs[1]].data.astype(np.int64)
    out_shape = graph.tensors[op.outputs[0]].shape
    _, kh, kw, co = w.shape
    m = op.attrs["depth_multiplier"]
    oh, ow = out_shape[1], out_shape[2]
    need = ((oh - 1) * p["stride"][0] + (kh - 1) * p["dilation"][0] + 1,
            (ow - 1) * p["stride"][1] + (kw - 1) * p["dilation"][1] + 1)
    xp = np.repeat(_padded(x, p["pad"], need), m, axis=-1)  # output channel c*m+j reads input channel c
    acc = np.zeros((x.shape[0], oh, ow, co), np.int64)
    for t, tap in enumerate(_taps(xp, kh, kw, p["stride"], p["dilation"], oh, ow)):
        acc += tap * w[0, t // kw, t % kw, :]
    return acc + p["bias"]


def fully_connected(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    out_shape = graph.tensors[op.outputs[0]].shape
    return _requant(fully_connected_acc(graph, op, inputs, p), p).reshape(inputs[0].shape[:1] + out_shape)


def fully_connected_acc(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    """Accumulators (bias included) of a fully connected layer, int64 (rows, units)."""
    w = graph.tensors[op.inputs[1]].data.astype(np.int64)
    x = inputs[0].reshape(-1, w.shape[1]).astype(np.int64) + p["input_offset"]
    return _exact_matmul(x, w.T) + p["bias"]


def add(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    def scaled(x, offset, m, s):
        shifted = quant.wrap32((x.astype(np.int64) + offset) << p["left_shift"])
        return quant.multiply_by_quantized_multiplier(shifted, m, s)

    a = scaled(inputs[0], p["input1_offset"], p["input1_multiplier"], p["input1_shift"])
    b = scaled(inputs[1], p["input2_offset"], p["input2_multiplier"], p["input2_shift"])
    out = quant.multiply_by_quantized_multiplier(quant.wrap32(a + b), p["output_multiplier"], p["output_shift"])
    return _clamp_s8(out + p["output_offset"], p["act_min"], p["act_max"], graph.tensors[op.outputs[0]].dtype)


def _pool_windows(x: np.ndarray, p: dict, oh: int, ow: int):
    """Yield (out_y, out_x, window) with the window clipped to the image, as TFLM does."""
    fh, fw = p["filter"]
    sh, sw = p["stride"]
    ph, pw = p["pad"]
    h, w = x.shape[1], x.shape[2]
    for oy in range(oh):
        y0 = oy * sh - ph
        ys, ye = max(0, y0), min(h, y0 + fh)
        for ox in range(ow):
            x0 = ox * sw - pw
            xs, xe = max(0, x0), min(w, x0 + fw)
            yield oy, ox, x[:, ys:ye, xs:xe, :]


def avg_pool2d(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    x = _nhwc(inputs[0]).astype(np.int64)
    out_shape = graph.tensors[op.outputs[0]].shape
    out = np.zeros((x.shape[0], out_shape[1], out_shape[2], x.shape[3]), np.int64)
    for oy, ox, win in _pool_windows(x, p, out_shape[1], out_shape[2]):
        count = win.shape[1] * win.shape[2]
        s = win.sum(axis=(1, 2))
        # Round half away from zero, with C's truncating division.
        out[:, oy, ox, :] = np.where(s > 0, (s + count // 2) // count, -((-s + count // 2) // count))
    return _clamp_s8(out, p["act_min"], p["act_max"], graph.tensors[op.outputs[0]].dtype).reshape(
        inputs[0].shape[:1] + out_shape)


def max_pool2d(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    x = _nhwc(inputs[0])
    out_shape = graph.tensors[op.outputs[0]].shape
    out = np.zeros((x.shape[0], out_shape[1], out_shape[2], x.shape[3]), np.int64)
    for oy, ox, win in _pool_windows(x, p, out_shape[1], out_shape[2]):
        out[:, oy, ox, :] = win.max(axis=(1, 2))
    return _clamp_s8(out, p["act_min"], p["act_max"], graph.tensors[op.outputs[0]].dtype).reshape(
        inputs[0].shape[:1] + out_shape)


def mean(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    x = _nhwc(inputs[0]).astype(np.int64)
    out_shape = graph.tensors[op.outputs[0]].shape
    acc = quant.wrap32(x.sum(axis=(1, 2)) - p["input_zero_point"] * p["count"])
    acc = quant.multiply_by_quantized_multiplier(acc, p["multiplier"], p["shift"])
    return _clamp_s8(acc + p["output_zero_point"]).reshape(inputs[0].shape[:1] + out_shape)


def reshape(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    out_shape = graph.tensors[op.outputs[0]].shape
    return inputs[0].reshape(inputs[0].shape[:1] + out_shape)


def softmax(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    x = inputs[0]
    return softmax_s8(x.reshape(-1, p["depth"]), p).reshape(x.shape)


def pad(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    widths = ((0, 0),) + tuple(p["paddings"])
    return np.pad(inputs[0], widths, constant_values=p["pad_value"])


def concatenation(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    return np.concatenate(inputs, axis=p["axis"] + 1)


def quantize(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    out_dtype = graph.tensors[op.outputs[0]].dtype
    x = inputs[0].astype(np.int64) - p["input_zero_point"]
    y = quant.multiply_by_quantized_multiplier(x, p["multiplier"], p["shift"]) + p["output_zero_point"]
    return np.clip(y, p["out_min"], p["out_max"]).astype(out_dtype)


OPS = {
    "conv2d": conv2d,
    "depthwise_conv2d": depthwise_conv2d,
    "fully_connected": fully_connected,
    "add": add,
    "avg_pool2d": avg_pool2d,
    "max_pool2d": max_pool2d,
    "mean": mean,
    "reshape": reshape,
    "softmax": softmax,
    "pad": pad,
    "concatenation": concatenation,
    "quantize": quantize,
}
