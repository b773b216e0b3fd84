"""Numpy reference of the first layer, every variant's ground truth.

The unfused integer path (pixel embedding, then an int8 conv with TFLM requantization) is built from
`pixmcu.quant`, the one numeric contract; the folded and joint tables (tables.py) must reproduce it
exactly, and every C kernel must reproduce it bit for bit. The float path is the paper's baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixmcu import quant
from pixmcu.shapes import pad_before


@dataclass(frozen=True)
class Geometry:
    """A first-layer conv: NHWC input (one image), square kernel, SAME or VALID padding."""

    in_h: int
    in_w: int
    in_c: int
    out_c: int
    k: int
    stride: int = 1
    padding: str = "same"

    @property
    def out_h(self) -> int:
        return _out(self.in_h, self.k, self.stride, self.padding)

    @property
    def out_w(self) -> int:
        return _out(self.in_w, self.k, self.stride, self.padding)

    @property
    def pad_h(self) -> int:
        return pad_before(self.in_h, self.k, self.stride, 1, self.out_h)

    @property
    def pad_w(self) -> int:
        return pad_before(self.in_w, self.k, self.stride, 1, self.out_w)

    @property
    def taps(self) -> int:
        return self.k * self.k

    def label(self) -> str:
        return (f"{self.in_h}x{self.in_w}x{self.in_c}->{self.out_c} k{self.k} s{self.stride}"
                + ("" if self.padding == "same" else f" {self.padding}"))


def _out(size: int, k: int, stride: int, padding: str) -> int:
    if padding == "same":
        return (size + stride - 1) // stride
    if padding == "valid":
        return (size - k) // stride + 1
    raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")


@dataclass
class Requant:
    """Per-output-channel TFLM requantization parameters (int64 arrays holding int32 values)."""

    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    output_offset: int
    act_min: int = -128
    act_max: int = 127

    @classmethod
    def from_scales(cls, input_scale: float, weight_scales, output_scale: float, bias, output_zero_point: int,
                    activation: str = "none") -> "Requant":
        """As TFLM's PopulateConvolutionQuantizationParams: float32 scales, product in double."""
        w = np.asarray(weight_scales, dtype=np.float32).astype(np.float64)
        m, s = quant.quantize_multipliers(float(np.float32(input_scale)) * w / float(np.float32(output_scale)))
        lo, hi = quant.activation_range(activation, float(np.float32(output_scale)), int(output_zero_point))
        return cls(np.asarray(bias, np.int64), m, s, int(output_zero_point), lo, hi)


def windows(x: np.ndarray, g: Geometry) -> np.ndarray:
    """(out_h, out_w, k, k, C) windows of x (H, W, C) with zero padding, as int64."""
    x = np.asarray(x, np.int64)
    ph, pw = g.pad_h, g.pad_w
    need_h = (g.out_h - 1) * g.stride + g.k
    need_w = (g.out_w - 1) * g.stride + g.k
    xp = np.zeros((max(need_h, ph + x.shape[0]), max(need_w, pw + x.shape[1]), x.shape[2]), np.int64)
    xp[ph:ph + x.shape[0], pw:pw + x.shape[1]] = x
    out = np.empty((g.out_h, g.out_w, g.k, g.k, x.shape[2]), np.int64)
    for ky in range(g.k):
        for kx in range(g.k):
            out[:, :, ky, kx] = xp[ky:ky + g.stride * g.out_h:g.stride, kx:kx + g.stride * g.out_w:g.stride]
    return out


def valid_mask(g: Geometry) -> np.ndarray:
    """(out_h, out_w, k, k) True where the tap reads the image, False where it reads padding."""
    ones = np.ones((g.in_h, g.in_w, 1), np.int64)
    return windows(ones, g)[..., 0] == 1


def requantize(acc: np.ndarray, rq: Requant) -> np.ndarray:
    """int32 accumulators (..., out_c), bias not yet added, to int8 as TFLM's conv does."""
    acc = quant.wrap32(np.asarray(acc, np.int64) + rq.bias)
    v = quant.multiply_by_quantized_multiplier(acc, rq.multiplier, rq.shift) + rq.output_offset
    return np.clip(v, rq.act_min, rq.act_max).astype(np.int8)


def conv_acc(x: np.ndarray, w: np.ndarray, input_offset: int, g: Geometry) -> np.ndarray:
    """Accumulators sum(w * (x + input_offset)) over the image part of each window; padding adds 0."""
    xo = np.asarray(x, np.int64) + input_offset
    win = windows(xo, g) * valid_mask(g)[..., None]
    w = np.asarray(w, np.int64)  # (out_c, k, k, C)
    return np.einsum("hwijc,oijc->hwo", win, w)


def conv_s8(x: np.ndarray, w: np.ndarray, input_offset: int, g: Geometry, rq: Requant) -> np.ndarray:
    """The int8 first layer (TFLM conv semantics) on an int8 (H, W, C) input."""
    return requantize(conv_acc(x, w, input_offset, g), rq)


def embed(pixels: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Pixel embedding: (H, W, C) uint8 -> (H, W, C*d) int8, channel c*d + j = lut[c, v, j]."""
    pixels = np.asarray(pixels)
    lut = np.asarray(lut)
    c, d = lut.shape[0], lut.shape[2]
    out = lut[np.arange(c), pixels.astype(np.intp)]  # (H, W, C, d)
    return out.reshape(pixels.shape[:2] + (c * d,)).astype(np.int8)


def embed_conv_s8(pixels: np.ndarray, lut: np.ndarray, w: np.ndarray, embed_zero_point: int, g: Geometry,
                  rq: Requant) -> np.ndarray:
    """The unfused pixel-embedding first layer: embed, then an int8 conv over C*d channels."""
    return conv_s8(embed(pixels, lut), w, -int(embed_zero_point), g, rq)


def normalise(pixels: np.ndarray, scale, offset) -> np.ndarray:
    return (np.asarray(pixels, np.float32) * np.asarray(scale, np.float32)
            + np.asarray(offset, np.float32)).astype(np.float32)


def conv_f32(pixels: np.ndarray, scale, offset, w: np.ndarray, bias, g: Geometry) -> np.ndarray:
    """The float32 first layer from uint8 pixels, normalisation included (computed in float64)."""
    x = normalise(pixels, scale, offset).astype(np.float64)
    xp = np.zeros((g.in_h + 2 * g.k, g.in_w + 2 * g.k, g.in_c))
    xp[g.pad_h:g.pad_h + g.in_h, g.pad_w:g.pad_w + g.in_w] = x
    out = np.zeros((g.out_h, g.out_w, g.out_c))
    w = np.asarray(w, np.float64)
    for ky in range(g.k):
        for kx in range(g.k):
            tap = xp[ky:ky + g.stride * g.out_h:g.stride, kx:kx + g.stride * g.out_w:g.stride]
            out += np.einsum("hwc,oc->hwo", tap, w[:, ky, kx, :])
    return (out + np.asarray(bias, np.float64)).astype(np.float32)
