"""pixmcu generate MODEL -o OUTDIR: C sources, data arrays, arena plan and manifest for a board."""

from __future__ import annotations

import argparse
import json


def add_plan_arguments(p) -> None:
    """The options that decide what the generated firmware holds (shared with `pixmcu analyze`)."""
    p.add_argument("model", help="a .tflite file, a .pmz checkpoint or a shipped model name")
    p.add_argument("--board", default=None, help="target board (default qemu-m4); picks the kernel variants "
                   "and the flash and RAM the firmware must fit")
    p.add_argument("--name", default=None,
                   help="C identifier prefixing the model's symbols (default: from the file name)")
    p.add_argument("--no-overlap", action="store_true",
                   help="do not let a convolution's output overlap its dying input (larger arena)")
    p.add_argument("--fuse-residual-add", action=argparse.BooleanOptionalAction, default=True,
                   help="fold residual ADDs into the convolution before them (default; smallest arena; that "
                        "convolution's own output is then never stored and its layer hook reports 0 bytes)")
    p.add_argument("--first-layer", default="auto", metavar="VARIANT",
                   help="for a model starting pixel_embedding -> conv2d: the first-layer kernel, one of "
                        "auto (default: the cost model for the board's core, within --flash-budget), unfused "
                        "(embedding and conv as two calls), pe_embed_conv, pe_folded_s16, pe_folded_s32, "
                        "pe_joint_s16 (docs/first_layer.md)")
    p.add_argument("--optimize", choices=("speed", "balanced", "size"), default="balanced",
                   help="per-layer weight layouts: speed (int16 pre-widened weights everywhere), size (int8 "
                        "everywhere, int4 two per byte where the weights fit 4 bits, 2-bit four per byte where they fit [-2, 1]; docs/lowbit.md), balanced (default: the fastest plan within the flash budget); "
                        "docs/performance.md")
    p.add_argument("--flash-budget", type=int, default=None, metavar="BYTES",
                   help="flash the model may use, code + constants (default: the board's flash); also bounds "
                        "the first layer's tables when --first-layer auto chooses")
    p.add_argument("--flash-wait-states", type=int, default=0, metavar="N",
                   help="wait states of the target's flash: auto charges them to the tables' random reads "
                        "(default 0, as under QEMU)")


def plan_options(args) -> dict:
    """Checked keyword arguments for pixmcu.codegen.generate from add_plan_arguments' options."""
    from pixmcu.codegen.first_layer import CHOICES
    from pixmcu.errors import PixmcuError

    if args.first_layer not in CHOICES:
        raise PixmcuError(f"--first-layer {args.first_layer}: choose one of {', '.join(CHOICES)}")
    if args.flash_budget is not None and args.flash_budget < 0:
        raise PixmcuError("--flash-budget must be a number of bytes >= 0")
    if args.flash_wait_states < 0:
        raise PixmcuError("--flash-wait-states must be >= 0")
    return {"name": args.name, "overlap": not args.no_overlap, "fuse": args.fuse_residual_add,
            "first_layer": args.first_layer, "flash_budget": args.flash_budget,
            "flash_wait_states": args.flash_wait_states, "optimize": args.optimize}


def add_parser(sub):
    p = sub.add_parser("generate", help="generate C sources for a model (kernels, data, static arena)",
                       description="Generate the model's C sources, constant data and a static memory plan "
                                   "into OUTDIR, with manifest.json (docs/contracts.md). The firmware `pixmcu "
                                   "build` would make is predicted first (as `pixmcu analyze` does); when it "
                                   "cannot fit the board, nothing is written and the exit status is 2.")
    add_plan_arguments(p)
    p.add_argument("-o", "--out", required=True, dest="out_dir", metavar="OUTDIR", help="output directory")
    p.add_argument("--pixel-scale", type=float, default=1.0, help="pixel mapping recorded in the manifest: "
                   "real = pixel * scale + offset (default 1)")
    p.add_argument("--pixel-offset", type=float, default=0.0, help="see --pixel-scale (default 0)")
    p.add_argument("--no-fit-check", action="store_true",
                   help="write OUTDIR even when the predicted firmware does not fit the board")
    p.add_argument("--json", action="store_true", help="print the manifest summary as JSON")
    return p


def run(args) -> int:
    from pixmcu.analysis import generate_checked
    from pixmcu.data import PixelMapping

    options = plan_options(args)
    PixelMapping(args.pixel_scale, args.pixel_offset)  # finite, non-zero scale (generate's own options)
    # Nothing is written to OUTDIR unless the firmware `pixmcu build` would make fits the board.
    _, gen = generate_checked(args.model, args.out_dir, board=args.board, check=not args.no_fit_check,
                              pixel_mapping={"scale": args.pixel_scale, "offset": args.pixel_offset}, **options)
    m = gen.manifest
    summary = {"out_dir": str(gen.out_dir), "name": m["name"], "board": m["board"], "layers": len(m["layers"]),
               "arena_bytes": m["arena_bytes"], "weight_bytes": m["weight_bytes"], "sources": m["sources"]}
    if m.get("first_layer"):
        summary["first_layer"] = {k: m["first_layer"].get(k) for k in ("variant", "kernel", "reason")}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"generated '{m['name']}' for {m['board']} in {gen.out_dir}: {len(m['layers'])} layers, "
              f"arena {m['arena_bytes']} bytes, constant data {m['weight_bytes']} bytes")
        if m.get("first_layer"):
            print(f"first layer: {m['first_layer']['variant']} ({m['first_layer']['reason']})")
        if m.get("layout_plan"):
            lp = m["layout_plan"]
            counts = {k: sum(1 for layer in lp["layers"] if layer["layout"] == k) for k in ("int16", "int8", "int4", "int2")}
            print(f"weight layouts ({lp['optimize']}): " + ", ".join(f"{n} {k}" for k, n in counts.items() if n or k not in ("int4", "int2"))
                  + "; predicted "
                  f"flash {lp['predicted_flash_bytes']:,} of {lp['budget_bytes']:,} B ({lp['budget_source']})")
    return 0
