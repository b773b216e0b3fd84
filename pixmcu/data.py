"""Data files and the pixel mapping from uint8 images into a model's input quantization.

A data file is an `.npz` with `x` (N, H, W, C) and optionally `y` (N,) labels. The JPEG archives in
`../shared/datasets` (`jpeg`, `offsets`, `labels`) are accepted too and decoded with Pillow.

Pixel mapping: a uint8 image fed to a model whose input is not uint8 is first mapped to a real value,
`real = pixel * scale + offset` (default scale 1, offset 0), then quantized with the model input's
scale and zero point (round half away from zero, saturate). The MLPerf Tiny ResNet (input scale 1,
zero point -128) thus gets int8 = pixel - 128; a model trained on pixel/255 needs `scale=1/255`.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixmcu.errors import PixmcuError
from pixmcu.ir import Tensor


@dataclass(frozen=True)
class PixelMapping:
    scale: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray
    y: np.ndarray | None
    path: Path


def _decode_jpegs(path: Path, d: dict) -> np.ndarray:
    from PIL import Image

    jpeg, offsets = d["jpeg"], d["offsets"]
    images = []
    for i in range(len(offsets) - 1):
        try:
            img = Image.open(io.BytesIO(jpeg[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB")
        except Exception as exc:
            raise PixmcuError(f"{path}: image {i} is not a decodable JPEG ({exc})") from None
        images.append(np.asarray(img, dtype=np.uint8))
    return np.stack(images)


def load_dataset(path: str | Path, limit: int | None = None, indices: np.ndarray | None = None) -> Dataset:
    """Load a data file; `indices` picks images (decoding only those), `limit` keeps the first N after that."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            d = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise PixmcuError(f"{path}: no such data file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise PixmcuError(f"{path}: not a readable .npz data file ({exc})") from None
    if "x" in d:
        x = d["x"] if indices is None else d["x"][indices]
        y = d.get("y")
        if y is not None and indices is not None:
            y = y[indices]
    elif "jpeg" in d and "offsets" in d:
        y = d.get("labels")
        n = len(d["offsets"]) - 1
        sel = np.arange(n) if indices is None else np.asarray(indices)
        if limit is not None:
            sel = sel[:limit]
        offsets = d["offsets"]
        jpeg = np.concatenate([d["jpeg"][offsets[i]:offsets[i + 1]] for i in sel]) if len(sel) else d["jpeg"][:0]
        sizes = np.array([offsets[i + 1] - offsets[i] for i in sel], dtype=np.int64)
        x = _decode_jpegs(path, {"jpeg": jpeg, "offsets": np.concatenate([[0], np.cumsum(sizes)])})
        y = None if y is None else y[sel]
    else:
        raise PixmcuError(f"{path}: expected arrays 'x' (and optionally 'y'), or 'jpeg'/'offsets'/'labels'; "
                          f"found {sorted(d)}")
    if limit is not None:
        x = x[:limit]
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim not in (2, 4):  # (N, features) for models on vectors (e.g. the MLPerf Tiny autoencoder)
        raise PixmcuError(f"{path}: 'x' must be (N, H, W, C) images or (N, features) vectors, got shape {x.shape}")
    if y is not None:
        y = np.asarray(y)[: len(x)].astype(np.int64)
        if len(y) != len(x):
            raise PixmcuError(f"{path}: {len(x)} images but {len(y)} labels")
    return Dataset(x=x, y=y, path=path)


def to_model_input(x: np.ndarray, tensor: Tensor, mapping: PixelMapping = PixelMapping(), source: str = "data") -> np.ndarray:
    """Bring images into the model input's dtype: as is when they already have it, else via the mapping."""
    want = tuple(tensor.shape[1:]) if tensor.shape[0] == 1 else tuple(tensor.shape)
    if tuple(x.shape[1:]) != want:
        raise PixmcuError(f"{source}: images of shape {tuple(x.shape[1:])} do not fit the model input "
                          f"'{tensor.name}' of shape {tensor.shape}")
    if x.dtype == np.dtype(tensor.dtype):
        return x
    if x.dtype != np.uint8:
        raise PixmcuError(f"{source}: 'x' has dtype {x.dtype}; expected the model input's {tensor.dtype} "
                          f"or uint8 images")
    if tensor.quant is None:
        raise PixmcuError(f"{source}: model input '{tensor.name}' has no quantization to map pixels into")
    real = x.astype(np.float64) * mapping.scale + mapping.offset
    scale = float(np.float32(tensor.quant.scale[0]))
    q = np.sign(real / scale) * np.floor(np.abs(real / scale) + 0.5) + tensor.quant.zero_point[0]
    info = np.iinfo(tensor.dtype)
    return np.clip(q, info.min, info.max).astype(tensor.dtype)


def sample_indices(n_total: int, n: int, seed: int) -> np.ndarray:
    """A seeded random selection, sorted so files stay in their original order."""
    if not 0 < n <= n_total:
        raise PixmcuError(f"cannot sample {n} of {n_total} images")
    return np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))


def count_images(path: str | Path) -> int:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" in f.files:
                return len(f["x"])
            if "offsets" in f.files:
                return len(f["offsets"]) - 1
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise PixmcuError(f"{path}: not a readable .npz data file ({exc})") from None
    raise PixmcuError(f"{path}: expected arrays 'x' or 'jpeg'/'offsets'")
