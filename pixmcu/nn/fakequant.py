"""Fake quantization that lands on exactly the integers the exported graph holds.

Every scale is rounded to float32 before use because the IR (and TFLM) store scales as float32;
rounding is half away from zero like TFLM's, not torch.round's half-to-even, so a value the
integer pipeline rounds up is rounded up here too.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

WEIGHT_BITS = (1, 2, 4, 8)
ACT_BITS = (2, 4, 8)
RELU6_MAX = 6.0


def f32(x: float) -> float:
    return float(np.float32(x))


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Forward q, backward identity to x."""
    return x + (q - x).detach()


def weight_qmax(bits: int) -> int:
    return 1 if bits <= 2 else (1 << (bits - 1)) - 1


def weight_scale(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-output-channel scale (axis 0), detached: the scale follows the weights, it is not learned.

    Max-abs loses too much at 2 and 1 bit, where the scale is tied to the mean magnitude instead
    (ternary: threshold 0.7*mean|w| as in TWN; binary: mean|w|, which minimises the L2 error).
    """
    flat = w.detach().reshape(w.shape[0], -1).abs()
    if bits >= 3:
        s = flat.amax(dim=1) / weight_qmax(bits)
    elif bits == 2:
        s = 1.4 * flat.mean(dim=1)
    else:
        s = flat.mean(dim=1)
    s = torch.clamp(s, min=1e-8)
    return s.to(torch.float32)


def weight_codes(w: torch.Tensor, bits: int, scale: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer codes (as a float tensor) and per-channel scales of `w` at `bits`."""
    if bits not in WEIGHT_BITS:
        raise ValueError(f"weight bits must be one of {WEIGHT_BITS}, got {bits}")
    s = weight_scale(w, bits) if scale is None else scale
    shape = (-1,) + (1,) * (w.dim() - 1)
    if bits == 1:
        codes = torch.where(w.detach() >= 0, 1.0, -1.0)
    else:
        qmax = weight_qmax(bits)
        codes = torch.clamp(round_half_away(w.detach() / s.view(shape)), -qmax, qmax)
    return codes, s


def fake_quant_weight(w: torch.Tensor, bits: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    if bits is None:
        return w, None
    codes, s = weight_codes(w, bits)
    shape = (-1,) + (1,) * (w.dim() - 1)
    return ste(w, codes * s.view(shape)), s


def bias_codes(b: torch.Tensor, s_in: float, s_w: torch.Tensor) -> torch.Tensor:
    """int32 bias codes, computed in float64 so the export and the fake-quant agree."""
    denom = torch.tensor(np.float32(s_in), dtype=torch.float64) * s_w.detach().to(torch.float64)
    return round_half_away(b.detach().to(torch.float64) / denom)


def fake_quant_bias(b: torch.Tensor, s_in: float | None, s_w: torch.Tensor | None) -> torch.Tensor:
    if s_in is None or s_w is None:
        return b
    denom = (torch.tensor(np.float32(s_in), dtype=torch.float64) * s_w.detach().to(torch.float64))
    q = (bias_codes(b, s_in, s_w) * denom).to(b.dtype)
    return ste(b, q)


def act_scale(bits: int) -> float:
    """Scale of a ReLU6 activation at `bits`: 2^bits - 1 steps over [0, 6]."""
    return f32(RELU6_MAX / ((1 << bits) - 1))


class ActQuant(nn.Module):
    """Activation fake-quantizer.

    kind "relu6": a ReLU6 output, unsigned, fixed range [0, 6] with 2^bits - 1 steps; in the IR it is
    an int8 tensor with zero point -128 whose clamp is the `relu6` fused activation — so low-bit
    activations need no new IR attribute, and BN before it learns the scaling a PACT clip would.
    kind "signed": a pre-add or logit tensor, int8 symmetric (zero point 0) with a max-abs range
    tracked by an EMA during training and frozen in eval.
    bits None: float (the ReLU6 is still applied).
    """

    # Data-parallel training reduces this buffer across ranks with a max: the exact one-process EMA.
    ddp_buffer_reduce = {"running_absmax": "max"}

    def __init__(self, bits: int | None, kind: str = "relu6", momentum: float = 0.05):
        super().__init__()
        if kind not in ("relu6", "signed"):
            raise ValueError(f"unknown activation kind {kind!r}")
        if bits is not None and bits not in ACT_BITS and kind == "relu6":
            raise ValueError(f"activation bits must be one of {ACT_BITS}, got {bits}")
        self.bits = bits
        self.kind = kind
        self.momentum = momentum
        self.register_buffer("running_absmax", torch.tensor(0.0))

    @property
    def zero_point(self) -> int:
        return -128 if self.kind == "relu6" else 0

    @property
    def scale(self) -> float | None:
        if self.bits is None:
            return None
        if self.kind == "relu6":
            return act_scale(self.bits)
        return f32(max(float(self.running_absmax), 1e-6) / 127.0)

    def qrange(self) -> tuple[int, int]:
        """Codes relative to the zero point (code = q - zero_point)."""
        if self.kind == "relu6":
            return 0, (1 << self.bits) - 1
        return -128, 127

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "relu6":
            x = torch.clamp(x, 0.0, RELU6_MAX)
        if self.bits is None:
            return x
        if self.kind == "signed" and self.training:
            # Tensor arithmetic only: reading the range back to Python every step would stall a GPU.
            m = x.detach().abs().amax()
            r = self.running_absmax
            r.copy_(torch.where(r == 0, m, r * (1 - self.momentum) + self.momentum * m))
            s = torch.clamp(r, min=1e-6) / 127.0
        else:
            s = self.scale
        lo, hi = self.qrange()
        codes = torch.clamp(round_half_away(x.detach() / s), lo, hi)
        q = codes * s
        if self.kind == "signed":
            # Straight-through only inside the range; outside it the clamp's gradient is zero.
            inside = (x.detach() >= lo * s) & (x.detach() <= hi * s)
            return torch.where(inside, ste(x, q), q)
        return ste(x, q)
