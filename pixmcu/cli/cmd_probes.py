"""`pixmcu probes`: the debug probes and serial ports plugged in, with board guesses."""

from __future__ import annotations

import json


def add_parser(sub):
    p = sub.add_parser("probes", help="list debug probes (pyOCD) and USB serial ports, with board guesses",
                       description="List the debug probes pyOCD sees and the USB serial ports, with USB VID:PID "
                                   "and the pixmcu boards they may belong to (an ST-LINK's virtual COM port is "
                                   "matched to its probe). Use a probe's ID with `pixmcu flash --probe` and a port "
                                   "with `pixmcu measure --port`.")
    p.add_argument("--all", action="store_true", help="also list serial ports that are not USB (default: USB only)")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def _usb(vid, pid) -> str:
    return f"{vid:04x}:{pid:04x}" if vid is not None and pid is not None else "-"


def run(args) -> int:
    from host_tools.probes import inventory
    from pixmcu.table import format_table

    inv = inventory(all_ports=args.all)
    if args.json:
        print(json.dumps(inv, indent=2))
        return 0
    if inv["probes"]:
        print(format_table(["debug probe", "description", "USB", "serial port", "boards"],
                           [[p["unique_id"], p["description"], _usb(p.get("vid"), p.get("pid")),
                             p.get("serial_port") or "-", ", ".join(p["boards"]) or "?"] for p in inv["probes"]]))
    else:
        print("no debug probes found (connect the board's ST-LINK USB port; on Linux pyOCD's udev rules "
              "must allow access)")
    print()
    if inv["serial_ports"]:
        print(format_table(["serial port", "USB", "description", "serial number", "boards"],
                           [[p["device"], _usb(p["vid"], p["pid"]), p["description"] or "-", p["serial_number"] or "-",
                             ", ".join(p["boards"]) or "?"] for p in inv["serial_ports"]]))
    else:
        print("no USB serial ports found" + ("" if args.all else " (--all lists the others too)"))
    return 0
