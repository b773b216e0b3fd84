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
    assert f446["support"] == "built and run under emulation (QEMU netduinoplus2); not yet run on hardware"
    assert f446["emulation"]["machine"] == "netduinoplus2" and f446["fallback_clock_hz"] == 16_000_000
    h7 = next(r for r in rows if r["name"] == "nucleo-h743zi2")
    assert h7["emulation"] is None and h7["support"].startswith("built only (QEMU has no machine")
    assert cmd_boards.run(parser.parse_args(["boards"])) == 0
    text = capsys.readouterr().out
    assert "qemu-m4" in text and "(default)" in text and "nucleo-h743zi2" in text
    assert "built and run under emulation (QEMU netduinoplus2)" in text and "runs at 64 MHz" in text


def _busy_waits(text: str) -> list[str]:
    """Conditions of `while (...) {}` / `while (...);` loops with empty bodies (not do-while tails)."""
    out = []
    text = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
    for m in re.finditer(r"\bwhile\s*\(", text):
        depth, i = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        cond = text[m.end():i - 1]
        is_do_tail = text[:m.start()].rstrip().endswith("}")
        if re.match(r"\s*(\{\s*\}|;)", text[i:]) and not is_do_tail:
            out.append(cond)
    return out


@pytest.mark.parametrize("board", ["nucleo-f446re", "nucleo-h743zi2", "qemu-m4"])
def test_ports_never_wait_unbounded(board):
    """Every wait on a ready flag in a port goes through the bounded helpers: no bare polling loop
    that a clock or UART that never comes up would turn into a silent board."""
    from pixmcu.resources import firmware_dir

    assert _busy_waits("while (!(RCC_CR & (1u << 25))) {\n}") == ["!(RCC_CR & (1u << 25))"]
    assert _busy_waits("do { x++; } while (x != y);") == []
    for rel in get_board(board).port_sources:
        waits = _busy_waits((firmware_dir() / "boards" / rel).read_text())
        # The one allowed is pm_clock_wait's, compiled only into --no-clock-fallback test builds.
        assert waits == (["(*reg & mask) != want"] if rel == "common/bringup.c" else []), (rel, waits)
    if not get_board(board).is_qemu:
        board_c = (firmware_dir() / "boards" / get_board(board).port_sources[-1]).read_text()
        assert board_c.count("pm_clock_wait(") >= 5 and "PM_BOARD_FALLBACK_CLOCK_HZ" in board_c


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
