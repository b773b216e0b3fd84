"""Frontends: model files in, `pixmcu.ir.Graph` out."""

from __future__ import annotations

from pathlib import Path

from pixmcu.errors import PixmcuError
from pixmcu.ir import Graph

CHECKPOINT_SUFFIXES = (".pmz", ".pt")


def resolve_model_path(model: str | Path) -> Path:
    """A model argument as a file: an existing path, else the name of a model shipped with pixmcu."""
    p = Path(model)
    if p.exists():
        return p
    from pixmcu.models import list_models, resolve

    shipped = resolve(str(model)) if p.parent == Path(".") else None
    if shipped is not None:
        return shipped
    names = ", ".join(m["name"] for m in list_models()) or "none"
    raise PixmcuError(f"{p}: no such model file, and no shipped model of that name (shipped: {names})")


def foreign_model_hint(path: Path, head: bytes) -> str | None:
    """What to do with a float model of another format that reached a .tflite-only path, or None."""
    quantize = ("pixmcu runs integer models: quantize it first with `pixmcu quantize {p} -o {stem}.pmz --calib "
                "DATA.npz`, or fine-tune it with pixel embedding: `pixmcu train --init {p} ...`")
    if path.suffix == ".onnx":
        return "an ONNX model; " + quantize.format(p=path, stem=path.stem).replace("--init " + str(path), "--init MODEL.pt2")
    if path.suffix == ".pt2":
        return "a torch.export program; " + quantize.format(p=path, stem=path.stem)
    if head[:4] == b"PK\x03\x04":
        return ("a zip archive (a torch.save file?), not a TensorFlow Lite model. pixmcu takes .tflite, .pmz, "
                "pixmcu training checkpoints (.pt), and float .pt2 (torch.export) or .onnx models through "
                "`pixmcu quantize`")
    return None


def load_model(model: str | Path) -> Graph:
    """Load a .tflite file, a pixmcu checkpoint (.pmz graph, .pt training checkpoint) or a shipped
    model's name as an integer graph; raises PixmcuError naming the file."""
    p = resolve_model_path(model)
    if p.is_dir():
        raise PixmcuError(f"{p}: is a directory, expected a model file")
    if p.suffix in CHECKPOINT_SUFFIXES:
        from pixmcu.frontend.checkpoint import load_checkpoint

        return load_checkpoint(p)
    from pixmcu.frontend.tflite_reader import read_tflite
    from pixmcu.frontend.tflite_to_ir import tflite_to_ir

    return tflite_to_ir(read_tflite(p))
