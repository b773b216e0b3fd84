"""`pixmcu run` of a generated model on QEMU from a test: the report and the outputs it streamed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def run_on_qemu(gen_dir: Path, x: np.ndarray, work: Path, dtype) -> tuple[int, dict, np.ndarray]:
    """(exit status, JSON report, outputs (N, -1) in `dtype`) of `pixmcu run GEN_DIR` over the inputs x."""
    from pixmcu.cli import main

    np.savez(work / "d.npz", x=x)
    code = main(["run", str(gen_dir), "--data", str(work / "d.npz"), "--json", str(work / "r.json"),
                 "--quiet", "--no-estimate-cycles"])
    rep = json.loads((work / "r.json").read_text())
    lines = [json.loads(s) for s in (work / "r.jsonl").read_text().splitlines() if s.strip()] if code == 0 else []
    outs = [np.frombuffer(bytes.fromhex(r["output"]), dtype) for r in lines if r.get("kind") == "image"]
    return code, rep, np.stack(outs) if outs else np.zeros((0,), dtype)
