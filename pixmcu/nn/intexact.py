"""Evaluation on the integer contract itself: requantization by pixmcu.quant's rules, not by float rounding.

TFLM rounds twice (SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT), so a float
round(acc * M) disagrees with the device on a few percent of low-bit activations, and the
disagreements compound through the layers. In eval mode the QAT layers compute their outputs here
instead: accumulators exact, requantization with the same multipliers lowering.py derives (double
products of float32 scales), so eval accuracy is the integer pipeline's accuracy. The arithmetic is
pixmcu.quant's, restated on int64 torch tensors so it runs where the model runs (GPU included)
instead of round-tripping every layer through numpy. Training keeps the float path (the
straight-through estimator needs it, and it is close enough).
"""

from __future__ import annotations

import numpy as np
import torch

from pixmcu import quant
from pixmcu.lowering import ADD_LEFT_SHIFT


_enabled = True


class float_fakequant:
    """Within this context eval uses the float fake-quant path (to measure how close it comes)."""

    def __enter__(self):
        global _enabled
        self._prev, _enabled = _enabled, False

    def __exit__(self, *exc):
        global _enabled
        _enabled = self._prev


def enabled() -> bool:
    return _enabled


def _act_range(out_q) -> tuple[int, int]:
    activation = "relu6" if out_q.kind == "relu6" else "none"
    return quant.activation_range(activation, np.float32(out_q.scale), out_q.zero_point, "int8")


def wrap32(x: torch.Tensor) -> torch.Tensor:
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def srdhm(a: torch.Tensor, b: torch.Tensor | int) -> torch.Tensor:
    """quant.srdhm on int64 tensors holding int32 values."""
    ab = a * b
    num = ab + torch.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    q = torch.where(num >= 0, num >> 31, -((-num) >> 31))  # C++ division truncates toward zero
    overflow = (a == quant.INT32_MIN) & (b == quant.INT32_MIN)
    return torch.where(overflow, quant.INT32_MAX, q) if isinstance(overflow, torch.Tensor) else q


def rounding_divide_by_pot(x: torch.Tensor, exponent: torch.Tensor | int) -> torch.Tensor:
    if isinstance(exponent, int):
        if exponent == 0:
            return x
        mask = (1 << exponent) - 1
        return (x >> exponent) + ((x & mask) > ((mask >> 1) + (x < 0).to(torch.int64))).to(torch.int64)
    mask = (torch.ones_like(exponent) << exponent) - 1
    threshold = (mask >> 1) + (x < 0).to(torch.int64)
    return (x >> exponent) + ((x & mask) > threshold).to(torch.int64)


_FAST_ACC_LIMIT = 1 << 21  # |acc| * m + 2^30 stays below 2^53: float64 holds every step exactly


def mbqm(acc: torch.Tensor, m: np.ndarray, shift: np.ndarray) -> torch.Tensor:
    """quant.multiply_by_quantized_multiplier on integer-valued accumulators (any dtype), as int64.

    When every multiplier is below one and the accumulators are small, the two roundings are done
    in float64, where each step is exact (SaturatingRoundingDoublingHighMul = floor((a*m + 2^30) / 2^31),
    then RoundingDivideByPOT = round half away from zero), which is several times faster than int64.
    """
    m, shift = np.asarray(m, np.int64), np.asarray(shift, np.int64)
    if acc.is_floating_point() and (shift <= 0).all() and float(acc.abs().max()) < _FAST_ACC_LIMIT:
        a = acc.to(torch.float64)
        x1 = torch.floor((a * torch.as_tensor(m.astype(np.float64), device=a.device) + 2.0 ** 30) / 2.0 ** 31)
        x = x1 / torch.as_tensor(np.ldexp(1.0, -shift), device=a.device)
        return torch.where(x1 >= 0, torch.floor(x + 0.5), torch.ceil(x - 0.5)).to(torch.int64)
    a = wrap32(torch.round(acc).to(torch.int64) if acc.is_floating_point() else acc.to(torch.int64))
    if m.size == 1:  # python-int operands take torch's much faster scalar kernels
        left, right = max(int(shift), 0), max(-int(shift), 0)
        shifted = wrap32(a << left) if left else a
        return rounding_divide_by_pot(srdhm(shifted, int(m)), right)
    m_t, s_t = torch.as_tensor(m, device=a.device), torch.as_tensor(shift, device=a.device)
    shifted = wrap32(a << torch.clamp(s_t, min=0))
    return rounding_divide_by_pot(srdhm(shifted, m_t), torch.clamp(-s_t, min=0))


def _values(q: torch.Tensor, out_q) -> torch.Tensor:
    """Clamped int8 codes (zero point included) -> values on out_q's grid, float32."""
    lo, hi = _act_range(out_q)
    q = torch.clamp(q, lo, hi)
    return ((q - out_q.zero_point).to(torch.float64) * np.float64(out_q.scale)).to(torch.float32)


def requantize(acc: torch.Tensor, s_in: float, s_w: torch.Tensor, out_q) -> torch.Tensor:
    """int32 accumulators (integer-valued, channel axis 1) -> output values on out_q's grid."""
    real = float(np.float32(s_in)) * s_w.detach().cpu().numpy().astype(np.float32).astype(np.float64) / float(np.float32(out_q.scale))
    m, shift = quant.quantize_multipliers(real)
    shape = (1, -1) + (1,) * (acc.dim() - 2)
    return _values(mbqm(acc.detach(), m.reshape(shape), shift.reshape(shape)) + out_q.zero_point, out_q)


def exact_operands(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor):
    """Integer-valued operands in float32 when no partial sum can pass 2^24 (float32 adds them
    exactly, and float64 convolutions are many times slower), else in float64."""
    bound = float(x.abs().max()) * float(w.abs().reshape(w.shape[0], -1).sum(1).max()) + float(b.abs().max())
    dtype = torch.float32 if bound < 2 ** 24 else torch.float64
    return x.to(dtype), w.to(dtype), b.to(dtype)


def codes_of(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Integer codes (value / scale, zero point not added) in float64."""
    return torch.round(x.double() / float(np.float32(scale)))


def add(a: torch.Tensor, qa: tuple[float, int], b: torch.Tensor, qb: tuple[float, int], out_q) -> torch.Tensor:
    """TFLM int8 ADD on two tensors given as values with their (scale, zero point)."""
    sa, sb, so = (float(np.float32(s)) for s in (qa[0], qb[0], out_q.scale))
    twice_max = 2.0 * max(sa, sb)
    m1, s1 = quant.quantize_multiplier(sa / twice_max)
    m2, s2 = quant.quantize_multiplier(sb / twice_max)
    mo, so_ = quant.quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * so))

    def scaled(v, q, m, s):
        c = codes_of(v, q[0]).to(torch.int64)  # q - zero point, i.e. (x + input_offset)
        return mbqm(wrap32(c << ADD_LEFT_SHIFT), np.int64(m), np.int64(s))

    total = wrap32(scaled(a, qa, m1, s1) + scaled(b, qb, m2, s2))
    return _values(mbqm(total, np.int64(mo), np.int64(so_)) + out_q.zero_point, out_q)
