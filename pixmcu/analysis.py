"""`pixmcu analyze`: what the firmware for a model and board will hold, before anything is written or built.

The model is generated into a private staging directory exactly as `pixmcu generate` would generate it,
and pixmcu.footprint predicts the size report `pixmcu build` would print. `generate_checked` is what
`pixmcu generate` runs: the same staging, the same check, and OUTDIR is written only when it fits.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pixmcu.boards import get_board
from pixmcu.errors import PixmcuError
from pixmcu.footprint import DoesNotFitError, does_not_fit_message, predict, verdict


def _align16(n: int) -> int:
    return (n + 15) // 16 * 16


def _bits(graph, metadata: dict) -> tuple[int | None, int | None]:
    """(weight bits, activation bits): what training used for a .pmz, else the tensors' storage width."""
    if metadata.get("wbits"):
        return int(metadata["wbits"]), int(metadata["abits"])
    widths = {np.dtype(t.dtype).itemsize * 8 for t in graph.tensors.values() if t.dtype.startswith(("int", "uint"))}
    w = 8 if widths else None
    return w, w


def _embedding(graph, op, metadata: dict) -> dict[str, Any]:
    """d, Q and K of a pixel embedding: K is the largest number of distinct table rows of a channel."""
    table = graph.tensors[op.inputs[1]].data
    k = max(len(np.unique(table[c], axis=0)) for c in range(table.shape[0]))
    emb = metadata.get("embed") or {}
    return {"d": int(table.shape[2]), "Q": emb.get("bits"), "K": int(k), "tables": int(table.shape[0])}


def _metadata(path: Path | None) -> dict:
    if path is None or path.suffix != ".pmz":
        return {}
    from pixmcu.frontend.checkpoint import read_graph_file

    return read_graph_file(path)[1]


def _storage(graph, op, kernel) -> dict[str, Any]:
    """Bits per weight as stored and the bytes that saves against int8 storage (negative: spent)."""
    from pixmcu.codegen.kernels import stored_weight_bits

    bits = stored_weight_bits(kernel) if op.kind in ("conv2d", "fully_connected", "depthwise_conv2d") else None
    if bits is None or len(op.inputs) < 2:
        return {"stored_weight_bits": None, "weight_bytes_saved": 0}
    n = graph.tensors[op.inputs[1]].size
    return {"stored_weight_bits": bits, "weight_bytes_saved": n - -(-n * bits // 8)}


def _act_storage(m: dict) -> dict[str, Any]:
    """Bits per activation as the arena stores the layer's output (4: packed, pixmcu.codegen.act4) and
    the arena bytes that saves against int8."""
    if not m.get("activation_bits"):
        return {"stored_activation_bits": None, "activation_bytes_saved": 0}
    return {"stored_activation_bits": m["activation_bits"],
            "activation_bytes_saved": int(np.prod(m["output_shape"])) - m["packed_bytes"]}


def layer_rows(graph, manifest: dict, metadata: dict, flash_used: int) -> list[dict[str, Any]]:
    from pixmcu.model_info import layer_table

    wbits, abits = _bits(graph, metadata)
    rows = []
    for info, m in zip(layer_table(graph), manifest["layers"]):
        op = graph.operators[info["index"]]
        consts = m.get("constants", [])
        flash = sum(_align16(c["bytes"]) for c in consts)
        row = {
            "index": info["index"], "name": info["name"], "op": info["op"],
            "input_shapes": info["input_shapes"], "output_shape": info["output_shape"], "macs": info["macs"],
            "param_bytes": info["param_bytes"],
            "weight_bits": wbits if info["param_bytes"] else None, "activation_bits": abits,
            "kernel": m["kernel"], **_storage(graph, op, m["kernel"]), **_act_storage(m),
            "layout": ", ".join(f"{c['array'].rsplit('_', 1)[-1]} {c['ctype']}" for c in consts) or "-",
            "flash_bytes": flash, "flash_share": flash / flash_used if flash_used else 0.0,
        }
        if op.kind == "pixel_embedding":
            row["embedding"] = _embedding(graph, op, metadata)
        if m.get("fused_into") is not None:
            row["fused_into"] = m["fused_into"]
        rows.append(row)
    return rows


def _staging_dir(near: Path | None) -> Path:
    """A private directory on the same file system as `near` when possible (files then move by rename)."""
    parent = near.parent if near is not None else None
    if parent is not None:
        try:
            parent.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=".pixmcu-stage-", dir=parent))
        except OSError:
            pass
    return Path(tempfile.mkdtemp(prefix="pixmcu-stage-"))


def analyze_generated(model: str, graph, stage: Path, manifest: dict, board_name: str) -> dict[str, Any]:
    from pixmcu.frontend import resolve_model_path

    board = get_board(board_name)
    size = predict(stage, manifest, board)
    fits, over = verdict(size)
    src = None if graph is None or not isinstance(model, (str, Path)) else resolve_model_path(model)
    metadata = _metadata(src)
    flash_total = size["flash"]["used"] + (size["weights"]["used"] if "weights" in size else 0)
    report = {
        "model": str(model), "board": board.name, "core": board.core, "name": manifest["name"],
        "flash_bytes": size["flash"]["used"] + (size["weights"]["used"] if "weights" in size else 0),
        "ram_bytes": size["ram"]["used"], "arena_bytes": size["ram"]["arena"], "fits": fits, "overflows": over,
        "size": size, "macs": sum(m["macs"] for m in manifest["layers"]),
        "layers": layer_rows(graph, manifest, metadata, flash_total),
    }
    if manifest.get("first_layer"):
        report["first_layer"] = {k: manifest["first_layer"].get(k) for k in ("variant", "kernel", "reason")}
    if metadata.get("wbits"):
        report["bits"] = {"weights": metadata["wbits"], "activations": metadata["abits"]}
    return report


def _first_layer_within_room(report: dict[str, Any], manifest: dict, options: dict) -> tuple[str, int] | None:
    """(variant, bytes left for it) when the first layer `auto` chose (with no --flash-budget) makes the
    firmware overflow the board's flash and another candidate fits in what the rest leaves; else None.
    The variant is named explicitly, so this holds whatever --flash-budget means to the generator."""
    fl = manifest.get("first_layer") or {}
    if report["fits"] or options.get("first_layer") != "auto" or options.get("flash_budget") is not None \
            or not fl.get("variant") or fl.get("variant") == "unfused":
        return None
    f = report["size"]["flash"]
    if f["used"] <= f["size"]:
        return None  # RAM or the weights region overflows: the first layer's flash is not the problem
    chosen = next((c for c in fl.get("candidates", []) if c["name"] == fl["variant"]), None)
    if chosen is None:
        return None
    room = f["size"] - (f["used"] - chosen["flash_bytes"])
    fitting = [c for c in fl["candidates"] if c.get("predicted_cycles") is not None and not c.get("excluded")
               and c["flash_bytes"] <= room]
    if not fitting:
        return None
    return min(fitting, key=lambda c: c["predicted_cycles"])["name"], room


def generate_checked(model, out_dir: str | Path | None, board: str | None = None, check: bool = True,
                     **options) -> tuple[dict[str, Any], Any]:
    """Generate `model` for `board` into a staging directory and predict its firmware; move the files into
    `out_dir` (None: keep nothing) only when it fits, else raise DoesNotFitError and write nothing.
    Returns (analysis report, pixmcu.codegen.Generated with out_dir)."""
    from pixmcu.codegen import generate
    from pixmcu.codegen.outdir import OutDir
    from pixmcu.frontend import load_model, resolve_model_path

    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise PixmcuError(f"{out}: OUTDIR is an existing file, not a directory; choose another -o")
    graph = load_model(resolve_model_path(model)) if isinstance(model, (str, Path)) else model
    stage = _staging_dir(out)
    try:
        gen = generate(model, stage, board=board, **options)
        report = analyze_generated(model, graph, stage, gen.manifest, gen.manifest["board"])
        retry = _first_layer_within_room(report, gen.manifest, options)
        if retry is not None:
            # auto's first layer alone overflows the board: take the fastest candidate that fits what is left.
            shutil.rmtree(stage, ignore_errors=True)
            stage = _staging_dir(out)
            gen = generate(model, stage, board=board, **{**options, "first_layer": retry[0]})
            report = analyze_generated(model, graph, stage, gen.manifest, gen.manifest["board"])
            report["first_layer_within_room"] = {"variant": retry[0], "room_bytes": retry[1]}
        if check and not report["fits"]:
            raise DoesNotFitError(does_not_fit_message(str(model), report["size"], report["overflows"]))
        if out is not None:
            OutDir(out).install(stage)
            gen.out_dir = out
        return report, gen
    finally:
        shutil.rmtree(stage, ignore_errors=True)
