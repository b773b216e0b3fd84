"""`pixmcu run OUTDIR --data DATA.npz`: build, start QEMU for the board, stream the data, report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from host_tools.cli_support import add_measure_options, check_link_options, make_spec, print_report
from host_tools.dataset import load_inputs
from host_tools.runner import SerialSource, run_measurement
from pixmcu.boards import get_board
from pixmcu.build import build, load_manifest, read_build_info
from pixmcu.errors import PixmcuError


def add_parser(sub):
    p = sub.add_parser("run", help="run a generated model on a QEMU board and measure it",
                       description="Build OUTDIR's firmware (unless --no-build), start QEMU for the board and "
                                   "stream the data over the emulated serial link (or semihosting files): "
                                   "accuracy, bit-exactness with the host reference layer by layer, "
                                   "instructions per layer and in total, and estimated cycles.")
    p.add_argument("outdir", type=Path, help="output directory of `pixmcu generate`")
    p.add_argument("--board", help="QEMU board (default: the last build's, else the manifest's)")
    p.add_argument("--transport", choices=("serial", "semihost"), default="serial",
                   help="serial: the emulated UART (default); semihost: bulk files, for whole test sets")
    p.add_argument("--no-build", action="store_true",
                   help="run OUTDIR/firmware.elf as last built instead of (re)building it first")
    p.add_argument("--estimate-cycles", action=argparse.BooleanOptionalAction, default=None,
                   help="also run the first image under the pm_count QEMU plugin (a separate build with region "
                        "markers) and report estimated cycles per layer from the Cortex-M4/M7/M55 cost table "
                        "(docs/cycles.md); estimates, not measured cycles. Default: on where a cost table exists")
    add_measure_options(p)
    from host_tools.shards import add_shard_options

    add_shard_options(p)
    return p


def run(args) -> int:
    outdir = args.outdir
    if (args.shards != 1 or args.ray) and args.transport != "semihost":
        raise PixmcuError("--shards and --ray run bulk QEMU instances: add --transport semihost")
    manifest = load_manifest(outdir)
    info = read_build_info(outdir) or {}
    board = get_board(args.board or info.get("board") or manifest.get("board"))
    if not board.is_qemu:
        raise PixmcuError(f"{board.name} is a real board: `pixmcu flash` it, then `pixmcu measure --port ...`")
    check_link_options(args)
    inputs = load_inputs(args.data, manifest, limit=args.limit)
    if args.no_build:
        elf = Path(outdir) / "firmware.elf"
        if not elf.is_file() or info.get("board") != board.name:
            raise PixmcuError(f"--no-build: no firmware built for {board.name} in {outdir}; run `pixmcu build`")
        size = info.get("size")
    else:
        keep = info.get("max_payload") if info.get("board") == board.name else None
        res = build(outdir, board.name, max_payload=keep)
        elf, size = res.elf, res.size
    spec = make_spec(args, outdir, manifest, board, args.transport, size, inputs)
    spec.estimates = _estimates(args, outdir, board, spec)
    if args.transport == "semihost":
        from host_tools.shards import source_from_args

        source = source_from_args(args, board, elf, int(manifest["input"]["bytes"]), manifest.get("model_sha256"),
                                  timeout_per_image=args.timeout * 5)
        report = run_measurement(spec, source)
    else:
        from host_tools.session import qemu_session

        with qemu_session(board, elf, manifest, timeout=args.timeout, retries=args.retries) as (dev, link, _):
            report = run_measurement(spec, SerialSource(dev), link.stats)
    print_report(report, spec)
    return 0 if report["complete"] else 1


def _estimates(args, outdir: Path, board, spec) -> dict | None:
    """Estimated cycles of the first image (host_tools.estimates), or None when turned off. Without a
    cost table the report gets null estimates and a note saying so. A failure turns the
    estimates off with a warning unless --estimate-cycles was given explicitly."""
    from host_tools.estimates import cost_core, estimate_run, no_table_note

    if args.estimate_cycles is False:
        return None
    if cost_core(board) is None:
        note = no_table_note(board)
        print(f"note: {note}", file=sys.stderr)
        return {"core": board.core, "cost_table": None, "image": None, "board": board.name, "note": note}
    if len(spec.inputs) == 0:
        return None
    try:
        return estimate_run(outdir, board, spec.inputs.image_bytes(0), image_index=0, build=not args.no_build)
    except PixmcuError as exc:
        if args.estimate_cycles:
            raise
        print(f"warning: estimated cycles skipped: {exc}", file=sys.stderr)
        return {"core": board.core, "cost_table": None, "image": 0, "board": board.name,
                "note": f"estimated cycles unavailable ({exc})", "error": str(exc)}
