"""Evaluation on the integer contract itself: requantization by pixmcu.quant, not by float rounding.

TFLM rounds twice (SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT), so a float
round(acc * M) disagrees with the device on a few percent of low-bit activations, and the
disagreements compound through the layers. In eval mode the QAT layers compute their outputs here
instead: accumulators exact in float64, requantization with the same multipliers lowering.py
derives (double products of float32 scales), so eval accuracy is the integer pipeline's accuracy.
Training keeps the float path (the straight-through estimator needs it, and it is close enough).
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


def requantize(acc: torch.Tensor, s_in: float, s_w: torch.Tensor, out_q) -> torch.Tensor:
    """int32 accumulators (float64, channel axis 1) -> output values on out_q's grid."""
    real = float(np.float32(s_in)) * s_w.detach().cpu().numpy().astype(np.float32).astype(np.float64) / float(np.float32(out_q.scale))
    m, shift = quant.quantize_multipliers(real)
    shape = (1, -1) + (1,) * (acc.dim() - 2)
    q = mbqm(acc.detach().cpu(), m.reshape(shape), shift.reshape(shape)) + out_q.zero_point
    lo, hi = _act_range(out_q)
    q = np.clip(q, lo, hi)
    return torch.from_numpy(((q - out_q.zero_point) * np.float64(out_q.scale)).astype(np.float32)).to(acc.device)


def exact_operands(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor):
    """Integer-valued operands in float32 when no partial sum can pass 2^24 (float32 adds them
    exactly, and CPU float64 convolutions are many times slower), else in float64."""
    bound = float(x.abs().max()) * float(w.abs().reshape(w.shape[0], -1).sum(1).max()) + float(b.abs().max())
    dtype = torch.float32 if bound < 2 ** 24 else torch.float64
    return x.to(dtype), w.to(dtype), b.to(dtype)


_FAST_ACC_LIMIT = 1 << 21  # |acc| * m + 2^30 stays below 2^53: float64 holds every step exactly


def mbqm(acc: torch.Tensor, m: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """quant.multiply_by_quantized_multiplier on integer-valued accumulators, as int64.

    When every multiplier is below one and the accumulators are small, the two roundings are done
    in float64, where each step is exact (SaturatingRoundingDoublingHighMul = floor((a*m + 2^30) / 2^31),
    then RoundingDivideByPOT = round half away from zero) and several times faster than the int64
    emulation; otherwise the contract's own function runs.
    """
    a = acc.to(torch.float64)
    if (shift <= 0).all() and float(a.abs().max()) < _FAST_ACC_LIMIT:
        x1 = torch.floor((a * torch.from_numpy(m.astype(np.float64)) + 2.0 ** 30) / 2.0 ** 31)
        x = x1 / torch.from_numpy(np.ldexp(1.0, (-shift).astype(np.int64)))
        out = torch.where(x1 >= 0, torch.floor(x + 0.5), torch.ceil(x - 0.5))
        return out.numpy().astype(np.int64)
    a64 = quant.wrap32(np.rint(a.numpy()).astype(np.int64))
    return quant.multiply_by_quantized_multiplier(a64, m, shift)


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
        c = codes_of(v, q[0]).cpu().numpy().astype(np.int64)  # q - zero point, i.e. (x + input_offset)
        return quant.multiply_by_quantized_multiplier(quant.wrap32(c << ADD_LEFT_SHIFT), m, s)

    total = quant.wrap32(scaled(a, qa, m1, s1) + scaled(b, qb, m2, s2))
    q = quant.multiply_by_quantized_multiplier(total, mo, so_) + out_q.zero_point
    lo, hi = _act_range(out_q)
    q = np.clip(q, lo, hi)
    return torch.from_numpy(((q - out_q.zero_point) * np.float64(out_q.scale)).astype(np.float32)).to(a.device)
