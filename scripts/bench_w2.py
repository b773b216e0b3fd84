"""2-bit weights (four per byte) against int4 and int8 storage on one network (docs/lowbit.md).

    PYTHONPATH=. .venv/bin/python scripts/bench_w2.py [--workdir DIR] [--board qemu-m4] [--images 2]

No shipped model is trained at 2 bits, so this measures storage and instructions on a graph whose
weights happen to fit them: fmnist-pe-w4a4 with every int4 weight w mapped to floor(w / 4) in [-2, 1]
(same shapes, quantization and activations; its accuracy means nothing), and the same weights times 4
(fit int4, not 2 bits) and times 32 (fit int8 only). Each is benchmarked with `pixmcu bench model` under
`--optimize size` (an int4 model then also packs its activations) and under `balanced` with the flash
budget of its smallest plan (every layer on its smallest weight layout, int8 activations: weights alone
compared). Instruction counts do not depend on the weight values. Writes DIR/bench_w2.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def w2_graph(name: str = "fmnist-pe-w4a4", scale: int = 1):
    from pixmcu.frontend import load_model
    from pixmcu.ir import Graph, Tensor
    from pixmcu.models import resolve

    g = load_model(resolve(name))
    tensors = dict(g.tensors)
    for op in g.operators:
        if op.kind in ("conv2d", "fully_connected"):
            w = tensors[op.inputs[1]]
            tensors[w.name] = Tensor(w.name, w.shape, "int8", w.quant,
                                     (np.floor_divide(np.asarray(w.data, np.int64), 4) * scale).astype(np.int8))
    return Graph(tensors, g.operators, g.inputs, g.outputs, name=name.replace("w4", "w2"))


def main() -> None:
    from pixmcu.cli import main as cli
    from pixmcu.codegen.layout_plan import plan_layouts
    from pixmcu.frontend.checkpoint import save_graph

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="bench_w2")
    ap.add_argument("--board", default="qemu-m4")
    ap.add_argument("--images", type=int, default=2)
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    rows = {}
    # The same weights times 1, 4 and 32: the smallest layout that fits is 2-bit, int4, int8.
    for label, scale in (("int2", 1), ("int4", 4), ("int8", 32)):
        g = w2_graph(scale=scale)
        path = save_graph(g, work / f"fmnist-pe-{label}.pmz")
        budget = plan_layouts(g, args.board, "size").predicted_flash_bytes
        out = work / f"{label}.json"
        for opt in (["--optimize", "size"], ["--optimize", "balanced", "--flash-budget", str(budget)]):
            tag = f"{label}-{opt[1]}"
            out = work / f"{tag}.json"
            assert cli(["bench", "model", str(path), "--board", args.board, *opt, "--no-estimate",
                        "--images", str(args.images), "--json", str(out), "--workdir", str(work / tag)]) == 0
            rows[tag] = json.loads(out.read_text())
    summary = {}
    for tag, r in rows.items():
        layers = [la for la in r["layers"] if la.get("weight_bits")]
        summary[tag] = {"constant_bytes": r.get("weight_bytes"), "arena_bytes": r["arena_bytes"],
                        "code_bytes": (r.get("flash") or {}).get("code"), "instructions": int(r["total"]["count"]),
                        "bitexact": r["bitexact"]["matches"],
                        "layers": [{k: la.get(k) for k in ("name", "kernel", "weight_bits", "weight_bytes", "count",
                                                          "activation_bits")} for la in r["layers"]]}
        s = summary[tag]
        print(f"{tag}: constant data {s['constant_bytes']:,} B, arena {s['arena_bytes']:,} B, code "
              f"{s['code_bytes']:,} B, {s['instructions']:,} instructions; " + ", ".join(f"{la['name']} {la['kernel']} {la['count']}" for la in
                                                    s["layers"] if la["weight_bits"]))
    (work / "bench_w2.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
