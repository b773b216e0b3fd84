"""Start and stop QEMU for a pixmcu QEMU board, with its UART on a local TCP socket.

QEMU waits (`wait=on`) until the host connects, so nothing the firmware sends at boot is lost;
`nodelay=on` halves round trips. Its stdout/stderr are drained by a thread: an undrained pipe would
block the guest's writes.
"""

from __future__ import annotations

import collections
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from pixmcu.boards import Board
from pixmcu.errors import PixmcuError

FAULT_EXIT_BASE = 0x80


class QemuError(PixmcuError):
    pass


def qemu_binary() -> str:
    path = shutil.which("qemu-system-arm")
    if path is None:
        raise QemuError("qemu-system-arm not found on PATH (Debian: apt-get install qemu-system-arm)")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        return f"killed by signal {-code}"
    if FAULT_EXIT_BASE <= code < FAULT_EXIT_BASE + 0x80:
        names = {2: "NMI", 3: "HardFault", 4: "MemManage", 5: "BusFault", 6: "UsageFault", 7: "SecureFault"}
        return f"firmware fault ({names.get(code - FAULT_EXIT_BASE, 'unexpected interrupt')}), status {code}"
    return f"exit status {code}"


class Qemu:
    """One QEMU process. Use as a context manager; `url` is the pyserial URL of its UART."""

    def __init__(self, board: Board, elf: str | Path, *, serial: bool = True, semihost_args: list[str] = (),
                 cwd: str | Path | None = None, extra_args: list[str] = ()):
        if not board.is_qemu:
            raise QemuError(f"board {board.name} is not a QEMU board; flash it and use `pixmcu measure`")
        # Absolute: QEMU may run in another directory (the bulk transport's scratch directory).
        self.board, self.elf = board, Path(elf).resolve()
        self.serial, self.semihost_args, self.cwd = serial, list(semihost_args), cwd
        self.extra_args = list(extra_args)  # e.g. ["-plugin", "pm_count.so,out=..."] (host_tools.estimates)
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=50)
        self._reader: threading.Thread | None = None

    def command(self) -> list[str]:
        semi = "enable=on,target=native" + "".join(f",arg={a}" for a in self.semihost_args)
        cmd = [qemu_binary(), "-M", self.board.qemu_machine, "-display", "none", "-monitor", "none",
               "-icount", f"shift={self.board.icount_shift}", "-semihosting-config", semi,
               "-kernel", str(self.elf)]
        if self.serial:
            cmd += ["-serial", f"tcp:127.0.0.1:{self.port},server=on,wait=on,nodelay=on"]
        else:
            cmd += ["-serial", "null"]
        return cmd + self.extra_args

    def start(self) -> "Qemu":
        if not self.elf.is_file():
            raise QemuError(f"{self.elf} not found: run `pixmcu build` first")
        try:
            return self._start()
        except BaseException:  # Ctrl-C or SIGTERM while starting: never leave the child behind
            self.stop()
            raise

    def _start(self) -> "Qemu":
        for _ in range(3):  # a port picked as free may be taken before QEMU binds it
            self.port = free_port() if self.serial else None
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, cwd=self.cwd, text=True, errors="replace")
            self._reader = threading.Thread(target=self._drain, daemon=True)
            self._reader.start()
            if not self.serial or self._wait_listening(10.0):
                return self
            if self.proc.poll() is None:
                break
        self.stop()
        raise QemuError(f"QEMU did not start: {self.output() or describe_exit(self.returncode)}")

    def _wait_listening(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            # QEMU prints this line once the socket listens (wait=on).
            if any("waiting for connection" in line for line in self._tail):
                return True
            time.sleep(0.01)
        return False

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self._tail.append(line.rstrip("\n"))

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def output(self) -> str:
        """QEMU's own messages, less the routine 'waiting for connection' notice."""
        return "\n".join(line for line in self._tail if "waiting for connection" not in line)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float = 2.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._reader is not None:
            self._reader.join(1.0)

    def __enter__(self) -> "Qemu":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
