"""Reading `.npz` data files defensively: every array's header is checked against the archive before
anything is allocated, so a header that claims 10^9 images is refused instead of asked for.

The header check: the bytes the header's shape and dtype need must be the bytes the zip member holds
(a deflated member cannot hold more than deflate's maximum ratio of its compressed size), and no
array may exceed MAX_ARRAY_BYTES.
"""

from __future__ import annotations

import struct
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixmcu.errors import PixmcuError

MAX_ARRAY_BYTES = 16 << 30  # 16 GiB: far above any data set pixmcu feeds a microcontroller model
DEFLATE_MAX_RATIO = 1100  # deflate's limit is about 1032:1
NPY_MAGIC = b"\x93NUMPY"
# What zipfile and numpy raise on a corrupted archive or member (zlib.error: a bad deflate stream,
# NotImplementedError: an unknown compression or zip version, RuntimeError: an encrypted member,
# SyntaxError/TokenError: a garbled .npy header dictionary).
CORRUPT = (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, ValueError, EOFError, struct.error,
           OverflowError, UnicodeDecodeError, SyntaxError, tokenize.TokenError)


@dataclass(frozen=True)
class ArrayHeader:
    shape: tuple[int, ...]
    dtype: np.dtype


class NpzFile:
    """An opened `.npz`: `names`, `header(name)` (no data read), `load(name)`."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise PixmcuError(f"{path}: no such data file") from None
        except IsADirectoryError:
            raise PixmcuError(f"{path}: is a directory, not an .npz data file") from None
        except OSError as exc:
            raise PixmcuError(f"{path}: cannot read ({exc.strerror or exc})") from None
        except CORRUPT:
            raise PixmcuError(_not_npz(path)) from None
        self._members = {i.filename[:-4]: i for i in self._zip.infolist() if i.filename.endswith(".npy")}
        self.names = sorted(self._members)
        self._headers: dict[str, ArrayHeader] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._members

    def __enter__(self) -> "NpzFile":
        return self

    def __exit__(self, *exc) -> None:
        self._zip.close()

    def header(self, name: str) -> ArrayHeader:
        if name not in self._headers:
            self._headers[name] = self._read_header(name)
        return self._headers[name]

    def _read_header(self, name: str) -> ArrayHeader:
        info = self._members[name]
        where = f"{self.path}: array '{name}'"
        try:
            with self._zip.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f"unsupported .npy format version {version}")
                offset = fh.tell()
        except (OSError, *CORRUPT) as exc:
            raise PixmcuError(f"{where} has an unreadable header ({exc})") from None
        dtype = np.dtype(dtype)
        if dtype.hasobject:
            raise PixmcuError(f"{where} holds Python objects (dtype {dtype}); pixmcu reads only plain numeric arrays")
        if any(d < 0 for d in shape):
            raise PixmcuError(f"{where}: its header claims a negative dimension {shape}")
        need = int(np.prod(shape, dtype=object)) * dtype.itemsize
        have = info.file_size - offset
        if need > MAX_ARRAY_BYTES:
            raise PixmcuError(f"{where}: its header claims shape {shape} of {dtype} = {need:,} bytes, over pixmcu's "
                              f"limit of {MAX_ARRAY_BYTES:,} bytes per array")
        deflated_max = info.compress_size * DEFLATE_MAX_RATIO
        if need != have or (info.compress_type != zipfile.ZIP_STORED and have > deflated_max):
            raise PixmcuError(f"{where}: its header claims shape {shape} of {dtype} = {need:,} bytes, but the file "
                              f"holds {max(have, 0):,} (truncated or corrupted)")
        return ArrayHeader(tuple(int(d) for d in shape), dtype)

    def load(self, name: str) -> np.ndarray:
        header = self.header(name)
        try:
            with self._zip.open(self._members[name]) as fh:
                arr = np.lib.format.read_array(fh, allow_pickle=False)
        except (OSError, *CORRUPT) as exc:
            raise PixmcuError(f"{self.path}: array '{name}' cannot be read ({exc})") from None
        if arr.shape != header.shape:
            raise PixmcuError(f"{self.path}: array '{name}' has shape {arr.shape}, not the {header.shape} "
                              f"its header claims")
        return arr


def _not_npz(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(NPY_MAGIC))
    except OSError:
        head = b""
    if head == NPY_MAGIC:
        return (f"{path}: a plain .npy array, not an .npz data file; save the inputs as "
                f"numpy.savez('data.npz', x=inputs, y=labels)")
    return f"{path}: not an .npz data file (expected a zip of arrays 'x' and optionally 'y')"


def open_npz(path: str | Path) -> NpzFile:
    return NpzFile(Path(path))
