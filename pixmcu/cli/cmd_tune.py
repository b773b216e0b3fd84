"""`pixmcu tune OUTDIR`: measure the first-layer variants of a generated model and choose one."""

from __future__ import annotations

import tempfile
from pathlib import Path


def add_parser(sub):
    p = sub.add_parser("tune", help="measure the first-layer variants on a QEMU board and choose the fastest")
    p.add_argument("outdir", type=Path, help="output directory of `pixmcu generate`")
    p.add_argument("--board", help="QEMU board to measure on (default: the manifest's)")
    p.add_argument("--flash-budget", type=int, metavar="BYTES", help="flash the first layer may use")
    p.add_argument("--ram-budget", type=int, metavar="BYTES", help="RAM the first layer may use")
    p.add_argument("--flash-wait-states", type=int, default=0, metavar="N",
                   help="wait states of the target's flash (random table reads pay them; default 0)")
    return p


def run(args) -> int:
    from pixmcu.first_layer.choose import Target
    from pixmcu.first_layer.tune import tune_outdir

    target = Target(flash_budget=args.flash_budget, ram_budget=args.ram_budget,
                    flash_wait_states=args.flash_wait_states)
    with tempfile.TemporaryDirectory(prefix="pixmcu_tune_") as tmp:
        d = tune_outdir(args.outdir, args.board, target, Path(tmp))
    print(f"{'variant':<15} {'instructions':>12} {'est. cycles':>12} {'flash B':>9}  bit-exact")
    for m in d["measurements"]:
        print(f"{m['name']:<15} {m['count']:>12,} {m['estimated_cycles']:>12,} {m['flash_bytes']:>9,}  "
              f"{'yes' if m['bitexact'] else 'NO'}")
    print(f"chosen: {d['variant']} ({d['reason']})")
    print(f"wrote {args.outdir / 'first_layer.json'}; `pixmcu generate` does not read it yet (see docs/first_layer.md)")
    return 0
