"""`pixmcu flash OUTDIR --board B`: program a real board with the built firmware through pyOCD."""

from __future__ import annotations

from pathlib import Path

from host_tools.flash import flash
from pixmcu.boards import BOARDS, get_board
from pixmcu.build import build, load_manifest
from pixmcu.errors import PixmcuError


def add_parser(sub):
    p = sub.add_parser("flash", help="program a real board (pyOCD) with OUTDIR's firmware",
                       description="Build OUTDIR's model for a real board in OUTDIR/board-BOARD/ (OUTDIR's own "
                                   "firmware, the one `pixmcu run` uses under QEMU, is left as it is) and program "
                                   "it through pyOCD: write, read back to verify, reset. `pixmcu probes` lists "
                                   "the probes and serial ports.")
    p.add_argument("outdir", type=Path, help="output directory of `pixmcu generate`")
    p.add_argument("--board", help="board to flash (default: the manifest's; it must be a real board, see "
                   "`pixmcu boards`)")
    p.add_argument("--probe", help="unique ID of the debug probe when several are connected (default: the only one)")
    p.add_argument("--frequency", type=int, help="SWD clock in Hz (default: pyOCD's)")
    return p


def run(args) -> int:
    manifest = load_manifest(args.outdir)
    board = get_board(args.board or manifest.get("board"))
    if board.is_qemu or not board.flash_target:
        raise PixmcuError(f"{board.name} is a QEMU board: `pixmcu run {args.outdir}` runs it; flash a real board "
                          f"with --board (one of {', '.join(b.name for b in BOARDS.values() if b.flash_target)})")
    # The board's firmware lives in its own subdirectory: OUTDIR/firmware.elf stays what QEMU runs.
    res = build(args.outdir, board.name, subdir=f"board-{board.name}")
    out = flash(res.bin, board, probe_uid=args.probe, frequency=args.frequency)
    print(f"flashed {out.bytes_written:,} bytes to {board.name} at 0x{out.address:08x}"
          + (" (verified)" if out.verified else "") + (f" via probe {out.probe}" if out.probe else ""))
    print(f"measure it with: pixmcu measure --port /dev/ttyACM0 --manifest {args.outdir / 'manifest.json'} --data DATA.npz")
    return 0
