"""Float graph clean-up before calibration: drop identities, fold BatchNorm, fuse ReLU/ReLU6.

After this the graph has the shape TFLite's converter gives a model: every BatchNorm that follows a
convolution or Linear is inside its weights, every ReLU/ReLU6 that follows a convolution, Linear or
add is its fused activation (so that op's output range is the clamped one), and a BatchNorm with
nothing to fold into becomes a per-channel 1x1 depthwise convolution (or a diagonal Linear).
"""

from __future__ import annotations

import math

import numpy as np

from pixmcu.ptq.fgraph import FloatGraph, Node

FUSABLE = ("conv", "linear", "add")


def _replace(g: FloatGraph, old: str, new: str) -> None:
    for n in g.nodes:
        n.inputs = [new if i == old else i for i in n.inputs]
    if g.output == old:
        g.output = new


def _remove(g: FloatGraph, node: Node) -> None:
    _replace(g, node.name, node.inputs[0])
    g.nodes.remove(node)


def _clip_act(node: Node) -> str | None:
    lo, hi = node.attrs["lo"], node.attrs["hi"]
    if lo == 0.0 and math.isinf(hi):
        return "relu"
    if lo == 0.0 and hi == 6.0:
        return "relu6"
    return None


def _sole_consumer(g: FloatGraph, name: str) -> bool:
    return name != g.output and sum(i == name for n in g.nodes for i in n.inputs) == 1


def _fold_bn(prod: Node, bn: Node) -> None:
    s, t = np.asarray(bn.attrs["scale"], np.float64), np.asarray(bn.attrs["shift"], np.float64)
    w = np.asarray(prod.attrs["w"], np.float64)
    b = np.zeros(w.shape[0]) if prod.attrs["b"] is None else np.asarray(prod.attrs["b"], np.float64)
    prod.attrs["w"] = (w * s.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
    prod.attrs["b"] = (b * s + t).astype(np.float32)


def _bn_as_layer(g: FloatGraph, bn: Node) -> None:
    s, t = np.asarray(bn.attrs["scale"], np.float32), np.asarray(bn.attrs["shift"], np.float32)
    c = len(s)
    if len(g.shapes[bn.inputs[0]]) == 4:
        bn.kind = "conv"
        bn.attrs = {"w": s.reshape(c, 1, 1, 1), "b": t, "stride": (1, 1), "pads": (0, 0, 0, 0),
                    "dilation": (1, 1), "groups": c, "act": "none"}
    else:
        bn.kind = "linear"
        bn.attrs = {"w": np.diag(s), "b": t, "act": "none"}


def simplify(g: FloatGraph) -> FloatGraph:
    """In place; `g.shapes` must be set (FloatGraph.infer_shapes)."""
    for n in [n for n in g.nodes if n.kind == "identity"]:
        _remove(g, n)
    changed = True
    while changed:
        changed = False
        nodes = g.by_name()
        for n in list(g.nodes):
            if n.kind not in ("bn", "clip"):
                continue
            prod = nodes[n.inputs[0]]
            if prod.kind not in FUSABLE or not _sole_consumer(g, prod.name) or prod.attrs.get("act", "none") != "none":
                continue
            if n.kind == "bn" and prod.kind in ("conv", "linear"):
                _fold_bn(prod, n)
            elif n.kind == "clip" and _clip_act(n):
                prod.attrs["act"] = _clip_act(n)
            else:
                continue
            prod.where = prod.where or n.where
            _replace(g, n.name, prod.name)
            g.nodes.remove(n)
            changed = True
            break
    for n in g.nodes:
        if n.kind == "bn":
            _bn_as_layer(g, n)
    live = {g.output}
    for n in reversed(g.nodes):
        if n.name in live:
            live.update(n.inputs)
    g.nodes = [n for n in g.nodes if n.name in live or n.kind == "input"]
    return g
