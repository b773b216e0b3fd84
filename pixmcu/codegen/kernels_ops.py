"""C kernels of the operators added for issue 11, and their parameter structs (see kernels.py).

Element-wise activations run as a 256-entry table that pixmcu.reference fills with TFLM's exact
results; binary operators walk a broadcast over up to PM_MAX_RANK dimensions; TRANSPOSE walks
permuted strides.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pixmcu.ir import Graph, Operator
from pixmcu.shapes_ops import BINARY, UNARY

MAX_RANK = 6
_BINARY_FIELDS = ("input1_offset", "input2_offset", "output_offset", "left_shift", "input1_multiplier",
                  "input1_shift", "input2_multiplier", "input2_shift", "output_multiplier", "output_shift",
                  "act_min", "act_max")

STRUCT_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "pm_lut_params_t": (("size", "i32"), ("table", "int8_t*")),
    "pm_binary_params_t": (("size", "i32"), ("shape", "int32_t*"), ("strides1", "int32_t*"),
                           ("strides2", "int32_t*"), *((n, "i32") for n in _BINARY_FIELDS)),
    "pm_strided_copy_params_t": (("size", "i32"), ("offset", "i32"), ("shape", "int32_t*"), ("strides", "int32_t*")),
    "pm_resize_params_t": (("input", "dims"), ("output", "dims"),
                           *((n, "int32_t*") for n in ("y0", "y1", "sy", "x0", "x1", "sx"))),
}


def _padded(shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(shape) > MAX_RANK:
        raise ValueError(f"rank {len(shape)} > {MAX_RANK}")
    return (1,) * (MAX_RANK - len(shape)) + tuple(int(d) for d in shape)


def _strides(shape: tuple[int, ...]) -> np.ndarray:
    s = np.ones(len(shape), np.int64)
    for d in range(len(shape) - 2, -1, -1):
        s[d] = s[d + 1] * shape[d + 1]
    return s


def broadcast_strides(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> np.ndarray:
    """Element strides of an input over the (padded) output dimensions; 0 where it broadcasts."""
    a, o = _padded(in_shape), _padded(out_shape)
    return np.where(np.array(a) == np.array(o), _strides(a), 0).astype(np.int32)


def _lut(graph: Graph, op: Operator, p: dict, dsp: bool):
    from pixmcu.codegen.kernels import KernelCall
    from pixmcu.reference.ops_activation import lut

    x = graph.tensors[op.inputs[0]]
    return KernelCall("pm_lut_s8", "pm_lut_params_t", {"size": x.size, "table": "table"},
                      {"table": lut(graph, op)}, (op.inputs[0],), in_place=(op.inputs[0],))


def _binary_fields(kind: str, p: dict) -> dict[str, Any]:
    f = {n: 0 for n in _BINARY_FIELDS}
    f["act_min"], f["act_max"] = -128, 127
    if kind == "prelu":
        f.update(input1_offset=p["input_offset"], input2_offset=p["alpha_offset"], output_offset=p["output_offset"],
                 input1_multiplier=p["identity_multiplier"], input1_shift=p["identity_shift"],
                 output_multiplier=p["alpha_multiplier"], output_shift=p["alpha_shift"])
    else:
        f.update({n: p[n] for n in _BINARY_FIELDS if n in p})
    return f


def _binary(graph: Graph, op: Operator, p: dict, dsp: bool):
    from pixmcu.codegen.kernels import KernelCall

    a, b = (graph.tensors[n] for n in op.inputs)
    out = graph.tensors[op.outputs[0]]
    fields = {"size": out.size, **_binary_fields(op.kind, p)}
    arrays: dict[str, np.ndarray] = {}
    if a.shape == b.shape == out.shape:
        fields.update(shape=None, strides1=None, strides2=None)
    else:
        arrays = {"shape": np.array(_padded(out.shape), np.int32),
                  "strides1": broadcast_strides(a.shape, out.shape),
                  "strides2": broadcast_strides(b.shape, out.shape)}
        fields.update(shape="shape", strides1="strides1", strides2="strides2")
    return KernelCall(f"pm_{op.kind}_s8", "pm_binary_params_t", fields, arrays, tuple(op.inputs),
                      in_place=tuple(n for n in op.inputs if not graph.tensors[n].is_constant))


def _strided_copy(op: Operator, out_size: int, shape, strides, offset: int = 0):
    from pixmcu.codegen.kernels import KernelCall

    lead = MAX_RANK - len(shape)
    s = np.zeros(MAX_RANK, np.int32)
    s[lead:] = strides
    arrays = {"shape": np.array(_padded(tuple(shape)), np.int32), "strides": s}
    return KernelCall("pm_strided_copy_s8", "pm_strided_copy_params_t",
                      {"size": out_size, "offset": int(offset), "shape": "shape", "strides": "strides"},
                      arrays, (op.inputs[0],))


def _transpose(graph: Graph, op: Operator, p: dict, dsp: bool):
    x = graph.tensors[op.inputs[0]]
    out = graph.tensors[op.outputs[0]]
    in_strides = _strides(x.shape)
    return _strided_copy(op, out.size, out.shape, [in_strides[a] for a in p["perm"]])


def _slice(graph: Graph, op: Operator, p: dict, dsp: bool):
    x = graph.tensors[op.inputs[0]]
    in_strides = _strides(x.shape)
    offset = int(sum(b * s for b, s in zip(p["begin"], in_strides)))
    strides = [int(s) * int(st) for s, st in zip(in_strides, p["strides"])]
    return _strided_copy(op, graph.tensors[op.outputs[0]].size, p["shape"], strides, offset)


def _resize(graph: Graph, op: Operator, p: dict, dsp: bool):
    from pixmcu.codegen.kernels import KernelCall, _dims

    x = graph.tensors[op.inputs[0]]
    out = graph.tensors[op.outputs[0]]
    names = ("y0", "y1", "sy", "x0", "x1", "sx")
    arrays = {n: np.asarray(p[n], np.int32) for n in names if n in p}
    fields = {"input": _dims(x.shape), "output": _dims(out.shape), **{n: (n if n in arrays else None) for n in names}}
    kernel = "pm_resize_nearest_s8" if op.kind == "resize_nearest" else "pm_resize_bilinear_s8"
    return KernelCall(kernel, "pm_resize_params_t", fields, arrays, (op.inputs[0],))


BUILD = {"transpose": _transpose, "slice": _slice, "resize_nearest": _resize, "resize_bilinear": _resize, **{k: _lut for k in UNARY}, **{k: _binary for k in BINARY}}
