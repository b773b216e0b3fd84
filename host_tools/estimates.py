"""Estimated cycles for `pixmcu run` (and `pixmcu bench model`): one image under the pm_count plugin.

The model is built a second time with the harness's region markers compiled in
(`pixmcu.build.build(..., markers=True)`, -DPM_CYCLE_MARKERS=1, in OUTDIR/build-markers/; the normal
firmware is untouched, so normal counts never move). That firmware runs one image in bulk mode
(semihosting files, `-icount` as in a normal run) under QEMU with the pm_count TCG plugin, which
counts the instructions of every region per instruction class. The inference is cut into 2N+1
regions (glue 0, layer 0, glue 1, ..., layer N-1, glue N; see firmware/harness/pm_measure.c):
region 2i+1 is layer i and the sum of all regions is the whole inference without the hooks'
bookkeeping. (Generated models also bracket every layer with the same markers, templates/model.c.j2;
the plugin does not nest regions, so a model's own START restarts the layer region just inside the
hook's: the layer region is then exactly the model's, the one `pixmcu bench model` reads, and the
few instructions between a model marker and the neighbouring hook marker, the hook call's set-up
and return, fall in no region.) `pixmcu.cycles.estimate` weights the counts with the
Cortex-M4/M7/M55 cost table of docs/cycles.md.

These are ESTIMATES from a cost table, never measured cycles; instruction counts stay labelled
instructions.

    from host_tools.estimates import layer_estimates
    rows = layer_estimates("OUTDIR", "qemu-m4", image)   # image: the model input's raw bytes / int8 array
    rows[i]["estimated_cycles"], rows[i]["plugin_count"]
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from host_tools import protocol as P
from host_tools.bulk import BULK_EXIT, BulkReader, write_inputs
from host_tools.qemu import Qemu, describe_exit
from pixmcu.boards import Board, get_board
from pixmcu.errors import PixmcuError

COST_DOC = "docs/cycles.md"
# Marker hints the SysTick/icount count of a layer includes in a marker build (two after the begin
# hook's counter read, one before the end hook's); the plugin does not count markers.
MARKERS_PER_LAYER = 3


class EstimateError(PixmcuError):
    """The estimated-cycles run could not be done (no plugin, QEMU failed, not a marker build)."""


def cost_core(board: Board) -> str | None:
    """The core whose cost table applies to `board`, or None where no table exists."""
    from pixmcu.cycles import COST_TABLES

    return board.core if board.core in COST_TABLES else None


def no_table_note(board: Board) -> str:
    from pixmcu.cycles import COST_TABLES

    return (f"no cost table exists for {board.core} ({board.name}): pixmcu.cycles has tables for "
            f"{', '.join(sorted(COST_TABLES))} only ({COST_DOC}), so estimated_cycles is null")


def estimate_note(core: str, image: int | None) -> str:
    which = f"image {image}" if image is not None else "one image"
    return (f"estimated_cycles are ESTIMATES, not measured cycles: {which} run under the pm_count QEMU "
            f"plugin, its per-class instruction counts weighted by the {core} cost table ({COST_DOC}; zero "
            f"wait states, in-order, no caches). Counts stay guest instructions. Measured cycles come from "
            f"a board (DWT CYCCNT).")


def _image_bytes(image) -> bytes:
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    arr = np.asarray(image)
    if arr.dtype not in (np.int8, np.uint8):
        raise EstimateError(f"image must be the model input's raw bytes or an int8/uint8 array, got {arr.dtype}")
    return np.ascontiguousarray(arr).tobytes()


def _find_manifest(elf: Path) -> dict | None:
    for d in (elf.parent, elf.parent.parent):
        m = d / "manifest.json"
        if m.is_file():
            try:
                return json.loads(m.read_text())
            except json.JSONDecodeError:
                return None
    return None


def run_marked(elf: str | Path, board: Board, image: bytes, *, timeout: float = 300.0):
    """Run a marker build of the firmware on one image under the plugin.

    Returns (regions, result, header): the plugin's RegionCounts, the bulk InferenceResult (with the
    SysTick/icount counts of the same run) and the bulk output header."""
    from pixmcu.cycles import parse_plugin_output
    from pixmcu.cycles.plugin import plugin_path

    plugin = plugin_path()
    with tempfile.TemporaryDirectory(prefix="pixmcu-est-") as tmp:
        work = Path(tmp)
        write_inputs(work / P.BULK_IN_NAME, iter([(0, image)]), 1, len(image))
        counts = work / "pm_count.txt"
        qemu = Qemu(board, elf, serial=False, semihost_args=[P.BULK_CMDLINE], cwd=work,
                    extra_args=["-plugin", f"{plugin},out={counts}"])
        cmd = qemu.command()
        try:
            proc = subprocess.run(cmd, cwd=work, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EstimateError(f"QEMU with the counting plugin did not finish within {timeout:.0f} s") from None
        if proc.returncode != 0:
            why = BULK_EXIT.get(proc.returncode, describe_exit(proc.returncode))
            raise EstimateError(f"estimated-cycles run failed: {why}; QEMU said: "
                                f"{(proc.stderr + proc.stdout).strip()[-2000:]}")
        if not counts.exists():
            raise EstimateError(f"QEMU did not load the counting plugin: {proc.stderr.strip()[-2000:]}")
        regions = parse_plugin_output(counts.read_text())
        reader = BulkReader(work / P.BULK_OUT_NAME)
        results = reader.poll()
        if not results:
            raise EstimateError("estimated-cycles run produced no result record")
        return regions, results[0][1], reader.header


def estimate_run(outdir_or_elf: str | Path, board: str | Board, image, *, image_index: int | None = None,
                 build: bool = True, timeout: float = 300.0) -> dict:
    """Estimated cycles of one inference, per layer and in total.

    `outdir_or_elf`: a `pixmcu generate` output directory (its marker build is made, or reused when
    `build` is False and one exists) or a marker-build ELF. `image`: the model input's raw bytes (or
    an int8/uint8 array). Returns {"board", "core", "image", "note", "layers": [...], "total": {...},
    "plugin_vs_counter": {...}}; each layer: index, name, plugin_count (instructions in the layer's
    region), counter_count (the SysTick/icount count of the same run, markers included),
    estimated_cycles (None without a cost table), classes, events."""
    from pixmcu.cycles import estimate

    b = board if isinstance(board, Board) else get_board(board)
    if not b.is_qemu:
        raise EstimateError(f"{b.name} is not a QEMU board: estimated cycles need the QEMU plugin "
                            "(a board measures real cycles with `pixmcu measure`)")
    path = Path(outdir_or_elf)
    if path.is_dir():
        from pixmcu.build import MARKERS_DIR, build as build_fw, load_manifest

        manifest = load_manifest(path)
        elf = path / MARKERS_DIR / "firmware.elf"
        info_path = path / MARKERS_DIR / "build.json"
        reuse = False
        if not build and elf.is_file() and info_path.is_file():
            try:
                info = json.loads(info_path.read_text())
                reuse = info.get("board") == b.name and info.get("model_sha256") == manifest.get("model_sha256")
            except json.JSONDecodeError:
                reuse = False
        if not reuse:
            elf = build_fw(path, b.name, markers=True).elf
    else:
        elf, manifest = path, _find_manifest(path)
    data = _image_bytes(image)
    regions, result, header = run_marked(elf, b, data, timeout=timeout)
    want = (manifest or {}).get("model_sha256")
    if want and header.get("model_hash") != want:
        raise EstimateError(f"{elf} runs another model than the manifest's (model hash mismatch); rebuild it")
    if result.status != 0:
        raise EstimateError(f"the inference failed on the device (status {result.status})")
    n = header["num_layers"]
    if len(regions) != 2 * n + 1:
        raise EstimateError(f"{elf}: {len(regions)} plugin regions for {n} layers (expected {2 * n + 1}); "
                            "is it a marker build (pixmcu.build.build(..., markers=True))?")
    core = cost_core(b)
    names = [layer.get("name") for layer in (manifest or {}).get("layers", [])]

    def est(r):
        return round(estimate(r, core), 1) if core else None

    layers = []
    for i in range(n):
        r = regions[2 * i + 1]
        layers.append({
            "index": i, "name": names[i] if i < len(names) else None,
            "plugin_count": r.insns, "counter_count": b.ticks_to_count(result.layers[i].count),
            "estimated_cycles": est(r), "classes": dict(r.classes), "events": dict(r.events),
        })
    glue = [regions[2 * i] for i in range(n + 1)]
    total_est = round(sum(estimate(r, core) for r in regions), 1) if core else None
    deltas = sorted({layer["counter_count"] - layer["plugin_count"] for layer in layers})
    return {
        "board": b.name, "core": core or b.core, "cost_table": core, "image": image_index, "elf": str(elf),
        "note": estimate_note(core, image_index) if core else no_table_note(b),
        "layers": layers,
        "total": {"plugin_count": sum(r.insns for r in regions), "estimated_cycles": total_est,
                  "counter_count": b.ticks_to_count(result.total),
                  "glue_plugin_count": sum(r.insns for r in glue),
                  # Instructions the plugin could not classify (priced at 2 each, never as cheap ALU).
                  "unknown_instructions": sum(r.classes.get("unknown", 0) for r in regions)},
        "plugin_vs_counter": {
            "counter_minus_plugin": deltas,
            "explanation": (
                "plugin_count is what the pm_count plugin counted in the layer's region; count is the "
                "SysTick/icount count between the layer hooks' two counter reads. Generated models bracket "
                "each layer's kernel calls with their own markers (PM_REGION_START/STOP, templates/model.c.j2), "
                "which then delimit the plugin's layer region (the hook markers delimit it for models "
                "without them). The counter's bracket is wider by a fixed number of instructions per layer: "
                "the rest of pm_port_counter_read after its SysTick read and the begin hook's return, the "
                "argument set-up and call of the end hook and its counter read up to the SysTick read, and "
                "the marker hints, which QEMU executes as NOPs but the plugin does not count (the model's 2 "
                f"in every build, the harness's {MARKERS_PER_LAYER} only in the marker build). Otherwise both "
                "are exact counts of the same instructions, so the difference is a constant per layer (the values "
                "seen are listed; a spread of one instruction has been seen on the first layer on qemu-m7)."),
        },
    }


def layer_estimates(outdir_or_elf: str | Path, board: str | Board, image) -> list[dict]:
    """Per-layer estimated cycles of one inference of `image` (see estimate_run for the fields)."""
    return estimate_run(outdir_or_elf, board, image)["layers"]
