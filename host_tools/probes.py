"""What is plugged in: debug probes (pyOCD) and serial ports (pyserial), with a guess at the board.

A Nucleo's ST-LINK shows up twice: as a debug probe and as a USB virtual COM port whose serial number
is the probe's unique ID, so the two are matched up; the USB VID/PID tells which ST-LINK (and so which
Nucleo family) it is.
"""

from __future__ import annotations

import re

from pixmcu.errors import PixmcuError

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
ST_VID = 0x0483
# ST-LINK USB product IDs -> (probe, the pixmcu boards that carry it).
USB_IDS: dict[tuple[int, int], tuple[str, tuple[str, ...]]] = {
    (ST_VID, 0x3748): ("ST-LINK/V2", ()),
    (ST_VID, 0x374B): ("ST-LINK/V2-1", ("nucleo-f446re",)),
    (ST_VID, 0x3752): ("ST-LINK/V2-1", ("nucleo-f446re",)),
    (ST_VID, 0x374E): ("STLINK-V3E", ("nucleo-h743zi2",)),
    (ST_VID, 0x374F): ("STLINK-V3", ("nucleo-h743zi2",)),
    (ST_VID, 0x3753): ("STLINK-V3 (dual VCP)", ("nucleo-h743zi2",)),
    (ST_VID, 0x3754): ("STLINK-V3 (no mass storage)", ("nucleo-h743zi2",)),
}
USB_PERMISSION_FIX = ("on Linux, install pyOCD's udev rules (https://github.com/pyocd/pyOCD/tree/main/udev) "
                      "and replug the board, or add your user to the plugdev group")
SERIAL_PERMISSION_FIX = "on Linux, add your user to the dialout group (sudo usermod -aG dialout $USER) and log in again"


def strip_ansi(text: str) -> str:
    """pyOCD colours some messages; a message for a log or a terminal must not carry escape codes."""
    return _ANSI.sub("", str(text))


def board_guess(vid: int | None, pid: int | None, pyocd_board: str | None = None) -> list[str]:
    from pixmcu.boards import BOARDS

    if pyocd_board:
        key = pyocd_board.lower().replace("_", "-")
        named = [b for b in BOARDS if b in key or key in b]
        if named:
            return named
    return list(USB_IDS.get((vid, pid), ("", ()))[1]) if vid is not None else []


def serial_ports(all_ports: bool = False) -> list[dict]:
    """USB serial ports (every port with all_ports) as dicts: device, vid, pid, serial number, guess."""
    try:
        from serial.tools import list_ports
    except ImportError as exc:
        raise PixmcuError(f"pyserial is not installed ({exc}); pip install pyserial==3.5") from None
    try:
        ports = list(list_ports.comports())
    except OSError as exc:
        raise PixmcuError(f"cannot list serial ports: {strip_ansi(exc)}; {SERIAL_PERMISSION_FIX}") from None
    out = []
    for p in sorted(ports, key=lambda p: p.device):
        if p.vid is None and not all_ports:
            continue
        out.append({"kind": "serial", "device": p.device, "vid": p.vid, "pid": p.pid,
                    "serial_number": p.serial_number, "description": p.description,
                    "manufacturer": p.manufacturer,
                    "usb_product": USB_IDS.get((p.vid, p.pid), (None,))[0],
                    "boards": board_guess(p.vid, p.pid)})
    return out


def debug_probes() -> list[dict]:
    """Debug probes pyOCD sees, as dicts: unique ID, description, vendor/product, board guess."""
    try:
        from pyocd.core.helpers import ConnectHelper
    except ImportError as exc:
        raise PixmcuError(f"pyOCD is not installed ({exc}); pip install pyocd==0.46.0") from None
    try:
        probes = ConnectHelper.get_all_connected_probes(blocking=False, print_wait_message=False)
    except Exception as exc:  # noqa: BLE001 - USB back ends raise their own errors (permissions, libusb)
        raise PixmcuError(f"pyOCD cannot list debug probes: {strip_ansi(exc)}; {USB_PERMISSION_FIX}") from None
    out = []
    for pr in probes:
        info = getattr(pr, "associated_board_info", None)
        board = getattr(info, "name", None) if info else None
        out.append({"kind": "debug probe", "unique_id": pr.unique_id, "description": strip_ansi(pr.description),
                    "vendor": getattr(pr, "vendor_name", None), "product": getattr(pr, "product_name", None),
                    "pyocd_board": board, "target": getattr(info, "target", None) if info else None,
                    "boards": board_guess(None, None, board)})
    return out


def inventory(all_ports: bool = False) -> dict:
    """Probes and ports together; a port whose USB serial number is a probe's unique ID is its VCP."""
    probes, ports = debug_probes(), serial_ports(all_ports)
    by_serial = {p["serial_number"]: p for p in ports if p.get("serial_number")}
    for pr in probes:
        port = by_serial.get(pr["unique_id"])
        if port is not None:
            pr["serial_port"] = port["device"]
            pr["vid"], pr["pid"] = port["vid"], port["pid"]
            port["probe"] = pr["unique_id"]
            if not pr["boards"]:
                pr["boards"] = port["boards"]
            elif not port["boards"]:
                port["boards"] = pr["boards"]
    return {"probes": probes, "serial_ports": ports}
