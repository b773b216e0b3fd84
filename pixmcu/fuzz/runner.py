"""Run one mutant in a forked child with a time and memory limit, and classify what happened.

Outcomes: "accepted" (ran to the end), "rejected" (a PixmcuError: pixmcu's own one-paragraph error),
and the escapes: "exception" (any other exception), "timeout", "memory" (peak resident growth over the
limit, or MemoryError), "crash" (the child died from a signal), "wrong" (a target's own oracle failed).
"""

from __future__ import annotations

import faulthandler
import json
import os
import resource
import select
import signal
import time
import traceback
from dataclasses import dataclass
from typing import Callable

from pixmcu.errors import PixmcuError

ESCAPES = ("exception", "timeout", "memory", "crash", "wrong")


class WrongResult(Exception):
    """Raised by a target whose oracle sees a result that is not what the input asked for."""


@dataclass
class Outcome:
    status: str
    detail: str = ""
    seconds: float = 0.0
    peak_mb: float = 0.0

    @property
    def escaped(self) -> bool:
        return self.status in ESCAPES


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _child(fn: Callable[[], str | None], mem_bytes: int, w: int, cap: bool) -> None:
    faulthandler.disable()  # a crash is the parent's to report, not a dump into the caller's stderr
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    base_rss = _status_kb("VmRSS")
    vm = _status_kb("VmSize") * 1024
    if cap:  # not with ASan children: their shadow memory needs terabytes of address space
        # Address-space cap a little above the limit, so a runaway allocation fails instead of swamping the host.
        resource.setrlimit(resource.RLIMIT_AS, (vm + 2 * mem_bytes, resource.RLIM_INFINITY))
    t0 = time.monotonic()
    try:
        detail = fn() or ""
        status = "accepted"
    except PixmcuError as exc:
        status, detail = "rejected", str(exc)
    except WrongResult as exc:
        status, detail = "wrong", str(exc)
    except MemoryError:
        status, detail = "memory", "MemoryError"
    except BaseException as exc:  # noqa: BLE001 - classifying every escape is the point
        tb = traceback.extract_tb(exc.__traceback__)[-3:]
        where = " <- ".join(f"{os.path.basename(fr.filename)}:{fr.lineno}" for fr in reversed(tb))
        status, detail = "exception", f"{type(exc).__name__}: {str(exc)[:300]} at {where}"
    peak_mb = max(0, _status_kb("VmHWM") - base_rss) / 1024
    if status in ("accepted", "rejected") and peak_mb * (1 << 20) > mem_bytes:
        status, detail = "memory", f"peak resident growth {peak_mb:.0f} MB; {detail[:200]}"
    os.write(w, json.dumps({"status": status, "detail": detail[:2000], "seconds": time.monotonic() - t0,
                            "peak_mb": peak_mb}).encode())
    os.close(w)


def run_isolated(fn: Callable[[], str | None], timeout_s: float = 10.0, mem_bytes: int = 1 << 30,
                 cap_address_space: bool = True) -> Outcome:
    """Run `fn` in a forked child; it returns an optional note, or raises."""
    r, w = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child never returns into the caller's code
        code = 0
        try:
            os.close(r)
            _child(fn, mem_bytes, w, cap_address_space)
        except BaseException:  # noqa: BLE001
            code = 3
        os._exit(code)
    os.close(w)
    chunks, deadline = [], t0 + timeout_s
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([r], [], [], left)
        if not ready:
            continue
        chunk = os.read(r, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    os.close(r)
    _, wstatus = os.waitpid(pid, 0)
    elapsed = time.monotonic() - t0
    if timed_out:
        return Outcome("timeout", f"no result after {timeout_s:.0f} s", elapsed)
    if os.WIFSIGNALED(wstatus):
        return Outcome("crash", f"child killed by signal {os.WTERMSIG(wstatus)}", elapsed)
    try:
        d = json.loads(b"".join(chunks).decode())
    except ValueError:
        return Outcome("crash", f"child exited {os.WEXITSTATUS(wstatus)} without a result", elapsed)
    out = Outcome(d["status"], d["detail"], d["seconds"], d["peak_mb"])
    if out.seconds > timeout_s and not out.escaped:
        out.status, out.detail = "timeout", f"took {out.seconds:.1f} s; {out.detail[:200]}"
    return out
