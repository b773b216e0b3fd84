"""Model zoo: a small CNN for 28x28x1 and a ResNet-8-like network for 32x32x3 (MLPerf Tiny shape),
each with a choice of input stage.

Input stages (what the first layer sees, from uint8 pixels p):
  float  - p/255 in float; with wbits/abits None this is the float32 baseline
  naive  - p quantized to the network's activation bit width (2^A - 1 levels over [0, 1])
  int8   - p/255 on the 8-bit grid (the ordinary int8 first layer)
  embed  - pixel embedding: C*d channels of Q-bit codes
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from pixmcu.nn import intexact
from pixmcu.nn.embedding import PixelEmbedding
from pixmcu.nn.fakequant import ActQuant, f32
from pixmcu.nn.layers import GlobalAvgPool, QConv2d, QLinear, max_pool

ARCHS = ("cnn28", "resnet8", "custom")  # custom: a user's network, pixmcu.nn.byom
INPUT_STAGES = ("float", "naive", "int8", "embed")


@dataclass
class ModelConfig:
    arch: str = "cnn28"
    in_channels: int = 1
    image_size: int = 28
    num_classes: int = 10
    widths: tuple[int, ...] = (16, 32, 64)
    input_stage: str = "int8"
    wbits: int | None = 8
    abits: int | None = 8
    first_wbits: int | None = None  # None: same as wbits (the first layer is quantized too)
    last_wbits: int | None = None
    embed: dict[str, Any] = field(default_factory=dict)  # dim, bits, shared, init, bins, learn_bins
    head: str = "gap"  # gap: global average pool -> FC; flatten: NHWC flatten -> FC

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.input_stage not in INPUT_STAGES:
            raise ValueError(f"input stage must be one of {INPUT_STAGES}, got {self.input_stage!r}")
        if self.input_stage == "naive" and self.abits is None:
            raise ValueError("naive input quantization needs activation bits")
        if self.input_stage == "embed":
            self.embed = {"dim": 10, "bits": 2, "shared": False, "init": "ramp", "bins": None,
                          "learn_bins": False, **self.embed}

    @property
    def quantized(self) -> bool:
        return self.wbits is not None and self.abits is not None and self.input_stage != "float"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        return cls(**d)

    def label(self) -> str:
        if self.wbits is None:
            return "float32"
        bits = f"W{self.wbits}A{self.abits}"
        if self.input_stage != "embed":
            return f"{bits} {self.input_stage}"
        e = self.embed
        kind = f"d={e['dim']},Q={e['bits']}"
        if e.get("bins"):
            kind += f",K={e['bins']}{'L' if e.get('learn_bins') else ''}"
        if e.get("shared"):
            kind += ",shared"
        return f"{bits} embed({kind})"


def _first(cfg: ModelConfig):
    return cfg.wbits if cfg.first_wbits is None else cfg.first_wbits


def _last(cfg: ModelConfig):
    return cfg.wbits if cfg.last_wbits is None else cfg.last_wbits


def naive_input_codes(bits: int) -> torch.Tensor:
    """Code of every pixel value after the graph's `quantize` op (int8 p-128 at 1/255 -> 2^bits-1 levels)."""
    from pixmcu import quant

    s_in, s_out = f32(1.0 / 255.0), f32(1.0 / ((1 << bits) - 1))
    m, shift = quant.quantize_multiplier(s_in / s_out)
    codes = quant.multiply_by_quantized_multiplier(np.arange(256), m, shift)
    return torch.from_numpy(np.clip(codes, 0, (1 << bits) - 1).astype(np.float32))


class InputStage(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.stage = cfg.input_stage
        self.abits = cfg.abits
        self.embedding = None
        self.out_channels = cfg.in_channels
        if self.stage == "embed":
            e = cfg.embed
            self.embedding = PixelEmbedding(cfg.in_channels, e["dim"], e["bits"], shared=e["shared"],
                                            init=e["init"], bins=e["bins"], learn_bins=e["learn_bins"])
            self.out_channels = self.embedding.out_channels
        if self.stage == "naive":
            self.register_buffer("naive_codes", naive_input_codes(cfg.abits), persistent=False)

    @property
    def scale(self) -> float | None:
        if self.stage == "float":
            return None
        if self.stage == "naive":
            return f32(1.0 / ((1 << self.abits) - 1))
        if self.stage == "int8":
            return f32(1.0 / 255.0)
        return self.embedding.scale

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        pixels = pixels.contiguous()
        if self.embedding is not None:
            return self.embedding(pixels)
        p = pixels.float()
        if self.stage == "naive":
            # TFLM's int8->int8 requantize rounds twice (p=8 at 4 bits: 0.47 -> 0.5 -> 1), so the
            # codes come from the contract itself, as a 256-entry table, not from round(p*L/255).
            return self.naive_codes.to(pixels.device)[pixels.long()] * self.scale
        return p / 255.0


class SmallCNN(nn.Module):
    """conv3x3-pool-conv3x3-pool-conv3x3-GAP-FC, ReLU6 activations."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        w0, w1, w2 = cfg.widths
        self.input = InputStage(cfg)
        self.conv1 = QConv2d(self.input.out_channels, w0, 3, wbits=_first(cfg))
        self.act1 = ActQuant(cfg.abits)
        self.conv2 = QConv2d(w0, w1, 3, wbits=cfg.wbits)
        self.act2 = ActQuant(cfg.abits)
        self.conv3 = QConv2d(w1, w2, 3, wbits=cfg.wbits)
        self.act3 = ActQuant(cfg.abits)
        self.pool = GlobalAvgPool()
        side = cfg.image_size // 4
        self.fc = QLinear(w2 * (side * side if cfg.head == "flatten" else 1), cfg.num_classes, wbits=_last(cfg))
        self.logits = ActQuant(8 if cfg.abits else None, kind="signed")

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.input(pixels)
        x = max_pool(self.conv1(x, self.input.scale, self.act1))
        x = max_pool(self.conv2(x, self.act1.scale, self.act2))
        x = self.conv3(x, self.act2.scale, self.act3)
        if self.cfg.head == "flatten":
            x = x.permute(0, 2, 3, 1).flatten(1)  # NHWC order, as the IR's reshape sees it
        else:
            x = self.pool(x, self.act3.scale)
        return self.fc(x, self.act3.scale, self.logits)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, cfg: ModelConfig):
        super().__init__()
        self.conv1 = QConv2d(cin, cout, 3, stride, wbits=cfg.wbits)
        self.act1 = ActQuant(cfg.abits)
        self.conv2 = QConv2d(cout, cout, 3, 1, wbits=cfg.wbits)
        # Pre-add tensors stay 8-bit: only tensors that feed a conv or FC carry the low bit width.
        self.q2 = ActQuant(8 if cfg.abits else None, kind="signed")
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = QConv2d(cin, cout, 1, stride, padding="valid", wbits=cfg.wbits)
            self.qs = ActQuant(8 if cfg.abits else None, kind="signed")
        self.out = ActQuant(cfg.abits)

    def forward(self, x: torch.Tensor, s_in: float | None) -> torch.Tensor:
        y = self.conv1(x, s_in, self.act1)
        y = self.conv2(y, self.act1.scale, self.q2)
        if self.shortcut is None:
            sc, q_sc = x, (s_in, -128)
        else:
            sc = self.shortcut(x, s_in, self.qs)
            q_sc = (self.qs.scale, self.qs.zero_point)
        if intexact.enabled() and not self.training and self.out.bits is not None and s_in is not None:
            return intexact.add(y, (self.q2.scale, self.q2.zero_point), sc, q_sc, self.out)
        return self.out(y + sc)


class ResNet8(nn.Module):
    """MLPerf Tiny's image-classification ResNet shape: stem, three residual stacks, GAP, FC."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        w0, w1, w2 = cfg.widths
        self.input = InputStage(cfg)
        self.conv1 = QConv2d(self.input.out_channels, w0, 3, wbits=_first(cfg))
        self.act1 = ActQuant(cfg.abits)
        self.block1 = ResBlock(w0, w0, 1, cfg)
        self.block2 = ResBlock(w0, w1, 2, cfg)
        self.block3 = ResBlock(w1, w2, 2, cfg)
        self.pool = GlobalAvgPool()
        self.fc = QLinear(w2, cfg.num_classes, wbits=_last(cfg))
        self.logits = ActQuant(8 if cfg.abits else None, kind="signed")

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.input(pixels), self.input.scale, self.act1)
        x = self.block1(x, self.act1.scale)
        x = self.block2(x, self.block1.out.scale)
        x = self.block3(x, self.block2.out.scale)
        x = self.pool(x, self.block3.out.scale)
        return self.fc(x, self.block3.out.scale, self.logits)


def build_model(cfg: ModelConfig) -> nn.Module:
    if cfg.arch == "custom":
        from pixmcu.errors import PixmcuError

        raise PixmcuError("a custom network is rebuilt from its own model file: pixmcu.nn.quantize_aware(...)")
    return {"cnn28": SmallCNN, "resnet8": ResNet8}[cfg.arch](cfg)


def freeze_bn(model: nn.Module, frozen: bool = True) -> None:
    """Train on the exact folded form from here on (running statistics, no more updates)."""
    for m in model.modules():
        if isinstance(m, QConv2d):
            m.bn_frozen = frozen
