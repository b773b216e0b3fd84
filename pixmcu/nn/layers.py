"""Quantization-aware conv / linear / pooling in the shape the integer graph takes.

A QConv2d owns its BatchNorm and trains the folded form (weights scaled by gamma/sigma before
quantization), so the weights it quantizes are the weights the export writes. Padding follows
TFLite's SAME rule (odd remainder after), which differs from torch's symmetric padding at stride 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pixmcu.nn import intexact
from pixmcu.nn.fakequant import bias_codes, fake_quant_bias, fake_quant_weight, round_half_away, ste, weight_codes
from pixmcu.shapes import out_size, pad_before


def tflite_pad(x: torch.Tensor, k: int, stride: int, padding: str) -> torch.Tensor:
    if padding == "valid":
        return x
    h, w = x.shape[-2:]
    oh, ow = out_size("same", h, k, stride), out_size("same", w, k, stride)
    th = max(0, (oh - 1) * stride + k - h)
    tw = max(0, (ow - 1) * stride + k - w)
    ph, pw = pad_before(h, k, stride, 1, oh), pad_before(w, k, stride, 1, ow)
    if th == 0 and tw == 0:
        return x
    # Zero in real units is what TFLM pads with (the input zero point), for every input stage.
    return F.pad(x, (pw, tw - pw, ph, th - ph))


def _exact(layer: nn.Module, s_in: float | None, out_q) -> bool:
    return intexact.enabled() and not layer.training and s_in is not None and layer.wbits is not None and out_q.bits is not None


class QConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: str = "same",
                 wbits: int | None = 8, bn: bool = True):
        super().__init__()
        self.cin, self.cout, self.k, self.stride, self.padding = cin, cout, k, stride, padding
        self.wbits = wbits
        self.weight = nn.Parameter(torch.empty(cout, cin, k, k))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        self.bn = nn.BatchNorm2d(cout) if bn else None
        self.bias = None if bn else nn.Parameter(torch.zeros(cout))
        self.bn_frozen = False

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Float weights and bias with BN (running statistics) folded in."""
        if self.bn is None:
            return self.weight, self.bias
        f = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
        w = self.weight * f.view(-1, 1, 1, 1)
        b = self.bn.bias - f * self.bn.running_mean
        return w, b

    def quantized(self, s_in: float | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Deployed weights, bias and per-channel weight scales (None when float)."""
        w, b = self.folded()
        wq, s_w = fake_quant_weight(w, self.wbits)
        return wq, fake_quant_bias(b, s_in, s_w), s_w

    def forward(self, x: torch.Tensor, s_in: float | None, out_q) -> torch.Tensor:
        """Conv + folded BN, then out_q's activation and quantization."""
        x = tflite_pad(x, self.k, self.stride, self.padding)
        if _exact(self, s_in, out_q):
            wq, bq, s_w = self.quantized(s_in)
            codes, _ = weight_codes(wq, self.wbits, s_w)
            xc, wc, bc = intexact.exact_operands(intexact.codes_of(x, s_in), codes, bias_codes(bq, s_in, s_w))
            acc = F.conv2d(xc, wc, bc, self.stride)
            return intexact.requantize(acc, s_in, s_w, out_q)
        return out_q(self._float(x, s_in))

    def _float(self, x: torch.Tensor, s_in: float | None) -> torch.Tensor:
        if self.bn is not None and self.training and not self.bn_frozen:
            # Quantize the folded weights (running sigma), then undo the fold so BN can normalise
            # with batch statistics: training sees the deployed weight grid while BN still adapts.
            f = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
            wq, _ = fake_quant_weight(self.weight * f.view(-1, 1, 1, 1), self.wbits)
            y = F.conv2d(x, wq, None, self.stride) / f.view(1, -1, 1, 1)
            return F.batch_norm(y, self.bn.running_mean, self.bn.running_var, self.bn.weight, self.bn.bias,
                                True, self.bn.momentum, self.bn.eps)
        wq, bq, _ = self.quantized(s_in)
        return F.conv2d(x, wq, bq, self.stride)


class QLinear(nn.Module):
    def __init__(self, cin: int, cout: int, wbits: int | None = 8):
        super().__init__()
        self.cin, self.cout, self.wbits = cin, cout, wbits
        self.weight = nn.Parameter(torch.empty(cout, cin))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        self.bias = nn.Parameter(torch.zeros(cout))

    def quantized(self, s_in: float | None):
        wq, s_w = fake_quant_weight(self.weight, self.wbits)
        return wq, fake_quant_bias(self.bias, s_in, s_w), s_w

    def forward(self, x: torch.Tensor, s_in: float | None, out_q) -> torch.Tensor:
        if _exact(self, s_in, out_q):
            wq, bq, s_w = self.quantized(s_in)
            codes, _ = weight_codes(wq, self.wbits, s_w)
            xc, wc, bc = intexact.exact_operands(intexact.codes_of(x, s_in), codes, bias_codes(bq, s_in, s_w))
            acc = F.linear(xc, wc, bc)
            return intexact.requantize(acc, s_in, s_w, out_q)
        wq, bq, _ = self.quantized(s_in)
        return out_q(F.linear(x, wq, bq))


class GlobalAvgPool(nn.Module):
    """Mean over H, W, rounded the way TFLM's int8 AveragePool rounds its raw (zero-point-shifted) sum."""

    def forward(self, x: torch.Tensor, scale: float | None, zero_point: int = -128) -> torch.Tensor:
        y = x.mean(dim=(2, 3))
        if scale is None:
            return y
        count = x.shape[2] * x.shape[3]
        raw = torch.round(x.detach() / scale).sum(dim=(2, 3)) + zero_point * count
        # C integer division truncates toward zero: (acc +- count/2) / count.
        avg = torch.sign(raw) * torch.floor((raw.abs() + count // 2) / count)
        return ste(y, (avg - zero_point) * scale)


def max_pool(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 2, 2)


__all__ = ["GlobalAvgPool", "QConv2d", "QLinear", "max_pool", "round_half_away", "tflite_pad"]
