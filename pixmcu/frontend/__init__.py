"""Frontends: model files in, `pixmcu.ir.Graph` out."""

from __future__ import annotations

from pathlib import Path

from pixmcu.errors import PixmcuError
from pixmcu.ir import Graph


def load_model(path: str | Path) -> Graph:
    """Load a model file (.tflite) as an integer graph; raises PixmcuError naming the file."""
    from pixmcu.frontend.tflite_reader import read_tflite
    from pixmcu.frontend.tflite_to_ir import tflite_to_ir

    p = Path(path)
    if not p.exists():
        raise PixmcuError(f"{p}: no such model file")
    if p.is_dir():
        raise PixmcuError(f"{p}: is a directory, expected a model file")
    return tflite_to_ir(read_tflite(p))
