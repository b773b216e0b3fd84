"""pixmcu data: data files as plain x/y .npz arrays (seeded subsets, named datasets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pixmcu.data import count_images, load_dataset, sample_indices
from pixmcu.errors import PixmcuError


def add_parser(sub):
    p = sub.add_parser("data", help="prepare data files (decode JPEG archives, sample subsets)",
                       description="Prepare .npz data files with x (N, ...) and y labels.")
    ds = p.add_subparsers(dest="data_command", metavar="ACTION")
    ds.required = True
    s = ds.add_parser("sample", help="write a seeded random subset of a data file (JPEG archives decoded)",
                      description="Write N images drawn at random (seeded) from SOURCE, with their labels, as "
                                  "an x/y .npz; JPEG archives are decoded.")
    s.add_argument("source", help=".npz with x/y, or a JPEG archive with jpeg/offsets/labels")
    s.add_argument("-n", type=int, required=True, help="number of images (all of them: the whole set)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("-o", "--out", required=True, help="output .npz")
    e = ds.add_parser("export", help="write a named dataset's split (fashion-mnist, cifar10) as x/y .npz",
                      description="Write a named dataset's test or train split (or a seeded subset of it) as "
                                  "an x/y .npz that infer, validate, run and measure take.")
    e.add_argument("dataset", help="fashion-mnist (the Debian package) or cifar10 (../shared/datasets, JPEG)")
    e.add_argument("--split", choices=("test", "train"), default="test", help="which split (default test)")
    e.add_argument("-n", type=int, help="a seeded random subset of N images (default: all)")
    e.add_argument("--seed", type=int, default=0, help="random seed of the subset (default 0)")
    e.add_argument("-o", "--out", required=True, help="output .npz")
    return p


def _save(out: Path, x: np.ndarray, y: np.ndarray | None) -> None:
    arrays = {"x": x} if y is None else {"x": x, "y": y}
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez(out, **arrays)
    except OSError as exc:
        raise PixmcuError(f"{out}: cannot write ({exc.strerror or exc})") from None


def _export(args) -> int:
    from pixmcu.train.data import DATASET_NAMES, load_dataset as load_named

    if args.dataset not in DATASET_NAMES:
        raise PixmcuError(f"unknown dataset {args.dataset!r}; known: {', '.join(DATASET_NAMES)}")
    split = getattr(load_named(args.dataset), args.split)
    x, y = split.x, split.y
    if args.n is not None and args.n < len(x):
        idx = sample_indices(len(x), args.n, args.seed)
        x, y = x[idx], y[idx]
    _save(Path(args.out), x, y)
    print(f"{len(x)} {args.dataset} {args.split} images -> {args.out}")
    return 0


def run(args) -> int:
    if args.data_command == "export":
        return _export(args)
    total = count_images(args.source)
    idx = sample_indices(total, args.n, args.seed) if args.n < total else None
    ds = load_dataset(args.source, indices=idx)
    _save(Path(args.out), ds.x, ds.y)
    print(f"{len(ds.x)} of {total} images from {args.source} -> {args.out}")
    return 0
