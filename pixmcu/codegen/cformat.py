"""C text produced in Python (templates only place it): identifiers, literals and big arrays."""

from __future__ import annotations

import re

import numpy as np

from pixmcu.errors import PixmcuError

C_KEYWORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto if inline int
long register restrict return short signed sizeof static struct switch typedef union unsigned void
volatile while _Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn _Static_assert
_Thread_local bool true false alignas alignof static_assert thread_local nullptr typeof constexpr
""".split())

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CTYPE = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "uint16": "uint16_t", "int32": "int32_t",
          "uint32": "uint32_t", "int64": "int64_t"}


def check_identifier(name: str, what: str = "name") -> str:
    """A valid C identifier that is no keyword and not reserved (leading underscore + capital/underscore)."""
    if not _IDENT.match(name or ""):
        raise PixmcuError(f"{what} {name!r} is not a C identifier (letters, digits and '_', not starting with a digit)")
    if name in C_KEYWORDS:
        raise PixmcuError(f"{what} {name!r} is a C keyword")
    if re.match(r"^_[A-Z_]", name):
        raise PixmcuError(f"{what} {name!r} is reserved in C (leading underscore and capital or underscore)")
    if len(name) > 48:
        raise PixmcuError(f"{what} {name!r} is longer than 48 characters")
    return name


def default_name(stem: str) -> str:
    """A C identifier derived from a file stem (lower case, other characters replaced by '_')."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem).strip("_").lower()[:40] or "model"
    if name[0].isdigit():
        name = "m_" + name
    if name in C_KEYWORDS:
        name += "_model"
    return name


def c_comment(text: str) -> str:
    """Text safe inside a /* */ comment: printable ASCII, no comment terminator."""
    text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in str(text))
    return text.replace("*/", "*_/").replace("/*", "/_*")


def c_int(v: int) -> str:
    v = int(v)
    if v == -(1 << 31):
        return "(-2147483647 - 1)"
    return str(v)


def c_type(dtype: str) -> str:
    return _CTYPE[dtype]


def format_array(values: np.ndarray, per_line: int | None = None, indent: str = "    ") -> str:
    """Comma-separated values, fixed count per line: the body of a C initializer."""
    flat = np.asarray(values).ravel()
    if per_line is None:
        per_line = 24 if flat.dtype.itemsize == 1 else 8
    items = [c_int(v) for v in flat.tolist()]
    lines = [indent + ", ".join(items[i:i + per_line]) + "," for i in range(0, len(items), per_line)]
    return "\n".join(lines)
