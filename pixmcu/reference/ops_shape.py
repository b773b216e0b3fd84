"""Reference of TFLM's data-movement operators added for issue 11: bytes move, values do not change."""

from __future__ import annotations

import numpy as np

from pixmcu.ir import Graph, Operator


def transpose(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    return np.transpose(inputs[0], (0,) + tuple(a + 1 for a in p["perm"]))


def slice_(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    x = inputs[0]
    index = np.ix_(np.arange(x.shape[0]), *(b + s * np.arange(n) for b, s, n in zip(p["begin"], p["strides"], p["shape"])))
    return x[index].reshape((x.shape[0],) + graph.tensors[op.outputs[0]].shape)


def resize(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    x = inputs[0].reshape((-1,) + inputs[0].shape[-3:]).astype(np.int64)
    out_shape = graph.tensors[op.outputs[0]].shape
    if op.kind == "resize_nearest":
        y = x[:, p["y0"]][:, :, p["x0"]]
    else:
        fy = (p["sy"] - 1024 * p["y0"])[None, :, None, None]
        fx = (p["sx"] - 1024 * p["x0"])[None, None, :, None]
        r0, r1 = x[:, p["y0"]], x[:, p["y1"]]
        v = (r0[:, :, p["x0"]] * (1024 - fy) * (1024 - fx) + r1[:, :, p["x0"]] * fy * (1024 - fx)
             + r0[:, :, p["x1"]] * (1024 - fy) * fx + r1[:, :, p["x1"]] * fy * fx)
        v = v + np.where(v > 0, 1 << 19, -(1 << 19))
        y = np.where(v >= 0, v >> 20, -((-v) >> 20))  # C's truncating division
    return y.astype(np.int8).reshape(inputs[0].shape[:1] + out_shape)


OPS = {"transpose": transpose, "slice": slice_, "resize_nearest": resize, "resize_bilinear": resize}
