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


def _rnd32(v: np.ndarray) -> np.ndarray:
    """TfLiteRound on float32 values (half away from zero), kept in float32."""
    v = np.asarray(v, np.float32)
    return (np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))).astype(np.float32)


def gen_lut(func, lo: float, hi: float) -> np.ndarray:
    """TFLite's gen_lut<float, int16_t, int16_t> on [lo, hi] -> [-1, 1): 512 steps plus the end point,
    each sample nudged by half the midpoint interpolation error; float32 throughout, as TFLM."""
    f32 = np.float32
    lo, hi = f32(lo), f32(hi)
    step = f32((hi - lo) / f32(512))
    inv = f32(32768)  # 65536 / (1 - (-1))
    i = np.arange(512, dtype=np.float32)
    a = (lo + i * step).astype(np.float32)
    val = func(a)
    mid = func((a + f32(step / f32(2))).astype(np.float32))
    nxt = func((lo + (i + f32(1)) * step).astype(np.float32))
    sample = _rnd32(val * inv)
    mid_interp = _rnd32((nxt * inv + sample) / f32(2))
    bias = _rnd32((mid_interp - _rnd32(mid * inv)) / f32(2))
    lut = np.clip(sample - bias, -32768, 32767).astype(np.int64)
    end = np.clip(_rnd32(func(np.array([hi], np.float32)) * inv), -32768, 32767).astype(np.int64)
    return np.concatenate([lut, end])


def softmax_luts() -> tuple[np.ndarray, np.ndarray]:
    """exp on [-10, 0] and 1/(1+x) on [0, 1], as TFLM's int16 SOFTMAX builds them in Prepare()."""
    exp = gen_lut(lambda v: np.exp(v.astype(np.float32)).astype(np.float32), -10.0, 0.0)
    recip = gen_lut(lambda v: (np.float32(1) / (np.float32(1) + v)).astype(np.float32), 0.0, 1.0)
    return exp, recip


def lut_lookup(v: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """TFLite generic_int16_table_lookup: 512 segments, 7 fractional bits interpolated."""
    v = np.asarray(v, np.int64)
    idx = 256 + (v >> 7)
    base = lut[idx]
    return base + (((lut[idx + 1] - base) * (v & 0x7F) + 64) >> 7)


def softmax16(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    """TFLM's int16 SOFTMAX (reference_ops::SoftmaxInt16)."""
    exp_lut, recip_lut = softmax_luts()
    x = inputs[0].reshape(-1, p["depth"]).astype(np.int64)
    diff = x - x.max(axis=1, keepdims=True)
    scaled = np.clip(quant.multiply_by_quantized_multiplier(diff, p["input_multiplier"], p["input_shift"]) + 32767,
                     -32768, 32767)
    e = lut_lookup(scaled, exp_lut)
    total = e.sum(axis=1)
    headroom = 32 - np.array([int(t).bit_length() for t in total], np.int64)  # count leading zeros
    shifted = ((total << (headroom - 1)) + (1 << 13)) >> 14
    recip = lut_lookup(np.clip(shifted - ((1 << 15) + (1 << 16)), -32768, 32767), recip_lut)
    right = (31 - headroom)[:, None]
    out = (e * recip[:, None] + (np.int64(1) << (right - 1))) >> right
    return np.clip(out, 0, 32767).astype(np.int16).reshape(inputs[0].shape)


KERNELS_16X8 = {
    "softmax": softmax16,
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
