"""Where each scalar of a .tflite flatbuffer lives, so a mutator can rewrite it in place.

The `tflite` package's generated classes name every field; their accessors' source gives the
vtable slot and the scalar type, so option tables of any operator are covered without a hand-kept list.
"""

from __future__ import annotations

import functools
import inspect
import re
import struct
from dataclasses import dataclass

import flatbuffers
import numpy as np
import tflite

_FLAG_FMT = {
    "BoolFlags": "<B", "Uint8Flags": "<B", "Int8Flags": "<b", "Int16Flags": "<h", "Uint16Flags": "<H",
    "Int32Flags": "<i", "Uint32Flags": "<I", "Int64Flags": "<q", "Uint64Flags": "<Q",
    "Float32Flags": "<f", "Float64Flags": "<d",
}
_SCALAR_RE = re.compile(r"Offset\((\d+)\).*?Get\(flatbuffers\.number_types\.(\w+), o \+ self\._tab\.Pos\)", re.S)


@dataclass(frozen=True)
class Field:
    """One scalar at byte `pos`, packed as `fmt`; `kind` groups fields for the mutator."""

    pos: int
    fmt: str
    kind: str
    where: str

    def read(self, buf: bytes | bytearray):
        return struct.unpack_from(self.fmt, buf, self.pos)[0]


@functools.lru_cache(maxsize=None)
def scalar_slots(cls) -> tuple[tuple[str, int, str], ...]:
    """(accessor name, vtable slot, struct format) of every plain scalar field of a generated class."""
    out = []
    for name, fn in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("_") or len(inspect.signature(fn).parameters) != 1:
            continue
        m = _SCALAR_RE.search(inspect.getsource(fn))
        if m and m.group(2) in _FLAG_FMT:
            out.append((name, int(m.group(1)), _FLAG_FMT[m.group(2)]))
    return tuple(out)


def _table(buf, pos: int) -> flatbuffers.table.Table:
    return flatbuffers.table.Table(buf, pos)


def _vtable_entry(tab, slot: int, where: str, out: list[Field]) -> None:
    """The vtable slot itself: zeroing it removes the field (vtables are shared between tables)."""
    vt = tab.Pos - struct.unpack_from("<i", tab.Bytes, tab.Pos)[0]
    out.append(Field(vt + slot, "<H", "vtable", f"{where}@vtable"))


def _scalars(tab, cls, kind: str, where: str, out: list[Field]) -> None:
    for name, slot, fmt in scalar_slots(cls):
        o = tab.Offset(slot)
        if o:
            out.append(Field(tab.Pos + o, fmt, kind, f"{where}.{name}"))
            _vtable_entry(tab, slot, f"{where}.{name}", out)


def _vector(tab, slot: int, fmt: str, kind: str, where: str, out: list[Field]) -> tuple[int, int] | None:
    o = tab.Offset(slot)
    if not o:
        return None
    start, n = tab.Vector(o), tab.VectorLen(o)
    out.append(Field(tab.Pos + o, "<I", "offset", f"{where}@offset"))
    _vtable_entry(tab, slot, where, out)
    out.append(Field(start - 4, "<I", "count", f"{where}.length"))
    size = struct.calcsize(fmt)
    for i in range(n):
        out.append(Field(start + i * size, fmt, kind, f"{where}[{i}]"))
    return start, n


def _tables(tab, slot: int, kind: str, where: str, out: list[Field]) -> list[flatbuffers.table.Table]:
    o = tab.Offset(slot)
    if not o:
        return []
    start, n = tab.Vector(o), tab.VectorLen(o)
    out.append(Field(start - 4, "<I", "count", f"{where}.length"))
    return [_table(tab.Bytes, tab.Indirect(start + 4 * i)) for i in range(n)]


def _sub(tab, slot: int, where: str, out: list[Field]) -> flatbuffers.table.Table | None:
    o = tab.Offset(slot)
    if not o:
        return None
    out.append(Field(tab.Pos + o, "<I", "offset", f"{where}@offset"))
    _vtable_entry(tab, slot, where, out)
    return _table(tab.Bytes, tab.Indirect(tab.Pos + o))


_OPTION_CLASSES = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}


def tflite_fields(buf: bytes | bytearray) -> list[Field]:
    """Every mutable scalar of the model: counts, indices, enums, shapes, quantization and options."""
    out: list[Field] = []
    model = _table(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0))
    for i, oc in enumerate(_tables(model, 6, "count", "operator_codes", out)):
        _scalars(oc, tflite.OperatorCode, "opcode", f"operator_codes[{i}]", out)
    for b, buffer in enumerate(_tables(model, 12, "count", "buffers", out)):
        o = buffer.Offset(4)
        if o:
            out.append(Field(buffer.Vector(o) - 4, "<I", "count", f"buffers[{b}].data.length"))
    for s, sg in enumerate(_tables(model, 8, "count", "subgraphs", out)):
        w = f"subgraphs[{s}]"
        _vector(sg, 6, "<i", "index", f"{w}.inputs", out)
        _vector(sg, 8, "<i", "index", f"{w}.outputs", out)
        for t, tensor in enumerate(_tables(sg, 4, "count", f"{w}.tensors", out)):
            tw = f"{w}.tensors[{t}]"
            _vector(tensor, 4, "<i", "shape", f"{tw}.shape", out)
            _scalars(tensor, tflite.Tensor, "tensor", tw, out)
            q = _sub(tensor, 12, f"{tw}.quantization", out)
            if q is not None:
                _vector(q, 8, "<f", "scale", f"{tw}.quantization.scale", out)
                _vector(q, 10, "<q", "zero_point", f"{tw}.quantization.zero_point", out)
                _scalars(q, tflite.QuantizationParameters, "quant", f"{tw}.quantization", out)
        for k, op in enumerate(_tables(sg, 10, "count", f"{w}.operators", out)):
            ow = f"{w}.operators[{k}]"
            _scalars(op, tflite.Operator, "operator", ow, out)
            _vector(op, 6, "<i", "index", f"{ow}.inputs", out)
            _vector(op, 8, "<i", "index", f"{ow}.outputs", out)
            opts = _sub(op, 12, f"{ow}.builtin_options", out)
            kind = op.Get(flatbuffers.number_types.Uint8Flags, op.Pos + op.Offset(10)) if op.Offset(10) else 0
            cls = getattr(tflite, _OPTION_CLASSES.get(kind, ""), None)
            if opts is not None and cls is not None:
                _scalars(opts, cls, "option", f"{ow}.{cls.__name__}", out)
    return out


def set_field(buf: bytes | bytearray, suffix: str, value) -> bytes:
    """A copy of `buf` with the one scalar whose path ends with `suffix` set to `value` (wrapped to its type)."""
    out = bytearray(buf)
    hits = [f for f in tflite_fields(out) if f.where.endswith(suffix)]
    if len(hits) != 1:
        raise KeyError(f"{len(hits)} fields end with {suffix!r}")
    write(out, hits[0], value)
    return bytes(out)


def write(buf: bytearray, f: Field, value) -> None:
    """Store `value` in field `f`, wrapping integers to the field's width as a byte edit would."""
    if f.fmt[-1] not in "fd":
        bits = 8 * struct.calcsize(f.fmt)
        value = int(value) & ((1 << bits) - 1)
        if f.fmt[-1].islower() and value >= 1 << (bits - 1):
            value -= 1 << bits
    elif f.fmt[-1] == "f":
        with np.errstate(over="ignore"):
            value = float(np.float32(value))  # rounded as a float32 holds it: past its range, +-inf
    struct.pack_into(f.fmt, buf, f.pos, value)
