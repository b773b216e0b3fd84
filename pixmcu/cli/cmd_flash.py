"""`pixmcu flash OUTDIR --board B`: program a real board with the built firmware through pyOCD."""

from __future__ import annotations

from pathlib import Path

from host_tools.flash import flash
from pixmcu.boards import get_board
from pixmcu.build import build, load_manifest, read_build_info


def add_parser(sub):
    p = sub.add_parser("flash", help="program a real board (pyOCD) with OUTDIR's firmware")
    p.add_argument("outdir", type=Path, help="output directory of `pixmcu generate`")
    p.add_argument("--board", help="board to flash (default: the last build's, else the manifest's)")
    p.add_argument("--probe", help="unique ID of the debug probe when several are connected")
    p.add_argument("--frequency", type=int, help="SWD clock in Hz")
    return p


def run(args) -> int:
    manifest = load_manifest(args.outdir)
    info = read_build_info(args.outdir) or {}
    board = get_board(args.board or info.get("board") or manifest.get("board"))
    res = build(args.outdir, board.name)
    out = flash(res.bin, board, probe_uid=args.probe, frequency=args.frequency)
    print(f"flashed {out.bytes_written:,} bytes to {board.name} at 0x{out.address:08x}"
          + (" (verified)" if out.verified else "") + (f" via probe {out.probe}" if out.probe else ""))
    print(f"measure it with: pixmcu measure --port /dev/ttyACM0 --manifest {args.outdir / 'manifest.json'} --data DATA.npz")
    return 0
