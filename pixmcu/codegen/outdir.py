"""Writing a generated model into OUTDIR without ever writing outside it.

- Every file is written to a fresh temporary file in OUTDIR and renamed over its target, so a reader
  sees the old file or the new one, never half of one, and a rename replaces a link instead of
  following it.
- A symbolic link (or a directory) where a generated file goes is refused before anything is written:
  `OUTDIR/manifest.json -> ~/.bashrc` must not overwrite `~/.bashrc`.
- The files a previous `generate` listed in OUTDIR's manifest (`sources`, `headers`, `source_file`)
  that the new model does not write are removed, so model A's C files do not linger beside model B's.
  Only plain names inside OUTDIR are removed; a manifest naming `../x` is ignored.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from pixmcu.errors import PixmcuError

MANIFEST = "manifest.json"


def _plain_name(name: object) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name \
        and "\0" not in name


class OutDir:
    """OUTDIR, created if needed; `prepare(names)` checks targets and removes stale files, then
    `write(name, data)` replaces one file atomically."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise PixmcuError(f"{self.path}: OUTDIR is an existing file, not a directory; choose another -o")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise PixmcuError(f"{self.path}: cannot create OUTDIR: a part of the path is a file") from None
        except OSError as exc:
            raise PixmcuError(f"{self.path}: cannot create OUTDIR ({exc.strerror or exc})") from None

    def _check_target(self, name: str) -> Path:
        if not _plain_name(name):
            raise PixmcuError(f"{name!r} is not a plain file name inside OUTDIR")
        target = self.path / name
        if target.is_symlink():
            raise PixmcuError(f"{target} is a symbolic link (to {os.readlink(target)}); pixmcu does not write "
                              f"through links. Remove it, or generate into another OUTDIR")
        if target.exists() and not target.is_file():
            raise PixmcuError(f"{target} exists and is not a regular file; remove it, or generate into another "
                              f"OUTDIR")
        return target

    def previous_files(self) -> set[str]:
        """The generated files the manifest already in OUTDIR lists (empty without a readable one)."""
        manifest = self.path / MANIFEST
        if manifest.is_symlink() or not manifest.is_file():
            return set()
        try:
            old = json.loads(manifest.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return set()
        if not isinstance(old, dict):
            return set()
        listed = [*(old.get("sources") or []), *(old.get("headers") or []), old.get("source_file")]
        return {n for n in listed if _plain_name(n)}

    def prepare(self, names: list[str]) -> list[str]:
        """Check every target before writing any; remove the previous model's files not in `names`.
        Returns the names removed."""
        for name in [*names, MANIFEST]:
            self._check_target(name)
        stale = sorted(self.previous_files() - set(names) - {MANIFEST})
        for name in stale:
            target = self.path / name
            if target.is_symlink() or target.is_file():
                try:
                    target.unlink()
                except OSError as exc:
                    raise PixmcuError(f"{target}: cannot remove the previous model's file "
                                      f"({exc.strerror or exc})") from None
        return stale

    def write(self, name: str, data: str | bytes) -> Path:
        target = self._check_target(name)
        raw = data.encode() if isinstance(data, str) else data
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.path)
        except OSError as exc:
            raise PixmcuError(f"{self.path}: cannot write in OUTDIR ({exc.strerror or exc})") from None
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except OSError as exc:
            raise PixmcuError(f"{target}: cannot write ({exc.strerror or exc})") from None
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        return target

    def install(self, stage: Path) -> None:
        """Move a model generated into the staging directory `stage` into OUTDIR with the same checks as
        `generate` (targets checked first, the previous model's files removed, files replaced atomically,
        directories such as pm_runtime/ replaced whole); the manifest goes last, so it only ever lists a
        complete model."""
        entries = sorted(stage.iterdir())
        files = [f.name for f in entries if f.is_file() and f.name != MANIFEST]
        dirs = [d.name for d in entries if d.is_dir()]
        for name in dirs:
            target = self.path / name
            if target.is_symlink() or (target.exists() and not target.is_dir()):
                raise PixmcuError(f"{target} exists and is not a directory pixmcu made (a link or a file); "
                                  f"remove it, or generate into another OUTDIR")
        self.prepare(files)
        for name in dirs:
            target = self.path / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(stage / name, target, symlinks=True)
        for name in files:
            self.write(name, (stage / name).read_bytes())
        if (stage / MANIFEST).is_file():
            self.write(MANIFEST, (stage / MANIFEST).read_bytes())
