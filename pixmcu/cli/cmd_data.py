"""pixmcu data sample SRC -n N -o OUT.npz: a seeded random subset as plain x/y arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pixmcu.data import count_images, load_dataset, sample_indices
from pixmcu.errors import PixmcuError


def add_parser(sub):
    p = sub.add_parser("data", help="prepare data files (decode JPEG archives, sample subsets)",
                       description="Prepare .npz data files with x (N,H,W,C) uint8 and y labels.")
    ds = p.add_subparsers(dest="data_command", metavar="ACTION")
    ds.required = True
    s = ds.add_parser("sample", help="write a seeded random subset of a data file (JPEG archives decoded)")
    s.add_argument("source", help=".npz with x/y, or a JPEG archive with jpeg/offsets/labels")
    s.add_argument("-n", type=int, required=True, help="number of images (all of them: the whole set)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("-o", "--out", required=True, help="output .npz")
    return p


def run(args) -> int:
    total = count_images(args.source)
    idx = sample_indices(total, args.n, args.seed) if args.n < total else None
    ds = load_dataset(args.source, indices=idx)
    out = Path(args.out)
    arrays = {"x": ds.x} if ds.y is None else {"x": ds.x, "y": ds.y}
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez(out, **arrays)
    except OSError as exc:
        raise PixmcuError(f"{out}: cannot write ({exc.strerror or exc})") from None
    print(f"{len(ds.x)} of {total} images from {args.source} -> {out}")
    return 0
