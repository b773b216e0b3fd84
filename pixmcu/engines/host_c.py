"""Run generated C on the host: generate, compile with gcc under ASan/UBSan, feed files, read files.

`run_host_c(model, x)` is what `pixmcu infer --engine host-c` calls. Kernels are compiled once per
(kernel sources, flags) into a cache directory and reused; each model is generated into a temporary
directory and linked with a small runner (host_runner.c). Data goes through files, never stdin.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from pixmcu.errors import PixmcuError
from pixmcu.ir import Graph
from pixmcu.resources import firmware_dir

CFLAGS = ["-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
          "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
RUNNER = Path(__file__).with_name("host_runner.c")


def cache_dir() -> Path:
    from pixmcu.cache import cache_root

    return cache_root()


def _gcc() -> str:
    gcc = os.environ.get("PIXMCU_HOST_CC") or shutil.which("gcc")
    if not gcc:
        raise PixmcuError("host-c engine: no host gcc found (install gcc or set PIXMCU_HOST_CC)")
    return gcc


def _compile(args: list[str], cwd: Path) -> None:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PixmcuError(f"host-c engine: gcc failed:\n{proc.stderr[-4000:]}")


def _cached_objects(name: str, sources: list[Path], headers: list[Path], extra_flags: tuple[str, ...]) -> list[Path]:
    """Object files of `sources`, compiled once and cached by the hash of sources, headers and flags."""
    fw = firmware_dir()
    flags = [*CFLAGS, *extra_flags, f"-I{fw / 'include'}"]
    h = hashlib.sha256(" ".join([_gcc(), *CFLAGS, *extra_flags]).encode())
    for f in sources + headers:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    target = cache_dir() / f"host-{name}-{h.hexdigest()[:20]}"
    objs = [target / (s.stem + ".o") for s in sources]
    if target.is_dir() and all(o.exists() for o in objs):
        return objs
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        _compile([_gcc(), *flags, "-c", *map(str, sources)], cwd=tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process won the race; its objects are identical
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists() and tmp != target:
            shutil.rmtree(tmp, ignore_errors=True)
    return objs


def _headers() -> list[Path]:
    fw = firmware_dir()
    return sorted((fw / "kernels").glob("*.h")) + sorted((fw / "include").glob("*.h"))


def kernel_objects(extra_flags: tuple[str, ...] = ()) -> list[Path]:
    """Object files of every kernel, compiled once and cached."""
    return _cached_objects("kernels", sorted((firmware_dir() / "kernels").glob("*.c")), _headers(), extra_flags)


def build_host_runner(gen_dir: Path, manifest: dict, exe: Path) -> Path:
    fw = firmware_dir()
    from pixmcu.build import first_layer_sources

    # A fused first layer (pixmcu.codegen.first_layer): its kernel and adapter, compiled with the model.
    sources = [gen_dir / s for s in manifest["sources"]] + first_layer_sources(manifest)
    _compile([_gcc(), *CFLAGS, f"-I{fw / 'include'}", f"-I{gen_dir}", *map(str, sources),
              *map(str, _cached_objects("runner", [RUNNER], _headers(), ())),
              *map(str, kernel_objects()), "-o", str(exe)], cwd=gen_dir)
    return exe


def _batch(x: np.ndarray, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.dtype(dtype):
        raise PixmcuError(f"host-c engine: input dtype {x.dtype}, the model input is {dtype}")
    per = shape[1:] if shape[0] == 1 else shape
    if tuple(x.shape[1:]) != tuple(per):
        raise PixmcuError(f"host-c engine: input shape {x.shape} does not fit the model input {shape}")
    return np.ascontiguousarray(x)


def run_host_c(model: str | Path | Graph, x: np.ndarray, board: str | None = None, layers: bool = False,
               workdir: str | Path | None = None, fuse: bool = True, overlap: bool = True,
               first_layer: str | None = None, flash_budget: int | None = None):
    """Outputs of the generated C for N inputs (N, ...) in the model input's dtype.

    With layers=True returns (outputs, {layer name: (N, ...) outputs}) from the per-layer hooks;
    layers whose output is never stored (fused, see pixmcu.codegen.generate) are left out.
    first_layer / flash_budget: as for pixmcu.codegen.generate (None: the embedding and the first conv
    stay two calls).
    """
    from pixmcu.codegen import generate

    with tempfile.TemporaryDirectory(prefix="pixmcu-host-c-") as tmp:
        work = Path(workdir) if workdir else Path(tmp)
        gen_dir = work / "model"
        gen = generate(model, gen_dir, board=board, name="host_model", fuse=fuse, overlap=overlap,
                       first_layer=first_layer, flash_budget=flash_budget)
        return run_generated(gen_dir, x, layers=layers, workdir=work)


def run_generated(gen_dir: str | Path, x: np.ndarray, layers: bool = False, workdir: str | Path | None = None):
    """As run_host_c, for a directory `pixmcu generate` already wrote (any model name, any options)."""
    import json

    gen_dir = Path(gen_dir)
    m = json.loads((gen_dir / "manifest.json").read_text())
    with tempfile.TemporaryDirectory(prefix="pixmcu-host-c-") as tmp:
        work = Path(workdir) if workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        exe = build_host_runner(gen_dir, m, work / "host_runner")
        xb = _batch(x, tuple(m["input"]["shape"]), m["input"]["dtype"])
        n = xb.shape[0]
        (work / "inputs.bin").write_bytes(xb.tobytes())
        args = [str(exe), str(m["input"]["bytes"]), str(m["output"]["bytes"]), str(work / "inputs.bin"), str(n),
                str(work / "outputs.bin")]
        if layers:
            args.append(str(work / "layers.bin"))
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
        proc = subprocess.run(args, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise PixmcuError(f"host-c engine: the generated model failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        out_shape = tuple(m["output"]["shape"])
        out_per = out_shape[1:] if out_shape[0] == 1 else out_shape
        y = np.frombuffer((work / "outputs.bin").read_bytes(), dtype=m["output"]["dtype"]).reshape((n, *out_per))
        if not layers:
            return y.copy()
        raw = np.frombuffer((work / "layers.bin").read_bytes(), dtype=np.uint8)
        sizes = [layer["output_bytes"] for layer in m["layers"]]
        per_sample = sum(sizes)
        raw = raw.reshape(n, per_sample)
        result = {}
        pos = 0
        for layer, size in zip(m["layers"], sizes):
            if size == 0:
                continue
            shape = tuple(layer["output_shape"])
            per = shape[1:] if shape[0] == 1 else shape
            result[layer["name"]] = raw[:, pos:pos + size].copy().view(layer["output_dtype"]).reshape((n, *per))
            pos += size
        return y.copy(), result
