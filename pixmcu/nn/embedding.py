"""Pixel embedding (Tokunaga et al., arXiv 2407.16174): a trainable lookup table per input value.

Each 8-bit value v of channel c reads a vector E[c][v] of d entries on a Q-bit grid over [0, 1]
(codes 0..2^Q-1, step 1/(2^Q-1)); the latent table stays float and the forward pass quantizes it
with a straight-through estimator, so backprop trains the table with the network. The binned
form maps each channel's 256 values into K bins first (uniform, or with learned thresholds) and
gives each bin one vector; it expands to an ordinary 256-entry table at export.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pixmcu.nn.fakequant import f32, round_half_away, ste

INITS = ("ramp", "thermometer", "random")


class PixelEmbedding(nn.Module):
    def __init__(
        self,
        channels: int,
        dim: int,
        bits: int,
        shared: bool = False,
        init: str = "ramp",
        bins: int | None = None,
        learn_bins: bool = False,
        bin_temperature: float = 2.0,
        seed: int = 0,
    ):
        super().__init__()
        if not 1 <= bits <= 8:
            raise ValueError(f"embedding bits must be 1..8, got {bits}")
        if init not in INITS:
            raise ValueError(f"embedding init must be one of {INITS}, got {init!r}")
        if bins is not None and not 2 <= bins <= 16:
            raise ValueError(f"bins must be 2..16, got {bins}")
        self.channels, self.dim, self.bits = channels, dim, bits
        self.shared, self.bins, self.learn_bins = shared, bins, bool(learn_bins and bins)
        self.bin_temperature = bin_temperature
        tables = 1 if shared else channels
        entries = bins or 256
        # Centre value of each entry: a bin stands for the middle of its value range.
        centres = (torch.arange(entries, dtype=torch.float32) + 0.5) * (256.0 / entries) - 0.5
        gen = torch.Generator().manual_seed(seed)
        latent = self._init_table(init, centres / 255.0, gen)
        self.weight = nn.Parameter(latent.unsqueeze(0).repeat(tables, 1, 1).contiguous())
        if self.learn_bins:
            # Sorted edges as a normalised cumulative sum of positive steps: starts uniform.
            self.bin_logits = nn.Parameter(torch.zeros(tables, bins))
        else:
            self.register_parameter("bin_logits", None)

    @property
    def levels(self) -> int:
        return (1 << self.bits) - 1

    @property
    def scale(self) -> float:
        return f32(1.0 / self.levels)

    @property
    def zero_point(self) -> int:
        # Codes 0..2^Q-1 are stored as they are while they fit int8, so the first layer needs no
        # input offset; an 8-bit table shifts into int8 like any unsigned activation.
        return 0 if self.bits <= 7 else -128

    @property
    def out_channels(self) -> int:
        return self.channels * self.dim

    def _init_table(self, init: str, u: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        d, L = self.dim, self.levels
        j = torch.arange(d, dtype=torch.float32)
        if init == "ramp":
            # d identical ramps offset by fractions of a step: together they dither v over d*L levels.
            t = u[:, None] + (j[None, :] - (d - 1) / 2) / (d * L)
        elif init == "thermometer":
            # Entry j ramps across its own d-th of the value range: a thermometer code with L steps per entry.
            t = u[:, None] * d - j[None, :]
        else:
            t = torch.rand(u.shape[0], d, generator=gen)
        return t.clamp(0.0, 1.0)

    def freeze(self, frozen: bool = True) -> "PixelEmbedding":
        self.weight.requires_grad_(not frozen)
        if self.bin_logits is not None:
            self.bin_logits.requires_grad_(not frozen)
        return self

    def quantized_entries(self) -> torch.Tensor:
        """The table on the Q-bit grid, [tables, entries, d], with straight-through gradients."""
        t = self.weight.clamp(0.0, 1.0)
        codes = round_half_away(t.detach() * self.levels)
        return ste(t, codes / self.levels)

    def bin_edges(self) -> torch.Tensor:
        """Real-valued upper edges of the first K-1 bins, [tables, K-1], in pixel units."""
        K = self.bins
        if self.bin_logits is None:
            edges = torch.arange(1, K, dtype=torch.float32, device=self.weight.device) * (256.0 / K)
            return edges.expand(1 if self.shared else self.channels, K - 1)
        steps = F.softplus(self.bin_logits)
        cum = torch.cumsum(steps, dim=1) / steps.sum(dim=1, keepdim=True)
        return 256.0 * cum[:, :-1]

    def bin_index(self) -> torch.Tensor:
        """Bin of every value 0..255, [tables, 256] (long): value v is in bin k when edge_{k-1} <= v+0.5 < edge_k."""
        v = torch.arange(256, dtype=torch.float32, device=self.weight.device) + 0.5
        return (v[None, :, None] >= self.bin_edges().detach()[:, None, :]).sum(dim=2)

    def lut(self) -> torch.Tensor:
        """The full 256-entry table [tables, 256, d] on the grid (binned tables expanded)."""
        q = self.quantized_entries()
        if self.bins is None:
            return q
        idx = self.bin_index()
        hard = torch.gather(q, 1, idx[:, :, None].expand(-1, -1, self.dim))
        if self.bin_logits is None or not self.training:
            return hard
        # Thresholds get gradients through a soft bin membership; the vectors keep the hard path.
        edges = self.bin_edges()
        v = torch.arange(256, dtype=torch.float32, device=self.weight.device)[None, :, None] + 0.5
        above = torch.sigmoid((v - edges[:, None, :]) / self.bin_temperature)  # [T,256,K-1]
        ones = torch.ones_like(above[..., :1])
        zeros = torch.zeros_like(above[..., :1])
        member = torch.cat([ones, above], dim=2) - torch.cat([above, zeros], dim=2)  # [T,256,K]
        soft = member @ q.detach()
        return hard + (soft - soft.detach())

    def codes(self) -> np.ndarray:
        """Integer codes of the full table, int64 [tables, 256, d] (0..2^Q-1)."""
        with torch.no_grad():
            return np.rint(self.lut().cpu().numpy() * self.levels).astype(np.int64)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 (or integer-valued) pixels [N, C, H, W] -> embedded [N, C*d, H, W]."""
        n, c, h, w = pixels.shape
        if c != self.channels:
            raise ValueError(f"embedding built for {self.channels} channels, got {c}")
        idx = pixels.long()
        if not self.shared:
            idx = idx + 256 * torch.arange(c, device=pixels.device).view(1, c, 1, 1)
        table = self.lut().reshape(-1, self.dim)
        out = F.embedding(idx, table)  # [N, C, H, W, d]
        return out.permute(0, 1, 4, 2, 3).reshape(n, c * self.dim, h, w)
