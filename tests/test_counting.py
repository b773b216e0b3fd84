"""What the handshake's counter and clock mean in a report: a fallback clock is stated, a counter that
does not count is "cycle counter unavailable" and never 0 cycles (no device needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "fake_model"))

import pm_fake_support as fs  # noqa: E402

from host_tools import protocol as P  # noqa: E402
from host_tools.counting import UNAVAILABLE, counting_for  # noqa: E402
from host_tools.device import DeviceInfo  # noqa: E402
from host_tools.report import build_report, format_report  # noqa: E402
from host_tools.runner import _save_outputs  # noqa: E402
from pixmcu.boards import get_board  # noqa: E402
from pixmcu.build import load_manifest  # noqa: E402

F446 = get_board("nucleo-f446re")


def _info(counter: str, flags: int = 0, clock_hz: int = 180_000_000) -> DeviceInfo:
    return DeviceInfo(proto_version=P.VERSION, max_payload=1024, counter=P.COUNTERS[counter], flags=flags,
                      num_layers=3, input_bytes=768, output_bytes=10, clock_hz=clock_hz, init_status=0,
                      board=F446.name, firmware="pixmcu-test", model_name="fake", model_hash="ab" * 32)


def _records(totals: list[int], layer: int) -> dict:
    out = np.zeros(10, np.int8).tobytes().hex()
    return {i: {"image": i, "label": None, "pred": 0, "status": 0, "total": t, "counts": [layer] * 3,
                "match": None, "first_layer": None, "output": out} for i, t in enumerate(totals)}


def _report(recs: dict, device: DeviceInfo | None) -> dict:
    return build_report(recs, manifest=load_manifest(fs.HERE), board=F446, n_requested=len(recs),
                        transport="serial", size=None, reference=None, complete=True, device=device)


def test_flags_name_the_fallback_and_the_step_that_timed_out():
    step = P.CLOCK_STEPS["OVERDRIVE"]
    info = _info("DWT_CYCLES", P.FLAGS["CLOCK_FALLBACK"] | step << P.CLOCK_STEP_SHIFT, 16_000_000)
    assert info.clock_fallback and info.clock_step == "OVERDRIVE" and info.counter_kind == "DWT_CYCLES"
    assert not _info("DWT_CYCLES").clock_fallback and _info("DWT_CYCLES").clock_step is None
    # The C header carries the same numbers (rendered from the one definition).
    header = P.render_c_header()
    assert "#define PM_FLAG_CLOCK_FALLBACK 0x01u" in header
    assert f"#define PM_CLOCK_STEP_SHIFT {P.CLOCK_STEP_SHIFT}u" in header
    assert f"#define PM_CLOCK_STEP_OVERDRIVE {step}u" in header
    assert "#define PM_COUNTER_NONE 0u" in header and "#define PM_COUNTER_SYSTICK_CYCLES 3u" in header


def test_report_states_the_fallback_clock():
    flags = P.FLAGS["CLOCK_FALLBACK"] | P.CLOCK_STEPS["PLL"] << P.CLOCK_STEP_SHIFT
    rep = _report(_records([5000, 5200], 1000), _info("DWT_CYCLES", flags, 16_000_000))
    assert rep["device"]["clock_hz"] == 16_000_000 and rep["device"]["clock_step_timed_out"] == "PLL"
    assert rep["counter"] == "cycles" and rep["total"]["count"] == 5100
    text = format_report(rep)
    assert "clock: 16 MHz, fallback to the internal oscillator (the PLL wait timed out; nominal 180 MHz)" in text
    assert "clock: 180 MHz" in format_report(_report(_records([5000], 1000), _info("DWT_CYCLES")))


@pytest.mark.parametrize("device,totals,why", [
    (_info("NONE"), [0, 0], "neither DWT CYCCNT nor SysTick advanced"),
    # Firmware that claims DWT cycles but whose counter never moved (a DWT an emulator does not model).
    (_info("DWT_CYCLES"), [0, 0], "read zero on every inference"),
    (None, [0, 0], "read zero on every inference"),
])
def test_counter_that_does_not_count_is_unavailable_never_zero(device, totals, why, tmp_path):
    recs = _records(totals, 0)
    rep = _report(recs, device)
    assert rep["counter"] is None and UNAVAILABLE in rep["counter_note"] and why in rep["counter_note"]
    assert rep["total"]["count"] is None and all(layer["count"] is None for layer in rep["layers"])
    assert rep["first_layer"]["count"] is None
    text = format_report(rep)
    assert UNAVAILABLE in text and "total:" not in text and " 0 cycles" not in text
    _save_outputs(tmp_path / "o.npz", recs, load_manifest(fs.HERE), F446, device)
    saved = np.load(tmp_path / "o.npz")
    assert np.isnan(saved["total"]).all() and np.isnan(saved["layer_counts"]).all()


def test_systick_fallback_counts_are_ticks_not_cycles():
    c = counting_for(F446, P.COUNTERS["SYSTICK_CYCLES"])
    assert c.unit == "SysTick ticks" and c.convert(1234) == 1234.0 and "DWT CYCCNT did not advance" in c.note
    rep = _report(_records([9000], 300), _info("SYSTICK_CYCLES"))
    assert rep["counter"] == "SysTick ticks" and rep["total"]["count"] == 9000
    assert "cycles" not in format_report(rep).split("note:")[0]
    # Without a handshake the board table decides; a QEMU board's SysTick counts instructions.
    assert counting_for(get_board("qemu-m4")).unit == "instructions"
    assert counting_for(F446).unit == "cycles"
    assert counting_for(F446, 99).unit is None
