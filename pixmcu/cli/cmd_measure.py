"""`pixmcu measure --port URL --manifest M --data D`: measure on an already flashed board."""

from __future__ import annotations

from pathlib import Path

from host_tools.cli_support import (add_measure_options, check_link_options, load_manifest_file, make_spec,
                                    print_report)
from host_tools.dataset import load_inputs
from host_tools.runner import SerialSource, run_measurement
from host_tools.session import serial_session
from pixmcu.boards import get_board
from pixmcu.build import read_build_info


def add_parser(sub):
    p = sub.add_parser("measure", help="measure a model on a flashed board over its serial port",
                       description="Measure a model already flashed (`pixmcu flash`) over the board's serial "
                                   "port: accuracy, bit-exactness with the host reference, cycles per layer "
                                   "(DWT CYCCNT). `pixmcu probes` lists the ports.")
    p.add_argument("--port", required=True, help="serial device or URL: /dev/ttyACM0, socket://host:port")
    p.add_argument("--manifest", required=True, type=Path, help="OUTDIR/manifest.json of the flashed model")
    p.add_argument("--baud", type=int, default=115200, help="baud rate of a real UART (default 115200)")
    add_measure_options(p)
    return p


def run(args) -> int:
    manifest = load_manifest_file(args.manifest)
    outdir = args.manifest.resolve().parent
    check_link_options(args)
    inputs = load_inputs(args.data, manifest, limit=args.limit)
    info = read_build_info(outdir) or {}
    with serial_session(args.port, manifest, baud=args.baud, timeout=args.timeout, retries=args.retries) as (dev, link):
        # Count units follow the board the firmware says it was built for.
        board = get_board(dev.info.board)
        size = info.get("size") if info.get("board") == board.name else None
        spec = make_spec(args, outdir, manifest, board, "serial", size, inputs)
        spec.device = dev.info
        report = run_measurement(spec, SerialSource(dev), link.stats)
    print_report(report, spec)
    return 0 if report["complete"] else 1
