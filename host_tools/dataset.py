"""Test images for a run: load a data file and bring it into the model input's dtype and layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixmcu.errors import PixmcuError


@dataclass
class Inputs:
    x: np.ndarray  # (N, ...) in the model input's dtype
    y: np.ndarray | None
    path: Path

    def __len__(self) -> int:
        return len(self.x)

    def image_bytes(self, i: int) -> bytes:
        return np.ascontiguousarray(self.x[i]).tobytes()


def _tensor(t: dict):
    from pixmcu.ir import Quantization, Tensor

    quant = None
    if t.get("scale") is not None:
        quant = Quantization(scale=(float(t["scale"]),), zero_point=(int(t.get("zero_point") or 0),))
    return Tensor(name=t["name"], shape=tuple(t["shape"]), dtype=t["dtype"], quant=quant)


def load_inputs(path: str | Path, manifest: dict, limit: int | None = None) -> Inputs:
    from pixmcu.data import PixelMapping, read_model_inputs

    mapping = manifest.get("pixel_mapping") or {}
    try:
        mapping = PixelMapping(float(mapping.get("scale", 1.0)), float(mapping.get("offset", 0.0)))
    except (TypeError, ValueError, PixmcuError) as exc:
        raise PixmcuError(f"manifest.json: bad pixel_mapping {manifest.get('pixel_mapping')!r} ({exc})") from None
    ds = read_model_inputs(path, _tensor(manifest["input"]), _tensor(manifest["output"]), mapping, limit=limit)
    x = ds.x
    want = int(manifest["input"]["bytes"])
    if x[0].nbytes != want:
        raise PixmcuError(f"{path}: one image is {x[0].nbytes} bytes, the model input takes {want}")
    return Inputs(x=x, y=ds.y, path=Path(path))
