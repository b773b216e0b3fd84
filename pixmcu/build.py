"""Toolchain driver: compile a generated model with the kernels, the harness and a board port.

`build(outdir)` renders the protocol header, board configuration and linker script into
OUTDIR/build, compiles every source with arm-none-eabi-gcc (argument lists, never a shell string;
objects are rebuilt only when a source, header or flag changed), links OUTDIR/firmware.elf and
.bin, and measures flash and RAM by section. A failing step raises BuildError naming the command.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pixmcu import __version__
from pixmcu.boards import Board, get_board
from pixmcu.errors import PixmcuError
from pixmcu.resources import firmware_dir

TOOL_PREFIX = "arm-none-eabi-"
OPT_FLAGS = ["-O2", "-g", "-std=gnu11", "-Wall", "-Wextra", "-Werror"]
LINK_FLAGS = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections",
              "-Wl,--no-warn-rwx-segments"]
MODEL_OBJ_PREFIX = "pm_model__"
BUILD_INFO = "build.json"
# Estimated-cycles builds: the harness emits the pm_count plugin's region markers (docs/cycles.md).
# Only the harness objects get the define, so kernels and the model compile exactly as normally; the
# build goes to its own directory and never replaces OUTDIR/firmware.elf.
MARKERS_DEFINE = "-DPM_CYCLE_MARKERS=1"
MARKERS_DIR = "build-markers"


class BuildError(PixmcuError):
    """A compile, link or conversion step failed; the message holds the command and its output."""


@dataclass
class BuildResult:
    elf: Path
    bin: Path
    map: Path
    board: Board
    size: dict
    max_payload: int
    compiled: int  # objects actually recompiled (0 when everything was up to date)


def tool(name: str) -> str:
    path = shutil.which(TOOL_PREFIX + name)
    if path is None:
        raise BuildError(f"{TOOL_PREFIX}{name} not found on PATH; install the Arm GNU toolchain "
                         "(Debian: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    return path


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        out = (proc.stderr + proc.stdout).strip()
        raise BuildError(f"command failed (exit {proc.returncode}):\n  {shlex.join(cmd)}\n{out}")
    return proc


def load_manifest(outdir: Path) -> dict:
    path = Path(outdir) / "manifest.json"
    if not path.is_file():
        raise PixmcuError(f"{path} not found: is {outdir} the output of `pixmcu generate`?")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PixmcuError(f"{path}: not valid JSON ({exc})") from None


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _render_generated(gen: Path, board: Board, max_payload: int, rx_idle_polls: int,
                      clock_fallback: bool = True) -> None:
    from host_tools.protocol import render_c_header
    from pixmcu.templating import render_template

    gen.mkdir(parents=True, exist_ok=True)
    _write_if_changed(gen / "pm_protocol.h", render_c_header())
    defines = sorted(board.extra_defines.items())
    _write_if_changed(gen / "pm_board_config.h", render_template("board_config.h.j2", {
        "board": board, "firmware_version": f"pixmcu-{__version__}"[:15], "max_payload": max_payload,
        "rx_idle_polls": rx_idle_polls, "defines": defines, "clock_fallback": clock_fallback,
    }))


def _render_linker_script(path: Path, board: Board) -> None:
    from pixmcu.templating import render_template

    regions = [{"name": board.flash.name, "attrs": "rx", "origin": board.flash.origin, "size": board.flash.size},
               {"name": board.ram.name, "attrs": "rwx", "origin": board.ram.origin, "size": board.ram.size}]
    w = board.weights_region
    if w.name not in (board.flash.name, board.ram.name):
        regions.append({"name": w.name, "attrs": "r", "origin": w.origin, "size": w.size})
    _write_if_changed(path, render_template("linker.ld.j2", {
        "board": board, "regions": regions, "flash": board.flash.name, "ram": board.ram.name,
        "weights": w.name, "model_pattern": f"*{MODEL_OBJ_PREFIX}*.o", "stack_bytes": board.stack_bytes,
    }))


def first_layer_sources(manifest: dict) -> list[Path]:
    """The firmware/first_layer sources a model's fused first layer calls (manifest `first_layer`
    `firmware_sources`, relative to firmware/): its kernel and the adapter; none for other models."""
    fw = firmware_dir()
    rels = (manifest.get("first_layer") or {}).get("firmware_sources") or []
    out = []
    for rel in rels:
        p = fw / rel
        if not rel.startswith("first_layer/") or ".." in Path(rel).parts or not p.is_file():
            raise PixmcuError(f"manifest first_layer names an unknown firmware source {rel!r}")
        out.append(p)
    return out


def _sources(outdir: Path, manifest: dict, board: Board, include_kernels: bool) -> list[tuple[Path, str]]:
    """(source, object name) pairs; model objects carry a prefix the linker script matches."""
    fw = firmware_dir()
    pairs: list[tuple[Path, str]] = []
    for i, rel in enumerate(manifest.get("sources", [])):
        src = outdir / rel
        if not src.is_file():
            raise PixmcuError(f"model source {src} listed in manifest.json does not exist")
        pairs.append((src, f"{MODEL_OBJ_PREFIX}{i}_{src.stem}.o"))
    if include_kernels:
        pairs += [(p, f"kernel__{p.stem}.o") for p in sorted((fw / "kernels").glob("*.c"))]
        pairs += [(p, f"kernel__{p.stem}.o") for p in first_layer_sources(manifest)]
    pairs += [(p, f"harness__{p.stem}.o") for p in sorted((fw / "harness").glob("*.c"))]
    for rel in board.port_sources:
        p = fw / "boards" / rel
        pairs.append((p, f"port__{p.parent.name}_{p.stem}.o"))
    return pairs


def _up_to_date(obj: Path, cmd: list[str]) -> bool:
    cmd_file, dep_file = obj.with_suffix(".cmd"), obj.with_suffix(".d")
    if not (obj.exists() and cmd_file.exists() and dep_file.exists()):
        return False
    if cmd_file.read_text() != "\n".join(cmd):
        return False
    mtime = obj.stat().st_mtime
    deps = dep_file.read_text().replace("\\\n", " ").split(":", 1)[-1].split()
    for dep in deps:
        try:
            if Path(dep).stat().st_mtime > mtime:
                return False
        except FileNotFoundError:
            return False
    return True


def object_cache_dir() -> Path | None:
    """Shared cache of objects that do not depend on the model (kernels, ports) under pixmcu's cache
    directory (pixmcu.cache); PIXMCU_OBJECT_CACHE=off disables it."""
    from pixmcu.cache import cache_dir

    return None if os.environ.get("PIXMCU_OBJECT_CACHE") == "off" else cache_dir("obj")


def _cache_key(cc: str, src: Path, obj: Path, flags: list[str], outdir: Path) -> str:
    """Hash of the preprocessed source and the flags (include paths left out: the preprocessed text
    already holds what they found): the same
    kernel compiled with the same flags and headers gives the same object for every model."""
    dep = obj.with_suffix(".d")
    pre = obj.with_suffix(".i")
    _run([cc, *flags, "-E", "-P", "-MMD", "-MF", str(dep), "-MT", str(obj), str(src), "-o", str(pre)])
    h = hashlib.sha256()
    h.update("\0".join(f for f in flags if not f.startswith("-I")).encode())
    h.update(str(src).encode())
    h.update(pre.read_bytes())
    pre.unlink()
    return h.hexdigest()


def _compile(cc: str, src: Path, obj: Path, flags: list[str], cacheable: bool = False,
             outdir: Path | None = None) -> bool:
    cmd = [cc, *flags, "-MMD", "-MF", str(obj.with_suffix(".d")), "-c", str(src), "-o", str(obj)]
    if _up_to_date(obj, cmd):
        return False
    obj.with_suffix(".cmd").unlink(missing_ok=True)
    cache = object_cache_dir() if cacheable else None
    cached = None
    if cache is not None:
        cached = cache / (_cache_key(cc, src, obj, flags, outdir) + ".o")
        if cached.is_file():
            shutil.copyfile(cached, obj)
            obj.with_suffix(".cmd").write_text("\n".join(cmd))
            return True
    _run(cmd)
    obj.with_suffix(".cmd").write_text("\n".join(cmd))
    if cached is not None:
        try:
            cache.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
            shutil.copyfile(obj, tmp)
            os.replace(tmp, cached)
        except OSError:
            pass  # a read-only or full cache only costs speed
    return True


def build(outdir: str | Path, board: str | None = None, *, max_payload: int | None = None,
          include_kernels: bool = True, jobs: int | None = None, markers: bool = False,
          clock_fallback: bool = True, subdir: str | None = None) -> BuildResult:
    """Build OUTDIR's model into OUTDIR/firmware.elf and .bin for `board` (default: the manifest's).

    markers=True builds the estimated-cycles variant instead: the harness compiled with
    -DPM_CYCLE_MARKERS=1 (plugin START/STOP hints around every layer and the whole inference), in
    OUTDIR/build-markers/ with its ELF at OUTDIR/build-markers/firmware.elf; the normal build and its
    firmware are left untouched. subdir: build in OUTDIR/SUBDIR instead, firmware included (what
    `pixmcu flash` does, so that flashing a board never changes what OUTDIR runs under QEMU).

    clock_fallback=False is a test hook: the port's clock waits never give up (a board whose PLL does
    not lock then hangs before its UART starts), to check that the host reports a silent board."""
    from host_tools.protocol import DEFAULT_MAX_PAYLOAD, MIN_MAX_PAYLOAD

    outdir = Path(outdir).resolve()
    manifest = load_manifest(outdir)
    b = get_board(board or manifest.get("board"))
    max_payload = max_payload or DEFAULT_MAX_PAYLOAD
    if not MIN_MAX_PAYLOAD <= max_payload <= 0xFFFF:
        raise PixmcuError(f"max payload must be between {MIN_MAX_PAYLOAD} and 65535 bytes")
    cc, objcopy = tool("gcc"), tool("objcopy")

    if subdir is not None and (Path(subdir).is_absolute() or ".." in Path(subdir).parts):
        raise PixmcuError(f"build subdirectory {subdir!r} must stay inside {outdir}")
    bdir = outdir / (subdir or (MARKERS_DIR if markers else "build"))
    gen, objdir = bdir / "gen", bdir / "obj"
    objdir.mkdir(parents=True, exist_ok=True)
    _render_generated(gen, b, max_payload, b.rx_idle_polls, clock_fallback)
    ld_script = bdir / "linker.ld"
    _render_linker_script(ld_script, b)

    fw = firmware_dir()
    pairs = _sources(outdir, manifest, b, include_kernels)
    port_dirs = sorted({str((fw / "boards" / rel).parent) for rel in b.port_sources})
    includes = [outdir, gen, fw / "include", fw / "harness", *map(Path, port_dirs)]
    flags = [*b.cflags, *OPT_FLAGS, *(f"-I{p}" for p in includes)]

    workers = jobs or min(2, os.cpu_count() or 1)
    harness_flags = [*flags, MARKERS_DEFINE] if markers else flags
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_compile, cc, src, objdir / name,
                               harness_flags if name.startswith("harness__") else flags,
                               name.startswith(("kernel__", "port__")), outdir) for src, name in pairs]
        # Surface the first failure in source order, after every compile has finished.
        results = [f.exception() or f.result() for f in futures]
    for r in results:
        if isinstance(r, BaseException):
            raise r
    compiled = sum(1 for r in results if r is True)

    fwdir = bdir if markers or subdir else outdir
    elf, binf, mapf = fwdir / "firmware.elf", fwdir / "firmware.bin", bdir / "firmware.map"
    objs = [str(objdir / name) for _, name in pairs]
    _run([cc, *b.cflags, "-T", str(ld_script), *LINK_FLAGS, f"-Wl,-Map={mapf}", *objs, "-lm", "-o", str(elf)])
    separate_weights = b.weights_region.name != b.flash.name
    if separate_weights:
        # A single image would span the gap between the code and weights regions.
        _run([objcopy, "-O", "binary", "-R", ".weights", str(elf), str(binf)])
        _run([objcopy, "-O", "binary", "-j", ".weights", str(elf), str(fwdir / "firmware.weights.bin")])
    else:
        _run([objcopy, "-O", "binary", str(elf), str(binf)])

    size = size_report(elf, b, manifest)
    info = {"board": b.name, "max_payload": max_payload, "model_sha256": manifest.get("model_sha256"),
            "elf": elf.name, "bin": binf.name, "size": size, "markers": markers, "clock_fallback": clock_fallback}
    (bdir / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n")
    return BuildResult(elf, binf, mapf, b, size, max_payload, compiled)


def read_build_info(outdir: str | Path) -> dict | None:
    path = Path(outdir) / "build" / BUILD_INFO
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def elf_sections(elf: Path) -> dict[str, tuple[int, int]]:
    """{section: (size, address)} of the allocated sections, from `size -A`."""
    proc = _run([tool("size"), "-A", "-d", str(elf)])
    out = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit() \
                and not parts[0].startswith(_NOT_LOADED):
            out[parts[0]] = (int(parts[1]), int(parts[2]))
    return out


_NOT_LOADED = (".debug", ".comment", ".ARM.attributes", ".stab")
_CODE = (".vectors", ".text", ".rodata", ".ARM.extab", ".ARM.exidx")


def size_report(elf: Path, board: Board, manifest: dict | None = None) -> dict:
    secs = elf_sections(elf)

    def sz(name: str) -> int:
        return secs.get(name, (0, 0))[0]

    code = sum(sz(s) for s in _CODE)
    weights, data = sz(".weights"), sz(".data")
    w_in_flash = board.weights_region.name == board.flash.name
    flash_used = code + data + (weights if w_in_flash else 0)
    ram = {"data": data, "bss": sz(".bss"), "arena": sz(".arena"), "stack": sz(".stack")}
    ram_used = sum(ram.values())
    report = {
        "board": board.name,
        "flash": {"code": code, "weights": weights if w_in_flash else 0, "data_init": data,
                  "used": flash_used, "size": board.flash.size, "region": board.flash.name},
        "ram": {**ram, "used": ram_used, "size": board.ram.size, "region": board.ram.name},
        "sections": {k: {"size": v[0], "addr": v[1]} for k, v in secs.items()},
    }
    if not w_in_flash:
        report["weights"] = {"weights": weights, "used": weights, "size": board.weights_region.size,
                             "region": board.weights_region.name}
    if manifest and manifest.get("arena_bytes") is not None:
        report["ram"]["arena_planned"] = manifest["arena_bytes"]
    return report


def format_size_report(size: dict) -> str:
    def pct(used, total):
        return f"{100.0 * used / total:5.1f}%" if total else "  n/a"

    f, r = size["flash"], size["ram"]
    lines = [
        f"flash ({f['region']}): {f['used']:>9,} of {f['size']:,} bytes ({pct(f['used'], f['size'])})",
        f"  code {f['code']:,}  weights {f['weights']:,}  data init {f['data_init']:,}",
    ]
    if "weights" in size:
        w = size["weights"]
        lines.append(f"weights ({w['region']}): {w['used']:>9,} of {w['size']:,} bytes ({pct(w['used'], w['size'])})")
    lines += [
        f"RAM ({r['region']}):   {r['used']:>9,} of {r['size']:,} bytes ({pct(r['used'], r['size'])})",
        f"  arena {r['arena']:,}  stack {r['stack']:,}  data {r['data']:,}  bss {r['bss']:,}",
    ]
    return "\n".join(lines)
