"""What a device's raw counts mean: the unit a report gives them in, how to convert them, and when
they mean nothing at all.

The firmware says in its handshake which counter it used (protocol.COUNTERS). Runs without a
handshake (semihosting bulk files) fall back to what the board table says. A counter that read zero
on every inference measured nothing: the report then says "cycle counter unavailable", never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from host_tools import protocol as P
from pixmcu.boards import Board

UNAVAILABLE = "cycle counter unavailable"
SYSTICK_TICKS = "SysTick ticks"


@dataclass(frozen=True)
class Counting:
    unit: str | None  # "cycles", "instructions", SYSTICK_TICKS; None: no count at all
    convert: Callable[[int], float] | None
    note: str | None = None

    @property
    def available(self) -> bool:
        return self.unit is not None


def _identity(ticks: int) -> float:
    return float(ticks)


def counting_for(board: Board, counter_kind: int | None = None) -> Counting:
    """How to read counts from `board`, whose firmware reported `counter_kind` (None: not known)."""
    if counter_kind is None:
        counter_kind = P.COUNTERS["SYSTICK_ICOUNT" if board.counter == "instructions" else "DWT_CYCLES"]
    if counter_kind == P.COUNTERS["DWT_CYCLES"]:
        return Counting("cycles", _identity)
    if counter_kind == P.COUNTERS["SYSTICK_ICOUNT"] and board.icount_shift is not None:
        return Counting("instructions", board.ticks_to_count,
                        "guest instructions counted by QEMU (-icount shift=%d, SysTick); not cycles"
                        % board.icount_shift)
    if counter_kind == P.COUNTERS["SYSTICK_CYCLES"]:
        return Counting(SYSTICK_TICKS, _identity,
                        "DWT CYCCNT did not advance on the device, so SysTick counted ticks of the core clock "
                        "instead: on silicon one tick is one core cycle; under an emulator it is emulated time, "
                        "which follows the instructions executed only with QEMU's -icount (docs/boards.md)")
    if counter_kind == P.COUNTERS["NONE"]:
        return Counting(None, None, f"{UNAVAILABLE}: neither DWT CYCCNT nor SysTick advanced on the device")
    return Counting(None, None, f"{UNAVAILABLE}: the device reported counter code {counter_kind}, which this "
                                "host does not know")


def check_counts(counting: Counting, totals: list[int]) -> Counting:
    """`counting`, or UNAVAILABLE when every inference's total read zero (a counter that never moved)."""
    if counting.available and totals and not any(totals):
        return Counting(None, None, f"{UNAVAILABLE}: the device's {counting.unit} counter read zero on every "
                                    "inference, so it is not counting")
    return counting
