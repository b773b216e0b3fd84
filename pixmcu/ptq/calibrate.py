"""Activation ranges from calibration images: running min/max (default) or a per-batch percentile."""

from __future__ import annotations

import numpy as np
import torch

from pixmcu.ptq.fgraph import FloatGraph, Node, run

METHODS = ("minmax", "percentile")


class RangeObserver:
    def __init__(self, method: str = "minmax", percentile: float = 99.99):
        if method not in METHODS:
            raise ValueError(f"calibration method must be one of {METHODS}")
        self.method, self.percentile = method, percentile
        self.lo: dict[str, list[float]] = {}
        self.hi: dict[str, list[float]] = {}

    def __call__(self, node: Node, v: torch.Tensor) -> None:
        if self.method == "minmax":
            lo, hi = float(v.min()), float(v.max())
        else:
            # Clipping the rare extremes buys resolution for everything else; quantile on a sample.
            flat = v.detach().flatten()
            if flat.numel() > 1 << 20:
                flat = flat[torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(0))[: 1 << 20]]
            q = self.percentile / 100.0
            lo, hi = float(torch.quantile(flat, 1 - q)), float(torch.quantile(flat, q))
        self.lo.setdefault(node.name, []).append(lo)
        self.hi.setdefault(node.name, []).append(hi)

    def ranges(self) -> dict[str, tuple[float, float]]:
        if self.method == "minmax":
            return {k: (min(self.lo[k]), max(self.hi[k])) for k in self.lo}
        return {k: (float(np.mean(self.lo[k])), float(np.mean(self.hi[k]))) for k in self.lo}


def calibrate(fg: FloatGraph, real: np.ndarray, method: str = "minmax", batch: int = 256) -> dict[str, tuple[float, float]]:
    """Ranges of every node's output over real-valued NCHW inputs."""
    obs = RangeObserver(method)
    for i in range(0, len(real), batch):
        run(fg, torch.from_numpy(np.ascontiguousarray(real[i:i + batch], np.float32)), obs)
    return obs.ranges()
