"""SIGTERM and SIGHUP end a command the way Ctrl-C does: as an exception, so every `finally` and
context manager runs (QEMU children are stopped, finished results and reports are written).

Python's default for SIGTERM and SIGHUP is to die at once, which left QEMU running, holding its port.
`Terminated` subclasses KeyboardInterrupt so the paths that already keep results on Ctrl-C apply.
A second signal while that cleanup runs is ignored rather than cutting the cleanup short (SIGKILL
still ends the process).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

HANDLED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.reason = f"terminated by {signal.Signals(signum).name}"

    def __str__(self) -> str:
        return self.reason


def interruption_reason(exc: BaseException) -> str:
    """What a report says about a run stopped by Ctrl-C or a termination signal."""
    return getattr(exc, "reason", "interrupted")


@contextlib.contextmanager
def terminate_as_exception() -> Iterator[None]:
    """Within the block, SIGTERM/SIGHUP raise Terminated in the main thread; handlers are restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, _frame):
        if fired:
            return
        fired.append(signum)
        raise Terminated(signum)

    previous = {s: signal.signal(s, handler) for s in HANDLED}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends: for steps that must happen together (a
    result's line in the results file and its place in the report), so an interruption lands before or
    after them, never between."""
    sigs = {signal.SIGINT, *HANDLED}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
