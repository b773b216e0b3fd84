"""Turn a parsed .tflite model into the integer IR, or say exactly why it cannot be."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tflite

from pixmcu.errors import PixmcuError, UnsupportedOperatorError
from pixmcu.frontend import tflite_ops
from pixmcu.frontend.tflite_reader import RawModel, RawOperator, RawTensor
from pixmcu.frontend.validate import check_raw, ignore_bias_axis
from pixmcu.ir import Graph, GraphError, Operator, Quantization, Tensor
from pixmcu.graph_checks import validate_graph

SUPPORTED_OPS = (
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D",
    "MEAN", "RESHAPE", "SOFTMAX", "PAD", "PADV2", "CONCATENATION", "QUANTIZE", "DEQUANTIZE",
) + tuple(tflite_ops.CONVERTERS)
_ACT = {
    tflite.ActivationFunctionType.NONE: "none",
    tflite.ActivationFunctionType.RELU: "relu",
    tflite.ActivationFunctionType.RELU6: "relu6",
    tflite.ActivationFunctionType.RELU_N1_TO_1: "relu_n1_to_1",
}
_PAD = {tflite.Padding.SAME: "same", tflite.Padding.VALID: "valid"}
_KIND = {
    "CONV_2D": "conv2d", "DEPTHWISE_CONV_2D": "depthwise_conv2d", "FULLY_CONNECTED": "fully_connected",
    "ADD": "add", "AVERAGE_POOL_2D": "avg_pool2d", "MAX_POOL_2D": "max_pool2d", "MEAN": "mean",
    "RESHAPE": "reshape", "SOFTMAX": "softmax", "PAD": "pad", "PADV2": "pad",
    "CONCATENATION": "concatenation", "QUANTIZE": "quantize",
}


def unsupported_operators(raw: RawModel) -> list[RawOperator]:
    return [op for op in raw.operators if op.opcode not in SUPPORTED_OPS]


def unsupported_message(raw: RawModel, ops: list[RawOperator]) -> str:
    listed = ", ".join(f"{op.opcode} (operator {op.index})" for op in ops)
    return (f"{raw.path}: unsupported operator{'s' if len(ops) > 1 else ''}: {listed}. "
            f"pixmcu supports: {', '.join(SUPPORTED_OPS)}.")


class _Converter:
    def __init__(self, raw: RawModel):
        self.raw = raw
        self.tensors: dict[str, Tensor] = {}
        self.names: dict[int, str] = {}
        self.ops: list[Operator] = []

    def fail(self, op: RawOperator | None, msg: str) -> PixmcuError:
        where = f" layer {op.index} ({op.opcode}):" if op is not None else ""
        return PixmcuError(f"{self.raw.path}:{where} {msg}")

    def name_of(self, idx: int) -> str:
        if idx not in self.names:
            base = self.raw.tensors[idx].name
            name = base if base not in self.names.values() else f"{base}#{idx}"
            self.names[idx] = name
        return self.names[idx]

    def tensor(self, idx: int, op: RawOperator | None) -> str:
        name = self.name_of(idx)
        if name in self.tensors:
            return name
        rt: RawTensor = self.raw.tensors[idx]
        if rt.dtype not in ("int8", "uint8", "int32", "int16", "int64"):
            raise self.fail(op, f"tensor '{rt.name}' has type {rt.dtype}: this is a float or hybrid model. "
                                "pixmcu runs fully integer models (int8 activations and weights, int32 bias); "
                                "quantize it first: pixmcu quantize MODEL -o MODEL.pmz --calib DATA.npz")
        quant = None
        if rt.scale:
            per_channel = len(rt.scale) > 1
            try:
                quant = Quantization(rt.scale, rt.zero_point, rt.axis if per_channel else None)
            except GraphError as exc:
                raise self.fail(op, f"tensor '{rt.name}': {exc}") from None
        shape = rt.shape if rt.shape else (1,)
        data = None if rt.data is None else rt.data.reshape(shape)
        try:
            self.tensors[name] = Tensor(name, shape, rt.dtype, quant, data)
        except GraphError as exc:
            raise self.fail(op, str(exc)) from None
        return name

    def const(self, idx: int, op: RawOperator, what: str) -> np.ndarray:
        rt = self.raw.tensors[idx]
        if rt.data is None:
            raise self.fail(op, f"{what} must be a constant tensor")
        return rt.data

    def add(self, op: RawOperator, kind: str, inputs: list[int], attrs: dict) -> None:
        name = f"{kind}_{len(self.ops)}"
        ins = [self.tensor(i, op) for i in inputs]
        out = self.tensor(op.outputs[0], op)
        self.ops.append(Operator(name, kind, tuple(ins), (out,), attrs))

    def convert(self) -> Graph:
        raw = self.raw
        bad = unsupported_operators(raw)
        if bad:
            raise UnsupportedOperatorError(unsupported_message(raw, bad))
        graph_inputs = list(raw.inputs)
        graph_outputs = list(raw.outputs)
        for op in raw.operators:
            self.convert_op(op, graph_inputs, graph_outputs)
        if not self.ops:
            raise self.fail(None, "the model has no integer operators to run")
        ins = [self.tensor(i, None) for i in graph_inputs]
        outs = [self.tensor(i, None) for i in graph_outputs]
        try:
            return Graph(self.tensors, tuple(self.ops), tuple(ins), tuple(outs),
                         name=Path(raw.path).stem, source=raw.sha256)
        except GraphError as exc:
            raise self.fail(None, str(exc)) from None

    def convert_op(self, op: RawOperator, graph_inputs: list[int], graph_outputs: list[int]) -> None:
        code, o = op.opcode, op.options
        ins = [i for i in op.inputs]
        t_in = self.raw.tensors[ins[0]] if ins else None
        t_out = self.raw.tensors[op.outputs[0]]
        # Float <-> integer conversions at the model boundary stay on the host.
        if code == "QUANTIZE" and t_in.dtype == "float32":
            if ins[0] not in graph_inputs:
                raise self.fail(op, "QUANTIZE from float32 inside the graph (a hybrid model) is not supported")
            graph_inputs[graph_inputs.index(ins[0])] = op.outputs[0]
            return
        if code == "DEQUANTIZE":
            if t_out.dtype != "float32" or op.outputs[0] not in graph_outputs:
                raise self.fail(op, "DEQUANTIZE is supported only on a model output (a float or hybrid model otherwise)")
            graph_outputs[graph_outputs.index(op.outputs[0])] = ins[0]
            return
        if code in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            act = self.activation(op, o.FusedActivationFunction())
            attrs = {"stride": (o.StrideH(), o.StrideW()), "dilation": (o.DilationHFactor(), o.DilationWFactor()),
                     "padding": self.padding(op, o.Padding()), "activation": act}
            if code == "DEPTHWISE_CONV_2D":
                cin = self.raw.tensors[ins[0]].shape[-1]
                cout = self.raw.tensors[ins[1]].shape[-1]
                attrs["depth_multiplier"] = cout // cin if cin else 0
            self.add(op, _KIND[code], [i for i in ins if i >= 0], attrs)
        elif code == "FULLY_CONNECTED":
            if o is not None and o.WeightsFormat() != 0:
                raise self.fail(op, "shuffled weight formats are not supported")
            act = self.activation(op, o.FusedActivationFunction() if o else 0)
            self.add(op, "fully_connected", [i for i in ins if i >= 0], {"activation": act})
        elif code == "ADD":
            self.add(op, "add", ins, {"activation": self.activation(op, o.FusedActivationFunction() if o else 0)})
        elif code in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            attrs = {"filter": (o.FilterHeight(), o.FilterWidth()), "stride": (o.StrideH(), o.StrideW()),
                     "padding": self.padding(op, o.Padding()),
                     "activation": self.activation(op, o.FusedActivationFunction())}
            self.add(op, _KIND[code], ins[:1], attrs)
        elif code == "MEAN":
            axes = self.const(ins[1], op, "the MEAN axis")
            rank = len(t_in.shape)
            axes = tuple(sorted(int(a) % rank for a in np.ravel(axes)))
            self.add(op, "mean", ins[:1], {"axes": axes, "keep_dims": bool(o.KeepDims()) if o else False})
        elif code == "RESHAPE":
            self.add(op, "reshape", ins[:1], {})
        elif code == "SOFTMAX":
            self.add(op, "softmax", ins[:1], {"beta": float(o.Beta()) if o else 1.0})
        elif code in ("PAD", "PADV2"):
            pads = self.const(ins[1], op, "the paddings")
            attrs = {"paddings": tuple((int(a), int(b)) for a, b in np.asarray(pads).reshape(-1, 2))}
            if code == "PADV2" and len(ins) > 2:
                attrs["pad_value"] = int(np.ravel(self.const(ins[2], op, "the pad value"))[0])
            self.add(op, "pad", ins[:1], attrs)
        elif code == "CONCATENATION":
            rank = len(t_out.shape)
            act = self.activation(op, o.FusedActivationFunction())
            if act != "none":
                raise self.fail(op, f"a fused {act} on CONCATENATION is not supported")
            self.add(op, "concatenation", ins, {"axis": int(o.Axis()) % rank, "activation": act})
        elif code == "QUANTIZE":
            self.add(op, "quantize", ins[:1], {})
        elif code in tflite_ops.CONVERTERS:
            tflite_ops.CONVERTERS[code](self, op)

    def activation(self, op: RawOperator, code: int) -> str:
        if code not in _ACT:
            names = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
            raise self.fail(op, f"fused activation {names.get(code, code)} is not supported "
                                f"(supported: NONE, RELU, RELU6, RELU_N1_TO_1)")
        return _ACT[code]

    def padding(self, op: RawOperator, code: int) -> str:
        if code not in _PAD:
            raise self.fail(op, f"padding type {code} is not supported (SAME or VALID)")
        return _PAD[code]


def tflite_to_ir(raw: RawModel) -> Graph:
    check_raw(raw)
    ignore_bias_axis(raw)
    graph = _Converter(raw).convert()
    try:
        validate_graph(graph)
    except GraphError as exc:
        raise PixmcuError(f"{raw.path}: {exc}") from None
    return graph
