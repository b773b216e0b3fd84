"""The schema of a .pmz graph file's JSON member, checked before anything is built from it.

Every field is checked for presence and type (JSON booleans are not integers here), constants must
name an array of the declared dtype, and operator attributes pixmcu knows get their exact form. What
the values mean (shapes, quantization, sizes) is then `Graph`'s and `pixmcu.graph_checks`' job.
"""

from __future__ import annotations

import json
import numbers
from typing import Any

import numpy as np

from pixmcu.ir import DTYPES, GraphError


class SchemaError(GraphError):
    """A .pmz member that does not have the documented form."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _int_list(v: Any, n: int | None = None) -> bool:
    return isinstance(v, list) and all(_is_int(x) for x in v) and (n is None or len(v) == n)


# Attribute forms: a predicate and the words the error uses.
ATTRS = {
    "stride": (lambda v: _int_list(v, 2), "two integers"),
    "dilation": (lambda v: _int_list(v, 2), "two integers"),
    "filter": (lambda v: _int_list(v, 2), "two integers"),
    "padding": (lambda v: isinstance(v, str), "a string"),
    "activation": (lambda v: isinstance(v, str), "a string"),
    "depth_multiplier": (_is_int, "an integer"),
    "axes": (lambda v: _int_list(v) and len(v) > 0, "a non-empty list of integers"),
    "keep_dims": (lambda v: isinstance(v, bool), "true or false"),
    "beta": (_is_num, "a number"),
    "paddings": (lambda v: isinstance(v, list) and all(_int_list(p, 2) for p in v), "a list of integer pairs"),
    "pad_value": (_is_int, "an integer"),
    "axis": (_is_int, "an integer"),
    "begin": (_int_list, "a list of integers"),
    "strides": (_int_list, "a list of integers"),
    "shape": (_int_list, "a list of integers"),
    "perm": (_int_list, "a list of integers"),
    "align_corners": (lambda v: isinstance(v, bool), "true or false"),
    "half_pixel_centers": (lambda v: isinstance(v, bool), "true or false"),
    "alpha": (_is_num, "a number"),
    "cell_clip": (_is_num, "a number"),
    "rank": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "embed_dim": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "bin_edges": (lambda v: isinstance(v, list) and len(v) > 0 and all(
        _int_list(e) and len(e) == len(v[0]) and all(1 <= x <= 255 for x in e) and all(a < b for a, b in zip(e, e[1:]))
        for e in v), "lists of increasing pixel values 1..255, one per table"),
}


def _need(doc: dict, key: str, check, what: str, where: str) -> Any:
    if key not in doc:
        raise SchemaError(f"{where}: '{key}' is missing")
    v = doc[key]
    if not check(v):
        raise SchemaError(f"{where}: '{key}' must be {what}, got {_short(v)}")
    return v


def _short(v: Any) -> str:
    s = json.dumps(v) if not isinstance(v, float) else repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def parse_doc(blob: np.ndarray) -> dict:
    """The JSON member as a dict, or SchemaError."""
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise SchemaError(f"the __graph__ member must be bytes (uint8, 1-D), got {blob.dtype} {blob.shape}")
    try:
        doc = json.loads(blob.tobytes().decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise SchemaError(f"the __graph__ member is not valid JSON ({type(exc).__name__}: {str(exc)[:80]})") from None
    if not isinstance(doc, dict):
        raise SchemaError(f"the __graph__ member must be a JSON object, got a {type(doc).__name__}")
    return doc


def check_doc(doc: dict, arrays: dict[str, np.ndarray]) -> None:
    """Raise SchemaError naming the tensor, operator and field that do not have the documented form."""
    _need(doc, "name", lambda v: isinstance(v, str), "a string", "graph")
    _need(doc, "source", lambda v: isinstance(v, str), "a string", "graph")
    _need(doc, "inputs", _str_list, "a list of tensor names", "graph")
    _need(doc, "outputs", _str_list, "a list of tensor names", "graph")
    if not isinstance(doc.get("metadata", {}), dict):
        raise SchemaError("graph: 'metadata' must be an object")
    tensors = _need(doc, "tensors", lambda v: isinstance(v, list), "a list", "graph")
    for i, e in enumerate(tensors):
        _check_tensor(i, e, arrays)
    ops = _need(doc, "operators", lambda v: isinstance(v, list), "a list", "graph")
    for i, o in enumerate(ops):
        _check_operator(i, o)


def _check_tensor(i: int, e: Any, arrays: dict[str, np.ndarray]) -> None:
    where = f"tensor {i}"
    if not isinstance(e, dict):
        raise SchemaError(f"{where}: must be an object, got {_short(e)}")
    name = _need(e, "name", lambda v: isinstance(v, str) and v and v.isprintable(), "a non-empty printable string",
                 where)
    where = f"tensor {i} '{name}'"
    _need(e, "shape", _int_list, "a list of integers", where)
    dtype = _need(e, "dtype", lambda v: v in DTYPES, f"one of {', '.join(DTYPES)}", where)
    q = _need(e, "quant", lambda v: v is None or isinstance(v, dict), "an object or null", where)
    if q is not None:
        _need(q, "scale", lambda v: isinstance(v, list) and v and all(_is_num(x) for x in v),
              "a non-empty list of numbers", f"{where} quant")
        _need(q, "zero_point", lambda v: _int_list(v) and len(v) > 0, "a non-empty list of integers", f"{where} quant")
        _need(q, "axis", lambda v: v is None or _is_int(v), "an integer or null", f"{where} quant")
    if "variable" in e and not isinstance(e["variable"], bool):
        raise SchemaError(f"{where}: 'variable' must be true or false, got {_short(e['variable'])}")
    if "data" in e:
        key = e["data"]
        if not isinstance(key, str) or key not in arrays or key == "__graph__":
            raise SchemaError(f"{where}: its data names array {_short(key)}, which the file does not hold")
        arr = arrays[key]
        if arr.dtype != np.dtype(dtype):
            raise SchemaError(f"{where}: its data array '{key}' is {arr.dtype}, the tensor is {dtype}")


def _check_operator(i: int, o: Any) -> None:
    where = f"operator {i}"
    if not isinstance(o, dict):
        raise SchemaError(f"{where}: must be an object, got {_short(o)}")
    name = _need(o, "name", lambda v: isinstance(v, str) and v.isprintable(), "a printable string", where)
    where = f"operator {i} '{name}'"
    _need(o, "kind", lambda v: isinstance(v, str), "a string", where)
    _need(o, "inputs", _str_list, "a list of tensor names", where)
    _need(o, "outputs", _str_list, "a list of tensor names", where)
    attrs = _need(o, "attrs", lambda v: isinstance(v, dict), "an object", where)
    for key, value in attrs.items():
        form = ATTRS.get(key)
        if form is not None and not form[0](value):
            raise SchemaError(f"{where}: attribute '{key}' must be {form[1]}, got {_short(value)}")
