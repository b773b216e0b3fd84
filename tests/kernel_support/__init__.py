"""Host builds of the C kernels for tests: one shared library per session, called through ctypes.

The library is built with UBSan (aborting on the first finding); ASan cannot be loaded into an
uninstrumented Python, so output buffers carry guard bytes instead, and the end-to-end tests run
whole generated models under ASan + UBSan as executables.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np

from pixmcu.codegen.kernels import STRUCT_FIELDS, KernelCall
from pixmcu.resources import firmware_dir

GUARD = 64
GUARD_BYTE = 0x5A


class Dims(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int32), ("h", ctypes.c_int32), ("w", ctypes.c_int32), ("c", ctypes.c_int32)]


_CTYPES = {
    "i32": ctypes.c_int32,
    "dims": Dims,
    "int8_t*": ctypes.POINTER(ctypes.c_int8),
    "int16_t*": ctypes.POINTER(ctypes.c_int16),
    "int32_t*": ctypes.POINTER(ctypes.c_int32),
    "int64_t*": ctypes.POINTER(ctypes.c_int64),
}
_NP = {"int8_t*": np.int8, "int16_t*": np.int16, "int32_t*": np.int32, "int64_t*": np.int64}

STRUCTS: dict[str, type] = {}
for _name, _fields in STRUCT_FIELDS.items():  # nested structs are declared before their users
    STRUCTS[_name] = type(_name, (ctypes.Structure,), {"_fields_": [
        (f, STRUCTS[t.split(":", 1)[1]] if t.startswith("struct:") else _CTYPES[t]) for f, t in _fields]})


def _ubsan_flags(fw: Path) -> list[str]:
    return ["-std=c11", "-O1", "-g", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror",
            "-fsanitize=undefined", "-fno-sanitize-recover=all", f"-I{fw / 'include'}"]


def build_kernels(out: Path, stems: tuple[str, ...]) -> Path:
    """Compile the named kernel files (firmware/kernels/STEM.c) alone into `out` under UBSan."""
    fw = firmware_dir()
    subprocess.run(["gcc", *_ubsan_flags(fw), *(str(fw / "kernels" / f"{s}.c") for s in stems), "-o", str(out)],
                   check=True)
    return out


def build_kernel_lib(out_dir: Path, portable_dsp: bool = False) -> Path:
    """Compile every kernel into one shared library (cached by source hash under out_dir)."""
    fw = firmware_dir()
    sources = sorted((fw / "kernels").glob("*.c"))
    headers = sorted((fw / "kernels").glob("*.h")) + sorted((fw / "include").glob("*.h"))
    flags = _ubsan_flags(fw)
    if portable_dsp:
        flags.append("-DPM_DSP_PORTABLE")
    h = hashlib.sha256(" ".join(flags).encode())
    for f in sources + headers:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    lib = Path(out_dir) / f"libpm_kernels_{h.hexdigest()[:16]}.so"
    if not lib.exists():
        tmp = lib.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run(["gcc", *flags, *map(str, sources), "-o", str(tmp)], check=True)
        tmp.replace(lib)
    return lib


def build_requant_shim(out_dir: Path) -> Path:
    """pm_requant.h's inline helpers exported over arrays, for direct comparison with pixmcu.quant."""
    fw = firmware_dir()
    src = Path(__file__).with_name("requant_shim.c")
    header = fw / "include" / "pm_requant.h"
    h = hashlib.sha256(src.read_bytes() + header.read_bytes()).hexdigest()[:16]
    lib = Path(out_dir) / f"librequant_{h}.so"
    if not lib.exists():
        subprocess.run(["gcc", "-std=c11", "-O1", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror",
                        "-fsanitize=undefined", "-fno-sanitize-recover=all", f"-I{fw / 'include'}", str(src),
                        "-o", str(lib)], check=True)
    return lib


def load(lib_path: Path) -> ctypes.CDLL:
    return ctypes.CDLL(str(lib_path))


def _struct(call: KernelCall, keep: list, struct: str | None = None, fields: dict | None = None):
    struct = struct or call.struct
    fields = call.fields if fields is None else fields
    s = STRUCTS[struct]()
    for name, kind in STRUCT_FIELDS[struct]:
        val = fields[name]
        if kind.startswith("struct:"):
            setattr(s, name, _struct(call, keep, kind.split(":", 1)[1], val))
        elif kind == "dims":
            setattr(s, name, Dims(*val))
        elif kind.endswith("*"):
            if val is None:
                setattr(s, name, None)
            else:
                arr = np.ascontiguousarray(call.arrays[val], dtype=_NP[kind])
                keep.append(arr)
                setattr(s, name, arr.ctypes.data_as(_CTYPES[kind]))
        else:
            setattr(s, name, int(val))
    return s


def _guarded(nbytes: int) -> np.ndarray:
    return np.full(nbytes + 2 * GUARD, GUARD_BYTE, dtype=np.uint8)


def run_kernel(lib: ctypes.CDLL, call: KernelCall, inputs: list[np.ndarray], out_shape, out_dtype="int8",
               kernel: str | None = None) -> np.ndarray:
    """Run `call` (or the named kernel with its struct) on inputs; check guards; return the output."""
    keep: list = []
    params = _struct(call, keep)
    ins = [np.ascontiguousarray(x) for x in inputs]
    nbytes = int(np.prod(out_shape)) * np.dtype(out_dtype).itemsize
    buf = _guarded(nbytes)
    out_ptr = ctypes.c_void_p(buf.ctypes.data + GUARD)
    fn = getattr(lib, kernel or call.kernel)
    fn.restype = ctypes.c_int
    pptr = ctypes.byref(params)
    in_ptrs = [ctypes.c_void_p(x.ctypes.data) for x in ins]
    if call.kernel == "pm_concatenation_s8":
        arr = (ctypes.c_void_p * len(in_ptrs))(*in_ptrs)
        status = fn(pptr, arr, out_ptr)
    else:
        status = fn(pptr, *in_ptrs, out_ptr)
    assert status == 0, f"{kernel or call.kernel} returned {status}"
    assert (buf[:GUARD] == GUARD_BYTE).all() and (buf[GUARD + nbytes:] == GUARD_BYTE).all(), "wrote outside its output"
    return buf[GUARD:GUARD + nbytes].view(out_dtype).reshape(out_shape).copy()
