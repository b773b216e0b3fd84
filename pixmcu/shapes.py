"""Shape, dtype and quantization rules per operator kind, and TFLite's padding arithmetic.

`check_operator` is called by `Graph` on construction; a frontend that builds a bad graph learns
which layer is wrong and why before anything runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixmcu.shapes_ops import CHECKS, act_dtypes, bias_dtype, check_16x8, check_softmax_16

if TYPE_CHECKING:
    from pixmcu.ir import Graph, Operator


def out_size(padding: str, size: int, kernel: int, stride: int, dilation: int = 1) -> int:
    """TFLite's ComputeOutSize."""
    effective = (kernel - 1) * dilation + 1
    if padding == "same":
        return (size + stride - 1) // stride
    return (size + stride - effective) // stride


def pad_before(size: int, kernel: int, stride: int, dilation: int, out: int) -> int:
    """TFLite's ComputePaddingWithOffset: padding before (top/left); the odd remainder goes after."""
    effective = (kernel - 1) * dilation + 1
    total = max(0, (out - 1) * stride + effective - size)
    return total // 2


def _err(op: "Operator", msg: str) -> Exception:
    from pixmcu.ir import GraphError

    return GraphError(f"layer '{op.name}' ({op.kind}): {msg}")


def _expect(op: "Operator", cond: bool, msg: str) -> None:
    if not cond:
        raise _err(op, msg)


def check_operator(graph: "Graph", op: "Operator") -> None:
    # Kinds check their own arity, but a graph from a .pmz can list too few inputs for any check that
    # reads a tensor before counting; that is the same user error, never an IndexError.
    _expect(op, len(op.inputs) >= 1, "has no inputs")
    try:
        _check_operator(graph, op)
    except IndexError:
        raise _err(op, f"has {len(op.inputs)} input(s), too few for a {op.kind} layer") from None


def _check_operator(graph: "Graph", op: "Operator") -> None:
    t = [graph.tensors[n] for n in op.inputs]
    out = graph.tensors[op.outputs[0]]
    k = op.kind
    a = op.attrs
    for x in t + [out]:
        if x.dtype == "float32":
            raise _err(op, f"tensor '{x.name}' is float32: pixmcu runs fully integer models only")
        if not (x.is_constant and x.dtype in ("int32", "int64")):
            _expect(op, x.quant is not None, f"integer tensor '{x.name}' has no quantization")
    check_16x8(op, t, out, _expect)
    if k in CHECKS:
        return CHECKS[k](op, t, out, _expect)

    if k in ("conv2d", "depthwise_conv2d"):
        _expect(op, len(t) in (2, 3), "expects input, weights and optional bias")
        x, w = t[0], t[1]
        _expect(op, act_dtypes(x, out), f"input and output must be int8, or int16 (16x8), got {x.dtype} and {out.dtype}")
        _expect(op, w.dtype == "int8" and w.is_constant, "weights must be constant int8")
        _expect(op, len(x.shape) == 4 and len(w.shape) == 4, "input and weights must be 4-D (NHWC / OHWI)")
        sh, sw = a["stride"]
        dh, dw = a["dilation"]
        _expect(op, min(sh, sw, dh, dw) >= 1, "strides and dilations must be >= 1")
        n, h, wd, c = x.shape
        if k == "conv2d":
            co, kh, kw, ci = w.shape
            _expect(op, ci == c, f"weights expect {ci} input channels, input has {c} (grouped convolution is not supported)")
        else:
            _expect(op, w.shape[0] == 1, f"depthwise weights must be [1,KH,KW,C*M], got {w.shape}")
            _, kh, kw, co = w.shape
            m = a["depth_multiplier"]
            _expect(op, co == c * m, f"depthwise weights have {co} channels, expected {c}x{m}")
        if w.quant.per_channel:
            _expect(op, w.quant.axis == (0 if k == "conv2d" else 3), f"per-channel weight axis {w.quant.axis} is wrong")
            _expect(op, len(w.quant.scale) == co, "per-channel weight scales do not match output channels")
        _expect(op, all(z == 0 for z in w.quant.zero_point), "weights must be symmetric (zero point 0)")
        if len(t) == 3:
            b = t[2]
            bt = bias_dtype(x)
            _expect(op, b.dtype == bt and b.is_constant and b.shape == (co,), f"bias must be constant {bt} [{co}]")
        oh = out_size(a["padding"], h, kh, sh, dh)
        ow = out_size(a["padding"], wd, kw, sw, dw)
        _expect(op, oh >= 1 and ow >= 1, f"the {kh}x{kw} filter with dilation {(dh, dw)} does not fit the "
                                          f"{h}x{wd} input with VALID padding")
        _expect(op, out.shape == (n, oh, ow, co), f"output shape {out.shape} should be {(n, oh, ow, co)}")
    elif k == "fully_connected":
        _expect(op, len(t) in (2, 3), "expects input, weights and optional bias")
        x, w = t[0], t[1]
        _expect(op, act_dtypes(x, out), f"input and output must be int8, or int16 (16x8), got {x.dtype} and {out.dtype}")
        _expect(op, w.dtype == "int8" and w.is_constant and len(w.shape) == 2, "weights must be constant int8 [out, in]")
        co, depth = w.shape
        _expect(op, x.size % depth == 0, f"input size {x.size} is not a multiple of the weights' depth {depth}")
        _expect(op, out.size == x.size // depth * co, f"output shape {out.shape} does not hold {x.size // depth}x{co}")
        if w.quant.per_channel:
            _expect(op, w.quant.axis == 0 and len(w.quant.scale) == co, "per-channel weight scales must be along axis 0")
        _expect(op, all(z == 0 for z in w.quant.zero_point), "weights must be symmetric (zero point 0)")
        if len(t) == 3:
            b = t[2]
            bt = bias_dtype(x)
            _expect(op, b.dtype == bt and b.is_constant and b.shape == (co,), f"bias must be constant {bt} [{co}]")
    elif k == "add":
        _expect(op, len(t) == 2, "expects two inputs")
        _expect(op, act_dtypes(*t, out), "inputs and output must all be int8, or all int16 (16x8)")
        _expect(op, t[0].shape == t[1].shape == out.shape,
                f"input shapes {t[0].shape} and {t[1].shape} must equal the output's {out.shape} (broadcasting is not supported)")
    elif k in ("avg_pool2d", "max_pool2d"):
        x = t[0]
        _expect(op, len(t) == 1 and act_dtypes(x, out), "expects one int8 (or int16) input and output")
        _expect(op, len(x.shape) == 4, "input must be 4-D NHWC")
        _expect(op, x.quant.scale == out.quant.scale and x.quant.zero_point == out.quant.zero_point,
                "input and output quantization must be equal")
        fh, fw = a["filter"]
        sh, sw = a["stride"]
        _expect(op, min(fh, fw, sh, sw) >= 1, f"filter {a['filter']} and stride {a['stride']} must be >= 1")
        n, h, wd, c = x.shape
        exp = (n, out_size(a["padding"], h, fh, sh), out_size(a["padding"], wd, fw, sw), c)
        _expect(op, out.shape == exp, f"output shape {out.shape} should be {exp}")
    elif k == "mean":
        x = t[0]
        _expect(op, x.dtype == "int8" and out.dtype == "int8" and len(x.shape) == 4, "expects 4-D int8 input and output")
        _expect(op, tuple(sorted(a["axes"])) == (1, 2), f"only a mean over H and W (axes 1, 2) is supported, got {a['axes']}")
        n, _, _, c = x.shape
        exp = (n, 1, 1, c) if a["keep_dims"] else (n, c)
        _expect(op, out.shape == exp, f"output shape {out.shape} should be {exp}")
    elif k == "reshape":
        x = t[0]
        _expect(op, x.size == out.size, f"cannot reshape {x.shape} to {out.shape}")
        _expect(op, x.dtype == out.dtype and x.quant == out.quant, "reshape must keep dtype and quantization")
    elif k == "softmax":
        x = t[0]
        _expect(op, x.shape == out.shape, "output shape must equal the input's")
        if x.dtype == "int16":
            return check_softmax_16(op, x, out, _expect)
        _expect(op, x.dtype == "int8" and out.dtype == "int8", "input and output must be int8")
        _expect(op, out.quant.scale == (1.0 / 256,) and out.quant.zero_point == (-128,),
                "int8 softmax output must have scale 1/256 and zero point -128")
    elif k == "pad":
        x = t[0]
        pads = a["paddings"]
        _expect(op, len(pads) == len(x.shape), f"paddings {pads} do not match rank {len(x.shape)}")
        _expect(op, all(p0 >= 0 and p1 >= 0 for p0, p1 in pads), "paddings must be non-negative")
        exp = tuple(d + p0 + p1 for d, (p0, p1) in zip(x.shape, pads))
        _expect(op, out.shape == exp, f"output shape {out.shape} should be {exp}")
        _expect(op, x.dtype == out.dtype == "int8" and x.quant == out.quant, "pad must keep int8 and quantization")
    elif k == "concatenation":
        axis = a["axis"]
        rank = len(out.shape)
        _expect(op, 0 <= axis < rank, f"axis {axis} is outside rank {rank}")
        for x in t:
            _expect(op, x.dtype == "int8" and len(x.shape) == rank, "inputs must be int8 of the output's rank")
            _expect(op, all(x.shape[i] == out.shape[i] for i in range(rank) if i != axis),
                    f"input '{x.name}' {x.shape} does not fit output {out.shape} along axis {axis}")
            _expect(op, x.quant == out.quant,
                    f"input '{x.name}' has quantization different from the output's (TFLM copies bytes unscaled)")
        _expect(op, sum(x.shape[axis] for x in t) == out.shape[axis], "input sizes do not add up along the axis")
    elif k == "pixel_embedding":
        _expect(op, len(t) == 2, "expects pixels and a table")
        x, table = t
        d = a["embed_dim"]
        _expect(op, x.dtype == "uint8" and len(x.shape) == 4, "pixels must be uint8 NHWC")
        _expect(op, table.dtype == "int8" and table.is_constant and len(table.shape) == 3,
                "table must be constant int8 [T, 256, d]")
        tables, entries, td = table.shape
        c = x.shape[3]
        _expect(op, entries == 256 and td == d, f"table shape {table.shape} should be [T, 256, {d}]")
        _expect(op, tables in (1, c), f"table count {tables} must be 1 (shared) or the channel count {c}")
        _expect(op, out.dtype == "int8" and out.shape == x.shape[:3] + (c * d,),
                f"output must be int8 {x.shape[:3] + (c * d,)}, got {out.dtype} {out.shape}")
        _expect(op, table.quant == out.quant, "output quantization must equal the table's (values are copied)")
    elif k == "quantize":
        x = t[0]
        _expect(op, x.dtype in ("int8", "uint8", "int16") and out.dtype in ("int8", "uint8", "int16"),
                f"requantizes between int8, uint8 and int16 only, got {x.dtype} -> {out.dtype}")
        _expect(op, x.shape == out.shape, "output shape must equal the input's")
