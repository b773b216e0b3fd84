"""A complete first-layer problem: image, embedding, weights and requantization for every variant.

The benchmark and the tests draw problems from here so that every variant computes the same layer:
the int8 baseline on pixel - 128, the pixel-embedding variants on the embedded image (per-channel
LUT, d entries of Q bits), the joint variant on a binned version of that embedding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pixmcu.first_layer import reference as ref
from pixmcu.first_layer import tables as tb
from pixmcu.first_layer.reference import Geometry, Requant


@dataclass
class Problem:
    g: Geometry
    d: int
    q: int
    bins: int
    pixels: np.ndarray                 # (H, W, C) uint8
    lut: np.ndarray                    # (C, 256, d) int8 codes 0..2^Q-1
    embed_zero_point: int
    w_embed: np.ndarray                # (out_c, k, k, C*d) int8
    rq_embed: Requant
    bins_of: np.ndarray                # (C, 256) bin of each value
    bin_lut: np.ndarray                # (C, K, d) int8: the binned embedding
    rq_joint: Requant
    w_s8: np.ndarray                   # (out_c, k, k, C) int8, the int8 baseline's weights
    input_offset_s8: int               # 128: the model input is pixel - 128 with zero point -128
    rq_s8: Requant
    norm_scale: np.ndarray             # (C,) float32
    norm_offset: np.ndarray
    w_f32: np.ndarray                  # (out_c, k, k, C) float32
    b_f32: np.ndarray
    cache: dict = field(default_factory=dict)

    # ---- expected outputs ----
    def expected_s8(self) -> np.ndarray:
        x = (self.pixels.astype(np.int64) - 128).astype(np.int8)
        return ref.conv_s8(x, self.w_s8, self.input_offset_s8, self.g, self.rq_s8)

    def expected_embed(self) -> np.ndarray:
        return ref.embed_conv_s8(self.pixels, self.lut, self.w_embed, self.embed_zero_point, self.g, self.rq_embed)

    def binned_lut(self) -> np.ndarray:
        return tb.expand_binned(self.bin_lut, self.bins_of)

    def expected_joint(self) -> np.ndarray:
        return ref.embed_conv_s8(self.pixels, self.binned_lut(), self.w_embed, self.embed_zero_point, self.g,
                                 self.rq_joint)

    def expected_f32(self) -> np.ndarray:
        return ref.conv_f32(self.pixels, self.norm_scale, self.norm_offset, self.w_f32, self.b_f32, self.g)

    # ---- tables (cached: the 5x5 ones take a moment) ----
    def folded(self) -> np.ndarray:
        if "folded" not in self.cache:
            self.cache["folded"] = tb.folded_lookup_tables(self.lut, self.w_embed, -self.embed_zero_point)
        return self.cache["folded"]

    def joint(self) -> np.ndarray:
        if "joint" not in self.cache:
            self.cache["joint"] = tb.joint_tables(self.bin_lut, self.w_embed, -self.embed_zero_point)
        return self.cache["joint"]


def _weights(rng: np.random.Generator, shape) -> np.ndarray:
    """Trained-looking int8 weights: per-channel symmetric, bell-shaped, the largest at +-127."""
    w = rng.standard_normal(shape)
    w /= np.abs(w.reshape(shape[0], -1)).max(axis=1).reshape((-1,) + (1,) * (len(shape) - 1))
    return np.round(w * 127).astype(np.int8)


def _ramp_lut(c: int, d: int, q: int, bins: np.ndarray | None = None) -> np.ndarray:
    """d ramps offset by fractions of a step (PixelEmbedding's 'ramp' init): dithered codes."""
    levels = (1 << q) - 1
    v = np.arange(256)[:, None] / 255.0
    j = (np.arange(d)[None, :] + 0.5) / d
    codes = np.clip(np.floor(v * levels + j), 0, levels).astype(np.int8)
    return np.repeat(codes[None], c, axis=0)


def _requant_for(acc: np.ndarray, in_scale: float, rng: np.random.Generator, co: int,
                 activation: str = "none") -> Requant:
    w_scales = rng.uniform(0.5, 1.5, co).astype(np.float32) * np.float32(0.01)
    span = float(acc.max() - acc.min()) or 1.0
    out_scale = float(in_scale) * float(w_scales.max()) * span / 255.0
    mid = float(acc.mean())
    zp = int(np.clip(round(-mid * float(in_scale) * float(w_scales.max()) / out_scale), -100, 100))
    bias = np.zeros(co, np.int64)
    return Requant.from_scales(in_scale, w_scales, out_scale, bias, zp, activation)


def make_problem(g: Geometry, d: int = 10, q: int = 2, bins: int = 8, seed: int = 0, lut: str = "ramp",
                 activation: str = "none", weights: str = "trained", s8_zero_point: int = -128,
                 embed_zero_point: int | None = None) -> Problem:
    """A reproducible problem. weights="adversarial" makes every weight +127, the worst case for the
    int16 bound; the zero points let tests move the int8 input and embedding offsets off their usual
    values."""
    rng = np.random.default_rng(seed)
    c, co, k = g.in_c, g.out_c, g.k
    # A smooth image (neighbouring pixels correlate, as in photographs) with the full value range.
    base = rng.integers(0, 256, (g.in_h, g.in_w, c)).astype(np.float64)
    pixels = np.clip(0.5 * base + 0.5 * np.roll(base, 1, axis=1) + rng.normal(0, 8, base.shape), 0, 255)
    pixels = pixels.astype(np.uint8)
    levels = (1 << q) - 1
    if lut == "ramp":
        table = _ramp_lut(c, d, q)
    else:
        table = rng.integers(0, levels + 1, (c, 256, d)).astype(np.int8)
    zp = (0 if q <= 7 else -128) if embed_zero_point is None else int(embed_zero_point)
    if weights == "adversarial":
        w_embed = np.full((co, k, k, c * d), 127, np.int8)
    else:
        w_embed = _weights(rng, (co, k, k, c * d))
    bias_e = rng.integers(-2000, 2000, co)
    acc = ref.conv_acc(ref.embed(pixels, table), w_embed, -zp, g) + bias_e
    rq_embed = _requant_for(acc, 1.0 / levels, rng, co, activation)
    rq_embed.bias = bias_e.astype(np.int64)
    bins_of = tb.bin_index(bins, channels=c)
    centres = ((np.arange(bins) + 0.5) * 256 / bins).astype(np.int64)
    bin_lut = table[:, centres, :]  # each bin takes the vector of its centre value
    rq_joint = rq_embed
    w_s8 = _weights(rng, (co, k, k, c))
    bias_s = rng.integers(-2000, 2000, co)
    acc8 = ref.conv_acc((pixels.astype(np.int64) - 128), w_s8, -s8_zero_point, g) + bias_s
    rq_s8 = _requant_for(acc8, 1.0 / 255, rng, co, activation)
    rq_s8.bias = bias_s.astype(np.int64)
    mean = np.array([0.49, 0.48, 0.45][:c] if c <= 3 else [0.5] * c, np.float32)
    std = np.array([0.25, 0.24, 0.26][:c] if c <= 3 else [0.25] * c, np.float32)
    norm_scale = (np.float32(1 / 255.0) / std).astype(np.float32)
    norm_offset = (-mean / std).astype(np.float32)
    w_f32 = (rng.standard_normal((co, k, k, c)) * 0.2).astype(np.float32)
    b_f32 = (rng.standard_normal(co) * 0.1).astype(np.float32)
    return Problem(g, d, q, bins, pixels, table, zp, w_embed, rq_embed, bins_of, bin_lut, rq_joint, w_s8, -s8_zero_point,
                   rq_s8, norm_scale, norm_offset, w_f32, b_f32)
