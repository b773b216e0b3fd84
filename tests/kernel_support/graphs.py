"""Random single-operator graphs for kernel property tests (valid by construction)."""

from __future__ import annotations

import numpy as np

from pixmcu.ir import Graph, Operator, Quantization, Tensor
from pixmcu.shapes import out_size

ACTS = ("none", "relu", "relu6", "relu_n1_to_1")


def _q(rng, lo=1e-3, hi=0.2, zp=None, dtype="int8"):
    scale = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    if zp is None:
        zp = int(rng.integers(-128, 128)) if dtype == "int8" else int(rng.integers(0, 256))
    return Quantization((scale,), (zp,))


def _data(rng, shape, dtype="int8"):
    if dtype == "uint8":
        return rng.integers(0, 256, size=shape).astype(np.uint8)
    return rng.integers(-128, 128, size=shape).astype(np.int8)


def single(kind, inputs, out, attrs, consts=()):
    """A graph of one operator; `inputs` are Tensors (constants carry data)."""
    tensors = {t.name: t for t in list(inputs) + [out]}
    graph_inputs = tuple(t.name for t in inputs if not t.is_constant)
    op = Operator("op0", kind, tuple(t.name for t in inputs), (out.name,), attrs)
    return Graph(tensors, (op,), graph_inputs, (out.name,))


def conv(rng, depthwise=False, k=None, force_1x1=False, dilation=None, mult=None):
    n = int(rng.integers(1, 3))
    kh, kw = (1, 1) if force_1x1 else (k or (int(rng.integers(1, 5)), int(rng.integers(1, 5))))
    sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    dh, dw = dilation or (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    padding = "valid" if force_1x1 else str(rng.choice(["same", "valid"]))
    h = int(rng.integers((kh - 1) * dh + 1, (kh - 1) * dh + 9))
    w = int(rng.integers((kw - 1) * dw + 1, (kw - 1) * dw + 9))
    cin = int(rng.integers(1, 14))
    if depthwise:
        m = mult or int(rng.integers(1, 4))
        cout = cin * m
        wshape = (1, kh, kw, cout)
        axis = 3
    else:
        m = 1
        cout = int(rng.integers(1, 10))
        wshape = (cout, kh, kw, cin)
        axis = 0
    oh, ow = out_size(padding, h, kh, sh, dh), out_size(padding, w, kw, sw, dw)
    xq = _q(rng, 0.005, 0.1)
    per_channel = bool(rng.integers(0, 2))
    if per_channel:
        scales = tuple(float(s) for s in np.exp(rng.uniform(np.log(1e-4), np.log(0.05), cout)))
        wq = Quantization(scales, (0,) * cout, axis)
    else:
        wq = _q(rng, 1e-4, 0.05, zp=0)
    oq = _q(rng, 0.002, 0.5)
    x = Tensor("x", (n, h, w, cin), "int8", xq)
    wt = Tensor("w", wshape, "int8", wq, _data(rng, wshape))
    ins = [x, wt]
    if rng.integers(0, 4):
        ins.append(Tensor("b", (cout,), "int32", Quantization((1.0,), (0,)),
                          rng.integers(-20000, 20000, size=cout).astype(np.int32)))
    out = Tensor("y", (n, oh, ow, cout), "int8", oq)
    attrs = {"stride": (sh, sw), "dilation": (dh, dw), "padding": padding, "activation": str(rng.choice(ACTS))}
    if depthwise:
        attrs["depth_multiplier"] = m
    return single("depthwise_conv2d" if depthwise else "conv2d", ins, out, attrs)


def fully_connected(rng):
    batches, depth, units = int(rng.integers(1, 4)), int(rng.integers(1, 70)), int(rng.integers(1, 20))
    x = Tensor("x", (batches, depth), "int8", _q(rng, 0.005, 0.1))
    per_channel = bool(rng.integers(0, 2))
    if per_channel:
        wq = Quantization(tuple(float(s) for s in np.exp(rng.uniform(np.log(1e-4), np.log(0.05), units))),
                          (0,) * units, 0)
    else:
        wq = _q(rng, 1e-4, 0.05, zp=0)
    ins = [x, Tensor("w", (units, depth), "int8", wq, _data(rng, (units, depth)))]
    if rng.integers(0, 4):
        ins.append(Tensor("b", (units,), "int32", Quantization((1.0,), (0,)),
                          rng.integers(-20000, 20000, size=units).astype(np.int32)))
    out = Tensor("y", (batches, units), "int8", _q(rng, 0.002, 0.5))
    return single("fully_connected", ins, out, {"activation": str(rng.choice(ACTS))})


def pool(rng, kind):
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 9))
    fh, fw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    padding = str(rng.choice(["same", "valid"]))
    h, w = int(rng.integers(fh, fh + 8)), int(rng.integers(fw, fw + 8))
    q = _q(rng)
    x = Tensor("x", (n, h, w, c), "int8", q)
    out = Tensor("y", (n, out_size(padding, h, fh, sh), out_size(padding, w, fw, sw), c), "int8", q)
    attrs = {"filter": (fh, fw), "stride": (sh, sw), "padding": padding, "activation": str(rng.choice(ACTS))}
    return single(kind, [x], out, attrs)


def mean(rng):
    n, h, w, c = (int(v) for v in rng.integers(1, [3, 9, 9, 12]))
    keep = bool(rng.integers(0, 2))
    x = Tensor("x", (n, h, w, c), "int8", _q(rng))
    out = Tensor("y", (n, 1, 1, c) if keep else (n, c), "int8", _q(rng))
    return single("mean", [x], out, {"axes": (1, 2), "keep_dims": keep})


def add(rng):
    shape = tuple(int(v) for v in rng.integers(1, 7, size=int(rng.integers(1, 5))))
    a = Tensor("a", shape, "int8", _q(rng))
    b = Tensor("b", shape, "int8", _q(rng))
    out = Tensor("y", shape, "int8", _q(rng))
    return single("add", [a, b], out, {"activation": str(rng.choice(ACTS))})


def softmax(rng):
    rows, depth = int(rng.integers(1, 5)), int(rng.integers(1, 40))
    x = Tensor("x", (rows, depth), "int8", _q(rng, 0.01, 0.5))
    out = Tensor("y", (rows, depth), "int8", Quantization((1.0 / 256,), (-128,)))
    beta = float(rng.choice([1.0, 1.0, 0.5, 2.0]))
    return single("softmax", [x], out, {"beta": beta})


def pad(rng):
    rank = int(rng.integers(1, 5))
    shape = tuple(int(v) for v in rng.integers(1, 6, size=rank))
    pads = tuple((int(a), int(b)) for a, b in rng.integers(0, 3, size=(rank, 2)))
    q = _q(rng)
    x = Tensor("x", shape, "int8", q)
    out = Tensor("y", tuple(d + a + b for d, (a, b) in zip(shape, pads)), "int8", q)
    return single("pad", [x], out, {"paddings": pads})


def concatenation(rng):
    rank = int(rng.integers(1, 5))
    base = [int(v) for v in rng.integers(1, 5, size=rank)]
    axis = int(rng.integers(0, rank))
    q = _q(rng)
    ins = []
    for i in range(int(rng.integers(1, 4))):
        shape = list(base)
        shape[axis] = int(rng.integers(1, 4))
        const = bool(rng.integers(0, 4) == 0)
        ins.append(Tensor(f"x{i}", tuple(shape), "int8", q, _data(rng, tuple(shape)) if const else None))
    if all(t.is_constant for t in ins):
        t = ins[0]
        ins[0] = Tensor(t.name, t.shape, "int8", q)
    out_shape = list(base)
    out_shape[axis] = sum(t.shape[axis] for t in ins)
    out = Tensor("y", tuple(out_shape), "int8", q)
    return single("concatenation", ins, out, {"axis": axis, "activation": "none"})


def quantize(rng):
    shape = tuple(int(v) for v in rng.integers(1, 7, size=int(rng.integers(1, 5))))
    din, dout = [("int8", "uint8"), ("uint8", "int8"), ("int8", "int8")][int(rng.integers(0, 3))]
    x = Tensor("x", shape, din, _q(rng, dtype=din))
    out = Tensor("y", shape, dout, _q(rng, dtype=dout))
    return single("quantize", [x], out, {})


def random_input(rng, graph):
    return [_data(rng, graph.tensors[n].shape, graph.tensors[n].dtype) for n in graph.inputs]


def conv_add(rng, conv_first=True):
    """conv2d followed by an ADD of its output and a residual graph input: the fusion pattern."""
    from pixmcu.codegen.kernels import fuse_residual_adds, kernel_call

    g = conv(rng)
    op = g.operators[0]
    y = g.tensors[op.outputs[0]]
    r = Tensor("r", y.shape, "int8", _q(rng))
    s = Tensor("s", y.shape, "int8", _q(rng))
    add_in = ("y", "r") if conv_first else ("r", "y")
    tensors = {**dict(g.tensors), "r": r, "s": s}
    ops = (op, Operator("op1", "add", add_in, ("s",), {"activation": str(rng.choice(ACTS))}))
    graph = Graph(tensors, ops, ("x", "r"), ("s",))
    calls = fuse_residual_adds(graph, [kernel_call(graph, o) for o in graph.operators])
    return graph, calls


def pixel_embedding(rng):
    n, h, w, c = (int(v) for v in rng.integers(1, [3, 6, 6, 4]))
    d = int(rng.integers(1, 5))
    tables = 1 if rng.integers(0, 2) else c
    q = _q(rng)
    x = Tensor("x", (n, h, w, c), "uint8", _q(rng, dtype="uint8"))
    table = Tensor("t", (tables, 256, d), "int8", q, _data(rng, (tables, 256, d)))
    out = Tensor("y", (n, h, w, c * d), "int8", q)
    return single("pixel_embedding", [x, table], out, {"embed_dim": d})
