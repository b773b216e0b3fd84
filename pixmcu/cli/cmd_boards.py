"""`pixmcu boards`: the boards pixmcu builds for."""

from __future__ import annotations

from pixmcu.boards import BOARDS, DEFAULT_BOARD, boards_json


def add_parser(sub):
    p = sub.add_parser("boards", help="list the supported boards (core, clock, flash, RAM)",
                       description="The boards pixmcu builds for: QEMU boards (`pixmcu run`) and real boards "
                                   "(`pixmcu flash`, `pixmcu measure`), with core, clock, flash, RAM and what "
                                   "their counter counts. Adding one: docs/boards.md.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def run(args) -> int:
    if args.json:
        print(boards_json())
        return 0
    print(f"{'board':<16} {'core':<11} {'clock':>8} {'flash':>9} {'RAM':>9}  counter       description")
    for b in BOARDS.values():
        mark = " (default)" if b.name == DEFAULT_BOARD else ""
        print(f"{b.name:<16} {b.core:<11} {b.clock_hz / 1e6:>5.0f}MHz {b.flash.size // 1024:>6}KiB "
              f"{b.ram.size // 1024:>6}KiB  {b.counter:<13} {b.title}{mark}")
        fallback = f"; if its clock does not come up, runs at {b.fallback_clock_hz / 1e6:g} MHz (internal " \
            "oscillator)" if b.fallback_clock_hz else ""
        print(f"{'':<16} {b.support}{fallback}")
    print("What was measured on which board, and how: docs/boards.md")
    return 0
