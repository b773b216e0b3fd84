"""A float .tflite model -> float graph (NHWC layers restated in the float graph's NCHW terms).

SAME padding becomes TFLite's explicit pads (the odd one after), fused activations become clamps,
a RESHAPE that flattens a feature map and the FULLY_CONNECTED after it keep TFLite's NHWC order by
permuting the weights, so the lowering can reorder them back.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pixmcu.errors import PixmcuError, UnsupportedOperatorError
from pixmcu.ptq.fgraph import FloatGraph, Node
from pixmcu.shapes import out_size

_AXIS = {1: 2, 2: 3, 3: 1}  # NHWC axis -> NCHW axis
_ACT = {0: None, 1: (0.0, math.inf), 3: (0.0, 6.0), 2: (-1.0, 1.0)}  # NONE, RELU, RELU6, RELU_N1_TO_1


def _same_pads(h, w, k, stride, dilation) -> tuple[int, int, int, int]:
    pads = []
    for size, kk, s, d in ((h, k[0], stride[0], dilation[0]), (w, k[1], stride[1], dilation[1])):
        total = max(0, (out_size("same", size, kk, s) - 1) * s + (kk - 1) * d + 1 - size)
        pads.append((total // 2, total - total // 2))
    return pads[0][0], pads[1][0], pads[0][1], pads[1][1]


class _Importer:
    def __init__(self, raw):
        self.raw = raw
        self.nodes: list[Node] = []
        self.alias: dict[int, str] = {}
        self.nhwc_flat: dict[int, tuple] = {}  # tensor holding a feature map flattened in NHWC order -> its shape
        self.bad: list[str] = []

    def fail(self, op, why: str) -> None:
        self.bad.append(f"layer {op.index} ({op.opcode}): {why}")

    def t(self, i):
        return self.raw.tensors[i]

    def const(self, i) -> np.ndarray:
        d = self.t(i).data
        if d is None:
            raise KeyError(i)
        return d.astype(np.float32)

    def emit(self, op, kind, inputs, out: int, act_code: int = 0, **attrs) -> None:
        name = f"l{op.index}_{kind}"
        act = _ACT.get(act_code, "bad")
        if act == "bad":
            self.fail(op, f"fused activation {act_code}")
            return
        fused = act in (None, (0.0, math.inf), (0.0, 6.0)) and kind in ("conv", "linear", "add")
        if kind in ("conv", "linear", "add"):
            attrs["act"] = {None: "none", (0.0, math.inf): "relu", (0.0, 6.0): "relu6"}[act] if fused else "none"
        self.nodes.append(Node(name, kind, [self.alias[i] for i in inputs], attrs, where=f"layer {op.index} ({op.opcode})"))
        if act is not None and not fused:
            self.nodes.append(Node(f"{name}_act", "clip", [name], {"lo": act[0], "hi": act[1]}, where=self.nodes[-1].where))
        self.alias[out] = self.nodes[-1].name

    def convert(self) -> FloatGraph:
        raw = self.raw
        if len(raw.inputs) != 1 or len(raw.outputs) != 1:
            raise PixmcuError(f"{raw.path}: the model has {len(raw.inputs)} inputs and {len(raw.outputs)} outputs; "
                              "pixmcu deploys models with one image input and one output")
        x = self.t(raw.inputs[0])
        if x.dtype != "float32":
            raise PixmcuError(f"{raw.path}: the model input is {x.dtype}: this model is quantized already; "
                              "`pixmcu inspect`/`generate` take it as it is")
        if len(x.shape) != 4:
            raise PixmcuError(f"{raw.path}: the model input has shape {x.shape}; expected an image (1, H, W, C)")
        _, h, w, c = x.shape
        self.nodes.append(Node("input", "input", []))
        self.alias[raw.inputs[0]] = "input"
        for op in raw.operators:
            try:
                self.call(op)
            except KeyError:
                if any(i in self.alias or self.t(i).data is not None for i in op.inputs):
                    self.fail(op, "an input that is neither the image's nor a constant")
        if self.bad:
            raise UnsupportedOperatorError(
                f"{raw.path}: {len(self.bad)} layer{'s' if len(self.bad) > 1 else ''} cannot be mapped to pixmcu's "
                f"integer operators: {'; '.join(self.bad)}. Supported: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, "
                "ADD, AVERAGE_POOL_2D, MAX_POOL_2D, MEAN over H and W, RESHAPE to (1, features), CONCATENATION, "
                "RELU, RELU6, SOFTMAX.")
        out = raw.outputs[0]
        if out not in self.alias:
            raise PixmcuError(f"{raw.path}: the model output is not computed from the input image")
        return FloatGraph(self.nodes, self.alias[out], (c, h, w), source=str(raw.path))

    def call(self, op) -> None:
        code, o, ins, out = op.opcode, op.options, list(op.inputs), op.outputs[0]
        if code in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = self.const(ins[1])
            b = self.const(ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
            _, h, wd, cin = self.t(ins[0]).shape
            stride, dil = (o.StrideH(), o.StrideW()), (o.DilationHFactor(), o.DilationWFactor())
            if code == "CONV_2D":
                wt, groups = w.transpose(0, 3, 1, 2), cin // w.shape[3]
            else:
                wt, groups = w.transpose(3, 0, 1, 2), cin
            k = wt.shape[2:]
            pads = _same_pads(h, wd, k, stride, dil) if o.Padding() == 0 else (0, 0, 0, 0)
            self.emit(op, "conv", ins[:1], out, o.FusedActivationFunction(), w=np.ascontiguousarray(wt), b=b,
                      stride=stride, pads=pads, dilation=dil, groups=groups)
        elif code == "FULLY_CONNECTED":
            w = self.const(ins[1])
            b = self.const(ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
            key, shape = ins[0], self.nhwc_flat.get(ins[0])
            if len(self.t(ins[0]).shape) == 4:  # FULLY_CONNECTED flattens its input itself, in NHWC order
                key, shape = -1 - op.index, self.t(ins[0]).shape
                self.emit(op, "flatten", ins[:1], key)
            if shape is not None:
                w = w[:, _nhwc_index_of_nchw(shape)]
            self.emit(op, "linear", [key], out, o.FusedActivationFunction() if o else 0, w=w, b=b)
        elif code == "ADD":
            a, b = (self.t(i) for i in ins)
            if a.shape != b.shape or a.data is not None or b.data is not None:
                self.fail(op, "ADD of a constant or with broadcasting (only tensor + tensor is supported)")
                return
            self.emit(op, "add", ins, out, o.FusedActivationFunction() if o else 0)
        elif code in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            _, h, wd, _ = self.t(ins[0]).shape
            k, stride = (o.FilterHeight(), o.FilterWidth()), (o.StrideH(), o.StrideW())
            pads = _same_pads(h, wd, k, stride, (1, 1)) if o.Padding() == 0 else (0, 0, 0, 0)
            extra = {"count_pad": False} if code == "AVERAGE_POOL_2D" else {}
            self.emit(op, "avgpool" if code == "AVERAGE_POOL_2D" else "maxpool", ins[:1], out,
                      o.FusedActivationFunction(), k=k, stride=stride, pads=pads, **extra)
        elif code == "MEAN":
            axes = sorted(int(a) % 4 for a in np.ravel(self.const(ins[1])))
            if axes != [1, 2]:
                self.fail(op, f"MEAN over axes {axes} (only H and W)")
                return
            self.emit(op, "gap", ins[:1], out)
            if not (o and o.KeepDims()):
                self.nodes.append(Node(f"{self.alias[out]}_flat", "flatten", [self.alias[out]], where=self.nodes[-1].where))
                self.alias[out] = self.nodes[-1].name
        elif code in ("RESHAPE", "SQUEEZE"):
            src, dst = self.t(ins[0]).shape, self.t(out).shape
            if len(src) == 4 and len(dst) == 2 and dst[0] == src[0]:
                self.emit(op, "flatten", ins[:1], out)
                self.nhwc_flat[out] = tuple(src)
            elif tuple(src) == tuple(dst):
                self.alias[out] = self.alias[ins[0]]
            else:
                self.fail(op, f"RESHAPE {src} -> {dst} (only flattening to (1, features) is supported)")
        elif code == "CONCATENATION":
            rank = len(self.t(out).shape)
            axis = o.Axis() % rank
            self.emit(op, "concat", ins, out, o.FusedActivationFunction(), axis=_AXIS[axis] if rank == 4 else axis)
        elif code in ("RELU", "RELU6"):
            self.alias_clip(op, ins[0], out, (0.0, math.inf) if code == "RELU" else (0.0, 6.0))
        elif code == "SOFTMAX":
            self.emit(op, "softmax", ins[:1], out, beta=float(o.Beta()) if o else 1.0)
        else:
            self.fail(op, f"{code}")

    def alias_clip(self, op, i, out, rng) -> None:
        self.nodes.append(Node(f"l{op.index}_clip", "clip", [self.alias[i]], {"lo": rng[0], "hi": rng[1]},
                               where=f"layer {op.index} ({op.opcode})"))
        self.alias[out] = self.nodes[-1].name


def _nhwc_index_of_nchw(shape) -> np.ndarray:
    """For each NCHW-flattened position, the NHWC-flattened index TFLite's weights use."""
    _, h, w, c = shape
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).ravel()


def import_tflite(path: Path) -> FloatGraph:
    from pixmcu.frontend.tflite_reader import read_tflite

    return _Importer(read_tflite(path)).convert()
