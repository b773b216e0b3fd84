"""The one on-disk cache pixmcu keeps (compiled objects, the QEMU plugin, decoded datasets).

Root: `$PIXMCU_CACHE_DIR`, else `$XDG_CACHE_HOME/pixmcu`, else `~/.cache/pixmcu`. Everything in it is
derived data keyed by content hashes, so deleting it only costs rebuild time.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    env = os.environ.get("PIXMCU_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pixmcu"


def cache_dir(*parts: str) -> Path:
    return cache_root().joinpath(*parts)
