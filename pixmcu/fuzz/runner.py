"""Run one mutant in a forked child with a time and memory limit, and classify what happened.

Outcomes: "accepted" (ran to the end), "rejected" (a PixmcuError: pixmcu's own one-paragraph error),
"unclear" (a PixmcuError whose message does not name the file or is not one line; reported, not an
escape), and the escapes: "exception" (any other exception), "timeout", "memory" (peak resident growth over the
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
    cpu_s: float = 0.0

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


def _cpu_seconds(pid: int) -> float:
    """CPU time of a live child and of the processes it has waited for (compilers, the host-C run)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def run_isolated(fn: Callable[[], str | None], timeout_s: float = 10.0, mem_bytes: int = 1 << 30,
                 cap_address_space: bool = True, hang_s: float | None = None,
                 names: tuple[str, ...] | None = None) -> Outcome:
    """Run `fn` in a forked child; it returns an optional note, or raises.

    The time limit is on the child's CPU time, so that a loaded (shared, niced) machine does not turn
    slow scheduling into timeouts; a child that uses no CPU at all (a hang) is stopped after `hang_s`
    of wall time (default 30 x timeout_s). With `names`, a rejection whose message contains none of them
    (the file's path; an option's "--" for option errors), or is not one line, is "unclear": pixmcu's own
    error, but not the promised one paragraph naming what is wrong.
    """
    hang_s = hang_s if hang_s is not None else 30 * timeout_s
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
    chunks = []
    why = ""
    while True:
        ready, _, _ = select.select([r], [], [], min(1.0, timeout_s))
        if ready:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            continue
        cpu, wall = _cpu_seconds(pid), time.monotonic() - t0
        if cpu > timeout_s:
            why = f"over {timeout_s:.0f} s of CPU time"
        elif wall > hang_s:
            why = f"no result after {wall:.0f} s ({cpu:.1f} s of CPU): a hang"
        if why:
            os.kill(pid, signal.SIGKILL)
            break
    os.close(r)
    _, wstatus, usage = os.wait4(pid, 0)
    elapsed = time.monotonic() - t0
    if why:
        return Outcome("timeout", why, elapsed, 0.0, usage.ru_utime + usage.ru_stime)
    if os.WIFSIGNALED(wstatus):
        return Outcome("crash", f"child killed by signal {os.WTERMSIG(wstatus)}", elapsed)
    try:
        d = json.loads(b"".join(chunks).decode())
    except ValueError:
        return Outcome("crash", f"child exited {os.WEXITSTATUS(wstatus)} without a result", elapsed)
    cpu = usage.ru_utime + usage.ru_stime
    out = Outcome(d["status"], d["detail"], d["seconds"], d["peak_mb"], cpu)
    if cpu > timeout_s and not out.escaped:
        out.status, out.detail = "timeout", f"took {cpu:.1f} s of CPU time; {out.detail[:200]}"
    elif out.status == "rejected" and names is not None and (
            not any(n in out.detail for n in names) or "\n" in out.detail.strip()):
        out.status = "unclear"
    return out
