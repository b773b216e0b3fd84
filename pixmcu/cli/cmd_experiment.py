"""`pixmcu experiment NAME`: rerun a committed experiment (results under docs/results/)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("experiment", help="rerun an experiment and rewrite its results page",
                       description="Rerun an experiment. Finished runs are kept and skipped; an "
                                   "interrupted run resumes from its last epoch checkpoint.")
    names = p.add_subparsers(dest="experiment", metavar="NAME")
    names.required = True
    from pixmcu.experiments import pixel_embedding

    pe = names.add_parser("pixel-embedding", help="input stages of fully quantized CNNs (issue 5)",
                          description="Train every input stage (naive, 8-bit input, pixel embedding variants) at "
                                      "each bit width and write pixel_embedding.json, a Markdown table and a plot "
                                      "into --out (docs/results/ holds the committed run).")
    pixel_embedding.add_arguments(pe)
    return p


def run(args: argparse.Namespace) -> int:
    _require_torch()
    if args.experiment == "pixel-embedding":
        from pixmcu.experiments import pixel_embedding

        return pixel_embedding.run_from_args(args)
    return 2


def _require_torch() -> None:
    from pixmcu.errors import PixmcuError

    try:
        import torch  # noqa: F401
    except ImportError:
        raise PixmcuError("experiments train models and need torch: pip install 'pixmcu[train]'") from None
