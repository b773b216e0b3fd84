"""pixmcu validate MODEL --data DATA: the same images through several engines, accuracy and agreement."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from host_tools.shards import add_shard_options


def add_parser(sub):
    p = sub.add_parser("validate", help="run a model on several engines (reference, host C, device) and compare",
                       description="Run the model over the same images on each chosen engine: the numpy integer "
                                   "reference, the generated C on the host (gcc + ASan/UBSan) and the firmware on "
                                   "a QEMU board. Reports each engine's top-1 (and top-5 with 5 or more classes), "
                                   "compares every pair value by value and layer by layer (first diverging layer), "
                                   "and for a model trained here (.pt, or .pmz with its .pt beside it) the PyTorch "
                                   "model's top-1. Exit status 1 when two engines disagree.")
    p.add_argument("model", help="a .tflite file, a .pmz/.pt checkpoint, or a shipped model's name")
    p.add_argument("--data", required=True, help=".npz with x (N, *model input shape[1:]) and optional y labels, or a JPEG archive")
    p.add_argument("--board", default=None, help="board the C is generated for and the device engine runs on "
                   "(default qemu-m4)")
    p.add_argument("--engines", default="reference,host-c,device",
                   help="comma-separated engines from reference, host-c, device (default: all three)")
    p.add_argument("--limit", type=int, help="use only the first N images (default: all)")
    p.add_argument("--pixel-scale", type=float, default=1.0, help="real = pixel * scale + offset (default 1)")
    p.add_argument("--pixel-offset", type=float, default=0.0, help="see --pixel-scale (default 0)")
    p.add_argument("--json", type=Path, metavar="OUT.json", help="write the report as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_shard_options(p)
    return p


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def run(args) -> int:
    from pixmcu.errors import PixmcuError
    from pixmcu.table import format_table
    from pixmcu.validate import validate

    if args.limit is not None and args.limit <= 0:
        raise PixmcuError("--limit must be positive")
    engines = tuple(e.strip() for e in args.engines.split(",") if e.strip())
    report = validate(args.model, args.data, board=args.board, engines=engines, limit=args.limit,
                      pixel_mapping={"scale": args.pixel_scale, "offset": args.pixel_offset},
                      progress=not args.quiet, shards=args.shards, ray=args.ray)
    if args.json:
        try:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
        except OSError as exc:
            raise PixmcuError(f"{args.json}: cannot write the report ({exc.strerror or exc})") from None
    rows = [[n, s["n"], _pct(s["accuracy"]), _pct(s.get("top5")), f"{s['seconds']:.1f}"]
            for n, s in report["engines"].items()]
    if report.get("float"):
        f = report["float"]
        rows.append([f"float ({Path(f['source']).name})", f["n"], _pct(f["accuracy"]), "-", "-"])
    print(f"{report['model']} on {report['n']} images of {report['data']} (C generated for {report['board']})")
    print(format_table(["engine", "images", "top-1", "top-5", "seconds"], rows, right=(1, 2, 3, 4)))
    agree = True
    for c in report["comparisons"]:
        a, b = c["engines"]
        first = c["first_diverging_layer"]
        where = f"; first diverging layer {first['layer']} ({first['images_differing']} images)" if first else ""
        print(f"{a} vs {b}: {c['mismatches']:,} of {c['values_compared']:,} output values differ "
              f"({c['images_differing']} images), {c['layers_compared']} layers compared{where}")
        agree &= c["bit_exact"]
    if args.json:
        print(f"report: {args.json}", file=sys.stderr)
    return 0 if agree else 1
