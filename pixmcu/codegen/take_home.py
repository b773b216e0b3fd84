"""The generated C as a package for someone else's firmware: OUTDIR/CMakeLists.txt (a static library),
OUTDIR/pixmcu.mk (a Makefile fragment) and OUTDIR/pm_runtime/ (the kernels the model calls, the headers
and no-op layer hooks), all rendered or copied deterministically."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from pixmcu.codegen.outdir import OutDir
from pixmcu.errors import PixmcuError
from pixmcu.resources import firmware_dir
from pixmcu.templating import render_template

RUNTIME = "pm_runtime"
_CALL = re.compile(r"\b(pm_\w+)\s*\(")
# Header directories copied whole (small); the include paths a kernel source expects.
_HEADER_DIRS = ("include", "kernels", "first_layer")


def kernel_sources(model_c: str, first_layer_sources: list[str]) -> list[str]:
    """firmware/-relative sources the model needs: each called kernel's file, the kernels those call, and
    the fused first layer's sources (one public function per file, so the file is named after it)."""
    fw = firmware_dir()
    by_name = {p.stem: p.relative_to(fw).as_posix() for p in (fw / "kernels").glob("*.c")}
    todo = [by_name[n] for n in sorted(set(_CALL.findall(model_c))) if n in by_name] + list(first_layer_sources)
    seen: list[str] = []
    while todo:
        rel = todo.pop(0)
        if rel in seen:
            continue
        seen.append(rel)
        todo += [by_name[n] for n in sorted(set(_CALL.findall((fw / rel).read_text())))
                 if n in by_name and by_name[n] not in seen]
    return sorted(seen)


def write_take_home(out_dir: Path, manifest: dict, cpu_flags: list[str]) -> dict:
    """Write CMakeLists.txt, pixmcu.mk and pm_runtime/ into out_dir; returns the manifest's `take_home`."""
    fw = firmware_dir()
    name = manifest["name"]
    runtime = out_dir / RUNTIME
    if runtime.is_symlink() or (runtime.exists() and not runtime.is_dir()):
        raise PixmcuError(f"{runtime} is a link or a file; pixmcu replaces only a pm_runtime/ directory it "
                          f"made. Remove it, or generate into another OUTDIR")
    if runtime.exists():
        shutil.rmtree(runtime)
    rels = kernel_sources((out_dir / f"{name}.c").read_text(),
                          (manifest.get("first_layer") or {}).get("firmware_sources") or [])
    headers = sorted(p.relative_to(fw).as_posix() for d in _HEADER_DIRS for p in (fw / d).glob("*.h"))
    for rel in [*rels, *headers, "export/pm_hooks_none.c"]:
        dest = runtime / (Path(rel).name if rel.startswith("export/") else rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fw / rel, dest)
    sources = [*manifest["sources"], *(f"{RUNTIME}/{r}" for r in rels)]
    includes = [f"{RUNTIME}/{d}" for d in _HEADER_DIRS if d != "include"]
    ctx = {"provenance": manifest["provenance"], "name": name, "upper": name.upper(),
           "board": manifest["board"], "core": manifest["core"], "cpu_flags": " ".join(cpu_flags),
           "sources": sources, "private_includes": includes}
    out = OutDir(out_dir)
    out.write("CMakeLists.txt", render_template("CMakeLists.txt.j2", ctx))
    out.write("pixmcu.mk", render_template("pixmcu.mk.j2", ctx))
    return {"cmake": "CMakeLists.txt", "make": "pixmcu.mk", "runtime": RUNTIME, "kernel_sources": rels}
