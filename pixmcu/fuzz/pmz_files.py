"""Read and write .pmz members directly, for mutants whose JSON or arrays are deliberately wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def read_pmz(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    doc = json.loads(arrays.pop("__graph__").tobytes().decode())
    return doc, arrays


def write_pmz(path: str | Path, doc: Any, arrays: dict[str, np.ndarray], raw_json: bytes | None = None) -> Path:
    """`raw_json` replaces the JSON text when a mutant's bytes are not a JSON document at all."""
    blob = raw_json if raw_json is not None else json.dumps(doc).encode()
    with open(path, "wb") as f:
        np.savez(f, __graph__=np.frombuffer(blob, np.uint8), **arrays)
    return Path(path)
