"""What a mutant is fed to: the entry points a user reaches (`inspect`, `load_model` + the reference,
`infer`), called in-process, each with the oracle that can tell a silently wrong result."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Callable

import numpy as np

from pixmcu.fuzz.runner import WrongResult


def _cli(*args: str) -> int:
    from pixmcu.cli import main

    try:
        return int(main([str(a) for a in args]) or 0)
    except SystemExit as exc:  # argparse
        return int(exc.code or 0)


def model_target(path: Path, seed: int, host_c: bool = False) -> Callable[[], str]:
    """inspect, then load and run one input through the reference (and, with host_c, the generated C
    under ASan/UBSan, which must equal the reference)."""

    def run() -> str:
        code = _cli("inspect", path, "--json")
        if code not in (0, 1, 2):
            raise WrongResult(f"inspect exited {code}")
        from pixmcu import reference
        from pixmcu.errors import PixmcuError
        from pixmcu.frontend import load_model

        graph = load_model(path)
        t = graph.input_tensor()
        info = np.iinfo(t.dtype)
        x = np.random.default_rng(seed).integers(info.min, info.max + 1, size=(1,) + t.shape[1:]).astype(t.dtype)
        ref = reference.run(graph, x)[graph.outputs[0]]
        if host_c:
            from pixmcu.engines.host_c import run_host_c

            try:
                got = run_host_c(path, x)
            except PixmcuError as exc:  # the model was accepted: a build or sanitizer failure is an escape
                raise WrongResult(f"host C failed on an accepted model: {exc}") from None
            if not np.array_equal(np.asarray(got).reshape(ref.shape), ref):
                raise WrongResult("host C (ASan/UBSan) differs from the reference")
            return f"accepted, {len(graph.operators)} layers, host C equal"
        return f"accepted, {len(graph.operators)} layers"

    return run


def _must_reject(path: Path, options: list[str], n_classes: int) -> str | None:
    """Why this data file and these options must not run, or None. Only rules that are beyond doubt."""
    opts = dict(zip(options[::2], options[1::2]))
    for key in ("--limit", "--batch"):
        if key in opts and int(float(opts[key])) <= 0:
            return f"{key} {opts[key]}"
    for key in ("--pixel-scale", "--pixel-offset"):
        if key in opts and not np.isfinite(float(opts[key])):
            return f"{key} {opts[key]}"
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
            x = z["x"] if "x" in files else None
            y = z["y"] if "y" in files else None
    except Exception:  # noqa: BLE001 - unreadable files must be rejected, which the run will show
        return "unreadable file"
    if x is None:
        return "no x"
    if x.ndim == 0 or x.shape[0] == 0:
        return f"x of shape {x.shape}"
    if y is not None:
        labels = _labels(y, x.shape[0])
        if labels is None:
            return f"y of dtype {y.dtype} shape {y.shape} for {x.shape[0]} images"
        if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
            return f"labels outside [0, {n_classes})"
    return None


def _labels(y: np.ndarray, n: int) -> np.ndarray | None:
    """The class indices `y` stands for, if it is a legitimate label array for n images: (N,) or (N, 1)
    integers, or floats that are all whole numbers."""
    if y.shape not in ((n,), (n, 1)) or y.dtype.kind not in "iuf":
        return None
    y = y.reshape(n)
    if y.dtype.kind == "f":
        if not (np.isfinite(y).all() and (y == np.round(y)).all() and np.abs(y).max(initial=0) < 2 ** 62):
            return None
    elif y.dtype == np.uint64 and y.size and int(y.max()) >= 2 ** 63:
        return None
    return y.astype(np.int64)


def data_target(model: Path, data: Path, out: Path, options: list[str], n_classes: int) -> Callable[[], str]:
    """`pixmcu infer MODEL --data DATA` with options; a run that exits 0 must have been legitimate and
    must have written one output per image asked for."""

    def run() -> str:
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = _cli("infer", model, "--data", data, "--out", out, "--json", *options)
        if code == 2:
            from pixmcu.errors import PixmcuError

            raise PixmcuError(stderr.getvalue().split("error: ", 1)[-1].strip() or "infer exited 2")
        if code != 0:
            raise WrongResult(f"infer exited {code}")
        reason = _must_reject(data, options, n_classes)
        if reason is not None:
            raise WrongResult(f"infer accepted bad input ({reason})")
        with np.load(data, allow_pickle=False) as z:
            n_all = int(z["x"].shape[0])
            y = _labels(z["y"], n_all) if "y" in z.files else None
        opts = dict(zip(options[::2], options[1::2]))
        n = min(n_all, int(opts["--limit"])) if "--limit" in opts else n_all
        with np.load(out, allow_pickle=False) as z:
            outputs = z["outputs"]
        if len(outputs) != n:
            raise WrongResult(f"infer wrote {len(outputs)} outputs for {n} images")
        if y is not None:
            summary = json.loads(stdout.getvalue().strip().splitlines()[-1])
            expected = float((outputs.reshape(n, -1).argmax(axis=1) == y[:n]).mean())
            if summary.get("accuracy") != expected:
                raise WrongResult(f"infer reports accuracy {summary.get('accuracy')}, its outputs give {expected}")
        return f"accepted, {n} images"

    return run
