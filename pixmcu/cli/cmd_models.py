"""`pixmcu models`: the models shipped inside the package."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("models", help="list the pixel-embedding models shipped with pixmcu",
                       description="List shipped models: deploy one with `pixmcu generate NAME`.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def _bits(m: dict) -> str:
    return f"W{m.get('wbits')}A{m.get('abits')}" if m.get("wbits") else "float"


def _stage(m: dict) -> str:
    e = m.get("embed") or {}
    if m.get("input_stage") != "embed":
        return str(m.get("input_stage", "?"))
    s = f"embed d={e.get('dim')} Q={e.get('bits')}"
    return s + (f" K={e['bins']}" if e.get("bins") else "")


def run(args: argparse.Namespace) -> int:
    from pixmcu.models import list_models

    models = list_models()
    if args.json:
        print(json.dumps(models, indent=1))
        return 0
    if not models:
        print("no models shipped")
        return 0
    rows = [("NAME", "DATASET", "INPUT STAGE", "BITS", "HOST TOP-1")]
    for m in models:
        acc = m.get("host_top1")
        rows.append((m["name"], m.get("dataset_title", m.get("dataset", "?")), _stage(m), _bits(m),
                     "?" if acc is None else f"{acc:.2f}%"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0
