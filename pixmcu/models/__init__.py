"""Pixel-embedding models shipped inside the package, so a deployment needs no training first.

Each model is an exported integer graph (`NAME.pmz`, see pixmcu.frontend.checkpoint) whose
metadata says where it came from: dataset, input stage, bit widths and its accuracy on the host.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent
SUFFIX = ".pmz"


def _metadata(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as z:
        doc = json.loads(z["__graph__"].tobytes().decode())  # only this member is read
    return doc.get("metadata", {})


def list_models() -> list[dict[str, Any]]:
    """name, path and metadata (dataset, input_stage, wbits, abits, embed, host_top1, ...) per model."""
    out = []
    for p in sorted(MODELS_DIR.glob(f"*{SUFFIX}")):
        out.append({"name": p.stem, "path": str(p), **_metadata(p)})
    return out


def resolve(name: str) -> Path | None:
    """The file of shipped model `name` (with or without its suffix), or None if none is shipped."""
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        return None
    p = MODELS_DIR / f"{stem}{SUFFIX}"
    return p if p.is_file() else None
