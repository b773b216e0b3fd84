"""`pixmcu tune OUTDIR`: measure the first-layer variants of a generated model, choose the fastest and
regenerate OUTDIR with it (the manifest's `first_layer` then records the measurements and why)."""

from __future__ import annotations

import tempfile
from pathlib import Path


def add_parser(sub):
    p = sub.add_parser("tune", help="measure the first-layer variants on a QEMU board, choose the fastest and "
                                    "regenerate OUTDIR with it",
                       description="Build every first-layer variant of OUTDIR's pixel-embedding model, count "
                                   "its instructions by class under QEMU, turn them into estimated cycles with "
                                   "the core's cost table (docs/cycles.md; estimates, not measured cycles), "
                                   "choose the fastest within the budgets and regenerate OUTDIR with it.")
    p.add_argument("outdir", type=Path, help="output directory of `pixmcu generate`")
    p.add_argument("--board", help="QEMU board to measure on (default: the manifest's)")
    p.add_argument("--flash-budget", type=int, metavar="BYTES",
                   help="flash the first layer may use (default: the budget OUTDIR was generated with)")
    p.add_argument("--ram-budget", type=int, metavar="BYTES", help="RAM the first layer may use (default: no limit)")
    p.add_argument("--flash-wait-states", type=int, default=0, metavar="N",
                   help="wait states of the target's flash (random table reads pay them; default 0)")
    p.add_argument("--no-regenerate", action="store_true",
                   help="only write OUTDIR/first_layer.json; leave the generated model as it is")
    return p


def regenerate(outdir: Path, decision: dict, flash_budget: int | None = None, flash_wait_states: int = 0):
    """Regenerate OUTDIR from its own source model (manifest `source_file`: .tflite or .pmz) with the
    measured first-layer decision, keeping the board, name, pixel mapping and generate options."""
    from pixmcu.build import load_manifest
    from pixmcu.codegen import generate
    from pixmcu.errors import PixmcuError

    m = load_manifest(outdir)
    if not m.get("source_file"):
        raise PixmcuError(f"{outdir}/manifest.json names no source_file: cannot regenerate")
    opts = m.get("generate_options") or {}
    return generate(Path(outdir) / m["source_file"], outdir, board=m.get("board"), name=m.get("name"),
                    pixel_mapping=m.get("pixel_mapping"), overlap=opts.get("overlap", True),
                    fuse=opts.get("fuse", True), packed=opts.get("packed"),
                    flash_budget=flash_budget, first_layer_decision=decision, flash_wait_states=flash_wait_states)


def run(args) -> int:
    from pixmcu.build import load_manifest
    from pixmcu.first_layer.choose import Target
    from pixmcu.first_layer.tune import tune_outdir

    if args.flash_budget is None:
        args.flash_budget = (load_manifest(args.outdir).get("first_layer") or {}).get("flash_budget")
    target = Target(flash_budget=args.flash_budget, ram_budget=args.ram_budget,
                    flash_wait_states=args.flash_wait_states)
    with tempfile.TemporaryDirectory(prefix="pixmcu_tune_") as tmp:
        d = tune_outdir(args.outdir, args.board, target, Path(tmp))
    # Instructions are counted under QEMU; cycles are estimated from them, never measured.
    print(f"{'variant':<15} {'instructions':>12} {'est. cycles':>12} {'flash B':>9}  bit-exact")
    for m in d["measurements"]:
        print(f"{m['name']:<15} {m['count']:>12,} {m['estimated_cycles']:>12,} {m['flash_bytes']:>9,}  "
              f"{'yes' if m['bitexact'] else 'NO'}")
    print(f"chosen: {d['variant']} ({d['reason']})")
    print(f"wrote {args.outdir / 'first_layer.json'}")
    if not args.no_regenerate:
        gen = regenerate(args.outdir, d, args.flash_budget, args.flash_wait_states)
        fl = gen.manifest.get("first_layer") or {}
        print(f"regenerated {args.outdir} with first layer {fl.get('variant')} ({fl.get('kernel')}); "
              "rebuild it (`pixmcu build` / `pixmcu run`)")
    return 0
