"""Run a firmware image under QEMU with the pm_count plugin and read back its per-region counts."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pixmcu.boards import get_board
from pixmcu.cycles import cost_tables
from pixmcu.cycles.plugin import plugin_path
from pixmcu.errors import PixmcuError


@dataclass
class RegionCounts:
    """Counts of one START..STOP region: instructions executed (exact, as QEMU ran them) per class."""

    index: int
    insns: int
    classes: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)

    def estimated_cycles(self, core: str = "cortex-m4") -> float:
        return estimate(self, core)


def estimate(counts: RegionCounts | dict, core: str = "cortex-m4") -> float:
    """Estimated cycles (not measured) of a region's counts on `core`, from the cost table."""
    if isinstance(counts, dict):
        return cost_tables.apply(counts.get("classes", {}), counts.get("events", {}), core)
    return cost_tables.apply(counts.classes, counts.events, core)


def parse_plugin_output(text: str) -> list[RegionCounts]:
    classes: list[str] = []
    events: list[str] = []
    regions = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "classes":
            classes = parts[1:]
        elif parts[0] == "events":
            events = parts[1:]
        elif parts[0] == "region":
            ci, ei = parts.index("classes"), parts.index("events")
            cvals = [int(v) for v in parts[ci + 1:ei]]
            evals = [int(v) for v in parts[ei + 1:]]
            regions.append(RegionCounts(int(parts[1]), int(parts[3]), dict(zip(classes, cvals)),
                                        dict(zip(events, evals))))
    return regions


def qemu_binary() -> str:
    path = shutil.which("qemu-system-arm")
    if path is None:
        raise PixmcuError("qemu-system-arm not found on PATH (Debian: apt-get install qemu-system-arm)")
    return path


def count_regions(elf: str | Path, board: str = "qemu-m4", *, timeout: float = 120.0,
                  cwd: str | Path | None = None, profile: str | Path | None = None
                  ) -> tuple[list[RegionCounts], int]:
    """Run `elf` on the QEMU `board` with the counting plugin; return (regions, exit status).

    The firmware marks regions with the START/STOP hints of firmware/first_layer/bench/pm_bench.h
    and exits through semihosting; semihosting file writes land relative to `cwd`. `profile` names a
    file for per-address execution counts inside the regions (slow; for tuning kernels).
    """
    b = get_board(board)
    if not b.is_qemu:
        raise PixmcuError(f"board {b.name} is not a QEMU board: estimated cycles need the QEMU plugin")
    plugin = plugin_path()
    with tempfile.TemporaryDirectory(prefix="pm_count_") as tmp:
        out = Path(tmp) / "counts.txt"
        cmd = [qemu_binary(), "-M", b.qemu_machine, "-nographic", "-monitor", "none", "-serial", "none",
               "-semihosting-config", "enable=on,target=native", "-kernel", str(elf),
               "-plugin", f"{plugin},out={out}" + (f",profile={Path(profile).resolve()}" if profile else "")]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
        except subprocess.TimeoutExpired:
            raise PixmcuError(f"QEMU did not exit within {timeout:.0f} s running {elf}") from None
        if not out.exists():
            raise PixmcuError(f"QEMU did not load the counting plugin:\n{proc.stderr.strip()}")
        return parse_plugin_output(out.read_text()), proc.returncode
