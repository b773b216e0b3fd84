"""Estimated cycles in `pixmcu run`'s per-layer report (issues #4, #6): the harness's marker build,
the pm_count plugin run of the first image, and the report keys. No timing thresholds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, require_tool

MODEL = FIXTURES / "models" / "conv_ops.tflite"


def _harness_markers(obj: Path) -> int:
    """How many START/STOP hints (.inst.w 0xf3af8030/1) the harness object's code holds."""
    import subprocess

    dis = subprocess.run([require_tool("arm-none-eabi-objdump"), "-d", str(obj)], capture_output=True,
                         text=True, check=True).stdout
    return sum(1 for line in dis.splitlines() if "f3af 8030" in line or "f3af 8031" in line)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    from pixmcu.cli import main

    root = tmp_path_factory.mktemp("est")
    outdir = root / "conv_ops"
    assert main(["generate", str(MODEL), "-o", str(outdir), "--board", "qemu-m4", "--name", "conv_ops"]) == 0
    manifest = json.loads((outdir / "manifest.json").read_text())
    shape = manifest["input"]["shape"][1:]
    x = np.random.default_rng(3).integers(-128, 128, size=(3, *shape)).astype(np.int8)
    data = root / "data.npz"
    np.savez(data, x=x)
    return outdir, data, manifest, x


def _jsonl_counts(path: Path) -> dict[int, list[int]]:
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["image"]: r["counts"] + [r["total"]] for r in recs if r.get("kind") == "image"}


def test_m4_table_never_costs_an_instruction_less_than_one_cycle():
    """estimated >= instructions on M4 holds by construction of the table: every class costs >= 1,
    events add >= 0 except ls_after_ls, which only follows a single load/store (cost 2) and takes 1."""
    from pixmcu.cycles import cost_table

    t = cost_table("cortex-m4")
    assert min(t["classes"].values()) >= 1
    assert all(v >= 0 for k, v in t["events"].items() if k != "ls_after_ls")
    assert min(t["classes"]["load"], t["classes"]["store"]) + t["events"]["ls_after_ls"] >= 1


def test_run_reports_estimates_and_markers_leave_normal_counts_alone(model, pixmcu_cli, tmp_path):
    outdir, data, manifest, x = model
    # 1. A normal run before any marker build exists.
    plain = tmp_path / "plain.json"
    code, out, err = pixmcu_cli("run", outdir, "--data", data, "--json", plain, "--transport", "semihost",
                                "--no-estimate-cycles", "--quiet")
    assert code == 0, err
    rep0 = json.loads(plain.read_text())
    assert "estimates" not in rep0 and "estimated_cycles" not in rep0["layers"][0]
    assert "est. cycles" not in out
    normal_elf = (outdir / "firmware.elf").read_bytes()
    assert _harness_markers(outdir / "build" / "obj" / "harness__pm_measure.o") == 0

    # 2. The default run on qemu-m4: estimates on.
    est = tmp_path / "est.json"
    code, out, err = pixmcu_cli("run", outdir, "--data", data, "--json", est, "--transport", "semihost", "--quiet")
    assert code == 0, err
    rep = json.loads(est.read_text())
    assert "est. cycles" in out and "not measured cycles" in out
    assert rep["counter"] == "instructions"
    assert "not measured cycles" in rep["estimates_note"] and "docs/cycles.md" in rep["estimates_note"]
    assert rep["estimates"]["core"] == "cortex-m4" and rep["estimates"]["image"] == 0

    # The normal firmware is untouched by the marker build, and so are its counts (deterministic).
    assert (outdir / "firmware.elf").read_bytes() == normal_elf
    assert _harness_markers(outdir / "build-markers" / "obj" / "harness__pm_measure.o") == 6
    assert _jsonl_counts(est.with_suffix(".jsonl")) == _jsonl_counts(plain.with_suffix(".jsonl"))
    assert [layer["count"] for layer in rep["layers"]] == [layer["count"] for layer in rep0["layers"]]

    layers = rep["layers"]
    assert len(layers) == len(manifest["layers"])
    for layer in layers:
        assert layer["estimated_cycles"] is not None and layer["plugin_count"] > 0
        # Every instruction costs at least one cycle in the M4 table.
        assert layer["estimated_cycles"] >= layer["plugin_count"]
    assert sum(layer["estimated_cycles"] for layer in layers) <= rep["total"]["estimated_cycles"]
    assert sum(layer["plugin_count"] for layer in layers) <= rep["total"]["plugin_count"]
    assert rep["first_layer"]["estimated_cycles"] == layers[0]["estimated_cycles"]
    assert rep["total"]["estimated_cycles"] >= rep["total"]["plugin_count"]

    # Plugin vs SysTick/icount: exact counts of the same instructions, apart from a fixed bracket.
    pv = rep["estimates"]["plugin_vs_counter"]
    assert len(pv["counter_minus_plugin"]) == 1 and len(pv["normal_count_minus_plugin"]) == 1
    assert pv["counter_minus_plugin"][0] - pv["normal_count_minus_plugin"][0] == 3  # the marker hints

    # 3. The function `pixmcu bench model` uses gives the same numbers from the marker ELF.
    from host_tools.estimates import layer_estimates

    rows = layer_estimates(outdir / "build-markers" / "firmware.elf", "qemu-m4", x[0])
    assert [r["estimated_cycles"] for r in rows] == [layer["estimated_cycles"] for layer in layers]
    assert [r["name"] for r in rows] == [layer["name"] for layer in layers]


def test_core_without_cost_table_reports_null(model, monkeypatch):
    from host_tools.dataset import load_inputs
    from host_tools.report import build_report, format_report
    from pixmcu.boards import get_board
    from pixmcu.cli.cmd_run import _estimates

    from pixmcu.cycles import cost_tables

    outdir, data, manifest, _ = model
    board = get_board("qemu-m55")
    monkeypatch.delitem(cost_tables.COST_TABLES, "cortex-m55")  # as for a core nobody has priced yet

    class Spec:
        inputs = load_inputs(data, manifest)

    stub = _estimates(argparse.Namespace(estimate_cycles=True, no_build=False), outdir, board, Spec)
    rep = build_report({}, manifest=manifest, board=board, n_requested=0, transport="serial", size=None,
                       reference=None, complete=False, estimates=stub)
    assert all(layer["estimated_cycles"] is None for layer in rep["layers"])
    assert rep["total"]["estimated_cycles"] is None and rep["first_layer"]["estimated_cycles"] is None
    assert "no cost table" in rep["estimates_note"] and "cortex-m55" in rep["estimates_note"]
    assert "no cost table" in format_report(rep)

    # Unclassified instructions are reported under the table, never hidden in a cheap class.
    est = {"core": "cortex-m55", "cost_table": "cortex-m55", "image": 0, "board": board.name, "note": "estimates",
           "layers": [], "total": {"estimated_cycles": 100.0, "unknown_instructions": 3}}
    rep = build_report({}, manifest=manifest, board=board, n_requested=0, transport="serial", size=None,
                       reference=None, complete=False, estimates=est)
    assert rep["total"]["unknown_instructions"] == 3 and "3 instructions" in format_report(rep)
