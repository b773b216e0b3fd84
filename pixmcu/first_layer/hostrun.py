"""Run the first-layer bench main on the host: every kernel's portable C path, compiled with the
host gcc under AddressSanitizer and UBSan, checked against the reference like the QEMU runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from pixmcu.errors import PixmcuError
from pixmcu.first_layer.bench import _main_source, prepare
from pixmcu.first_layer.problem import Problem
from pixmcu.first_layer.variants import KERNEL_SOURCES
from pixmcu.resources import firmware_dir

HOST_FLAGS = ["-O1", "-g", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
              "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def host_compiler() -> str:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise PixmcuError("no host C compiler (gcc) on PATH")
    return cc


class HostBuilder:
    """Compiles the kernels once (sanitized objects in workdir/obj); each case then builds its main."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        fw = firmware_dir()
        self.includes = [f"-I{fw / 'include'}", f"-I{fw / 'first_layer'}", f"-I{fw / 'first_layer' / 'bench'}"]
        objdir = self.workdir / "obj"
        objdir.mkdir(parents=True, exist_ok=True)
        self.objs = []
        srcs = [fw / "first_layer" / f"{k}.c" for k in KERNEL_SOURCES]
        srcs.append(fw / "first_layer" / "bench" / "pm_bench_host.c")
        for src in srcs:
            obj = objdir / (src.stem + ".o")
            _check([host_compiler(), *HOST_FLAGS, *self.includes, "-c", str(src), "-o", str(obj)])
            self.objs.append(obj)

    def run(self, name: str, p: Problem, names: list[str] | None = None) -> dict[str, bool | float]:
        return run_host(self.workdir / name, p, names, self)


def _check(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PixmcuError(f"host build failed: {' '.join(cmd)}\n{proc.stderr.strip()}")


def run_host(workdir: Path, p: Problem, names: list[str] | None = None,
             builder: "HostBuilder | None" = None) -> dict[str, bool | float]:
    """Build and run all (or `names`) variants of `p` on the host; {variant: bitexact or max error}."""
    workdir.mkdir(parents=True, exist_ok=True)
    preps = prepare(p, names)
    blobs = [("pixels", p.pixels), ("input_s8", (p.pixels.astype(np.int16) - 128).astype(np.int8))]
    for i, v in enumerate(preps):
        blobs += [(f"v{i}_{k}", a) for k, a in v.arrays.items()]
    asm = []
    for name, a in blobs:
        path = workdir / f"{name}.bin"
        np.ascontiguousarray(a).tofile(path)
        asm += [f'  .section .rodata.{name},"a"', "  .balign 16", f"  .global {name}", f"{name}:",
                f'  .incbin "{path.resolve()}"']
    asm.append('  .section .note.GNU-stack,"",@progbits')
    (workdir / "blobs.S").write_text("\n".join(asm) + "\n")
    (workdir / "bench_main.c").write_text(_main_source(p, preps, blobs))
    fw = firmware_dir()
    exe = workdir / "bench_host"
    if builder is None:
        srcs = [fw / "first_layer" / "bench" / "pm_bench_host.c"] + [fw / "first_layer" / f"{k}.c" for k in KERNEL_SOURCES]
        includes = [f"-I{fw / 'include'}", f"-I{fw / 'first_layer'}", f"-I{fw / 'first_layer' / 'bench'}"]
    else:
        srcs, includes = builder.objs, builder.includes
    _check([host_compiler(), *HOST_FLAGS, *includes, str(workdir / "bench_main.c"), str(workdir / "blobs.S"),
            *map(str, srcs), "-o", str(exe)])
    run = subprocess.run([str(exe)], capture_output=True, text=True, cwd=workdir, timeout=120)
    if run.returncode != 0:
        raise PixmcuError(f"host bench exited with {run.returncode}:\n{run.stderr.strip()[-4000:]}")
    out: dict[str, bool | float] = {}
    for i, v in enumerate(preps):
        got = np.fromfile(workdir / f"out_{i}.bin", dtype=np.int8 if v.out_dtype == "int8" else np.float32)
        want = v.expected.reshape(-1)
        if v.integer:
            out[v.name] = bool(got.size == want.size and np.array_equal(got, want))
        else:
            out[v.name] = float(np.abs(got - want).max())
    return out
