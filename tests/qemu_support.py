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


def assert_sequence_matches_tflm(path: Path, x: np.ndarray, work: Path) -> None:
    """Generate `path` for qemu-m4, run the N inputs of `x` as one sequence (one init, state carried) and
    require the harness's bit-exact report and TFLM's outputs."""
    from pixmcu.codegen.generator import generate
    from pixmcu.frontend import load_model
    from tflm_oracle import Oracle

    generate(path, work / "m", board="qemu-m4", name="m")
    code, rep, got = run_on_qemu(work / "m", x, work, np.int8)
    n = len(x)
    assert code == 0, rep.get("error")
    assert rep["bitexact"] == {"compared": n, "matches": n, "mismatches": [], "reference": "pixmcu.reference"}
    np.testing.assert_array_equal(got, Oracle(path, load_model(path)).invoke(x).reshape(n, -1))
