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

    def stage_ops(self, stage, hw: tuple[int, int, int, int]) -> str:
        """The graph input and the ops of a QAT input stage (pixmcu.nn.models.InputStage): uint8 pixels
        into a pixel embedding, int8 p-128 requantized to the naive grid, or int8 p-128 as it is."""
        if stage.stage == "embed":
            emb = stage.embedding
            x = self.tensor("input", hw, "uint8", np.float32(1.0 / 255.0), 0)
            table = emb.codes() + emb.zero_point
            tname = self.tensor("embedding_table", table.shape, "int8", emb.scale, emb.zero_point,
                                data=table.astype(np.int8))
            out = self.tensor("embedding", hw[:3] + (emb.out_channels,), "int8", emb.scale, emb.zero_point)
            attrs = {"embed_dim": emb.dim}
            if emb.bins:
                attrs["bin_edges"] = tuple(tuple(int(np.argmax(row == k)) for k in range(1, emb.bins))
                                           for row in emb.bin_index().numpy())
            return self.op("embedding", "pixel_embedding", (x, tname), out, **attrs)
        x = self.tensor("input", hw, "int8", np.float32(1.0 / 255.0), -128)
        if stage.stage == "naive":
            out = self.tensor("input_quantized", hw, "int8", stage.scale, -128)
            return self.op("input_quantized", "quantize", (x,), out)
        return x

    def build(self, inputs, outputs, name: str, source: str) -> Graph:
        return Graph(self.tensors, self.ops, tuple(inputs), tuple(outputs), name=name, source=source)
