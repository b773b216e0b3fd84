"""Campaign for issue 17: `pixmcu run --transport semihost` on 1,000 CIFAR-10 (JPEG) images, unsharded,
with `--shards 2`, and with `--shards 2 --ray` (a local Ray instance): wall times, and whether the
per-image results and the reports (less the elapsed time) are identical. Writes JSON.

    PYTHONPATH=$PWD .venv/bin/python scripts/shards_cifar.py [-n 1000] [--model MODEL.tflite]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixmcu.shared_data import shared_dir  # noqa: E402


def records(report: Path) -> dict[int, dict]:
    rows = [json.loads(line) for line in report.with_suffix(".jsonl").read_text().splitlines() if line.strip()]
    return {r["image"]: r for r in rows if r.get("kind") == "image"}


def report(path: Path) -> dict:
    r = json.loads(path.read_text())
    r.pop("elapsed_s", None)
    return r


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--model", type=Path, default=shared_dir() / "models" / "mlperf_tiny" / "pretrainedResnet_quant.tflite")
    p.add_argument("--board", default="qemu-m4")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--work", type=Path, default=Path("/tmp/pixmcu_shards_cifar"))
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "shards_cifar.json")
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    py = [sys.executable, "-m", "pixmcu"]
    data, gen = a.work / f"cifar{a.n}.npz", a.work / "model"

    def sh(*args: str) -> float:
        t0 = time.monotonic()
        subprocess.run([*py, *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        return time.monotonic() - t0

    sh("data", "sample", str(shared_dir() / "datasets" / "cifar10_test_jpeg.npz"), "-n", str(a.n), "-o", str(data))
    sh("generate", str(a.model), "-o", str(gen), "--board", a.board)
    sh("build", str(gen))
    base = ["run", str(gen), "--data", str(data), "--transport", "semihost", "--no-build", "--quiet",
            "--no-estimate-cycles"]
    variants = {"unsharded": [], "shards2": ["--shards", "2"], "shards2_ray": ["--shards", "2", "--ray"],
                "unsharded_nocheck": ["--no-check"], "shards2_nocheck": ["--shards", "2", "--no-check"]}
    out = {"images": a.n, "model": a.model.name, "board": a.board, "cpus": os.cpu_count(),
           "host": platform.node(), "rounds": a.rounds, "runs": {}}
    for rnd in range(a.rounds):  # the variants alternate, so a busy spell of the shared machine hits all
        for name, extra in variants.items():
            rep = a.work / f"{name}.json"
            rep.with_suffix(".jsonl").unlink(missing_ok=True)
            load = os.getloadavg()[0]
            wall = sh(*base, "--json", str(rep), *extra)
            r = json.loads(rep.read_text())
            entry = out["runs"].setdefault(name, {"command": " ".join(["pixmcu run OUTDIR --data DATA.npz", *base[6:],
                                                                         *extra]), "wall_seconds": [],
                                                   "load_average_before": []})
            entry["wall_seconds"].append(round(wall, 1))
            entry["load_average_before"].append(round(load, 1))
            entry.update(accuracy=r["accuracy"], bitexact=f"{r['bitexact']['matches']}/{r['bitexact']['compared']}")
            ref = {"shards2": "unsharded", "shards2_ray": "unsharded", "shards2_nocheck": "unsharded_nocheck"}.get(name)
            if ref:
                entry.setdefault("same_per_image_results", []).append(records(rep) == records(a.work / f"{ref}.json"))
                entry.setdefault("same_report", []).append(report(rep) == report(a.work / f"{ref}.json"))
            print(rnd, name, wall, load, flush=True)
    for entry in out["runs"].values():
        entry["median_wall_seconds"] = round(statistics.median(entry["wall_seconds"]), 1)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
