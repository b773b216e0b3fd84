"""Seeded mutators: one call, one mutant, and a line that says what was changed.

.tflite mutants edit scalars the flatbuffer really holds (counts, indices, enums, shapes, quantization,
options, offsets, vtable slots) with values chosen to sit on boundaries, or flip bytes; .pmz mutants
edit the JSON tree, the arrays or the JSON text; data mutants build .npz (and not-.npz) files whose
arrays have the wrong shapes, dtypes, sizes or values.
"""

from __future__ import annotations

import copy
import io
import json
import math
import random
import struct
from typing import Any

import numpy as np

from pixmcu.fuzz.tflite_fields import Field, tflite_fields, write

_INT_EXTREMES = (0, 1, -1, 2, 3, 7, 255, 256, 1000, 1 << 15, 1 << 16, 1 << 20, (1 << 31) - 1, -(1 << 31),
                 1 << 31, (1 << 32) - 1, -(1 << 63), (1 << 63) - 1)
_FLOATS = (0.0, -0.0, 1.0, -1.0, 1e-6, 1e-30, 1e30, 1e-45, 3.4e38, -3.4e38, math.nan, math.inf, -math.inf, 1 / 256)


def _int_value(rng: random.Random, old: int, n_tensors: int) -> int:
    choice = rng.random()
    if choice < 0.35:
        return rng.choice(_INT_EXTREMES)
    if choice < 0.6:
        return old + rng.choice((-2, -1, 1, 2))
    if choice < 0.75:
        return rng.choice((n_tensors, n_tensors - 1, n_tensors + 1, old * 2, -old))
    return rng.randint(-300, 300)


def _float_value(rng: random.Random, old: float) -> float:
    if rng.random() < 0.6:
        return rng.choice(_FLOATS)
    return old * rng.choice((-1.0, 2.0, 0.5, 1e10, 1e-10, 1.0000001))


def _edit_field(buf: bytearray, f: Field, rng: random.Random, n_tensors: int) -> str:
    old = f.read(buf)
    if f.fmt[-1] in "fd":
        new = _float_value(rng, old)
    elif f.fmt in ("<b", "<B"):
        new = rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 22, 100, 127, 128, 255, old + 1, old - 1))
    else:
        new = _int_value(rng, int(old), n_tensors)
    write(buf, f, new)
    return f"{f.where}: {old!r} -> {f.read(buf)!r}"


def mutate_tflite(buf: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A mutant of a .tflite model and what was done to it."""
    out = bytearray(buf)
    r = rng.random()
    if r < 0.12:
        edits = []
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(out))
            old = out[pos]
            out[pos] = rng.choice((0, 0xFF, 0x7F, 0x80, old ^ (1 << rng.randrange(8)), rng.randrange(256)))
            edits.append(f"byte {pos}: {old} -> {out[pos]}")
        return bytes(out), "; ".join(edits)
    if r < 0.15:
        cut = rng.randrange(8, len(out))
        return bytes(out[:cut]), f"truncated to {cut} of {len(out)} bytes"
    fields = tflite_fields(out)
    n_tensors = sum(1 for f in fields if f.where.endswith(".tensors.length") and "subgraphs[0]" in f.where)
    n_tensors = next((f.read(out) for f in fields if f.where == "subgraphs[0].tensors.length"), n_tensors)
    # Weight the kinds the converter reads most; the sheer number of scale entries would drown the rest.
    kinds = sorted({f.kind for f in fields})
    edits = []
    for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 4)):
        kind = rng.choice(kinds)
        f = rng.choice([f for f in fields if f.kind == kind])
        edits.append(_edit_field(out, f, rng, int(n_tensors)))
    return bytes(out), "; ".join(edits)


# ---- .pmz ----------------------------------------------------------------------------------------

_JSON_VALUES: tuple[Any, ...] = (None, True, False, 0, -1, 1, 2 ** 31, -(2 ** 31), 2 ** 63, 2 ** 100, 0.5, -1e300,
                                 math.nan, math.inf, "", "x", "int8", "float32", "conv2d", "same", [], [1], [0, 0],
                                 [2 ** 31, 2 ** 31], [[0, 1]], {}, {"a": 1})


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _get(node: Any, path: tuple) -> Any:
    for k in path:
        node = node[k]
    return node


def mutate_pmz(doc: dict, arrays: dict[str, np.ndarray], rng: random.Random
               ) -> tuple[Any, dict[str, np.ndarray], bytes | None, str]:
    """(doc, arrays, raw JSON text or None, description) of a .pmz mutant."""
    doc = copy.deepcopy(doc)
    arrays = dict(arrays)
    r = rng.random()
    if r < 0.1:
        text = bytearray(json.dumps(doc).encode())
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(text))
            text[pos] = rng.choice(b'{}[]",:0123456789-e.nul \xff')
        return None, arrays, bytes(text), "JSON text bytes flipped"
    if r < 0.25 and arrays:
        key = rng.choice(sorted(arrays))
        a = arrays[key]
        how = rng.choice(("drop", "dtype", "shape", "values", "empty", "scalar"))
        if how == "drop":
            del arrays[key]
        elif how == "dtype":
            arrays[key] = a.astype(rng.choice((np.float32, np.int32, np.uint8, np.int16, np.float64, np.bool_)))
        elif how == "shape":
            arrays[key] = a.reshape(-1) if a.ndim > 1 else np.concatenate([a, a])
        elif how == "values":
            b = a.copy()
            if b.size:
                b.flat[rng.randrange(b.size)] = np.iinfo(b.dtype).min if b.dtype.kind in "iu" else np.nan
            arrays[key] = b
        elif how == "empty":
            arrays[key] = a[:0]
        else:
            arrays[key] = np.asarray(a.flat[0]) if a.size else np.asarray(0)
        return doc, arrays, None, f"array {key}: {how}"
    paths = _paths(doc)
    edits = []
    for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 3)):
        path = rng.choice(paths[1:])
        parent, last = _get(doc, path[:-1]), path[-1]
        how = rng.random()
        try:
            if how < 0.15 and isinstance(parent, dict):
                del parent[last]
                edits.append(f"{'/'.join(map(str, path))}: deleted")
            elif how < 0.25 and isinstance(parent, list):
                parent.insert(last, copy.deepcopy(parent[last]))
                edits.append(f"{'/'.join(map(str, path))}: duplicated")
            else:
                old = parent[last]
                if isinstance(old, (int, float)) and not isinstance(old, bool) and rng.random() < 0.5:
                    new = rng.choice((old + 1, old - 1, -old, old * 2, old * 1000, 2 ** 31 + old))
                else:
                    new = copy.deepcopy(rng.choice(_JSON_VALUES))
                parent[last] = new
                edits.append(f"{'/'.join(map(str, path))}: {json.dumps(old)[:40]} -> {json.dumps(new)[:40]}")
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit of this mutant removed the path
        paths = _paths(doc)
    return doc, arrays, None, "; ".join(edits) or "unchanged"


# ---- data files ----------------------------------------------------------------------------------

def _npy_claiming(shape: tuple[int, ...], dtype: str, payload: bytes) -> bytes:
    """A .npy whose header claims `shape` but whose body is `payload` (a lying header)."""
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (np.dtype(dtype).str, repr(tuple(shape)))
    header = header.encode() + b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


def _npz(members: dict[str, bytes | np.ndarray]) -> bytes:
    import zipfile

    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as z:
        for name, m in members.items():
            if isinstance(m, np.ndarray):
                b = io.BytesIO()
                np.save(b, m, allow_pickle=False)
                m = b.getvalue()
            z.writestr(name + ".npy", m)
    return bio.getvalue()


def mutate_data(x: np.ndarray, y: np.ndarray, n_classes: int, rng: random.Random
                ) -> tuple[bytes, str, list[str], str]:
    """(file bytes, file suffix, infer options, description) of a data-file mutant for a model whose
    valid data is `x` (N, H, W, C) uint8 with labels `y` in [0, n_classes)."""
    x, y = x.copy(), y.copy()
    how = rng.choice(("x_shape", "x_dtype", "x_values", "y_shape", "y_dtype", "y_values", "count", "extra",
                      "missing", "lying_header", "npy", "bytes", "options", "options"))
    members: dict[str, Any] = {"x": x, "y": y}
    desc = how
    if how == "x_shape":
        shape = rng.choice(((), (0,) + x.shape[1:], x.shape[:3], x.shape + (1,), (x.shape[0], x.shape[2], x.shape[1], x.shape[3]),
                            (x.shape[0], x.shape[1] * 2, x.shape[2], x.shape[3]), (x.shape[0], int(np.prod(x.shape[1:])))))
        members["x"] = np.resize(x, shape) if shape else np.asarray(x.flat[0])
        desc = f"x shape {shape}"
    elif how == "x_dtype":
        dt = rng.choice((np.float32, np.float64, np.int8, np.int64, np.uint16, np.bool_, "U3", np.complex64))
        members["x"] = x.astype(dt)
        if rng.random() < 0.3 and np.dtype(dt).kind == "f":
            members["x"].flat[0] = rng.choice((np.nan, np.inf, -1.0, 1e30))
        desc = f"x dtype {np.dtype(dt)}"
    elif how == "x_values":
        members["x"] = x.astype(np.int64) * rng.choice((-1, 300, 1 << 40))
        desc = "x values out of the pixel range (int64)"
    elif how == "y_shape":
        shape = rng.choice(((), (len(y), 1), (len(y) + 3,), (max(0, len(y) - 1),), (len(y), 2)))
        members["y"] = np.resize(y, shape) if shape else np.asarray(y.flat[0])
        desc = f"y shape {shape}"
    elif how == "y_dtype":
        dt = rng.choice((np.float32, "U2", np.bool_, np.int8, np.uint64))
        members["y"] = y.astype(dt)
        if np.dtype(dt).kind == "f":
            members["y"][0] = rng.choice((np.nan, 0.5, np.inf))
        desc = f"y dtype {np.dtype(dt)}"
    elif how == "y_values":
        members["y"] = y.astype(np.int64)
        members["y"][0] = rng.choice((-1, n_classes, 1 << 40, -(1 << 62)))
        desc = f"y value {members['y'][0]}"
    elif how == "count":
        n = rng.choice((0, 1))
        members = {"x": x[:n], "y": y[:n]}
        desc = f"{n} images"
    elif how == "extra":
        members["z"] = np.zeros(3)
        desc = "extra array"
    elif how == "missing":
        members.pop(rng.choice(("x", "y")))
        desc = "missing array"
    elif how == "lying_header":
        members["x"] = _npy_claiming((10 ** 9,) + x.shape[1:], "uint8", x.tobytes())
        desc = "x header claims 10^9 images"
    elif how == "npy":
        b = io.BytesIO()
        np.save(b, x)
        return b.getvalue(), ".npy", [], "a plain .npy given as data"
    elif how == "bytes":
        data = bytearray(_npz(members))
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data), ".npz", [], "npz bytes flipped"
    options: list[str] = []
    if how == "options" or rng.random() < 0.2:
        opt = rng.choice(("--limit", "--batch", "--pixel-scale", "--pixel-offset"))
        val = rng.choice(("0", "-1", "1", "3", "nan", "inf", "-inf", "1e30", "-0"))
        options = [opt, val]
    return _npz(members), ".npz", options, desc
