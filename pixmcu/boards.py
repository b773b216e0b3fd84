"""The boards pixmcu can build for: core, compiler flags, clock, memory map and how to count cost.

One table drives everything board-specific on the host: the build (flags, linker regions, which port
sources), the QEMU launcher (machine, icount shift) and the report (what a count means).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from pixmcu.errors import PixmcuError

DEFAULT_BOARD = "qemu-m4"

_COMMON_CFLAGS = ("-mthumb", "-ffunction-sections", "-fdata-sections")


@dataclass(frozen=True)
class Region:
    """A contiguous memory region of the part."""

    name: str
    origin: int
    size: int

    @property
    def end(self) -> int:
        return self.origin + self.size

    def contains(self, addr: int, size: int = 0) -> bool:
        return self.origin <= addr and addr + size <= self.end


@dataclass(frozen=True)
class Emulation:
    """A QEMU machine close enough to a real board to run its unmodified firmware."""

    machine: str
    # Index of the -serial option that reaches the board's console UART (QEMU numbers a machine's
    # UARTs in its own order: netduinoplus2's USART2 is the second).
    serial_index: int
    note: str


@dataclass(frozen=True)
class Board:
    name: str
    title: str
    core: str
    cpu_flags: tuple[str, ...]
    clock_hz: int
    flash: Region
    ram: Region
    # Where the model's constant data goes; None means the flash region.
    weights: Region | None
    # Port sources: files under firmware/boards/ (common ones and the board's own directory).
    port_sources: tuple[str, ...]
    num_irqs: int
    counter: str  # "cycles" (DWT CYCCNT) or "instructions" (QEMU icount + SysTick)
    stack_bytes: int = 16 * 1024
    # UART polls with no byte after which the harness gives up a half-received frame. Under QEMU a
    # poll costs ~0.5 us of real time (MMIO exits) and the bytes of a frame arrive back to back, so
    # 2**17 (~60 ms) is plenty; on a board at 180-400 MHz 2**21 polls is ~0.1-0.2 s, far above
    # USB virtual COM port gaps. Both stay below the host's reply timeout.
    rx_idle_polls: int = 1 << 21
    qemu_machine: str | None = None
    # QEMU runs with -icount shift=N: 2**N ns per instruction. N=8 makes a SysTick tick (40 ns at
    # 25 MHz) a sixth of an instruction or less, so a difference of two reads, off by at most one
    # tick each, still rounds to the exact instruction count.
    icount_shift: int | None = None
    semihosting: bool = False
    flash_target: str | None = None  # pyOCD target type for real boards
    uart: str = ""
    notes: str = ""
    extra_defines: dict = field(default_factory=dict)
    # Real boards: the internal oscillator the port falls back to when a clock ready flag never comes.
    fallback_clock_hz: int | None = None
    # Real boards: the QEMU machine their firmware has been run on, if any (tests/test_board_emulation.py).
    emulation: Emulation | None = None
    # Real boards: whether the firmware has been run on the board itself (docs/boards.md says where).
    run_on_hardware: bool = False

    @property
    def is_qemu(self) -> bool:
        return self.qemu_machine is not None

    @property
    def support(self) -> str:
        """What running on this board means, in a few words (`pixmcu boards`, docs/boards.md)."""
        if self.is_qemu:
            return "QEMU board: built and run under QEMU"
        hardware = "run on hardware" if self.run_on_hardware else "not yet run on hardware"
        if self.emulation is not None:
            return f"built and run under emulation (QEMU {self.emulation.machine}); {hardware}"
        return f"built only (QEMU has no machine for it); {hardware}"

    @property
    def cflags(self) -> list[str]:
        return [*self.cpu_flags, *_COMMON_CFLAGS]

    @property
    def weights_region(self) -> Region:
        return self.weights or self.flash

    def ticks_to_count(self, ticks: int | float) -> float:
        """Convert the device's raw counter ticks to the reported unit.

        Under QEMU with -icount the SysTick advances (1e9 / clock) ns per tick while every
        instruction takes 2**shift ns, so instructions = ticks * (1e9 / clock) / 2**shift.
        """
        if self.counter == "cycles":
            return float(ticks)
        return float(round(ticks * (1e9 / self.clock_hz) / (1 << self.icount_shift)))

    def summary(self) -> dict:
        d = asdict(self)
        for key in ("flash", "ram", "weights"):
            if d[key] is not None:
                d[key] = {"name": d[key]["name"], "origin": hex(d[key]["origin"]), "size": d[key]["size"]}
        d["cpu_flags"] = list(self.cpu_flags)
        d["port_sources"] = list(self.port_sources)
        d["support"] = self.support
        return d


_M4F = ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")
_M7 = ("-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard")
_M55 = ("-mcpu=cortex-m55", "-mfloat-abi=hard")

KiB = 1024
MiB = 1024 * 1024

_QEMU_PORT = ("common/startup.c", "common/bringup.c", "common/cmsdk_uart.c", "common/systick.c",
              "common/systick_counter.c", "common/semihost.c", "common/system_reset.c", "qemu-mps/board.c")
# DWT CYCCNT, else SysTick, else none (dwt_counter.c); bounded bring-up waits (bringup.c).
_NUCLEO_PORT = ("common/startup.c", "common/bringup.c", "common/dwt_counter.c", "common/systick.c",
                "common/system_reset.c")


def _qemu_board(name: str, machine: str, title: str, core: str, cpu_flags: tuple[str, ...], clock_hz: int,
                flash: Region, ram: Region, weights: Region | None, num_irqs: int, uart_base: int,
                uart_note: str = "") -> Board:
    """The QEMU MPS2/MPS3 boards share the CMSDK UART, SysTick under -icount and semihosting."""
    return Board(
        name=name, title=title, core=core, cpu_flags=cpu_flags, clock_hz=clock_hz, flash=flash, ram=ram,
        weights=weights, port_sources=_QEMU_PORT, num_irqs=num_irqs, counter="instructions",
        qemu_machine=machine, icount_shift=8, semihosting=True, rx_idle_polls=1 << 17,
        uart=f"CMSDK UART0 @ {uart_base:#010x}{uart_note}", extra_defines={"PM_UART_BASE": f"{uart_base:#010x}u"},
    )


BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        _qemu_board("qemu-m4", "mps2-an386", "QEMU mps2-an386 (Cortex-M4F)", "cortex-m4", _M4F, 25_000_000,
                    Region("FLASH", 0x00000000, 4 * MiB), Region("RAM", 0x20000000, 4 * MiB), None, 32, 0x40004000),
        _qemu_board("qemu-m7", "mps2-an500", "QEMU mps2-an500 (Cortex-M7)", "cortex-m7", _M7, 25_000_000,
                    Region("FLASH", 0x00000000, 4 * MiB), Region("RAM", 0x20000000, 4 * MiB), None, 32, 0x40004000),
        # The ITCM is small; the 8 MiB QSPI holds the weights of any model that fits the board.
        _qemu_board("qemu-m55", "mps3-an547", "QEMU mps3-an547 (Cortex-M55, boots Secure)", "cortex-m55", _M55,
                    32_000_000, Region("ITCM", 0x00000000, 512 * KiB), Region("DTCM", 0x20000000, 512 * KiB),
                    Region("QSPI", 0x28000000, 8 * MiB), 96, 0x59303000, " (Secure alias)"),
        Board(
            name="nucleo-f446re",
            title="ST NUCLEO-F446RE (STM32F446RE, Cortex-M4F)",
            core="cortex-m4",
            cpu_flags=_M4F,
            clock_hz=180_000_000,
            flash=Region("FLASH", 0x08000000, 512 * KiB),
            ram=Region("SRAM", 0x20000000, 128 * KiB),
            weights=None,
            port_sources=(*_NUCLEO_PORT, "nucleo-f446re/board.c"),
            num_irqs=97,
            counter="cycles",
            flash_target="stm32f446retx",  # from the CMSIS pack: pyocd pack install stm32f446re
            uart="USART2 PA2/PA3 (ST-LINK virtual COM port), 115200 8N1",
            notes="HSI 16 MHz -> PLL 180 MHz with over-drive; APB1 45 MHz",
            extra_defines={"PM_UART_BAUD": "115200u"},
            fallback_clock_hz=16_000_000,
            emulation=Emulation(
                "netduinoplus2", 1,
                "STM32F405: same flash, SRAM and USART2 addresses; RCC, PWR and GPIO are not modelled (the "
                "port falls back to HSI 16 MHz), nor is DWT (SysTick counts emulated time)"),
        ),
        Board(
            name="nucleo-h743zi2",
            title="ST NUCLEO-H743ZI2 (STM32H743ZI, Cortex-M7)",
            core="cortex-m7",
            cpu_flags=_M7,
            clock_hz=400_000_000,
            flash=Region("FLASH", 0x08000000, 2 * MiB),
            # AXI SRAM: the largest block the core reaches without crossing into D2/D3 domains.
            ram=Region("AXI_SRAM", 0x24000000, 512 * KiB),
            weights=None,
            port_sources=(*_NUCLEO_PORT, "nucleo-h743zi2/board.c"),
            num_irqs=150,
            counter="cycles",
            flash_target="stm32h743xx",
            uart="USART3 PD8/PD9 (ST-LINK virtual COM port), 115200 8N1",
            notes="HSI 64 MHz -> PLL1 400 MHz at VOS1; APB1 100 MHz; I/D caches on; QEMU has no STM32H7 machine",
            extra_defines={"PM_UART_BAUD": "115200u", "PM_DWT_NEEDS_UNLOCK": "1"},
            fallback_clock_hz=64_000_000,
        ),
    )
}


def get_board(name: str | None) -> Board:
    """Look a board up by name; None gives the default board."""
    key = (name or DEFAULT_BOARD).lower()
    try:
        return BOARDS[key]
    except KeyError:
        raise PixmcuError(f"unknown board '{name}'; known boards: {', '.join(BOARDS)}") from None


def boards_json() -> str:
    return json.dumps([b.summary() for b in BOARDS.values()], indent=2)
