"""Build (once, cached) and locate the pm_count QEMU TCG plugin.

The plugin is C, compiled with the host's gcc at first use into a cache directory keyed by the hash
of its sources, so an edited plugin is rebuilt and an unchanged one is never rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from pixmcu.errors import PixmcuError
from pixmcu.resources import firmware_dir

SOURCES = ("pm_count.c", "pm_plugin_api.h")


def plugin_source_dir() -> Path:
    return firmware_dir() / "tools" / "qemu_plugin"


def cache_dir() -> Path:
    from pixmcu.cache import cache_dir as root

    return root("qemu_plugin")


def _digest(src: Path) -> str:
    h = hashlib.sha256()
    for name in SOURCES:
        h.update(name.encode())
        h.update((src / name).read_bytes())
    return h.hexdigest()[:16]


def plugin_path() -> Path:
    """Path of the built plugin (.so), building it with the host compiler if needed."""
    src = plugin_source_dir()
    out = cache_dir() / f"pm_count-{_digest(src)}.so"
    if out.is_file():
        return out
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise PixmcuError("the estimated-cycles plugin needs a host C compiler (gcc or cc) to build "
                          "firmware/tools/qemu_plugin/pm_count.c once; none was found on PATH "
                          "(Debian: apt-get install gcc)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    cmd = [cc, "-O2", "-shared", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra", "-Werror",
           str(src / "pm_count.c"), "-o", str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PixmcuError(f"building the QEMU plugin failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                          f"{proc.stderr.strip()}")
    os.replace(tmp, out)  # atomic, so concurrent first uses never see a half-written file
    return out
