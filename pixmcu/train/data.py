"""Datasets as uint8 NCHW tensors (the pixel embedding indexes raw values, so nothing is normalised here).

Fashion-MNIST comes from the Debian package's gzipped IDX files; CIFAR-10 from the project's JPEG
archive, decoded once with Pillow and cached (the JPEG re-encoding changed pixels, so its figures
are "CIFAR-10 (JPEG)"); any .npz with x (N,H,W[,C]) uint8 and y works too.
"""

from __future__ import annotations

import gzip
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixmcu.data import load_dataset as load_data_file
from pixmcu.errors import PixmcuError
from pixmcu.npz import open_npz
from pixmcu.shared_data import shared_dir

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
SHARED_DATASETS = shared_dir() / "datasets"
DATASET_NAMES = ("fashion-mnist", "cifar10")


@dataclass
class Split:
    x: np.ndarray  # uint8 [N, H, W, C]
    y: np.ndarray  # int64 [N]


@dataclass
class Dataset:
    name: str
    train: Split
    test: Split
    classes: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.train.x.shape[1:]


def default_cache_dir() -> Path:
    from pixmcu.cache import cache_root

    return cache_root()


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist(root: Path | None = None) -> Dataset:
    root = root or Path(os.environ.get("PIXMCU_FASHION_MNIST", FASHION_DIR))
    files = {k: root / f"{k}-ubyte.gz" for k in
             ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise PixmcuError(f"Fashion-MNIST files missing: {missing} (apt-get install dataset-fashion-mnist, "
                          "or point PIXMCU_FASHION_MNIST at a folder holding them)")
    tr = Split(_read_idx(files["train-images-idx3"])[..., None], _read_idx(files["train-labels-idx1"]).astype(np.int64))
    te = Split(_read_idx(files["t10k-images-idx3"])[..., None], _read_idx(files["t10k-labels-idx1"]).astype(np.int64))
    return Dataset("fashion-mnist", tr, te, 10)


def _decode_jpeg_npz(path: Path) -> Split:
    from PIL import Image

    d = dict(np.load(path))  # one read per array; NpzFile indexing re-reads from disk
    jpeg, offsets, labels = d["jpeg"], d["offsets"], d["labels"]
    n = len(offsets) - 1
    first = np.asarray(Image.open(io.BytesIO(jpeg[offsets[0]:offsets[1]].tobytes())).convert("RGB"))
    x = np.empty((n,) + first.shape, np.uint8)
    for i in range(n):
        img = Image.open(io.BytesIO(jpeg[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB")
        x[i] = np.asarray(img)
    return Split(x, labels.astype(np.int64))


def load_cifar10(root: Path = SHARED_DATASETS, cache_dir: Path | None = None) -> Dataset:
    cache = (cache_dir or default_cache_dir()) / "cifar10_jpeg_decoded.npz"
    if cache.exists():
        d = dict(np.load(cache))
        return Dataset("cifar10", Split(d["xtr"], d["ytr"]), Split(d["xte"], d["yte"]), 10)
    paths = [root / "cifar10_train_jpeg.npz", root / "cifar10_test_jpeg.npz"]
    for p in paths:
        if not p.exists():
            raise PixmcuError(f"CIFAR-10 archive not found: {p}")
    tr, te = (_decode_jpeg_npz(p) for p in paths)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, xtr=tr.x, ytr=tr.y, xte=te.x, yte=te.y)
    tmp.replace(cache)
    return Dataset("cifar10", tr, te, 10)


def _training_split(path: Path, arrays: tuple[str, str]) -> Split:
    """uint8 (N, H, W[, C]) images with labels, checked as every data file is (pixmcu.data.load_dataset)."""
    ds = load_data_file(path, arrays=arrays)
    xn, yn = arrays
    if ds.y is None:
        raise PixmcuError(f"{path}: a training .npz needs arrays '{xn}' and '{yn}'")
    x = ds.x[..., None] if ds.x.ndim == 3 else ds.x
    if x.dtype != np.uint8 or x.ndim != 4:
        raise PixmcuError(f"{path}: '{xn}' must be uint8 images (N, H, W[, C]), got {x.dtype} {ds.x.shape}")
    return Split(x, ds.y)


def load_npz(path: Path, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    train = _training_split(path, ("x", "y"))
    x, y = train.x, train.y
    with open_npz(path) as f:
        has_test = "x_test" in f and "y_test" in f
    if has_test:
        test = _training_split(path, ("x_test", "y_test"))
        if test.x.shape[1:] != x.shape[1:]:
            raise PixmcuError(f"{path}: 'x_test' images {test.x.shape[1:]} differ from 'x' images {x.shape[1:]}")
        return Dataset(path.stem, train, test, int(max(y.max(), test.y.max())) + 1)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(len(x) * (1 - test_fraction))
    return Dataset(path.stem, Split(x[order[:cut]], y[order[:cut]]), Split(x[order[cut:]], y[order[cut:]]), int(y.max()) + 1)


def load_dataset(name: str, cache_dir: Path | None = None, val_split: float = 0.2) -> Dataset:
    """A named dataset, or a user .npz: with x_test/y_test those are the test split, else a seeded
    `val_split` fraction of its images is held out (`pixmcu train --val-split`)."""
    if name == "fashion-mnist":
        return load_fashion_mnist()
    if name == "cifar10":
        return load_cifar10(cache_dir=cache_dir)
    p = Path(name)
    if p.suffix == ".npz" and p.exists():
        return load_npz(p, test_fraction=val_split)
    raise PixmcuError(f"unknown dataset {name!r}: use one of {DATASET_NAMES} or a path to an .npz with x/y")


def subset(split: Split, n: int | None, seed: int) -> Split:
    """A class-balanced-in-expectation random subset (the CIFAR archive is sorted by class)."""
    if n is None or n >= len(split.x):
        return split
    idx = np.sort(np.random.default_rng(seed).permutation(len(split.x))[:n])
    return Split(split.x[idx], split.y[idx])
