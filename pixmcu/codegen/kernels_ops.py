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
    "pm_svdf_params_t": (*((n, "i32") for n in ("input_size", "filters", "rank", "memory", "input_offset",
                                                 "output_offset", "multiplier_1", "shift_1", "multiplier_2", "shift_2")),
                         ("weights_feature", "int8_t*"), ("weights_time", "int16_t*"), ("bias", "int32_t*")),
    "pm_lstm_params_t": (*((n, "i32") for n in ("steps", "input_size", "units", "input_offset", "hidden_zero_point",
                                                 "forget_multiplier", "forget_shift", "input_mul_multiplier",
                                                 "input_mul_shift", "output_multiplier", "output_shift",
                                                 "tanh_multiplier", "tanh_shift", "cell_clip")),
                         ("input_weights", "int8_t*"), ("recurrent_weights", "int8_t*"), ("bias", "int32_t*"),
                         ("gate_requant", "int32_t*"), ("table", "int32_t*")),
    "pm_lut_params_t": (("size", "i32"), ("table", "int8_t*")),
    "pm_binary_params_t": (("size", "i32"), ("shape", "int32_t*"), ("strides1", "int32_t*"),
                           ("strides2", "int32_t*"), *((n, "i32") for n in _BINARY_FIELDS)),
    "pm_strided_copy_params_t": (("size", "i32"), ("offset", "i32"), ("shape", "int32_t*"), ("strides", "int32_t*")),
    "pm_conv_s16_params_t": (("conv", "struct:pm_conv_params_t"), ("bias", "int64_t*")),
    "pm_fc_s16_params_t": (("fc", "struct:pm_fc_params_t"), ("bias", "int64_t*")),
    "pm_requant16_params_t": tuple((n, "i32") for n in (
        "size", "input_zero_point", "output_zero_point", "multiplier", "shift", "out_min", "out_max",
        "input_bytes", "output_bytes")),
    "pm_sigmoid16_params_t": (("size", "i32"), ("input_multiplier", "i32"), ("input_left_shift", "i32"),
                              ("table", "int32_t*")),
    "pm_softmax16_params_t": (("outer", "i32"), ("depth", "i32"), ("input_multiplier", "i32"), ("input_shift", "i32"),
                              ("exp_lut", "int32_t*"), ("recip_lut", "int32_t*")),
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


def is_16x8(graph: Graph, op: Operator) -> bool:
    """An operator of TFLite's 16x8 mode: some int16 activation among its inputs or output (SVDF's int16
    weights_time and state, the LSTM's int16 cell state, are their int8 variants)."""
    return op.kind not in ("svdf", "unidirectional_sequence_lstm") and any(graph.tensors[n].dtype == "int16" for n in (*op.inputs, *op.outputs))


def _conv16(graph: Graph, op: Operator, p: dict):
    from pixmcu.codegen.kernels import KernelCall, _dims, _i32

    x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    out = graph.tensors[op.outputs[0]]
    has_bias = len(op.inputs) > 2
    arrays = {"weights": np.asarray(w.data, np.int8), "multiplier": _i32(p["multiplier"]), "shift": _i32(p["shift"])}
    if has_bias:
        arrays["bias"] = np.asarray(p["bias"], np.int64)
    requant = {"output_offset": p["output_offset"], "act_min": p["act_min"], "act_max": p["act_max"],
               "weights": "weights", "bias": None, "multiplier": "multiplier", "shift": "shift"}
    if op.kind == "fully_connected":
        units, depth = w.shape
        inner = {"batches": x.size // depth, "depth": depth, "units": units, "input_offset": 0, **requant}
        return KernelCall("pm_fully_connected_s16", "pm_fc_s16_params_t",
                          {"fc": inner, "bias": "bias" if has_bias else None}, arrays, (op.inputs[0],))
    inner = {"input": _dims(x.shape), "filter": _dims(w.shape), "output": _dims(out.shape),
             "stride_h": p["stride"][0], "stride_w": p["stride"][1], "dilation_h": p["dilation"][0],
             "dilation_w": p["dilation"][1], "pad_h": p["pad"][0], "pad_w": p["pad"][1],
             "depth_multiplier": int(op.attrs.get("depth_multiplier", 1)), "input_offset": 0, **requant}
    return KernelCall(f"pm_{op.kind}_s16", "pm_conv_s16_params_t", {"conv": inner, "bias": "bias" if has_bias else None},
                      arrays, (op.inputs[0],))


def _requant16(graph: Graph, op: Operator, p: dict):
    from pixmcu.codegen.kernels import KernelCall

    x, out = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if "uint8" in (x.dtype, out.dtype):
        raise ValueError(f"QUANTIZE {x.dtype} -> {out.dtype} is not supported (int8 <-> int16 is)")
    fields = {"size": x.size, **{k: p[k] for k in ("input_zero_point", "output_zero_point", "multiplier", "shift",
                                                   "out_min", "out_max")},
              "input_bytes": x.nbytes // x.size, "output_bytes": out.nbytes // out.size}
    same = x.nbytes == out.nbytes
    return KernelCall("pm_requantize_s16", "pm_requant16_params_t", fields, {}, (op.inputs[0],),
                      in_place=(op.inputs[0],) if same else ())


def build_16x8(graph: Graph, op: Operator, p: dict):
    """The 16x8 kernel of `op`; ValueError names what is missing."""
    from pixmcu.codegen import kernels

    if op.kind in ("conv2d", "depthwise_conv2d", "fully_connected"):
        return _conv16(graph, op, p)
    if op.kind == "quantize":
        return _requant16(graph, op, p)
    if op.kind == "softmax":
        from pixmcu.codegen.kernels import KernelCall
        from pixmcu.reference.ops_16x8 import softmax_luts

        exp_lut, recip_lut = softmax_luts()
        x = graph.tensors[op.inputs[0]]
        fields = {"outer": x.size // p["depth"], "depth": p["depth"], "input_multiplier": p["input_multiplier"],
                  "input_shift": p["input_shift"], "exp_lut": "exp_lut", "recip_lut": "recip_lut"}
        return KernelCall("pm_softmax_s16", "pm_softmax16_params_t", fields,
                          {"exp_lut": exp_lut.astype(np.int32), "recip_lut": recip_lut.astype(np.int32)},
                          (op.inputs[0],))
    if op.kind in ("logistic", "tanh"):
        from pixmcu.codegen.kernels import KernelCall
        from pixmcu.reference.ops_activation import sigmoid_table

        fields = {"size": graph.tensors[op.inputs[0]].size, "input_multiplier": p["input_multiplier"],
                  "input_left_shift": p["input_left_shift"], "table": "table"}
        return KernelCall(f"pm_{op.kind}_s16", "pm_sigmoid16_params_t", fields,
                          {"table": sigmoid_table().astype(np.int32)}, (op.inputs[0],), in_place=(op.inputs[0],))
    if op.kind in ("add", "avg_pool2d", "max_pool2d", "reshape", "mul"):
        call = (_binary if op.kind == "mul" else kernels._BUILD[op.kind])(graph, op, p, False)
        if call.kernel is not None:
            call.kernel = call.kernel.replace("_s8", "_s16")
        return call
    raise ValueError(f"{op.kind} has no 16x8 (int16) kernel yet")


def _svdf(graph: Graph, op: Operator, p: dict, dsp: bool):
    from pixmcu.codegen.kernels import KernelCall

    x, wf, wt, b, s = (graph.tensors[n] for n in op.inputs)
    fields = {"input_size": x.shape[1], "filters": wf.shape[0], "rank": p["rank"], "memory": p["memory"],
              **{k: p[k] for k in ("input_offset", "output_offset", "multiplier_1", "shift_1", "multiplier_2",
                                   "shift_2")},
              "weights_feature": "weights_feature", "weights_time": "weights_time", "bias": "bias"}
    arrays = {"weights_feature": np.asarray(wf.data, np.int8), "weights_time": np.asarray(wt.data, np.int16),
              "bias": np.asarray(b.data, np.int32)}
    return KernelCall("pm_svdf_s8", "pm_svdf_params_t", fields, arrays, (op.inputs[0],), state=(op.inputs[4],))


def _lstm(graph: Graph, op: Operator, p: dict, dsp: bool):
    from pixmcu.codegen.kernels import KernelCall
    from pixmcu.reference.ops_activation import sigmoid_table
    from pixmcu.reference.ops_lstm import GATES

    x = graph.tensors[op.inputs[0]]
    w = [np.asarray(graph.tensors[n].data, np.int8) for n in op.inputs[1:9]]
    scalars = ("input_offset", "hidden_zero_point", "forget_multiplier", "forget_shift", "input_mul_multiplier",
               "input_mul_shift", "output_multiplier", "output_shift", "tanh_multiplier", "tanh_shift", "cell_clip")
    fields = {"steps": x.shape[1], "input_size": x.shape[2], "units": w[0].shape[0], **{k: p[k] for k in scalars},
              **{k: k for k in ("input_weights", "recurrent_weights", "bias", "gate_requant", "table")}}
    requant = [p[f"{g}_{k}"] for g in GATES for k in ("input_multiplier", "input_shift", "recurrent_multiplier",
                                                        "recurrent_shift")]
    arrays = {"input_weights": np.concatenate([v.ravel() for v in w[:4]]),
              "recurrent_weights": np.concatenate([v.ravel() for v in w[4:]]),
              "bias": np.concatenate([np.asarray(graph.tensors[n].data, np.int32) for n in op.inputs[9:13]]),
              "gate_requant": np.asarray(requant, np.int32), "table": sigmoid_table().astype(np.int32)}
    return KernelCall("pm_unidirectional_sequence_lstm_s8", "pm_lstm_params_t", fields, arrays, (op.inputs[0],),
                      state=(op.inputs[13], op.inputs[14]))


BUILD = {"svdf": _svdf, "unidirectional_sequence_lstm": _lstm, "transpose": _transpose, "slice": _slice, "resize_nearest": _resize, "resize_bilinear": _resize, **{k: _lut for k in UNARY}, **{k: _binary for k in BINARY}}
