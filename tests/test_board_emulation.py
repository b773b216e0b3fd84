"""The NUCLEO-F446RE firmware, unmodified, run under QEMU's netduinoplus2 (an STM32F405 with the same
flash, SRAM and USART2 addresses) and driven by `pixmcu measure` over the real protocol.

QEMU models neither the RCC, the PWR nor the DWT there, so this exercises the paths only real boards
use (startup, vector table, the bounded clock bring-up and its fallback, the USART driver, the DWT
probe and the SysTick fallback, the harness on a UART) with the exact file `pixmcu flash` programs:
OUTDIR/firmware.bin, which QEMU loads at address 0, the flash's boot alias, as the part boots it.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import CIFAR_TEST, RESNET, SHARED, require_tool

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "fake_model"))

import pm_fake_support as fs  # noqa: E402

from host_tools.qemu import free_port  # noqa: E402
from pixmcu.boards import get_board  # noqa: E402
from pixmcu.build import build  # noqa: E402

KWS = SHARED / "models" / "mlperf_tiny" / "kws_ref_model.tflite"
BOARD = get_board("nucleo-f446re")
N_IMAGES = 5
USART2_BRR = 0x40004408
USART2_CR1 = 0x4000440C
# 256 ns of emulated time per instruction: the SysTick the firmware falls back to then counts the
# guest's work deterministically instead of the host's wall clock.
ICOUNT_SHIFT = 8


@dataclass
class Emulator:
    url: str  # pyserial URL of the board's console UART
    proc: subprocess.Popen
    monitor_port: int

    def read_word(self, addr: int) -> int:
        """One 32-bit word of the guest's physical address space, device registers included, read
        through the QEMU monitor (waits for the monitor's answer, at most 10 s)."""
        pattern = re.compile(rb"%08x: 0x([0-9a-f]{8})" % addr)
        with socket.create_connection(("127.0.0.1", self.monitor_port), timeout=10) as s:
            s.sendall(b"xp /1wx %#x\n" % addr)
            buf = b""
            while not (m := pattern.search(buf)):
                chunk = s.recv(4096)
                assert chunk, f"QEMU monitor closed without answering; it said {buf[-300:]!r}"
                buf += chunk
        return int(m.group(1), 16)


@contextlib.contextmanager
def emulated(image: Path, log: Path):
    """QEMU running `image` (a raw flash image) on the board's emulation machine. QEMU waits for the serial connection before
    starting the guest, so no byte is lost."""
    emu = BOARD.emulation
    port = monitor = free_port()
    while monitor == port:
        monitor = free_port()
    serial = ["-serial", "null"] * emu.serial_index + ["-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"]
    cmd = [require_tool("qemu-system-arm"), "-M", emu.machine, "-display", "none", "-icount", f"shift={ICOUNT_SHIFT}",
           "-monitor", f"tcp:127.0.0.1:{monitor},server=on,wait=off", *serial, "-kernel", str(image)]
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT)
    try:
        yield Emulator(f"socket://127.0.0.1:{port}", proc, monitor)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _kws_data(path: Path, manifest: dict) -> Path:
    """KWS takes int8 MFCC features [1, 49, 10, 1]; random ones in that dtype and shape, the last a
    copy of the first (the same work must count the same)."""
    shape = manifest["input"]["shape"][1:]
    assert manifest["input"]["dtype"] == "int8" and shape == [49, 10, 1]
    x = np.random.default_rng(18).integers(-128, 128, (N_IMAGES, *shape)).astype(np.int8)
    x[-1] = x[0]
    np.savez(path, x=x)
    return path


@pytest.mark.parametrize("model", ["kws", "resnet"])
def test_f446re_firmware_measured_under_netduinoplus2(model, tmp_path, pixmcu_cli):
    out = tmp_path / model
    code, _, err = pixmcu_cli("generate", KWS if model == "kws" else RESNET, "--board", BOARD.name, "-o", out)
    assert code == 0, err
    code, _, err = pixmcu_cli("build", out)
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    data = ["--data", _kws_data(tmp_path / "kws.npz", manifest)] if model == "kws" else \
        ["--data", CIFAR_TEST, "--limit", N_IMAGES]
    report = tmp_path / "report.json"

    with emulated(out / "firmware.bin", tmp_path / "qemu.log") as emu:
        code, text, err = pixmcu_cli("measure", "--port", emu.url, "--manifest", out / "manifest.json", *data,
                                     "--json", report, "--quiet")
        assert emu.proc.poll() is None, (tmp_path / "qemu.log").read_text()
        # The divisor follows the clock actually running (QEMU stores BRR but ignores it): 16 MHz HSI.
        brr, cr1 = emu.read_word(USART2_BRR), emu.read_word(USART2_CR1)
    assert brr == (BOARD.fallback_clock_hz + 115200 // 2) // 115200 == 139
    assert cr1 == 1 << 13 | 1 << 3 | 1 << 2  # UE, TE, RE
    assert report.is_file(), err
    rep = json.loads(report.read_text())
    assert code == 0, rep.get("error") or err
    assert rep["board"] == BOARD.name and rep["n"] == N_IMAGES and rep["complete"]
    assert rep["bitexact"] == {"compared": N_IMAGES, "matches": N_IMAGES, "mismatches": [],
                               "reference": "pixmcu.reference"}
    assert rep["failed_inferences"] == []

    # The emulator does not model the RCC: the PLL never locks, the port falls back to HSI 16 MHz and
    # says so, and its UART (set for 16 MHz) carried the whole run.
    dev = rep["device"]
    assert dev["clock_hz"] == BOARD.fallback_clock_hz == 16_000_000 and dev["nominal_clock_hz"] == 180_000_000
    assert dev["clock_fallback"] and dev["clock_step_timed_out"] == "PLL"
    assert "clock: 16 MHz, fallback to the internal oscillator (the PLL wait timed out" in text

    # Nor the DWT: CYCCNT stays at zero, so the firmware counts with SysTick, which QEMU does model.
    # The report never calls that cycles, and never reports a zero.
    assert dev["counter"] == "SYSTICK_CYCLES" and rep["counter"] == "SysTick ticks"
    assert "DWT CYCCNT did not advance" in rep["counter_note"]
    assert rep["total"]["min"] > 0 and all(layer["count"] > 0 for layer in rep["layers"])
    if model == "kws":
        images = [json.loads(line) for line in report.with_suffix(".jsonl").read_text().splitlines()[1:]]
        assert images[0]["counts"] == images[-1]["counts"] and images[0]["total"] == images[-1]["total"]
    assert " cycles" not in text.replace("est. cycles", "")
    if model == "resnet":
        assert rep["accuracy"] is not None


def test_board_without_clock_fallback_is_reported_as_silent(tmp_path, pixmcu_cli):
    """With the fallback compiled out (the test hook), the port spins on PLLRDY for ever under QEMU and
    never starts its UART; the host says so in one paragraph once its handshake timeout has passed."""
    outdir = fs.copy_model(tmp_path / "m")
    res = build(outdir, BOARD.name, include_kernels=False, clock_fallback=False)
    assert "#define PM_CLOCK_FALLBACK 0" in (outdir / "build" / "gen" / "pm_board_config.h").read_text()
    fs.make_data(tmp_path / "d.npz", 2)

    with emulated(res.bin, tmp_path / "qemu.log") as emu:
        url = emu.url
        code, text, err = pixmcu_cli("measure", "--port", url, "--manifest", outdir / "manifest.json",
                                     "--data", tmp_path / "d.npz", "--no-check", "--timeout", "0.5",
                                     "--retries", "1", "--quiet")
        hung = emu.proc.poll() is None
        cr1 = emu.read_word(USART2_CR1)
    assert code == 2 and text == ""
    assert hung and cr1 == 0, "the firmware was expected to hang in clock bring-up, before its UART starts"
    msg = err.strip()
    assert "\n" not in msg and "Traceback" not in msg
    assert f"the board on {url} did not answer the handshake within its timeout (1.5 s over 2 HELLO " \
           "requests; nothing at all came back)" in msg
    assert "--no-clock-fallback" in msg


class _BootingBoard:
    """A port to a board that is still starting: it loses the first HELLO (its UART is not on yet),
    then sends BOOT, and answers every later HELLO."""

    def __init__(self):
        self.timeout, self.out, self.hellos = 0.05, bytearray(), 0

    def write(self, data: bytes) -> int:
        from host_tools import protocol as P

        (frame,) = P.FrameDecoder().feed(data)
        self.hellos += 1
        if self.hellos == 1:
            self.out += P.encode_message("BOOT", 0, proto_version=P.VERSION, max_payload=1024)
        else:
            nonce = P.BY_NAME["HELLO"].unpack(frame.payload)["nonce"]
            self.out += P.encode_message("HELLO_ACK", frame.seq, proto_version=P.VERSION, max_payload=1024,
                                         counter=P.COUNTERS["DWT_CYCLES"], nonce=nonce, clock_hz=180_000_000,
                                         board=BOARD.name, firmware="test", model_name="m", model_hash="ab" * 32)
        return len(data)

    def read(self, n: int = 1) -> bytes:
        data, self.out = bytes(self.out[:n]), self.out[n:]
        return data

    in_waiting = property(lambda self: len(self.out))

    def reset_input_buffer(self) -> None:
        self.out.clear()


def test_handshake_survives_a_board_that_boots_after_hello():
    """A BOOT frame in answer to HELLO means the board started meanwhile; the host asks again at once
    rather than report a reset (the emulated F446 boots in ~0.1 s, and a host can be faster)."""
    from host_tools.device import Device
    from host_tools.link import Link

    port = _BootingBoard()
    info = Device(Link(port, timeout=5.0, retries=0)).handshake()
    assert port.hellos == 2 and info.board == BOARD.name and info.clock_hz == 180_000_000
    assert not info.clock_fallback
