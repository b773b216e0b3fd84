"""Open a serial measurement session: on a URL (a flashed board) or on a QEMU it starts itself."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Iterator

from host_tools.device import Device
from host_tools.link import Link, LinkError, LinkTimeout
from host_tools.qemu import Qemu, describe_exit
from pixmcu.boards import Board
from pixmcu.errors import PixmcuError


def open_port(url: str, baud: int = 115200, connect_timeout: float = 5.0):
    """A pyserial port for a device path or URL (socket://host:port); retried while it comes up."""
    import serial

    deadline = time.monotonic() + connect_timeout
    while True:
        try:
            return serial.serial_for_url(url, baudrate=baud, timeout=0.05, write_timeout=10)
        except (serial.SerialException, OSError, ValueError) as exc:
            if time.monotonic() > deadline:
                from host_tools.probes import SERIAL_PERMISSION_FIX, strip_ansi

                raise PixmcuError(f"cannot open serial port {url}: {strip_ansi(exc)}; check the port with `pixmcu "
                                  f"probes`, close other programs using it (screen, minicom), and "
                                  f"{SERIAL_PERMISSION_FIX.replace('on Linux, ', 'on Linux ')}") from None
            time.sleep(0.05)


class NoHandshake(LinkError):
    """Nothing on the port answered HELLO: no board, no pixmcu firmware, or firmware that never started."""


def no_handshake(url: str, baud: int, link: Link) -> NoHandshake:
    got = link.stats.bytes_received
    if not got:
        heard = "nothing at all came back"
    elif link.stats.bad_frames or link.stats.garbage_bytes:
        heard = (f"{got} bytes came back, none of them a valid frame: a baud rate other than the firmware's "
                 f"(--baud {baud}) or a board clock other than the one its firmware assumes garbles the line")
    else:
        heard = f"{got} bytes came back, but no answer to HELLO"
    return NoHandshake(
        f"the board on {url} did not answer the handshake within its timeout ({link.patience():g} s over "
        f"{link.retries + 1} HELLO requests; {heard}). Check that it runs this model's firmware (`pixmcu flash`), "
        f"that {url} is its serial port, and reset it. A board whose firmware hangs before its UART starts, "
        "such as a build with --no-clock-fallback on a board whose clock does not come up, looks like this "
        "(docs/boards.md).")


def port_failed(link: Link) -> bool:
    return link.port_error is not None


def device_for(link: Link, manifest: dict) -> Device:
    return Device(link, model_hash=manifest.get("model_sha256"), input_bytes=int(manifest["input"]["bytes"]),
                  output_bytes=int(manifest["output"]["bytes"]), num_layers=len(manifest.get("layers", [])))


@contextlib.contextmanager
def serial_session(url: str, manifest: dict, *, baud: int = 115200, timeout: float = 2.0,
                   retries: int = 4, wrap=None) -> Iterator[tuple[Device, Link]]:
    """Handshake with an already running device on `url`. `wrap` may wrap the port (fault tests)."""
    port = open_port(url, baud)
    try:
        link = Link(wrap(port) if wrap else port, timeout=timeout, retries=retries)
        # A board that was just reset may still be sending its BOOT frame; give it a moment.
        link.wait_boot(0.2)
        dev = device_for(link, manifest)
        try:
            dev.handshake()
        except LinkTimeout:
            raise no_handshake(url, baud, link) from None
        yield dev, link
    finally:
        port.close()


@contextlib.contextmanager
def qemu_session(board: Board, elf: Path, manifest: dict, *, timeout: float = 2.0, retries: int = 4,
                 wrap=None) -> Iterator[tuple[Device, Link, Qemu]]:
    """Start QEMU for `board`, connect to its UART, wait for BOOT and handshake."""
    qemu = Qemu(board, elf)
    qemu.start()
    port = None
    try:
        port = open_port(qemu.url)
        link = Link(wrap(port) if wrap else port, timeout=timeout, retries=retries)

        def liveness(what: str) -> None:
            # A socket error usually means QEMU just died; give the kernel a moment to reap it so
            # the message names the cause rather than the symptom.
            if qemu.alive():
                qemu.wait(0.5 if port_failed(link) else 0.0)
            if not qemu.alive():
                raise LinkError(f"QEMU exited ({describe_exit(qemu.returncode)}) while {what}"
                                + (f"; its output: {qemu.output()}" if qemu.output() else ""))

        link.liveness = liveness
        # The BOOT frame only confirms the start; if it was garbled the handshake still works.
        link.wait_boot(3.0)
        dev = device_for(link, manifest)
        dev.handshake()
        yield dev, link, qemu
        try:
            dev.bye()
            qemu.wait(5.0)
        except LinkError:
            pass
    finally:
        if port is not None:
            port.close()
        qemu.stop()
