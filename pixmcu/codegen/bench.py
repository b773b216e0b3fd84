"""Memory benchmark: arena and constant-data bytes per model, as `pixmcu generate` would plan them.

    python -m pixmcu.codegen.bench MODEL.tflite [MODEL ...] [--board qemu-m4] [--json]

Columns: planned arena, the arena without output/input overlap, the yardstick (largest sum of the
two biggest tensors live at the same time), constant data (weights, biases, multipliers, shifts).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from pixmcu.codegen.generator import generate
from pixmcu.codegen.kernels import DSP_CORES, MVE_CORES, PACKED_CORES, fuse_residual_adds, kernel_call
from pixmcu.codegen.planner import live_pairs_bound, plan


def measure(model: Path, board: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        gen = generate(model, tmp, board=board, name="bench")
    from pixmcu.frontend import load_model

    graph = load_model(model)
    core = gen.manifest["core"]
    calls = fuse_residual_adds(graph, [kernel_call(graph, op, dsp=core in DSP_CORES, packed=core in PACKED_CORES,
                                                   mve=core in MVE_CORES) for op in graph.operators])
    m = gen.manifest
    return {"model": model.name, "board": m["board"], "layers": len(m["layers"]),
            "macs": sum(layer["macs"] for layer in m["layers"]), "arena_bytes": m["arena_bytes"],
            "arena_no_overlap": plan(graph, calls, overlap=False).arena_bytes,
            "two_largest_live": live_pairs_bound(graph), "weight_bytes": m["weight_bytes"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pixmcu.codegen.bench", description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--board", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = [measure(m, args.board) for m in args.models]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    cols = ["model", "board", "layers", "macs", "arena_bytes", "arena_no_overlap", "two_largest_live", "weight_bytes"]
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in cols]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(str(r[c]).rjust(w) for c, w in zip(cols, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
