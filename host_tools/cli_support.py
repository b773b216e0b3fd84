"""Options and glue shared by `pixmcu run` and `pixmcu measure` (one host code path for both)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from host_tools.dataset import Inputs, load_inputs
from host_tools.expected import load_reference
from host_tools.report import format_report
from host_tools.runner import RunSpec
from pixmcu.boards import Board


def add_measure_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="test data (.npz with x and optionally y)")
    p.add_argument("--limit", type=int, help="use only the first N images")
    p.add_argument("--json", type=Path, metavar="REPORT.json",
                   help="write the report here; per-image results go to REPORT.jsonl as they arrive")
    p.add_argument("--save-outputs", type=Path, metavar="OUT.npz", help="save the device's raw outputs")
    p.add_argument("--plot", type=Path, metavar="PLOT.png",
                   help="per-layer cost plot (default with --json: REPORT.png)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run (needs --json)")
    p.add_argument("--reference", metavar="MODULE:FACTORY",
                   help="expected-outputs provider (default: pixmcu's reference on the source model)")
    p.add_argument("--no-check", action="store_true", help="skip the bit-exact comparison")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for each reply (default 2)")
    p.add_argument("--retries", type=int, default=4, help="resends of a request before giving up (default 4)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def check_link_options(args) -> None:
    """--timeout and --retries, checked before anything starts (a NaN timeout never times out)."""
    from pixmcu.errors import PixmcuError

    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise PixmcuError(f"--timeout must be a finite number of seconds above 0, got {args.timeout}")
    if args.retries < 0:
        raise PixmcuError(f"--retries must be 0 or more, got {args.retries}")


def make_spec(args, outdir: Path, manifest: dict, board: Board, transport: str, size: dict | None,
              inputs: Inputs | None = None) -> RunSpec:
    """`inputs`: the data file as load_inputs read it (read first, so bad data fails before a build)."""
    if inputs is None:
        inputs = load_inputs(args.data, manifest, limit=args.limit)
    if args.no_check:
        reference, note = None, "not requested (--no-check)"
    else:
        reference, note = load_reference(outdir, manifest, args.reference)
    plot = args.plot or (args.json.with_suffix(".png") if args.json else None)
    return RunSpec(manifest=manifest, board=board, inputs=inputs, reference=reference, reference_note=note,
                   json_path=args.json, save_outputs=args.save_outputs, plot_path=plot, resume=args.resume,
                   size=size, transport=transport, progress=not args.quiet)


def print_report(report: dict, spec: RunSpec) -> None:
    print(format_report(report))
    if spec.json_path:
        print(f"report: {spec.json_path}" + (f", plot: {spec.plot_path}" if spec.plot_path else ""))


def load_manifest_file(path: Path) -> dict:
    from pixmcu.errors import PixmcuError

    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise PixmcuError(f"{path} not found") from None
    except json.JSONDecodeError as exc:
        raise PixmcuError(f"{path}: not valid JSON ({exc})") from None
