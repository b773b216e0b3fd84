"""Post-training quantization of a user's float model (.pt2, .onnx, float .tflite) to pixmcu's integer IR.

importer -> float graph (`fgraph`) -> clean-up: BatchNorm folded, ReLU/ReLU6 fused (`passes`) ->
calibration on images mapped exactly as `pixmcu infer`/`run` map them (`calibrate`) -> integer graph
under TFLite's quantization rules (`lower`). Needs torch (the float graph runs in torch) and, for
ONNX files, the onnx package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixmcu.data import PixelMapping, to_model_input
from pixmcu.errors import PixmcuError
from pixmcu.ir import Graph
from pixmcu.ptq.fgraph import FloatGraph

FLOAT_SUFFIXES = (".pt2", ".onnx", ".tflite")


def load_float_model(path: str | Path) -> FloatGraph:
    """Import a float model file as a simplified float graph (BN folded, activations fused)."""
    path = Path(path)
    if not path.is_file():
        raise PixmcuError(f"{path}: no such model file")
    if path.suffix == ".pt2":
        from pixmcu.ptq.import_pt2 import import_pt2

        fg = import_pt2(path)
    elif path.suffix == ".onnx":
        from pixmcu.ptq.import_onnx import import_onnx

        fg = import_onnx(path)
    elif path.suffix == ".tflite":
        from pixmcu.ptq.import_tflite import import_tflite

        fg = import_tflite(path)
    else:
        raise PixmcuError(f"{path}: pixmcu quantize reads float models saved as .pt2 (torch.export.save), "
                          ".onnx or .tflite; got '{path.suffix or 'no suffix'}'")
    return prepare(fg)


def prepare(fg: FloatGraph) -> FloatGraph:
    from pixmcu.ptq.passes import simplify

    fg.infer_shapes()
    simplify(fg)
    fg.infer_shapes()
    return fg


def _input_tensor(fg: FloatGraph, mapping: PixelMapping):
    from pixmcu.ir import Quantization, Tensor
    from pixmcu.ptq.lower import input_qparams

    c, h, w = fg.input_shape
    s, zp = input_qparams(mapping.scale, mapping.offset)
    return Tensor("input", (1, h, w, c), "int8", Quantization((s,), (zp,)))


def model_real_input(fg: FloatGraph, x: np.ndarray, mapping: PixelMapping, source: str = "data") -> np.ndarray:
    """uint8 NHWC images -> the real NCHW values the integer model sees (int8 input, dequantized)."""
    t = _input_tensor(fg, mapping)
    q = to_model_input(x, t, mapping, source).astype(np.float32)
    real = (q - t.quant.zero_point[0]) * np.float32(t.quant.scale[0])
    return np.ascontiguousarray(real.transpose(0, 3, 1, 2))


def float_logits(fg: FloatGraph, x: np.ndarray, mapping: PixelMapping, batch: int = 500) -> np.ndarray:
    """The float model on uint8 NHWC images with real = pixel * scale + offset (no input rounding)."""
    import torch

    from pixmcu.ptq.fgraph import run

    want = (fg.input_shape[1], fg.input_shape[2], fg.input_shape[0])
    if tuple(x.shape[1:]) != want:
        raise PixmcuError(f"images of shape {tuple(x.shape[1:])} do not fit the model input (H, W, C) = {want}")
    outs = []
    for i in range(0, len(x), batch):
        real = x[i:i + batch].astype(np.float64) * mapping.scale + mapping.offset
        outs.append(run(fg, torch.from_numpy(real.transpose(0, 3, 1, 2).astype(np.float32))).numpy())
    return np.concatenate(outs).reshape(len(x), -1)


@dataclass
class Quantized:
    graph: Graph
    float_graph: FloatGraph
    ranges: dict[str, tuple[float, float]]


def quantize(fg: FloatGraph, calib: np.ndarray, mapping: PixelMapping = PixelMapping(), per_tensor: bool = False,
             method: str = "minmax", name: str = "model", source: str = "") -> Quantized:
    """Calibrate `fg` on uint8 NHWC images and lower it to a full-integer graph."""
    from pixmcu.ptq.calibrate import calibrate
    from pixmcu.ptq.lower import input_qparams, lower

    if len(calib) == 0:
        raise PixmcuError("calibration needs at least one image")
    ranges = calibrate(fg, model_real_input(fg, calib, mapping, "calibration data"), method)
    graph = lower(fg, ranges, input_qparams(mapping.scale, mapping.offset), per_tensor, name, source)
    return Quantized(graph, fg, ranges)


__all__ = ["FLOAT_SUFFIXES", "Quantized", "float_logits", "load_float_model", "model_real_input", "prepare", "quantize"]
