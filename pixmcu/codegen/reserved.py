"""Model names that would clash with what a generated model is compiled with.

A model NAME becomes files `NAME.c`, `NAME.h`, `NAME_data.c`, `NAME_data.h` in OUTDIR (which is on the
include path, ahead of the system headers) and symbols `NAME_init`, `NAME_invoke`, `NAME_<layer>_...`
and macros `NAME_INPUT_BYTES`, ... (upper case). So:
- `pm` and every name starting `pm_` (any case) are pixmcu's: the harness, kernels, board ports and the
  generic `pm_model.h` (`--name pm_model` would define `pm_model_init` twice and overwrite `pm_model.h`);
- a name whose `NAME.h` or `NAME_data.h` is a C or Arm compiler header would hide that header.
"""

from __future__ import annotations

import re

from pixmcu.codegen.cformat import check_identifier, default_name
from pixmcu.errors import PixmcuError

RESERVED_PREFIX = "pm"
# C11 headers, and the Arm/CMSIS headers a port or kernel may include.
RESERVED_HEADERS = (
    "assert", "complex", "ctype", "errno", "fenv", "float", "inttypes", "iso646", "limits", "locale", "math",
    "setjmp", "signal", "stdalign", "stdarg", "stdatomic", "stdbool", "stddef", "stdint", "stdio", "stdlib",
    "stdnoreturn", "string", "tgmath", "threads", "time", "uchar", "wchar", "wctype",
    "arm_acle", "arm_mve", "arm_math", "arm_nnfunctions", "cmsis_compiler", "cmsis_gcc",
)


def reserved_reason(name: str) -> str | None:
    low = name.lower()
    if low == RESERVED_PREFIX or low.startswith(RESERVED_PREFIX + "_"):
        return "pixmcu's harness, kernels and board ports use the pm_ prefix"
    if low in RESERVED_HEADERS:
        return f"OUTDIR/{name}.h would hide the compiler's <{low}.h>"
    return None


def reserved_list() -> str:
    return f"{RESERVED_PREFIX}, {RESERVED_PREFIX}_* (any case), " + ", ".join(RESERVED_HEADERS)


def check_model_name(name: str) -> str:
    """A model name given by the user: a C identifier that clashes with nothing it is built with."""
    check_identifier(name, "model name")
    why = reserved_reason(name)
    if why:
        raise PixmcuError(f"model name {name!r} is reserved ({why}); choose another --name. "
                          f"Reserved names: {reserved_list()}")
    return name


def safe_default_name(stem: str) -> str:
    """A model name from a file stem, moved out of the reserved names ('pm_model' -> 'm_pm_model')."""
    name = default_name(stem)
    if reserved_reason(name):
        name = re.sub(r"^_*", "m_", name)
    return check_identifier(name, "model name")
