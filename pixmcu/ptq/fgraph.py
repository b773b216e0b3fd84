"""The small float graph every importer (.pt2, .onnx, float .tflite) produces, and its interpreter.

Tensors are NCHW float32, as in PyTorch; one node, one output, named like the node. Node kinds and
their attributes:

  input    -                                      (the image batch, real-valued)
  conv     w [O, I/groups, kh, kw], b [O] | None, stride (sh, sw), pads (top, left, bottom, right),
           dilation (dh, dw), groups, act
  linear   w [O, I], b [O] | None, act
  bn       scale [C], shift [C]                   (y = x * scale + shift per channel, axis 1)
  clip     lo, hi                                 (ReLU is (0, inf), ReLU6 is (0, 6))
  maxpool  k (kh, kw), stride, pads
  avgpool  k, stride, pads, count_pad             (count_pad: padded zeros count in the divisor)
  gap      -                                      (mean over H, W, keeping [N, C, 1, 1])
  flatten  -                                      (NCHW order from dim 1, as torch.flatten)
  add      act                                    (two inputs of one shape)
  concat   axis                                   (NCHW axis)
  softmax  beta                                   (over the last axis of (N, classes))
  unary    fn, alpha                              (sigmoid, tanh, hardswish, leaky_relu with slope alpha)
  identity -

`act` is "none", "relu" or "relu6". `where` names the layer in the user's terms (module path,
ONNX node) for messages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from pixmcu.errors import PixmcuError

KINDS = ("input", "conv", "linear", "bn", "clip", "maxpool", "avgpool", "gap", "flatten", "add",
         "concat", "softmax", "unary", "identity")
UNARY = ("sigmoid", "tanh", "hardswish", "leaky_relu")
ACT_CLIP = {"none": (-math.inf, math.inf), "relu": (0.0, math.inf), "relu6": (0.0, 6.0)}


@dataclass
class Node:
    name: str
    kind: str
    inputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    where: str = ""

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind


@dataclass
class FloatGraph:
    nodes: list[Node]
    output: str
    input_shape: tuple[int, int, int]  # C, H, W
    source: str = ""
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # per node, batch 1

    @property
    def input(self) -> str:
        return self.nodes[0].name

    def node(self, name: str) -> Node:
        return self.by_name()[name]

    def by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {n.name: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                out[i].append(n)
        return out

    def infer_shapes(self) -> None:
        """Run one zero image through the graph; a node torch rejects is named with its layer."""
        x = torch.zeros((1,) + tuple(self.input_shape))
        shapes = {}
        run(self, x, observe=lambda node, v: shapes.__setitem__(node.name, tuple(v.shape)))
        self.shapes = shapes


def _act(y: torch.Tensor, act: str) -> torch.Tensor:
    lo, hi = ACT_CLIP[act]
    if act == "none":
        return y
    return torch.clamp(y, lo, None if math.isinf(hi) else hi)


def _pool_pad(x: torch.Tensor, pads, value: float) -> torch.Tensor:
    t, l, b, r = pads
    return F.pad(x, (l, r, t, b), value=value) if any(pads) else x


def _channel(v: np.ndarray, x: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(v, dtype=x.dtype).view((1, -1) + (1,) * (x.dim() - 2))


def _eval(node: Node, ins: list[torch.Tensor]) -> torch.Tensor:
    a = node.attrs
    k = node.kind
    if k == "conv":
        x = _pool_pad(ins[0], a["pads"], 0.0)
        b = None if a["b"] is None else torch.as_tensor(a["b"])
        y = F.conv2d(x, torch.as_tensor(a["w"]), b, a["stride"], 0, a["dilation"], a["groups"])
        return _act(y, a["act"])
    if k == "linear":
        b = None if a["b"] is None else torch.as_tensor(a["b"])
        return _act(F.linear(ins[0], torch.as_tensor(a["w"]), b), a["act"])
    if k == "bn":
        return ins[0] * _channel(a["scale"], ins[0]) + _channel(a["shift"], ins[0])
    if k == "clip":
        return torch.clamp(ins[0], None if math.isinf(a["lo"]) else a["lo"], None if math.isinf(a["hi"]) else a["hi"])
    if k == "maxpool":
        return F.max_pool2d(_pool_pad(ins[0], a["pads"], -math.inf), a["k"], a["stride"])
    if k == "avgpool":
        total = F.avg_pool2d(_pool_pad(ins[0], a["pads"], 0.0), a["k"], a["stride"])
        if a["count_pad"] or not any(a["pads"]):
            return total
        # Padded zeros left out of the divisor (TFLite's SAME average): sum over count of real pixels.
        ones = torch.ones_like(ins[0][:1, :1])
        return total / F.avg_pool2d(_pool_pad(ones, a["pads"], 0.0), a["k"], a["stride"])
    if k == "gap":
        return ins[0].mean(dim=(2, 3), keepdim=True)
    if k == "flatten":
        return ins[0].flatten(1)
    if k == "add":
        return _act(ins[0] + ins[1], a["act"])
    if k == "concat":
        return torch.cat(ins, dim=a["axis"])
    if k == "unary":
        fn = a["fn"]
        if fn == "leaky_relu":
            return F.leaky_relu(ins[0], a["alpha"])
        return {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "hardswish": F.hardswish}[fn](ins[0])
    if k == "softmax":
        return torch.softmax(ins[0] * a["beta"], dim=-1)
    if k == "identity":
        return ins[0]
    raise AssertionError(k)


@torch.no_grad()
def run(graph: FloatGraph, x: torch.Tensor, observe: Callable[[Node, torch.Tensor], None] | None = None) -> torch.Tensor:
    """The float model on a real-valued NCHW batch; `observe(node, value)` sees every node's output."""
    values: dict[str, torch.Tensor] = {}
    uses = {n.name: 0 for n in graph.nodes}
    for n in graph.nodes:
        for i in n.inputs:
            uses[i] += 1
    uses[graph.output] += 1
    for n in graph.nodes:
        if n.kind == "input":
            v = x.float()
        else:
            try:
                v = _eval(n, [values[i] for i in n.inputs])
            except RuntimeError as exc:
                raise PixmcuError(f"{graph.source}: layer {n.where or n.name} ({n.kind}) fails on its input "
                                  f"of shape {tuple(values[n.inputs[0]].shape)}: {str(exc).splitlines()[0]}") from None
        values[n.name] = v
        if observe is not None:
            observe(n, v)
        for i in n.inputs:
            uses[i] -= 1
            if uses[i] == 0:
                del values[i]
    return values[graph.output]


__all__ = ["ACT_CLIP", "FloatGraph", "KINDS", "Node", "run"]
