"""An ONNX model (.onnx) -> float graph, with the `onnx` package.

Covers what PyTorch's and other exporters write for the supported layers: Conv, Gemm, MatMul(+Add),
BatchNormalization, Relu, Clip, MaxPool, AveragePool, GlobalAveragePool, ReduceMean over H and W,
Flatten, Reshape to (N, features), Add, Concat, Identity, Dropout. Every node that maps to nothing
is collected and named, so one error lists them all.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pixmcu.errors import PixmcuError, UnsupportedOperatorError
from pixmcu.ptq.fgraph import FloatGraph, Node

_IDENTITY = {"Identity", "Dropout"}
_FOLDABLE = {"Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Reshape", "Slice", "Add", "Sub", "Mul", "Div"}


def load_onnx(path: Path):
    try:
        import onnx
    except ImportError:
        raise PixmcuError(f"{path}: reading ONNX needs the onnx package (pip install onnx)") from None
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise PixmcuError(f"{path}: not a readable ONNX model ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not model.graph.node:
        raise PixmcuError(f"{path}: the ONNX model has no nodes (is it an ONNX file?)")
    return model


class _Importer:
    def __init__(self, model, source: str):
        from onnx import numpy_helper

        self.model = model
        self.source = source
        g = model.graph
        self.consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.nodes: list[Node] = []
        self.alias: dict[str, str] = {}
        self.bad: list[str] = []
        self.refused: set[str] = set()
        self.shapes: dict[str, tuple[int, ...]] = {}

    def where(self, n) -> str:
        return f"node '{n.name or n.output[0]}' ({n.op_type})"

    def fail(self, n, why: str) -> None:
        self.bad.append(f"{self.where(n)}: {why}")
        self.refused.update(n.output)

    def attrs(self, n) -> dict:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in n.attribute}

    def const(self, name: str) -> np.ndarray | None:
        if not name:
            return None
        return self.consts[name]

    def ref(self, name: str) -> str:
        return self.alias[name]

    def emit(self, n, kind: str, inputs: list[str], **attrs) -> None:
        name = f"n{len(self.nodes)}"
        self.nodes.append(Node(name, kind, inputs, attrs, where=self.where(n)))
        self.alias[n.output[0]] = name

    def convert(self) -> FloatGraph:
        g = self.model.graph
        inputs = [i for i in g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise PixmcuError(f"{self.source}: the model takes {len(inputs)} inputs; pixmcu deploys models "
                              "with one image input")
        dims = [d.dim_value if d.HasField("dim_value") else 1 for d in inputs[0].type.tensor_type.shape.dim]
        if len(dims) != 4 or min(dims[1:]) < 1:
            raise PixmcuError(f"{self.source}: the model input '{inputs[0].name}' has shape {dims}; expected a "
                              "fixed-size image batch (N, C, H, W)")
        self.nodes.append(Node("input", "input", []))
        self.alias[inputs[0].name] = "input"
        self._infer_shapes(inputs[0].name, dims)
        for n in g.node:
            try:
                self.call(n)
            except KeyError:
                if any(i in self.refused for i in n.input):
                    self.refused.update(n.output)
                else:
                    self.fail(n, "an input that is neither the image's nor a constant")
        if self.bad:
            raise UnsupportedOperatorError(
                f"{self.source}: {len(self.bad)} node{'s' if len(self.bad) > 1 else ''} cannot be mapped to "
                f"pixmcu's integer operators: {'; '.join(self.bad)}. Supported: Conv (any group), Gemm, MatMul+Add, "
                "BatchNormalization, Relu, Clip, MaxPool, AveragePool, GlobalAveragePool, ReduceMean over H and W, "
                "Flatten, Reshape to (N, features), Add, Concat, Softmax, Sigmoid, Tanh, HardSwish, LeakyRelu, Identity, Dropout.")
        if len(g.output) != 1:
            raise PixmcuError(f"{self.source}: the model has {len(g.output)} outputs; pixmcu deploys models with one")
        out = g.output[0].name
        if out not in self.alias:
            raise PixmcuError(f"{self.source}: the model output '{out}' is not computed from the input image")
        return FloatGraph(self.nodes, self.alias[out], tuple(dims[1:]), source=self.source)

    def _infer_shapes(self, input_name: str, dims: list[int]) -> None:
        """Static shapes of every value, from ONNX's shape inference."""
        import onnx

        try:
            inferred = onnx.shape_inference.infer_shapes(self.model)
        except Exception:
            inferred = self.model
        for v in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input):
            shape = v.type.tensor_type.shape
            self.shapes[v.name] = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in shape.dim)
        self.shapes[input_name] = tuple(dims)

    def static_shape(self, name: str) -> tuple[int, ...]:
        """A value's shape with the batch fixed to 1 (the deployed batch); KeyError when not static."""
        shape = self.shapes.get(name)
        if shape is None or -1 in shape[1:]:
            raise KeyError(name)
        return (1,) + tuple(shape[1:]) if shape and shape[0] == -1 else tuple(shape)

    def fold(self, n, at: dict, ins: list[str]) -> bool:
        """Shape arithmetic (Shape, Gather, Concat, ... on constants), as exporters write for
        x.view(x.size(0), -1) with a dynamic batch: evaluated here, once, with batch 1."""
        op = n.op_type
        if op == "Shape" and ins[0] in self.alias:
            self.consts[n.output[0]] = np.array(self.static_shape(ins[0]), np.int64)
            return True
        if op not in _FOLDABLE or not all(i in self.consts for i in ins if i):
            return False
        v = [self.consts[i] if i else None for i in ins]
        if op == "Gather":
            r = np.take(v[0], v[1].astype(np.int64), axis=at.get("axis", 0))
        elif op in ("Unsqueeze", "Squeeze"):
            axes = at.get("axes", None if len(v) < 2 or v[1] is None else [int(a) for a in v[1]])
            if op == "Squeeze":
                r = np.squeeze(v[0], axis=None if axes is None else tuple(axes))
            else:
                r = v[0]
                for a in sorted(int(a) % (v[0].ndim + len(axes)) for a in axes):
                    r = np.expand_dims(r, a)
        elif op == "Concat":
            r = np.concatenate([np.atleast_1d(x) for x in v], axis=at.get("axis", 0))
        elif op == "Cast":
            r = v[0]
        elif op == "Reshape":
            r = v[0].reshape([v[0].shape[i] if t == 0 else int(t) for i, t in enumerate(v[1])])
        elif op == "Slice":
            starts, ends = v[1], v[2]
            axes = v[3] if len(v) > 3 and v[3] is not None else np.arange(len(starts))
            steps = v[4] if len(v) > 4 and v[4] is not None else np.ones(len(starts), np.int64)
            idx = [slice(None)] * v[0].ndim
            for a, b, e, st in zip(axes, starts, ends, steps):
                idx[int(a)] = slice(int(b), int(e), int(st))
            r = v[0][tuple(idx)]
        else:
            a, b = v[0], v[1]
            r = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op](a, b) if op != "Div" else (
                np.trunc(a / b).astype(a.dtype) if a.dtype.kind in "iu" else a / b)
        self.consts[n.output[0]] = np.asarray(r)
        return True

    def call(self, n) -> None:
        op = n.op_type
        at = self.attrs(n)
        ins = list(n.input)
        if self.fold(n, at, ins):
            return
        if op == "Constant":
            from onnx import numpy_helper

            if "value" in at:
                self.consts[n.output[0]] = numpy_helper.to_array(at["value"])
            else:
                self.fail(n, "a Constant without a tensor value")
            return
        if op in _IDENTITY:
            if ins[0] in self.consts:  # exporters alias shared or renamed weights through Identity
                self.consts[n.output[0]] = self.consts[ins[0]]
            else:
                self.alias[n.output[0]] = self.ref(ins[0])
            return
        if op == "Conv":
            self.conv(n, at, ins)
        elif op == "Gemm":
            if at.get("transA", 0) or at.get("alpha", 1.0) != 1.0 or at.get("beta", 1.0) != 1.0:
                self.fail(n, "Gemm with transA, alpha or beta (only x @ W^T + b is supported)")
                return
            w = self.const(ins[1])
            w = w if at.get("transB", 0) else w.T
            b = self.const(ins[2]) if len(ins) > 2 and ins[2] else None
            self.emit(n, "linear", [self.ref(ins[0])], w=w.astype(np.float32),
                      b=None if b is None else np.broadcast_to(b, w.shape[:1]).astype(np.float32), act="none")
        elif op == "MatMul":
            w = self.const(ins[1])
            if w.ndim != 2:
                self.fail(n, "MatMul with a non-matrix weight")
                return
            self.emit(n, "linear", [self.ref(ins[0])], w=np.ascontiguousarray(w.T).astype(np.float32), b=None, act="none")
        elif op == "BatchNormalization":
            if at.get("training_mode", 0):
                self.fail(n, "BatchNormalization in training mode")
                return
            scale, bias, mean, var = (self.const(i).astype(np.float64) for i in ins[1:5])
            f = scale / np.sqrt(var + at.get("epsilon", 1e-5))
            self.emit(n, "bn", [self.ref(ins[0])], scale=f.astype(np.float32), shift=(bias - f * mean).astype(np.float32))
        elif op == "Relu":
            self.emit(n, "clip", [self.ref(ins[0])], lo=0.0, hi=math.inf)
        elif op == "Clip":
            lo = at.get("min", self._scalar(ins, 1, -math.inf))
            hi = at.get("max", self._scalar(ins, 2, math.inf))
            if not lo <= 0.0 <= hi:
                self.fail(n, f"Clip to [{lo}, {hi}] (a clamp must keep 0 in range)")
                return
            self.emit(n, "clip", [self.ref(ins[0])], lo=float(lo), hi=float(hi))
        elif op in ("MaxPool", "AveragePool"):
            self.pool(n, at, ins)
        elif op == "GlobalAveragePool":
            self.emit(n, "gap", [self.ref(ins[0])])
        elif op == "ReduceMean":
            axes = at.get("axes")
            if axes is None and len(ins) > 1 and ins[1]:
                axes = [int(v) for v in self.const(ins[1])]
            if axes is None or sorted(a % 4 for a in axes) != [2, 3]:
                self.fail(n, f"ReduceMean over axes {axes} (only the spatial mean over H and W is supported)")
                return
            self.emit(n, "gap", [self.ref(ins[0])])
            if not at.get("keepdims", 1):
                self.nodes.append(Node(f"{self.alias[n.output[0]]}_flat", "flatten", [self.alias[n.output[0]]],
                                       where=self.where(n)))
                self.alias[n.output[0]] = self.nodes[-1].name
        elif op == "Flatten":
            if at.get("axis", 1) != 1:
                self.fail(n, f"Flatten with axis {at.get('axis')} (only axis 1 is supported)")
                return
            self.emit(n, "flatten", [self.ref(ins[0])])
        elif op in ("Reshape", "Squeeze", "Unsqueeze"):
            src, dst = self.shapes.get(ins[0]), self.shapes.get(n.output[0])
            if op == "Reshape" and ins[1] in self.consts:
                src = self.static_shape(ins[0])
                target = [src[i] if t == 0 else int(t) for i, t in enumerate(self.consts[ins[1]])]
                dst = np.empty(src).reshape(target).shape
            if src is not None and dst is not None and src == dst:
                self.alias[n.output[0]] = self.ref(ins[0])
            elif src is not None and dst is not None and len(dst) == 2 and dst[0] == src[0] and -1 not in dst:
                self.emit(n, "flatten", [self.ref(ins[0])])
            else:
                self.fail(n, f"reshape {src} -> {dst} (only flattening to (N, features) is supported)")
        elif op == "Add":
            if ins[1] in self.consts and ins[0] in self.alias and self.nodes[-1].name == self.alias[ins[0]] \
                    and self.nodes[-1].kind == "linear" and self.nodes[-1].attrs["b"] is None:
                w = self.nodes[-1].attrs["w"]  # MatMul + Add: the Add is the Linear's bias
                self.nodes[-1].attrs["b"] = np.broadcast_to(self.consts[ins[1]].reshape(-1), w.shape[:1]).astype(np.float32)
                self.alias[n.output[0]] = self.nodes[-1].name
                return
            a, b = (self.shapes.get(i) for i in ins)
            if ins[0] in self.consts or ins[1] in self.consts:
                self.fail(n, "Add of a constant (only tensor + tensor is supported)")
                return
            if a != b:
                self.fail(n, f"Add of shapes {a} and {b} (broadcasting is not supported)")
                return
            self.emit(n, "add", [self.ref(ins[0]), self.ref(ins[1])], act="none")
        elif op == "Concat":
            rank = len(self.shapes.get(n.output[0], ())) or 4
            axis = at["axis"] % rank
            if axis == 0:
                self.fail(n, "Concat along the batch axis")
                return
            self.emit(n, "concat", [self.ref(i) for i in ins], axis=axis)
        elif op in ("Sigmoid", "Tanh", "HardSwish", "LeakyRelu"):
            fn = {"Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish", "LeakyRelu": "leaky_relu"}[op]
            self.emit(n, "unary", [self.ref(ins[0])], fn=fn, alpha=float(at.get("alpha", 0.01)))
        elif op == "Softmax":
            rank = len(self.shapes.get(ins[0], ())) or 2
            if at.get("axis", -1) % rank != rank - 1:
                self.fail(n, f"Softmax over axis {at.get('axis')} (only the last axis is supported)")
                return
            self.emit(n, "softmax", [self.ref(ins[0])], beta=1.0)
        else:
            self.fail(n, f"ONNX {op}")

    def _scalar(self, ins, i, default):
        if len(ins) > i and ins[i]:
            return float(np.asarray(self.const(ins[i])).reshape(()))
        return default

    def conv(self, n, at, ins) -> None:
        w = self.const(ins[1]).astype(np.float32)
        b = self.const(ins[2]).astype(np.float32) if len(ins) > 2 and ins[2] else None
        if w.ndim != 4:
            self.fail(n, f"a {w.ndim - 2}-D convolution (only 2-D is supported)")
            return
        stride = tuple(at.get("strides", (1, 1)))
        dil = tuple(at.get("dilations", (1, 1)))
        pads = self._pads(n, at, w.shape[2:], stride, dil)
        if pads is None:
            return
        self.emit(n, "conv", [self.ref(ins[0])], w=w, b=b, stride=stride, pads=pads, dilation=dil,
                  groups=int(at.get("group", 1)), act="none")

    def _pads(self, n, at, k, stride, dil):
        auto = at.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("NOTSET", "VALID"):
            p = tuple(at.get("pads", (0, 0, 0, 0))) if auto == "NOTSET" else (0, 0, 0, 0)
            return (p[0], p[1], p[2], p[3])
        h, w = self.shapes.get(n.input[0], (0, 0, 0, 0))[2:]
        if auto == "SAME_UPPER" and h > 0:
            from pixmcu.shapes import out_size

            pads = []
            for size, kk, s, d in ((h, k[0], stride[0], dil[0]), (w, k[1], stride[1], dil[1])):
                total = max(0, (out_size("same", size, kk, s) - 1) * s + (kk - 1) * d + 1 - size)
                pads.append((total // 2, total - total // 2))
            return (pads[0][0], pads[1][0], pads[0][1], pads[1][1])
        self.fail(n, f"auto_pad {auto}")
        return None

    def pool(self, n, at, ins) -> None:
        k = tuple(at["kernel_shape"])
        stride = tuple(at.get("strides", k))
        if at.get("ceil_mode", 0):
            self.fail(n, "pooling with ceil_mode")
            return
        if tuple(at.get("dilations", (1, 1))) != (1, 1):
            self.fail(n, "dilated pooling")
            return
        pads = self._pads(n, at, k, stride, (1, 1))
        if pads is None:
            return
        if n.op_type == "MaxPool":
            if len(n.output) > 1 and n.output[1]:
                self.fail(n, "MaxPool with an indices output")
                return
            self.emit(n, "maxpool", [self.ref(ins[0])], k=k, stride=stride, pads=pads)
        else:
            count_pad = bool(at.get("count_include_pad", 0))
            self.emit(n, "avgpool", [self.ref(ins[0])], k=k, stride=stride, pads=pads, count_pad=count_pad)


def import_onnx(path: Path) -> FloatGraph:
    return _Importer(load_onnx(path), str(path)).convert()
