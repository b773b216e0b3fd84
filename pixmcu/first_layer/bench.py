"""Build every first-layer variant of a problem into one bench firmware, run it on a QEMU board with
the counting plugin, check the outputs and collect instructions, estimated cycles, flash and RAM.

One firmware per (case, board): each variant runs once between START/STOP markers and writes its
output to a host file through semihosting; the plugin reports one region per variant. Kernel objects
are compiled once per board; a case compiles only its generated main and its data (assembled with
.incbin from binary files, so megabyte tables cost no C parsing).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixmcu.boards import get_board
from pixmcu.build import LINK_FLAGS, BuildError, tool
from pixmcu.cycles import count_regions, estimate
from pixmcu.errors import PixmcuError
from pixmcu.first_layer.problem import Problem
from pixmcu.first_layer.variants import KERNEL_SOURCES, VARIANTS, Prepared
from pixmcu.resources import firmware_dir

CFLAGS = ["-O2", "-g", "-std=gnu11", "-Wall", "-Wextra", "-Werror"]
BENCH_SOURCES = ("pm_bench_startup.c", "pm_bench_semihost.c")
FLASH_LIMIT = 4 * 1024 * 1024 - 64 * 1024  # the mps2 code region, less room for code

_CTYPES = {np.dtype(np.int8): "int8_t", np.dtype(np.uint8): "uint8_t", np.dtype(np.int16): "int16_t",
           np.dtype(np.uint16): "uint16_t", np.dtype(np.int32): "int32_t", np.dtype(np.uint32): "uint32_t", np.dtype(np.float32): "float"}


@dataclass
class VariantResult:
    name: str
    count: int                # instructions executed under QEMU (exact)
    counter: str              # "instructions"
    estimated_cycles: float   # from the cost table, not measured
    flash_bytes: int          # kernel code + its constant data
    ram_bytes: int            # scratch + output
    bitexact: bool | None     # None for float variants (checked against a tolerance instead)
    max_abs_err: float | None = None
    note: str = ""
    classes: dict | None = None

    def as_json(self) -> dict:
        d = {"name": self.name, "count": self.count, "counter": self.counter,
             "estimated_cycles": round(self.estimated_cycles), "flash_bytes": self.flash_bytes,
             "ram_bytes": self.ram_bytes, "bitexact": self.bitexact}
        if self.max_abs_err is not None:
            d["max_abs_err"] = self.max_abs_err
        if self.note:
            d["note"] = self.note
        return d


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        raise BuildError(f"command failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stderr.strip()}")


class BenchBuilder:
    """Compiles the kernels once per board into workdir/<board>/obj and builds case firmwares."""

    def __init__(self, workdir: Path, board: str):
        self.board = get_board(board)
        if not self.board.is_qemu:
            raise PixmcuError(f"the first-layer bench runs on QEMU boards; {self.board.name} is not one")
        self.workdir = Path(workdir) / self.board.name
        self.objdir = self.workdir / "obj"
        self.objdir.mkdir(parents=True, exist_ok=True)
        self.cc = tool("gcc")
        fw = firmware_dir()
        self.include = [fw / "include", fw / "first_layer", fw / "first_layer" / "bench"]
        self.flags = [*self.board.cflags, *CFLAGS, *(f"-I{p}" for p in self.include)]
        self.kernel_objs: dict[str, Path] = {}
        self.code_bytes: dict[str, int] = {}
        for stem in KERNEL_SOURCES:
            self.kernel_objs[stem] = self._compile(fw / "first_layer" / f"{stem}.c")
            self.code_bytes[stem] = self._text_size(self.kernel_objs[stem])
        self.bench_objs = [self._compile(fw / "first_layer" / "bench" / s) for s in BENCH_SOURCES]

    def _compile(self, src: Path) -> Path:
        obj = self.objdir / (src.stem + ".o")
        if not obj.exists() or obj.stat().st_mtime < max(p.stat().st_mtime for p in self._deps(src)):
            _run([self.cc, *self.flags, "-c", str(src), "-o", str(obj)])
        return obj

    def _deps(self, src: Path) -> list[Path]:
        return [src, *(p for d in self.include for p in d.glob("*.h"))]

    def _text_size(self, obj: Path) -> int:
        out = subprocess.run([tool("size"), "-A", "-d", str(obj)], capture_output=True, text=True, check=True).stdout
        return sum(int(parts[1]) for parts in (line.split() for line in out.splitlines())
                   if len(parts) >= 2 and parts[0].startswith((".text", ".rodata")) and parts[1].isdigit())

    def build_case(self, casedir: Path, p: Problem, preps: list[Prepared]) -> Path:
        casedir.mkdir(parents=True, exist_ok=True)
        blobs: list[tuple[str, np.ndarray]] = [("pixels", p.pixels), ("input_s8", (p.pixels.astype(np.int16) - 128).astype(np.int8))]
        for i, v in enumerate(preps):
            blobs += [(f"v{i}_{k}", a) for k, a in v.arrays.items()]
        asm = ["/* generated by pixmcu bench first-layer */"]
        for name, a in blobs:
            path = casedir / f"{name}.bin"
            np.ascontiguousarray(a).tofile(path)
            asm += [f'  .section .rodata.{name},"a"', "  .balign 16", f"  .global {name}", f"{name}:",
                    f'  .incbin "{path.resolve()}"']
        (casedir / "blobs.S").write_text("\n".join(asm) + "\n")
        (casedir / "bench_main.c").write_text(_main_source(p, preps, blobs))
        objs = []
        for src in ("bench_main.c", "blobs.S"):
            obj = casedir / (Path(src).stem + ".o")
            _run([self.cc, *self.flags, "-c", str(casedir / src), "-o", str(obj)])
            objs.append(str(obj))
        elf = casedir / "bench.elf"
        ld = firmware_dir() / "first_layer" / "bench" / "pm_bench.ld"
        used = [str(self.kernel_objs[v.kernel]) for v in preps]
        _run([self.cc, *self.board.cflags, "-T", str(ld), *LINK_FLAGS, *objs, *dict.fromkeys(used),
              *map(str, self.bench_objs), "-o", str(elf)])
        return elf

    def run_case(self, casedir: Path, p: Problem, names: list[str] | None = None) -> list[VariantResult]:
        preps = prepare(p, names)
        elf = self.build_case(casedir, p, preps)
        for f in casedir.glob("out_*.bin"):
            f.unlink()
        regions, rc = count_regions(elf, self.board.name, cwd=casedir)
        if rc != 0 or len(regions) != len(preps):
            raise PixmcuError(f"bench firmware {elf} exited with status {rc} after {len(regions)} of "
                              f"{len(preps)} variants")
        results = []
        for i, (v, reg) in enumerate(zip(preps, regions)):
            got = np.fromfile(casedir / f"out_{i}.bin", dtype=np.int8 if v.out_dtype == "int8" else np.float32)
            want = v.expected.reshape(-1)
            if v.integer:
                exact, err = bool(got.size == want.size and np.array_equal(got, want)), None
            else:
                err = float(np.abs(got - want).max()) if got.size == want.size else float("inf")
                exact = None
            results.append(VariantResult(v.name, reg.insns, "instructions", estimate(reg, self.board.core),
                                         self.code_bytes[v.kernel] + v.const_bytes, v.ram_bytes, exact, err,
                                         v.note, reg.classes))
        return results


def prepare(p: Problem, names: list[str] | None = None) -> list[Prepared]:
    """Prepared variants of `p` (all by default), dropping what would not fit the board's flash."""
    preps, seen, total = [], set(), 0
    for name in names or list(VARIANTS):
        v = VARIANTS[name](p)
        if v is None or v.name in seen:
            continue
        if total + v.const_bytes > FLASH_LIMIT:
            continue
        seen.add(v.name)
        total += v.const_bytes
        preps.append(v)
    return preps


def _c_array(name: str, values, ctype: str = "int32_t") -> str:
    body = ", ".join(str(int(x)) for x in np.asarray(values).ravel())
    return f"static const {ctype} {name}[] = {{{body}}};"


def _main_source(p: Problem, preps: list[Prepared], blobs: list[tuple[str, np.ndarray]]) -> str:
    g = p.g
    lines = ["/* generated by pixmcu bench first-layer: one counted region per variant */",
             "#include <stddef.h>", "#include <stdint.h>", '#include "pm_first_layer.h"', '#include "pm_bench.h"', ""]
    for name, a in blobs:
        lines.append(f"extern const {_CTYPES[a.dtype]} {name}[];")
    lines += ["", "static const pm_first_geom_t geom = {"
              f"{g.in_h}, {g.in_w}, {g.in_c}, {g.out_h}, {g.out_w}, {g.out_c}, {g.k}, {g.k}, {g.stride}, "
              f"{g.stride}, {g.pad_h}, {g.pad_w}}};",
              "#define pixels ((const uint8_t *)pixels)", ""]
    scratch = max([v.scratch_bytes for v in preps] + [16])
    out = max(v.out_bytes for v in preps)
    lines += [f"static uint32_t scratch[{(scratch + 3) // 4}] __attribute__((aligned(16), unused));",
              f"static uint32_t out[{(out + 3) // 4}] __attribute__((aligned(16)));", ""]
    calls = []
    for i, v in enumerate(preps):
        call = re.sub(r"A\((\w+)\)", lambda m, i=i: f"v{i}_{m.group(1)}", v.call)
        rq = v.params.get("rq")
        if rq is not None:
            lines += [_c_array(f"rq{i}_bias", rq.bias), _c_array(f"rq{i}_mult", rq.multiplier),
                      _c_array(f"rq{i}_shift", rq.shift),
                      f"static const pm_first_requant_t rq{i} = {{rq{i}_bias, rq{i}_mult, rq{i}_shift, "
                      f"{rq.output_offset}, {rq.act_min}, {rq.act_max}}};"]
            call = call.replace("&rq", f"&rq{i}")
        calls += [f"    PM_BENCH_START();", f"    {call};", "    PM_BENCH_STOP();",
                  f'    if (pm_bench_write_file("out_{i}.bin", out, {v.out_bytes}u) != 0) {{',
                  f"        return {10 + i};", "    }"]
    lines += ["", "int main(void)", "{", *calls, "    return 0;", "}", ""]
    return "\n".join(lines)
