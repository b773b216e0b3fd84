"""`pixmcu bench first-layer`: every first-layer variant on a grid of shapes, on a QEMU board.

Registered by pixmcu/cli/cmd_bench.py (which dispatches `pixmcu bench ACTION`) through `add_action`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pixmcu.boards import DEFAULT_BOARD
from pixmcu.errors import PixmcuError


def add_action(subparsers):
    p = subparsers.add_parser("first-layer", help="every first-layer variant on the issue's grid of shapes",
                              description="Build and run every first-layer variant (float, int8, pixel embedding "
                                          "unfused, folded and joint) on a grid of input shapes under QEMU: "
                                          "instructions (exact), estimated cycles (cost table, not measured), "
                                          "flash and RAM, bit-exactness; a table, JSON and a bar chart "
                                          "(docs/first_layer.md).")
    p.add_argument("--board", default=DEFAULT_BOARD, help=f"QEMU board (default {DEFAULT_BOARD})")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    p.add_argument("--plot", metavar="PNG", help="write a bar chart (default: next to --json)")
    p.add_argument("--quick", action="store_true", help="only the headline case and one grey case")
    p.add_argument("--workdir", metavar="DIR", help="keep the bench builds here (default: a temporary dir)")
    p.add_argument("--embed-dim", type=int, default=10, help="d, entries per pixel value (default 10)")
    p.add_argument("--embed-bits", type=int, default=2, help="Q, bits per entry (default 2)")
    p.add_argument("--bins", type=int, default=8, help="levels per channel of the joint variant (default 8)")
    p.set_defaults(_bench_run=run)
    return p


def run(args) -> int:
    from pixmcu.first_layer import report

    if not 1 <= args.embed_bits <= 7:
        raise PixmcuError("--embed-bits must be 1..7 (int8 codes with zero point 0)")
    if not 2 <= args.bins <= 16:
        raise PixmcuError("--bins must be 2..16")
    with tempfile.TemporaryDirectory(prefix="pixmcu_bench_") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        cases = report.grid(args.quick)
        print(f"pixmcu bench first-layer: {len(cases)} cases on {args.board} (d={args.embed_dim}, "
              f"Q={args.embed_bits}, K={args.bins})")
        results = report.run_grid(args.board, workdir, cases, args.embed_dim, args.embed_bits, args.bins)
    print(report.format_table(results, args.board))
    headline = next((c for c in results if c.label == report.HEADLINE.label()), None)
    r = None
    if headline is not None and args.embed_dim == 10 and args.embed_bits == 2:
        r = report.ratios(headline)
        print(f"\nratios for {report.HEADLINE.label()}, d=10, Q=2 on {args.board}:")
        print(report.format_ratios(r))
    if args.json:
        report.write_json(Path(args.json), args.board, results, r)
        print(f"wrote {args.json}")
    plot = args.plot or (str(Path(args.json).with_suffix(".png")) if args.json else None)
    if plot:
        report.plot(Path(plot), args.board, results)
        print(f"wrote {plot}")
    bad = [(c.label, v.name) for c in results for v in c.variants if v.bitexact is False]
    if bad:
        print(f"NOT bit-exact: {bad}")
        return 1
    return 0
