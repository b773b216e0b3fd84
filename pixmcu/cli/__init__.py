"""The `pixmcu` command: one module per subcommand, each with `add_parser(sub)` and `run(args)`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from pixmcu import __version__
from pixmcu.errors import PixmcuError
from pixmcu.signals import Terminated, interruption_reason, terminate_as_exception

# Order here is the order `pixmcu --help` lists them.
SUBCOMMANDS = [
    "inspect",
    "infer",
    "validate",
    "data",
    "train",
    "quantize",
    "models",
    "experiment",
    "analyze",
    "generate",
    "build",
    "run",
    "measure",
    "flash",
    "probes",
    "boards",
    "bench",
    "tune",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixmcu",
        description="Deploy fully integer CNNs (with pixel embedding) to Arm Cortex-M microcontrollers.",
    )
    parser.add_argument("--version", action="version", version=f"pixmcu {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"pixmcu.cli.cmd_{name.replace('-', '_')}")
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with terminate_as_exception():
            return int(args._run(args) or 0)
    except PixmcuError as exc:
        print(f"pixmcu {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"pixmcu {args.command}: {interruption_reason(exc)}", file=sys.stderr)
        return 128 + exc.signum if isinstance(exc, Terminated) else 130
    except BrokenPipeError:
        return _broken_pipe()


def _broken_pipe() -> int:
    """The reader went away (`pixmcu models --json | head`): stop quietly, as Unix tools do. Pointing
    stdout at /dev/null keeps Python's exit-time flush from raising again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141  # 128 + SIGPIPE, what a shell reports for a command killed by it


if __name__ == "__main__":
    sys.exit(main())
