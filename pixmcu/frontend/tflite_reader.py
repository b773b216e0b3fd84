"""Read a .tflite flatbuffer into plain Python records, with clear errors for bad files.

This layer knows the file format only; what pixmcu can run is decided in `tflite_to_ir`.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tflite

from pixmcu.errors import PixmcuError

_TYPES = {
    tflite.TensorType.FLOAT32: "float32",
    tflite.TensorType.FLOAT16: "float16",
    tflite.TensorType.INT32: "int32",
    tflite.TensorType.UINT8: "uint8",
    tflite.TensorType.INT64: "int64",
    tflite.TensorType.INT16: "int16",
    tflite.TensorType.INT8: "int8",
    tflite.TensorType.BOOL: "bool",
}
_KNOWN_TYPES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
OPCODE_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


@dataclass
class RawTensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    axis: int = 0
    data: np.ndarray | None = None
    variable: bool = False  # a state tensor the interpreter keeps across invocations


@dataclass
class RawOperator:
    index: int
    opcode: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Any = None
    custom_code: str = ""


@dataclass
class RawModel:
    path: Path
    sha256: str
    tensors: list[RawTensor]
    operators: list[RawOperator]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _fail(path: Path, msg: str) -> PixmcuError:
    return PixmcuError(f"{path}: {msg}")


def read_tflite(path: str | Path) -> RawModel:
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise _fail(path, f"cannot read the model file ({exc.strerror or exc})") from None
    if len(buf) == 0:
        raise _fail(path, "the file is empty; expected a TensorFlow Lite flatbuffer (.tflite)")
    if len(buf) < 16 or buf[4:8] != b"TFL3":
        from pixmcu.frontend import foreign_model_hint

        hint = foreign_model_hint(path, buf)
        if hint:
            raise _fail(path, hint)
        raise _fail(path, "not a TensorFlow Lite model: the flatbuffer identifier 'TFL3' is missing at byte 4 "
                          "(is this a .tflite file, and was it copied completely?)")
    try:
        return _parse(path, buf)
    except PixmcuError:
        raise
    except Exception as exc:  # the flatbuffer runtime raises assorted errors on truncated data
        raise _fail(path, f"the model is malformed or truncated ({len(buf)} bytes): "
                          f"{type(exc).__name__} while reading the flatbuffer") from None


def _unpack_int4(path: Path, i: int, name: str, raw: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """An INT4 constant (TFLite's packed layout: element 2k in the low nibble of byte k) as int8 values."""
    n = math.prod(shape)
    if len(raw) != (n + 1) // 2:
        raise _fail(path, f"tensor {i} '{name}': INT4 buffer holds {len(raw)} bytes, shape {shape} needs {(n + 1) // 2}")
    b = np.asarray(raw, np.uint8)
    nib = np.stack([b & 0xF, b >> 4], axis=1).reshape(-1)[:n].astype(np.int16)
    return (((nib ^ 8) - 8).astype(np.int8)).reshape(shape)


def _parse(path: Path, buf: bytes) -> RawModel:
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() < 1:
        raise _fail(path, "the model has no subgraph")
    sg = model.Subgraphs(0)
    n_buffers = model.BuffersLength()

    tensors = []
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        ttype = t.Type()
        if ttype not in _KNOWN_TYPES:
            raise _fail(path, f"tensor {i} has tensor type {ttype}, which TensorFlow Lite does not define")
        dtype = _TYPES.get(ttype, _KNOWN_TYPES[ttype].lower())
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        name = (t.Name() or b"").decode("utf-8", "replace") or f"tensor_{i}"
        if not name.isprintable():  # control characters would break every one-line message naming it
            name = name.encode("unicode_escape").decode("ascii")
        rt = RawTensor(index=i, name=name,
                       shape=shape, dtype=dtype, variable=bool(t.IsVariable()))
        q = t.Quantization()
        if q is not None and q.ScaleLength():
            rt.scale = tuple(float(s) for s in q.ScaleAsNumpy())
            rt.zero_point = tuple(int(z) for z in q.ZeroPointAsNumpy()) if q.ZeroPointLength() else (0,)
            rt.axis = int(q.QuantizedDimension())
        b = t.Buffer()
        if b >= n_buffers:
            raise _fail(path, f"tensor {i} '{rt.name}' refers to buffer {b}, but the model has {n_buffers}")
        if b > 0:
            raw = model.Buffers(b).DataAsNumpy()
            if not isinstance(raw, int) and len(raw) and ttype == tflite.TensorType.INT4:
                rt.dtype, rt.data = "int8", _unpack_int4(path, i, rt.name, raw, shape)
            elif not isinstance(raw, int) and len(raw):
                if dtype not in ("float32", "float16", "int32", "uint8", "int64", "int16", "int8", "bool"):
                    raise _fail(path, f"tensor {i} '{rt.name}' has unsupported type {ttype}")
                item = np.dtype(dtype).itemsize
                if len(raw) % item:
                    raise _fail(path, f"tensor {i} '{rt.name}': buffer {b} holds {len(raw)} bytes, "
                                      f"not a whole number of {dtype} values")
                arr = np.frombuffer(raw.tobytes(), dtype=np.dtype(dtype).newbyteorder("<"))
                expected = math.prod(shape)  # Python ints: absurd dimensions cannot overflow
                if arr.size != expected:
                    raise _fail(path, f"tensor {i} '{rt.name}': buffer holds {arr.size} values, shape {shape} needs {expected}")
                rt.data = arr.astype(dtype).reshape(shape)
        tensors.append(rt)

    ops = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        idx = op.OpcodeIndex()
        if idx >= model.OperatorCodesLength():
            raise _fail(path, f"operator {i} uses opcode index {idx}, but the model defines {model.OperatorCodesLength()}")
        oc = model.OperatorCodes(idx)
        code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
        name = OPCODE_NAMES.get(code, f"BUILTIN_{code}")
        custom = (oc.CustomCode() or b"").decode("utf-8", "replace")
        if code == tflite.BuiltinOperator.CUSTOM:
            name = f"CUSTOM({custom})"
        ins = tuple(int(x) for x in op.InputsAsNumpy()) if op.InputsLength() else ()
        outs = tuple(int(x) for x in op.OutputsAsNumpy()) if op.OutputsLength() else ()
        for t in ins + outs:
            if t >= len(tensors):
                raise _fail(path, f"operator {i} ({name}) refers to tensor {t}, but the model has {len(tensors)}")
        ops.append(RawOperator(index=i, opcode=name, inputs=ins, outputs=outs,
                               options=_options(name, op, path, i), custom_code=custom))
    desc = (model.Description() or b"").decode("utf-8", "replace")
    return RawModel(
        path=path,
        sha256=hashlib.sha256(buf).hexdigest(),
        tensors=tensors,
        operators=ops,
        inputs=tuple(int(x) for x in sg.InputsAsNumpy()) if sg.InputsLength() else (),
        outputs=tuple(int(x) for x in sg.OutputsAsNumpy()) if sg.OutputsLength() else (),
        description=desc,
    )


_OPTION_CLASSES = {
    "CONV_2D": "Conv2DOptions",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions",
    "ADD": "AddOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions",
    "MEAN": "ReducerOptions",
    "SOFTMAX": "SoftmaxOptions",
    "CONCATENATION": "ConcatenationOptions",
    "RESHAPE": "ReshapeOptions",
    "MUL": "MulOptions",
    "SUB": "SubOptions",
    "LEAKY_RELU": "LeakyReluOptions",
    "STRIDED_SLICE": "StridedSliceOptions",
    "SPLIT": "SplitOptions",
    "SPLIT_V": "SplitVOptions",
    "PACK": "PackOptions",
    "UNPACK": "UnpackOptions",
    "RESIZE_BILINEAR": "ResizeBilinearOptions",
    "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighborOptions",
    "SVDF": "SVDFOptions",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "UnidirectionalSequenceLSTMOptions",
}


def _options(name: str, op, path: Path, index: int) -> Any:
    cls_name = _OPTION_CLASSES.get(name)
    table = op.BuiltinOptions()
    if cls_name is None or table is None:
        return None
    expected = getattr(tflite.BuiltinOptions, cls_name)
    if op.BuiltinOptionsType() != expected:
        got = _OPTION_TYPE_NAMES.get(op.BuiltinOptionsType(), op.BuiltinOptionsType())
        raise _fail(path, f"layer {index} ({name}): its options table is of type {got}, expected {cls_name}")
    opts = getattr(tflite, cls_name)()
    opts.Init(table.Bytes, table.Pos)
    _touch(opts)
    return opts


_OPTION_TYPE_NAMES = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}


def _touch(opts) -> None:
    """Read every field once, inside the reader's catch: the accessors read lazily, and a bad offset
    must fail here as a malformed file, not later as struct.error in the converter."""
    for attr, fn in inspect.getmembers(opts, inspect.ismethod):
        if attr.startswith(("_", "Init", "GetRootAs")) or inspect.signature(fn).parameters:
            continue
        fn()
