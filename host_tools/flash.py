"""Program a real board through pyOCD's Python API: write firmware.bin at the board's flash origin,
read it back to verify, reset the core. Session and programmer are injectable so tests can use a
fake probe."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from host_tools.probes import USB_PERMISSION_FIX, strip_ansi
from pixmcu.boards import Board
from pixmcu.errors import PixmcuError


class FlashError(PixmcuError):
    pass


@dataclass
class FlashResult:
    board: str
    probe: str | None
    bytes_written: int
    address: int
    verified: bool


def _default_session(board: Board, probe_uid: str | None, frequency: int | None):
    try:
        from pyocd.core.helpers import ConnectHelper
    except ImportError as exc:
        raise FlashError(f"pyOCD is not installed ({exc}); pip install pyocd==0.46.0") from None
    options = {"frequency": frequency} if frequency else {}
    try:
        session = ConnectHelper.session_with_chosen_probe(blocking=False, return_first=probe_uid is None,
                                                          unique_id=probe_uid, target_override=board.flash_target,
                                                          options=options)
    except Exception as exc:  # pyOCD raises its own hierarchy (target unknown, probe busy, USB errors)
        text = strip_ansi(exc)
        low = text.lower()
        if "target" in low:
            fix = f"install the part's pack: pyocd pack install {board.flash_target}"
        elif "permission" in low or "access" in low:
            fix = USB_PERMISSION_FIX
        else:
            fix = "check the USB cable, close other debuggers (STM32CubeIDE, openocd), and see `pixmcu probes`"
        raise FlashError(f"pyOCD could not open a session for {board.flash_target}: {text}; {fix}") from None
    if session is None:
        raise FlashError("no debug probe found" + (f" with ID {probe_uid}" if probe_uid else "")
                         + f": connect the {board.name}'s ST-LINK USB port, then check `pixmcu probes` lists it "
                         + f"({USB_PERMISSION_FIX})")
    return session


def _default_programmer(session):
    from pyocd.flash.file_programmer import FileProgrammer

    return FileProgrammer(session, chip_erase="auto", smart_flash=True)


def flash(image: Path, board: Board, *, probe_uid: str | None = None, frequency: int | None = None,
          session_factory=None, programmer_factory=None, verify: bool = True) -> FlashResult:
    """Flash `image` (a raw .bin for `board`) and reset the target."""
    if board.is_qemu or not board.flash_target:
        raise FlashError(f"{board.name} is not a real board; use `pixmcu run` for QEMU boards")
    image = Path(image)
    if not image.is_file():
        raise FlashError(f"{image} not found: run `pixmcu build` first")
    data = image.read_bytes()
    if len(data) > board.flash.size:
        raise FlashError(f"{image.name} is {len(data):,} bytes; {board.name} has {board.flash.size:,} bytes of flash")
    session = (session_factory or (lambda: _default_session(board, probe_uid, frequency)))()
    with session:
        programmer = (programmer_factory or _default_programmer)(session)
        try:
            programmer.program(str(image), file_format="bin", base_address=board.flash.origin)
        except Exception as exc:  # pyOCD's errors carry the reason; keep it
            raise FlashError(f"programming {image.name} at 0x{board.flash.origin:08x} failed: {strip_ansi(exc)}; "
                             "power-cycle the board and retry, or lower --frequency") from None
        target = session.board.target
        verified = False
        if verify:
            readback = bytes(target.read_memory_block8(board.flash.origin, len(data)))
            if readback != data:
                first = next(i for i, (a, b) in enumerate(zip(readback, data)) if a != b) \
                    if len(readback) == len(data) else min(len(readback), len(data))
                raise FlashError(f"verify failed: flash differs from {image.name} at offset 0x{first:x}")
            verified = True
        target.reset()
        probe = getattr(getattr(session, "probe", None), "unique_id", None)
    return FlashResult(board.name, probe, len(data), board.flash.origin, verified)
