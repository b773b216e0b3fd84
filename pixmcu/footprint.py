"""Predict the flash and RAM of the firmware `pixmcu build` makes from a generated OUTDIR, without building it.

The prediction adds three measured parts, laid out as the linker script lays them out:
- the model's own object (`NAME.c`: parameter structs, the call sequence, the arena), compiled once
  with the board's flags (small and quick: the big constant arrays are in `NAME_data.c`);
- the constant arrays, from their declarations in `NAME_data.h` (each is 16-byte aligned);
- everything else (harness, board port, the kernels the model calls, libc), measured by linking a stub
  model that calls exactly those kernels. The stub link is cached per board, kernel set and firmware
  source content, so it tracks the kernels as they change and costs one link per new combination.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from pixmcu.boards import Board
from pixmcu.errors import PixmcuError

# The stub's I/O buffer sizes; the harness's pm_input/pm_output are then resized to the model's.
_STUB_IO = 16
_CALL = re.compile(r"\bstatus = (pm_\w+)\(")
_DECL = re.compile(r"extern const (\w+) (\w+)\[(\d+)\];")
_ELEM = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "uint32_t": 4, "float": 4}
_CODE = (".vectors", ".text", ".rodata", ".ARM.extab", ".ARM.exidx")
FOOTPRINT_VERSION = 1


class DoesNotFitError(PixmcuError):
    """The firmware for a model would not fit the board's flash or RAM."""


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def called_kernels(model_c: str) -> list[str]:
    """The kernel and adapter functions a generated model source calls."""
    return sorted(set(_CALL.findall(model_c)))


def data_arrays(data_h: str) -> list[tuple[str, int]]:
    """(symbol, bytes) of every constant array declared in a generated NAME_data.h."""
    out = []
    for ctype, sym, n in _DECL.findall(data_h):
        if ctype not in _ELEM:
            raise PixmcuError(f"constant array {sym} has an unknown C type {ctype}")
        out.append((sym, _ELEM[ctype] * int(n)))
    return out


def _firmware_digest() -> str:
    """Content hash of everything a stub link depends on: firmware/, templates/ and the build flags."""
    from pixmcu import build
    from pixmcu.resources import firmware_dir, templates_dir

    h = hashlib.sha256(f"v{FOOTPRINT_VERSION}".encode())
    h.update(json.dumps([build.OPT_FLAGS, build.LINK_FLAGS]).encode())
    # Another compiler (or version) links other sizes.
    h.update(build._run([build.tool("gcc"), "--version"]).stdout.encode())
    for root in (firmware_dir(), templates_dir()):
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix in (".c", ".h", ".j2", ".ld"):
                h.update(str(p.relative_to(root)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def _objdump_sections(obj: Path) -> list[tuple[str, int, int]]:
    """(name, size, alignment) of the sections of an object file, from objdump -h."""
    from pixmcu.build import _run, tool

    out = []
    for line in _run([tool("objdump"), "-h", str(obj)]).stdout.splitlines():
        parts = line.split()
        if len(parts) == 7 and parts[0].isdigit() and parts[6].startswith("2**"):
            out.append((parts[1], int(parts[2], 16), 1 << int(parts[6][3:])))
    return out


def _stub_sources(kernels: list[str], layers: int) -> tuple[str, str]:
    header = "\n".join([
        "#ifndef PM_MODEL_H", "#define PM_MODEL_H", "#include <stdint.h>",
        '#define PM_MODEL_NAME "stub"', f'#define PM_MODEL_HASH "{"0" * 64}"',
        f"#define PM_MODEL_INPUT_BYTES {_STUB_IO}", f"#define PM_MODEL_OUTPUT_BYTES {_STUB_IO}",
        f"#define PM_MODEL_NUM_LAYERS {layers}", "#define PM_MODEL_ARENA_BYTES 16",
        "int pm_model_init(void);", "int pm_model_invoke(const int8_t *input, int8_t *output);", "#endif", ""])
    # Declared here without their prototypes: only their addresses matter, to keep them linked.
    decls = [f"extern void {k}(void);" for k in kernels]
    table = ", ".join(kernels) or "0"
    source = "\n".join([
        "#include <stdint.h>", '#include "pm_hooks.h"', '#include "pm_model.h"', *decls,
        f"static void (*const pm_stub_kernels[])(void) = {{{table}}};",
        "int pm_model_init(void) { return 0; }",
        "int pm_model_invoke(const int8_t *input, int8_t *output)",
        "{ pm_hook_layer_begin(0); pm_hook_layer_end(0, output, 0u);",
        "  return (int)(uintptr_t)pm_stub_kernels[(uint8_t)input[0] % "
        "(sizeof pm_stub_kernels / sizeof pm_stub_kernels[0])]; }", ""])
    return header, source


def _link_stub(board: Board, kernels: list[str], first_layer_sources: list[Path], layers: int) -> dict:
    """Sizes of the firmware for `board` around a stub model that calls `kernels` and has `layers` layers."""
    from pixmcu import build
    from pixmcu.resources import firmware_dir

    fw = firmware_dir()
    cc = build.tool("gcc")
    header, source = _stub_sources(kernels, layers)
    with tempfile.TemporaryDirectory(prefix="pixmcu-footprint-") as tmp:
        tmp = Path(tmp)
        (tmp / "pm_model.h").write_text(header)
        (tmp / "stub_model.c").write_text(source)
        gen, objdir = tmp / "gen", tmp / "obj"
        objdir.mkdir()
        build._render_generated(gen, board, 1024, board.rx_idle_polls)
        build._render_linker_script(tmp / "linker.ld", board)
        manifest = {"sources": ["stub_model.c"],
                    "first_layer": {"firmware_sources": [str(p.relative_to(fw)) for p in first_layer_sources]}}
        pairs = build._sources(tmp, manifest, board, include_kernels=True)
        port_dirs = sorted({str((fw / "boards" / rel).parent) for rel in board.port_sources})
        includes = [tmp, gen, fw / "include", fw / "harness", *map(Path, port_dirs)]
        flags = [*board.cflags, *build.OPT_FLAGS, *(f"-I{p}" for p in includes)]
        for src, name in pairs:
            build._compile(cc, src, objdir / name, flags, cacheable=not name.startswith(build.MODEL_OBJ_PREFIX))
        stub_text = sum(s for n, s, _ in _objdump_sections(objdir / pairs[0][1]) if n.startswith(".text"))
        elf = tmp / "stub.elf"
        build._run([cc, *board.cflags, "-T", str(tmp / "linker.ld"), *build.LINK_FLAGS,
                    *(str(objdir / n) for _, n in pairs), "-lm", "-o", str(elf)])
        sizes = {k: v[0] for k, v in build.elf_sections(elf).items()}
    return {"code": sum(sizes.get(s, 0) for s in _CODE) - stub_text, "data": sizes.get(".data", 0),
            "bss": sizes.get(".bss", 0), "stack": sizes.get(".stack", 0)}


def runtime_footprint(board: Board, kernels: list[str], first_layer_sources: list[Path]) -> dict:
    """What the harness, port, kernels and libc add to the firmware for `board` (cached): code, data,
    stack, and .bss as `bss` plus `bss_per_layer` per model layer, around stub I/O buffers of
    `stub_io_bytes` each."""
    from pixmcu.cache import cache_dir
    from pixmcu.resources import firmware_dir

    fw = firmware_dir()
    key = hashlib.sha256(json.dumps([board.name, board.cflags, board.stack_bytes, _stub_sources(kernels, 1),
                                     [str(p.relative_to(fw)) for p in first_layer_sources],
                                     _firmware_digest()]).encode()).hexdigest()
    cached = cache_dir("footprint") / f"{key}.json"
    try:
        return json.loads(cached.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        pass
    one = _link_stub(board, kernels, first_layer_sources, 1)
    two = _link_stub(board, kernels, first_layer_sources, 2)
    result = {**one, "bss_per_layer": two["bss"] - one["bss"], "stub_io_bytes": _STUB_IO}
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp_file = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        tmp_file.write_text(json.dumps(result))
        os.replace(tmp_file, cached)
    except OSError:
        pass  # a read-only cache only costs time
    return result


def model_object(board: Board, outdir: Path, source: str) -> dict:
    """text / rodata sections and bss of the generated model source compiled for `board`."""
    from pixmcu import build
    from pixmcu.resources import firmware_dir

    fw = firmware_dir()
    cc = build.tool("gcc")
    with tempfile.TemporaryDirectory(prefix="pixmcu-footprint-") as tmp:
        obj = Path(tmp) / "model.o"
        flags = [*board.cflags, *build.OPT_FLAGS, f"-I{outdir}", f"-I{fw / 'include'}", f"-I{fw / 'first_layer'}"]
        build._run([cc, *flags, "-c", str(outdir / source), "-o", str(obj)])
        secs = _objdump_sections(obj)
    return {"text": sum(s for n, s, _ in secs if n.startswith(".text")),
            "rodata": [(s, a) for n, s, a in secs if n.startswith(".rodata") and s],
            "bss": sum(s for n, s, _ in secs if n.startswith(".bss"))}


def predict(outdir: str | Path, manifest: dict, board: Board) -> dict:
    """Predicted size report of `pixmcu build OUTDIR --board BOARD`: the shape of pixmcu.build.size_report."""
    from pixmcu.build import first_layer_sources

    outdir = Path(outdir)
    name = manifest["name"]
    model_c = (outdir / f"{name}.c").read_text()
    kernels = called_kernels(model_c)
    arrays = data_arrays((outdir / f"{name}_data.h").read_text())
    have_tools = shutil.which("arm-none-eabi-gcc") is not None
    if have_tools:
        rt = runtime_footprint(board, kernels, first_layer_sources(manifest))
        mo = model_object(board, outdir, f"{name}.c")
    else:  # without the toolchain only the model's data and arena are known: a lower bound
        rt = {"code": 0, "data": 0, "bss": 0, "bss_per_layer": 0, "stack": board.stack_bytes, "stub_io_bytes": 0}
        mo = {"text": 0, "rodata": [], "bss": _align(max(manifest["arena_bytes"], 16), 16)}

    # .weights: the model source's read-only data first (objects in manifest order), then the arrays.
    pos = 0
    for size, align in mo["rodata"]:
        pos = _align(pos, align) + size
    param_bytes = pos
    for _, size in arrays:
        pos = _align(pos, 16) + size
    weights = _align(pos, 16)
    code = rt["code"] + mo["text"]
    data = rt["data"]
    # The harness's .bss grows with the model's I/O buffers (16-byte aligned) and per-layer records.
    io = _align(manifest["input"]["bytes"], 16) + _align(manifest["output"]["bytes"], 16)
    fixed = rt["bss"] - 2 * _align(rt["stub_io_bytes"], 16) - rt["bss_per_layer"] if have_tools else 0
    bss = _align(fixed + io + rt["bss_per_layer"] * len(manifest["layers"]), 8)
    arena = _align(mo["bss"], 16)
    w_in_flash = board.weights_region.name == board.flash.name
    flash_used = code + data + (weights if w_in_flash else 0)
    ram = {"data": data, "bss": bss, "arena": arena, "stack": rt["stack"]}
    report = {
        "board": board.name, "code_measured": have_tools, "kernels": kernels,
        "flash": {"code": code, "weights": weights if w_in_flash else 0, "data_init": data, "used": flash_used,
                  "size": board.flash.size, "region": board.flash.name,
                  "parts": {"harness_kernels_libc": rt["code"], "model_code": mo["text"],
                            "model_params": param_bytes, "constant_arrays": sum(s for _, s in arrays)}},
        "ram": {**ram, "used": sum(ram.values()), "size": board.ram.size, "region": board.ram.name,
                "arena_planned": manifest["arena_bytes"]},
    }
    if not w_in_flash:
        report["weights"] = {"weights": weights, "used": weights, "size": board.weights_region.size,
                             "region": board.weights_region.name}
    return report


def verdict(report: dict) -> tuple[bool, list[str]]:
    """(fits, what overflows) for a predicted or measured size report."""
    over = []
    for key in ("flash", "weights", "ram"):
        r = report.get(key)
        if r and r["used"] > r["size"]:
            over.append(f"{key} {r['region']}: {r['used']:,} bytes needed, {r['size']:,} available "
                        f"({r['used'] - r['size']:,} over)")
    return not over, over


def does_not_fit_message(model: str, report: dict, over: list[str]) -> str:
    f = report["flash"]
    return (f"{model} does not fit {report['board']}: " + "; ".join(over) +
            f". Predicted flash {f['used']:,} bytes (code {f['code']:,}, constant data {f['weights']:,}, "
            f"initialised data {f['data_init']:,}); RAM {report['ram']['used']:,} bytes (arena "
            f"{report['ram']['arena']:,}). Choose a board with more memory (`pixmcu boards`), a smaller model, "
            f"or smaller weight layouts or first layer (`pixmcu generate --help`); `pixmcu analyze` shows where "
            f"the bytes go.")
