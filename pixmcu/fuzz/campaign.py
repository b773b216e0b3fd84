"""A fuzzing campaign: N seeded mutants of one kind, each run isolated, escapes kept for replay.

Mutant i of seed S is a pure function of (S, i, the base files): `--seed S --start i --count 1`
reproduces it. Escapes are copied to OUT/escapes/ with a JSON line each in OUT/escapes.jsonl.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from pixmcu.fuzz.mutate import mutate_data, mutate_pmz, mutate_tflite
from pixmcu.fuzz.pmz_files import read_pmz, write_pmz
from pixmcu.fuzz.runner import run_isolated
from pixmcu.fuzz.targets import data_target, model_target

ROOT = Path(__file__).resolve().parents[2]


def _tflite_fixtures() -> list[Path]:
    return sorted((ROOT / "tests" / "fixtures").rglob("*.tflite"))


def _as_graph_files(tflite: list[Path], work: Path) -> list[Path]:
    """Each .tflite fixture that converts, saved as a graph file (the rejected fixtures, float or
    unsupported by design, have no graph to save)."""
    from pixmcu.errors import PixmcuError
    from pixmcu.frontend import load_model
    from pixmcu.frontend.checkpoint import save_graph

    work.mkdir(parents=True, exist_ok=True)
    out = []
    for p in tflite:
        try:
            g = load_model(p)
        except PixmcuError:
            continue
        out.append(save_graph(g, work / f"{p.parent.name}-{p.stem}.pmz"))
    return out


def default_bases(kind: str, work: Path | None = None) -> list[Path]:
    """Every committed fixture and shared model of the kind (the issue's campaign covers them all).
    For .pmz, with `work`: the shipped graphs plus every .tflite fixture saved as a graph file, so the
    JSON of every operator kind gets mutated, not only the shipped models' few."""
    from pixmcu.shared_data import shared_dir

    if kind == "tflite":
        return _tflite_fixtures() + sorted((shared_dir() / "models").rglob("*.tflite"))
    if kind == "pmz":
        found = sorted((ROOT / "pixmcu" / "models").glob("*.pmz"))
        if work is not None:
            found += _as_graph_files(_tflite_fixtures(), work)
        return found
    return [ROOT / "tests" / "fixtures" / "models" / "pools_dense.tflite"]


def _rng(seed: int, i: int) -> random.Random:
    return random.Random(f"pixmcu-fuzz:{seed}:{i}")


def make_mutant(kind: str, bases: list[Path], seed: int, i: int, work: Path) -> tuple[Path, str, object]:
    """Write mutant i into `work`; returns (path, description, the target to run)."""
    rng = _rng(seed, i)
    base = bases[i % len(bases)]
    if kind == "tflite":
        buf, desc = mutate_tflite(base.read_bytes(), rng)
        p = work / f"{base.stem}-{seed}-{i}.tflite"
        p.write_bytes(buf)
        return p, f"{base.name}: {desc}", model_target(p, seed)
    if kind == "pmz":
        doc, arrays = read_pmz(base)
        doc, arrays, raw, desc = mutate_pmz(doc, arrays, rng)
        p = write_pmz(work / f"{base.stem}-{seed}-{i}.pmz", doc, arrays, raw_json=raw)
        return p, f"{base.name}: {desc}", model_target(p, seed)
    from pixmcu.frontend import load_model

    graph = load_model(base)
    shape = graph.input_tensor().shape
    n_classes = int(np.prod(graph.output_tensor().shape[1:]))
    drng = np.random.default_rng(seed * 7919 + i)
    x = drng.integers(0, 256, size=(4,) + shape[1:], dtype=np.uint8)
    y = drng.integers(0, n_classes, size=4)
    data, suffix, options, desc = mutate_data(x, y, n_classes, rng)
    p = work / f"data-{seed}-{i}{suffix}"
    p.write_bytes(data)
    return p, f"{desc} {' '.join(options)}".strip(), data_target(base, p, work / f"out-{i}.npz", options, n_classes)


def _preload() -> None:
    """Import what every target imports, once, before the mutants' processes fork from this one: each
    child then starts warm instead of importing the CLI, the reference and the generator again."""
    import pixmcu.cli  # noqa: F401
    import pixmcu.codegen  # noqa: F401
    import pixmcu.engines.host_c  # noqa: F401
    import pixmcu.reference  # noqa: F401


def campaign(kind: str, count: int, seed: int, out: Path, start: int = 0, bases: list[Path] | None = None,
             host_c: bool = False, timeout_s: float = 10.0, mem_mb: int = 1024, progress: bool = True) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    _preload()
    bases = bases or default_bases(kind, out / "bases")
    (out / "escapes").mkdir(exist_ok=True)
    counts: Counter = Counter()
    slowest, biggest = 0.0, 0.0
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pixmcu-fuzz-") as tmp, open(out / "escapes.jsonl", "a") as log:
        work = Path(tmp)
        for i in range(start, start + count):
            path, desc, target = make_mutant(kind, bases, seed, i, work)
            if host_c and kind != "data":
                target = model_target(path, seed, host_c=True)
            res = run_isolated(target, timeout_s=timeout_s if not host_c else max(timeout_s, 120.0),
                               mem_bytes=mem_mb << 20, cap_address_space=not host_c,
                               names=(str(path), "--") if kind == "data" else (str(path),))
            counts[res.status] += 1
            slowest, biggest = max(slowest, res.cpu_s), max(biggest, res.peak_mb)
            if res.escaped or res.status == "unclear":
                keep = out / "escapes" / path.name
                shutil.copyfile(path, keep)
                log.write(json.dumps({"kind": kind, "seed": seed, "index": i, "file": str(keep), "mutation": desc,
                                      "status": res.status, "detail": res.detail, "seconds": round(res.seconds, 2),
                                      "cpu_s": round(res.cpu_s, 2),
                                      "peak_mb": round(res.peak_mb, 1)}) + "\n")
                log.flush()
            for p in work.iterdir():
                p.unlink()
            if (i - start + 1) % 100 == 0:
                # Rewritten as the run goes, so a campaign stopped by a time limit still reports what it ran.
                _summary(out, kind, seed, start, i - start + 1, host_c, bases, counts, slowest, biggest, t0)
                if progress:
                    print(f"[{kind}] {i - start + 1}/{count} {dict(counts)} ({time.monotonic() - t0:.0f} s)",
                          file=sys.stderr, flush=True)
    return _summary(out, kind, seed, start, count, host_c, bases, counts, slowest, biggest, t0)


def _summary(out: Path, kind: str, seed: int, start: int, done: int, host_c: bool, bases: list[Path],
             counts: Counter, slowest: float, biggest: float, t0: float) -> dict:
    escapes = sum(v for k, v in counts.items() if k not in ("accepted", "rejected", "unclear"))
    summary = {"kind": kind, "seed": seed, "start": start, "count": done, "host_c": host_c,
               "bases": [str(b) for b in bases], "outcomes": dict(counts), "escapes": escapes,
               "slowest_cpu_s": round(slowest, 2), "peak_mb": round(biggest, 1),
               "wall_s": round(time.monotonic() - t0, 1)}
    tmp = out / f".summary-{kind}-{seed}-{start}.json"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(out / f"summary-{kind}-{seed}-{start}.json")
    return summary
