"""Data files and the pixel mapping from uint8 images into a model's input quantization.

A data file is an `.npz` with `x` (N, *input shape less its batch of 1): (N, H, W, C) images, (N, F)
feature vectors, (N, T, F) sequences; and optionally `y` (N,) labels. The JPEG archives in
`../shared/datasets` (`jpeg`, `offsets`, `labels`) are accepted too and decoded with Pillow.

Pixel mapping: a uint8 image fed to a model whose input is not uint8 is first mapped to a real value,
`real = pixel * scale + offset` (default scale 1, offset 0), then quantized with the model input's
scale and zero point (round half away from zero, saturate). The MLPerf Tiny ResNet (input scale 1,
zero point -128) thus gets int8 = pixel - 128; a model trained on pixel/255 needs `scale=1/255`.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixmcu.errors import PixmcuError
from pixmcu.ir import Tensor
from pixmcu.npz import open_npz


@dataclass(frozen=True)
class PixelMapping:
    scale: float = 1.0
    offset: float = 0.0

    def __post_init__(self):
        for option, v in (("--pixel-scale", self.scale), ("--pixel-offset", self.offset)):
            if not isinstance(v, (int, float, np.floating, np.integer)) or not math.isfinite(v):
                raise PixmcuError(f"{option} must be a finite number, got {v!r}")
        if self.scale == 0:
            raise PixmcuError("--pixel-scale must not be 0 (every image would map to the same input)")


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray
    y: np.ndarray | None
    path: Path


def check_count(option: str, value: int | None) -> None:
    """Options that count images or batches: absent, or at least 1."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
        raise PixmcuError(f"{option} must be at least 1, got {value}")


def _decode_jpegs(path: Path, jpeg: np.ndarray, offsets: np.ndarray, sel: np.ndarray) -> np.ndarray:
    from PIL import Image

    images = []
    for i in sel:
        try:
            img = Image.open(io.BytesIO(jpeg[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB")
        except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for a bad image
            raise PixmcuError(f"{path}: image {i} is not a decodable JPEG ({exc})") from None
        images.append(np.asarray(img, dtype=np.uint8))
    if len({im.shape for im in images}) > 1:
        raise PixmcuError(f"{path}: the JPEG images differ in size ({sorted({im.shape for im in images})[:3]})")
    return np.stack(images)


def _check_x(path: Path, shape: tuple[int, ...], dtype: np.dtype, name: str = "x") -> int:
    if len(shape) == 0:
        raise PixmcuError(f"{path}: '{name}' is a single number (0-d); it must hold N inputs, shape (N, ...)")
    if shape[0] == 0:
        raise PixmcuError(f"{path}: '{name}' holds no images (shape {shape})")
    if dtype.kind not in "iuf":
        raise PixmcuError(f"{path}: '{name}' has dtype {dtype}; inputs must be integer (or float) numbers")
    return shape[0]


def _check_label_header(path: Path, name: str, shape: tuple[int, ...], dtype: np.dtype, n: int) -> None:
    if dtype.kind not in "iuf":
        raise PixmcuError(f"{path}: labels '{name}' have dtype {dtype}; labels must be integer class indices")
    if len(shape) == 0:
        raise PixmcuError(f"{path}: labels '{name}' are a single number (0-d); expected shape ({n},)")
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise PixmcuError(f"{path}: labels '{name}' have shape {shape}; expected class indices of shape ({n},)")
    if shape[0] != n:
        raise PixmcuError(f"{path}: {n} images but {shape[0]} labels in '{name}'")


def _labels(path: Path, name: str, y: np.ndarray) -> np.ndarray:
    y = y.reshape(len(y))
    if y.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(y) | (y != np.round(y)) | (np.abs(y) > 2.0 ** 53)
        if bad.any():
            i = int(np.argmax(bad))
            raise PixmcuError(f"{path}: label {i} in '{name}' is {y[i]}, not a class index")
    elif y.dtype == np.uint64 and len(y) and y.max() > np.iinfo(np.int64).max:
        i = int(np.argmax(y > np.iinfo(np.int64).max))
        raise PixmcuError(f"{path}: label {i} in '{name}' is {y[i]}, not a class index")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        i = int(np.argmax(y < 0))
        raise PixmcuError(f"{path}: label {i} in '{name}' is {y[i]}; class indices are >= 0")
    return y


def load_dataset(path: str | Path, limit: int | None = None, indices: np.ndarray | None = None,
                 arrays: tuple[str, str] = ("x", "y")) -> Dataset:
    """Load and check a data file; `indices` picks images (decoding only those), `limit` keeps the first
    N after that. Shapes, dtypes and sizes are checked from the headers before any array is read.
    `arrays`: the names of the inputs and labels (training files also hold `x_test`, `y_test`)."""
    path = Path(path)
    check_count("--limit", limit)
    xn, yn = arrays
    with open_npz(path) as f:
        if xn in f:
            xh = f.header(xn)
            n = _check_x(path, xh.shape, xh.dtype, xn)
            if yn in f:
                _check_label_header(path, yn, f.header(yn).shape, f.header(yn).dtype, n)
            x = f.load(xn)
            y = _labels(path, yn, f.load(yn)) if yn in f else None
            if indices is not None:
                x, y = x[indices], None if y is None else y[indices]
        elif arrays == ("x", "y") and "jpeg" in f and "offsets" in f:
            jh, oh = f.header("jpeg"), f.header("offsets")
            if len(jh.shape) != 1 or jh.dtype != np.uint8 or len(oh.shape) != 1 or oh.dtype.kind not in "iu":
                raise PixmcuError(f"{path}: a JPEG archive needs 1-D uint8 'jpeg' and 1-D integer 'offsets'")
            n = oh.shape[0] - 1
            if n < 1:
                raise PixmcuError(f"{path}: the JPEG archive holds no images")
            if "labels" in f:
                _check_label_header(path, "labels", f.header("labels").shape, f.header("labels").dtype, n)
            offsets = f.load("offsets").astype(np.int64)
            if offsets[0] < 0 or offsets[-1] > jh.shape[0] or (np.diff(offsets) < 0).any():
                raise PixmcuError(f"{path}: 'offsets' are not increasing positions within 'jpeg'")
            y = _labels(path, "labels", f.load("labels")) if "labels" in f else None
            sel = np.arange(n) if indices is None else np.asarray(indices)
            if limit is not None:
                sel = sel[:limit]
            x = _decode_jpegs(path, f.load("jpeg"), offsets, sel)
            y = None if y is None else y[sel]
        else:
            raise PixmcuError(f"{path}: expected arrays 'x' (and optionally 'y'), or 'jpeg'/'offsets'/'labels'; "
                              f"found {f.names}")
    if limit is not None:
        x = x[:limit]
        y = None if y is None else y[:limit]
    return Dataset(x=x, y=y, path=path)


def check_labels(ds: Dataset, n_classes: int) -> None:
    """Labels must index the model's output: a label >= the number of outputs can never be predicted."""
    if ds.y is not None and len(ds.y) and ds.y.max() >= n_classes:
        i = int(np.argmax(ds.y >= n_classes))
        raise PixmcuError(f"{ds.path}: label {i} is {ds.y[i]}, but the model has {n_classes} outputs "
                          f"(classes 0 to {n_classes - 1})")


def read_model_inputs(path: str | Path, input_tensor: Tensor, output_tensor: Tensor,
                      mapping: PixelMapping = PixelMapping(), limit: int | None = None) -> Dataset:
    """The one way every command feeds a data file to a model: the file checked (load_dataset), `x`
    fitted to the model input and brought into its dtype (to_model_input), the labels checked against
    the model's outputs. Raises PixmcuError, one paragraph naming the file, on anything wrong."""
    ds = load_dataset(path, limit=limit)
    x = to_model_input(ds.x, input_tensor, mapping, str(ds.path))
    ds = Dataset(x=x, y=ds.y, path=ds.path)
    check_labels(ds, int(np.prod(per_input_shape(output_tensor), dtype=np.int64)))
    return ds


def per_input_shape(tensor: Tensor) -> tuple[int, ...]:
    """The shape of one input: the tensor's shape less its batch dimension of 1."""
    return tuple(tensor.shape[1:]) if tensor.shape and tensor.shape[0] == 1 else tuple(tensor.shape)


def fit_shape(x: np.ndarray, tensor: Tensor, source: str = "data") -> np.ndarray:
    """`x` as (N, *per-input shape) of the model input, for every input rank. Grayscale images stored
    (N, H, W) for an (1, H, W, 1) input get their channel axis."""
    want = per_input_shape(tensor)
    if tuple(x.shape[1:]) == want:
        return x
    if len(want) >= 2 and want[-1] == 1 and tuple(x.shape[1:]) == want[:-1]:
        return x[..., None]
    shown = "(N, " + ", ".join(map(str, want)) + ")" if want else "(N,)"
    raise PixmcuError(f"{source}: 'x' holds {len(x)} inputs of shape {tuple(x.shape[1:])}; the model input "
                      f"'{tensor.name}' {list(tensor.shape)} takes 'x' of shape {shown}")


def to_model_input(x: np.ndarray, tensor: Tensor, mapping: PixelMapping = PixelMapping(), source: str = "data") -> np.ndarray:
    """Bring images into the model input's dtype: as is when they already have it, else via the mapping."""
    x = fit_shape(x, tensor, source)
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
    """Images in a data file, from its headers alone."""
    path = Path(path)
    with open_npz(path) as f:
        if "x" in f:
            return _check_x(path, f.header("x").shape, f.header("x").dtype)
        if "offsets" in f and len(f.header("offsets").shape) == 1:
            return max(f.header("offsets").shape[0] - 1, 0)
    raise PixmcuError(f"{path}: expected arrays 'x' or 'jpeg'/'offsets'")
