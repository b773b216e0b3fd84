"""Boards: the table, `pixmcu boards`, and firmware for the two Nucleo boards built and linked
with memory maps that match the parts' datasheets."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "fake_model"))

import pm_fake_support as fs  # noqa: E402

from pixmcu.boards import BOARDS, DEFAULT_BOARD, get_board  # noqa: E402
from pixmcu.build import build, tool  # noqa: E402
from pixmcu.cli import cmd_boards  # noqa: E402
from pixmcu.errors import PixmcuError  # noqa: E402

# Written from the reference manuals (RM0390, RM0433), not from pixmcu/boards.py.
DATASHEET = {
    "nucleo-f446re": {"flash": (0x08000000, 512 * 1024), "ram": [(0x20000000, 128 * 1024)], "irqs": 97,
                      },
    "nucleo-h743zi2": {"flash": (0x08000000, 2 * 1024 * 1024),
                       "ram": [(0x24000000, 512 * 1024), (0x20000000, 128 * 1024)], "irqs": 150,
                       },
}


def test_board_table():
    assert DEFAULT_BOARD == "qemu-m4"
    assert {"qemu-m4", "qemu-m7", "qemu-m55", "nucleo-f446re", "nucleo-h743zi2"} <= set(BOARDS)
    assert get_board(None).qemu_machine == "mps2-an386"
    assert get_board("qemu-m55").extra_defines["PM_UART_BASE"].startswith("0x59303000")
    for b in BOARDS.values():
        assert b.counter == ("instructions" if b.is_qemu else "cycles")
        assert "-mthumb" in b.cflags and any(f.startswith("-mcpu=") for f in b.cflags)
    with pytest.raises(PixmcuError, match="unknown board"):
        get_board("arduino-uno")


def test_ticks_convert_to_instructions_only_under_qemu():
    m4 = get_board("qemu-m4")
    assert m4.ticks_to_count(6400) == 1000.0  # 40 ns ticks, 256 ns instructions (shift 8)
    assert get_board("nucleo-f446re").ticks_to_count(1234) == 1234.0


def test_boards_cli(capsys):
    import argparse

    parser = argparse.ArgumentParser()
    cmd_boards.add_parser(parser.add_subparsers())
    assert cmd_boards.run(parser.parse_args(["boards", "--json"])) == 0
    rows = json.loads(capsys.readouterr().out)
    f446 = next(r for r in rows if r["name"] == "nucleo-f446re")
    assert f446["core"] == "cortex-m4" and f446["clock_hz"] == 180_000_000
    assert f446["flash"] == {"name": "FLASH", "origin": "0x8000000", "size": 524288}
    assert cmd_boards.run(parser.parse_args(["boards"])) == 0
    text = capsys.readouterr().out
    assert "qemu-m4" in text and "(default)" in text and "nucleo-h743zi2" in text


def _map_regions(map_file: Path) -> dict[str, tuple[int, int]]:
    text = map_file.read_text()
    block = text.split("Memory Configuration", 1)[1].split("Linker script and memory map", 1)[0]
    out = {}
    for m in re.finditer(r"^(\w+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", block, re.M):
        if m.group(1) != "Name":
            out[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16))
    return out


@pytest.mark.parametrize("board", ["nucleo-f446re", "nucleo-h743zi2"])
def test_real_board_firmware_links_into_the_parts_memory(board):
    outdir, res = fs.built(board)
    facts = DATASHEET[board]
    regions = _map_regions(res.map)
    flash_origin, flash_size = facts["flash"]
    assert (flash_origin, flash_size) in regions.values()
    rams = [r for r in regions.values() if r != facts["flash"]]
    assert rams and all(r in facts["ram"] for r in rams)

    def inside(addr, size, spans):
        return any(o <= addr and addr + size <= o + s for o, s in spans)

    for name, sec in res.size["sections"].items():
        if sec["size"] == 0:
            continue
        in_ram = name in (".data", ".bss", ".arena", ".stack")
        spans = facts["ram"] if in_ram else [facts["flash"]]
        assert inside(sec["addr"], sec["size"], spans), (name, hex(sec["addr"]))

    # The vector table sits at the start of flash: initial SP at the top of the stack in RAM,
    # reset handler a Thumb address in flash, and one entry per interrupt of the part.
    blob = res.bin.read_bytes()
    sp, reset = struct.unpack_from("<II", blob)
    assert inside(sp - 4, 4, facts["ram"]) and sp % 8 == 0
    assert reset & 1 and inside(reset & ~1, 2, [facts["flash"]])
    assert res.size["sections"][".vectors"]["size"] == 4 * (16 + facts["irqs"])
    # The port counts with DWT, unlocking it on the M7 (the LAR key appears as a literal).
    disasm = subprocess.run([tool("objdump"), "-d", str(res.elf)], capture_output=True, text=True).stdout
    syms = subprocess.run([tool("nm"), str(res.elf)], capture_output=True, text=True).stdout
    assert "pm_port_counter_read" in syms and "pm_vectors" in syms
    words = {int(w, 16) for w in re.findall(r"\.word\s+0x([0-9a-f]{8})", disasm)}
    assert (0xC5ACCE55 in words) == (board == "nucleo-h743zi2")


def test_board_build_respects_flash_size(tmp_path):
    """A model too big for the part fails at link time with the linker's own message."""
    outdir = fs.copy_model(tmp_path / "big")
    src = outdir / "fake_model.c"
    text = src.read_text().replace("static int ready;", "static int ready;\nconst int8_t huge_table[600 * 1024] = {1};")
    src.write_text(text.replace("ready = 1;", "ready = *(const volatile int8_t *)huge_table;"))
    with pytest.raises(PixmcuError, match=r"(?s)arm-none-eabi-gcc.*(overflow|will not fit)"):
        build(outdir, "nucleo-f446re", include_kernels=False)
