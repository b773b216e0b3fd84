"""`pixmcu build OUTDIR`: compile a generated model into firmware for its board."""

from __future__ import annotations

import json
from pathlib import Path

from pixmcu.build import build, format_size_report


def add_parser(sub):
    p = sub.add_parser("build", help="build firmware.elf/.bin for a generated model, with a size report",
                       description="Compile OUTDIR's model with the kernels, the on-device harness and the board "
                                   "port (arm-none-eabi-gcc), link OUTDIR/firmware.elf and .bin, and report flash "
                                   "and RAM by section. Objects are rebuilt only when a source or flag changed.")
    p.add_argument("outdir", type=Path, help="output directory of `pixmcu generate`")
    p.add_argument("--board", help="build for this board instead of the manifest's")
    p.add_argument("--max-payload", type=int, help="protocol frame payload in bytes (default 1024)")
    p.add_argument("--no-clock-fallback", dest="clock_fallback", action="store_false",
                   help="test hook: clock bring-up waits never give up, so a board whose clock does not come "
                        "up hangs silently instead of falling back to its internal oscillator (default: they "
                        "fall back; docs/boards.md)")
    p.add_argument("--json", action="store_true", help="print the size report as JSON")
    return p


def run(args) -> int:
    res = build(args.outdir, args.board, max_payload=args.max_payload, clock_fallback=args.clock_fallback)
    if args.json:
        print(json.dumps(res.size, indent=2))
    else:
        print(f"built {res.elf} and {res.bin.name} for {res.board.name}"
              + ("" if args.clock_fallback else " (test build: no clock fallback)"))
        print(format_size_report(res.size))
    return 0
