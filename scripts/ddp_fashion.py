"""Campaign for issue 17: `torchrun --nproc_per_node 2 -m pixmcu train` (gloo, CPU) against one process.

W4A4 pixel embedding (d=10, Q=2) on Fashion-MNIST. The one-process run is repeated over seeds to
measure the noise; the two-process run uses the same seeds and the same global batch. The first
two-process export is generated for qemu-m4 and run there (semihosting) against the integer
reference. Every finished run is written to the JSON at once; a rerun skips finished runs.

    PYTHONPATH=$PWD .venv/bin/python scripts/ddp_fashion.py [--train-subset 20000 --epochs 2 --seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], log: Path) -> tuple[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    t0 = time.time()
    with open(log, "w") as fh:
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, check=True)
    return log.read_text(), time.time() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-subset", type=int, default=20000)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--batch-size", type=int, default=128, help="the global batch")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--qemu-images", type=int, default=1000)
    p.add_argument("--work", type=Path, default=Path("/tmp/pixmcu_ddp_fashion"))
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "ddp_fashion.json")
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    results = json.loads(a.out.read_text()) if a.out.exists() else {"runs": []}
    done = {(r["processes"], r["seed"]) for r in results["runs"]}
    common = ["train", "--dataset", "fashion-mnist", "--train-subset", str(a.train_subset), "--epochs",
              str(a.epochs), "--batch-size", str(a.batch_size), "--bits", "W4A4", "--input-stage", "embed",
              "--embed-dim", "10", "--embed-bits", "2", "--no-progress"]
    seeds = [int(s) for s in a.seeds.split(",")]
    plan = [(procs, s) for s in seeds for procs in (1, 2)]
    for procs, seed in plan:
        if (procs, seed) in done:
            continue
        tag = f"p{procs}_s{seed}"
        ck, pmz = a.work / f"{tag}.pt", a.work / f"{tag}.pmz"
        ck.unlink(missing_ok=True)
        args = common + ["--seed", str(seed), "-o", str(ck), "--export", str(pmz)]
        if procs == 1:
            cmd = [sys.executable, "-m", "pixmcu", *args, "--threads", "1"]
        else:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs),
                   "-m", "pixmcu", *args]
        print(f"{tag}: {' '.join(cmd[1:])}", flush=True)
        text, wall = run(cmd, a.work / f"{tag}.log")
        top1 = float(re.search(r"top-1 ([\d.]+)%", text).group(1))
        results["runs"].append({"processes": procs, "seed": seed, "top1": top1, "wall_seconds": round(wall, 1),
                                "train_subset": a.train_subset, "epochs": a.epochs, "global_batch": a.batch_size,
                                "command": " ".join(["pixmcu" if c == sys.executable else c for c in cmd[1:]])})
        print(f"{tag}: top-1 {top1:.2f}% in {wall:.0f} s", flush=True)
        save(a.out, results)

    one = [r["top1"] for r in results["runs"] if r["processes"] == 1]
    two = {r["seed"]: r["top1"] for r in results["runs"] if r["processes"] == 2}
    if len(one) >= 2:
        pairs = [(r["seed"], r["top1"], two[r["seed"]]) for r in results["runs"]
                 if r["processes"] == 1 and r["seed"] in two]
        results["summary"] = {
            "one_process_mean": round(statistics.mean(one), 2), "one_process_stdev": round(statistics.stdev(one), 2),
            "one_process_range": round(max(one) - min(one), 2),
            "two_process_mean": round(statistics.mean(two.values()), 2) if two else None,
            "two_process_stdev": round(statistics.stdev(two.values()), 2) if len(two) >= 2 else None,
            "same_seed_differences": [{"seed": s, "one": o, "two": t, "diff": round(t - o, 2)} for s, o, t in pairs]}
        print(json.dumps(results["summary"], indent=1))
        save(a.out, results)

    if "qemu" not in results and two:
        seed = min(two)
        pmz, gen, data, rep = (a.work / f"p2_s{seed}.pmz", a.work / "gen", a.work / "fm_test.npz",
                               a.work / "qemu.json")
        py = [sys.executable, "-m", "pixmcu"]
        run(py + ["data", "export", "fashion-mnist", "-n", str(a.qemu_images), "-o", str(data)], a.work / "data.log")
        run(py + ["generate", str(pmz), "-o", str(gen), "--board", "qemu-m4"], a.work / "gen.log")
        _, wall = run(py + ["run", str(gen), "--data", str(data), "--transport", "semihost", "--quiet",
                            "--no-estimate-cycles", "--json", str(rep)], a.work / "run.log")
        r = json.loads(rep.read_text())
        results["qemu"] = {"model": f"p2_s{seed}", "board": "qemu-m4", "images": r["n"],
                           "bitexact": f"{r['bitexact']['matches']}/{r['bitexact']['compared']}",
                           "accuracy": r["accuracy"], "wall_seconds": round(wall, 1)}
        print(json.dumps(results["qemu"]), flush=True)
        save(a.out, results)
    return 0


def save(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    tmp.replace(path)


if __name__ == "__main__":
    raise SystemExit(main())
