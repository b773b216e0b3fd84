"""Per-image results, kept safe as they arrive: one JSON line per finished image, flushed at once.

REPORT.json's companion REPORT.jsonl starts with a header line (model, data, board) and then holds
one line per image. A run killed at any point loses at most the line being written; `--resume`
reads the file back (dropping a torn last line) and skips the images already there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pixmcu.errors import PixmcuError
from pixmcu.signals import signals_deferred


def results_path(json_path: Path) -> Path:
    return json_path.with_suffix(".jsonl")


class ResultStore:
    """Append-only store of image records; `records` maps image index to its record."""

    def __init__(self, json_path: Path | None, header: dict, resume: bool = False):
        self.header = header
        self.records: dict[int, dict] = {}
        self.path = results_path(Path(json_path)) if json_path else None
        self._fh = None
        if self.path is None:
            if resume:
                raise PixmcuError("--resume needs --json REPORT.json (the results are kept beside it)")
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume and self.path.exists():
            self._load()
            self._fh = open(self.path, "a", encoding="utf-8")
        else:
            self._fh = open(self.path, "w", encoding="utf-8")
            self._write(header)

    def _load(self) -> None:
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        good, offset = [], 0
        for line in lines:
            if not line.strip():
                offset += len(line) + 1
                continue
            try:
                good.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line from an interrupted write
            offset += len(line) + 1
        if offset < len(raw):
            with open(self.path, "r+b") as fh:
                fh.truncate(min(offset, len(raw)))
        if not good or good[0].get("kind") != "header":
            raise PixmcuError(f"cannot resume: {self.path} has no header line")
        old = good[0]
        for key in ("model_sha256", "input_bytes", "data"):
            if old.get(key) != self.header.get(key):
                raise PixmcuError(f"cannot resume from {self.path}: it was made with {key}={old.get(key)!r}, "
                                  f"this run has {self.header.get(key)!r}")
        for rec in good[1:]:
            if rec.get("kind") == "image":
                self.records[int(rec["image"])] = rec
        if not raw.endswith(b"\n") and offset >= len(raw):
            with open(self.path, "ab") as fh:
                fh.write(b"\n")

    def _write(self, obj: dict) -> None:
        self._fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._fh.flush()

    def add(self, record: dict) -> None:
        record = {"kind": "image", **record}
        with signals_deferred():  # the file and the report always hold the same images
            if self._fh is not None:
                self._write(record)
            self.records[int(record["image"])] = record

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def write_json_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)
