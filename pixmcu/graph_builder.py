"""Building an integer `pixmcu.ir.Graph` one tensor and one operator at a time (the exporters' helper)."""

from __future__ import annotations

import numpy as np

from pixmcu.ir import Graph, Operator, Quantization, Tensor


class GraphBuilder:
    def __init__(self) -> None:
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Operator] = []

    def tensor(self, name, shape, dtype, scale=None, zp=None, data=None, axis=None) -> str:
        quant = None
        if scale is not None:
            scale = np.atleast_1d(np.asarray(scale, np.float32))
            zp = np.zeros(len(scale), np.int64) if zp is None else np.atleast_1d(zp)
            quant = Quantization(tuple(scale.tolist()), tuple(np.asarray(zp).tolist()),
                                 axis if len(scale) > 1 else None)
        self.tensors[name] = Tensor(name, tuple(shape), dtype, quant, data)
        return name

    def op(self, name, kind, inputs, output, **attrs) -> str:
        self.ops.append(Operator(name, kind, tuple(inputs), (output,), attrs))
        return output

    def shape(self, name):
        return self.tensors[name].shape

    def qparams(self, name):
        q = self.tensors[name].quant
        return float(q.scale[0]), int(q.zero_point[0])

    def build(self, inputs, outputs, name: str, source: str) -> Graph:
        return Graph(self.tensors, self.ops, tuple(inputs), tuple(outputs), name=name, source=source)
