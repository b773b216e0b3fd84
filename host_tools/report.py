"""Turn image records into the run report: accuracy, bit-exact agreement, per-layer and total counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from host_tools.counting import check_counts, counting_for
from pixmcu import __version__
from pixmcu.boards import Board


def _stats(values: list[float]) -> dict:
    if not values:
        return {"count": None, "min": None, "max": None}
    return {"count": round(float(np.mean(values)), 1), "min": round(float(min(values)), 1),
            "max": round(float(max(values)), 1)}


def build_report(records: dict[int, dict], *, manifest: dict, board: Board, n_requested: int,
                 transport: str, size: dict | None, reference: str | None, complete: bool,
                 elapsed_s: float | None = None, error: str | None = None, link: dict | None = None,
                 estimates: dict | None = None, device=None) -> dict:
    """`device` is the handshake's host_tools.device.DeviceInfo where there was one: its counter
    and clock, rather than the board table's, say what the counts mean and what clock ran."""
    recs = [records[i] for i in sorted(records)]
    layers_meta = manifest.get("layers", [])
    counting = check_counts(counting_for(board, device.counter if device else None), [r["total"] for r in recs])
    conv = counting.convert

    labelled = [r for r in recs if r.get("label") is not None]
    correct = sum(1 for r in labelled if r["pred"] == r["label"])
    compared = [r for r in recs if r.get("match") is not None]
    mismatches = [{"image": r["image"], "first_layer": r.get("first_layer")} for r in compared if not r["match"]]

    layers = []
    for i, meta in enumerate(layers_meta):
        counts = [conv(r["counts"][i]) for r in recs if i < len(r["counts"]) and counting.available]
        st = _stats(counts)
        macs = int(meta.get("macs") or 0)
        # The fused call does the other layer's MACs too; the other layer's count is a bracket only.
        fused = meta.get("fused_into")
        work = macs + (int(layers_meta[fused].get("macs") or 0) if fused is not None and fused < len(layers_meta) else 0)
        rate = round(work / st["count"], 4) if st["count"] and meta.get("computed_by") is None else None
        layers.append({
            "index": meta.get("index", i), "name": meta.get("name"), "op": meta.get("op"), "macs": macs,
            "count": st["count"], "count_min": st["min"], "count_max": st["max"],
            "macs_per_count": rate,
            # Fusion: layer i runs the kernel that also computes layer `fused_into`; that layer's own
            # count (`computed_by` i) is only the hook bracket around nothing.
            "fused_into": meta.get("fused_into"),
            "computed_by": meta.get("computed_by"),
        })
    total = _stats([conv(r["total"]) for r in recs if counting.available])
    report = {
        "pixmcu_version": __version__,
        "model": manifest.get("name"),
        "model_sha256": manifest.get("model_sha256"),
        "board": board.name,
        "transport": transport,
        "counter": counting.unit,
        "complete": complete,
        "n": len(recs),
        "n_requested": n_requested,
        "accuracy": round(correct / len(labelled), 6) if labelled else None,
        "correct": correct if labelled else None,
        "bitexact": {"compared": len(compared), "matches": len(compared) - len(mismatches),
                     "mismatches": mismatches, "reference": reference},
        "failed_inferences": [r["image"] for r in recs if r.get("status", 0) != 0],
        "layers": layers,
        "first_layer": {"name": layers[0]["name"], "count": layers[0]["count"]} if layers else None,
        "total": total,
        "flash": (size or {}).get("flash"),
        "ram": (size or {}).get("ram"),
    }
    if size and "weights" in size:
        report["weights_region"] = size["weights"]
    if elapsed_s:
        report["elapsed_s"] = round(elapsed_s, 3)
    if link:
        report["link"] = link
    if error:
        report["error"] = error
    if estimates is not None:
        _add_estimates(report, estimates, recs, board)
    if device is not None:
        report["device"] = _device_section(device, board)
    if counting.note:
        report["counter_note"] = counting.note
    return report


def _device_section(device, board: Board) -> dict:
    """The clock the firmware says it runs at, and whether it had to fall back to get there."""
    return {"board": device.board, "firmware": device.firmware, "counter": device.counter_kind,
            "clock_hz": device.clock_hz, "nominal_clock_hz": board.clock_hz,
            "clock_fallback": device.clock_fallback, "clock_step_timed_out": device.clock_step}


def _clock_line(dev: dict) -> str:
    mhz = f"{dev['clock_hz'] / 1e6:g} MHz"
    if not dev["clock_fallback"]:
        return f"clock: {mhz}"
    step = dev["clock_step_timed_out"]
    return (f"clock: {mhz}, fallback to the internal oscillator (the {step or 'bring-up'} wait timed out; "
            f"nominal {dev['nominal_clock_hz'] / 1e6:g} MHz)")


def _add_estimates(report: dict, estimates: dict, recs: list[dict], board: Board) -> None:
    """Merge an estimated-cycles run (host_tools.estimates.estimate_run, or a stub with only `note`
    and `core` where there is no cost table or it was not possible) into the report."""
    by_index = {e["index"]: e for e in estimates.get("layers") or []}
    for i, layer in enumerate(report["layers"]):
        e = by_index.get(i) or {}
        layer["estimated_cycles"] = e.get("estimated_cycles")
        if e.get("plugin_count") is not None:
            layer["plugin_count"] = e["plugin_count"]
    tot = estimates.get("total") or {}
    report["total"]["estimated_cycles"] = tot.get("estimated_cycles")
    if tot.get("unknown_instructions") is not None:
        report["total"]["unknown_instructions"] = tot["unknown_instructions"]
    if tot.get("plugin_count") is not None:
        report["total"]["plugin_count"] = tot["plugin_count"]
    if report["first_layer"] is not None:
        report["first_layer"]["estimated_cycles"] = report["layers"][0].get("estimated_cycles")
    section = {k: estimates.get(k) for k in ("core", "cost_table", "image", "board")}
    section["source"] = "docs/cycles.md"
    if estimates.get("plugin_vs_counter"):
        pv = dict(estimates["plugin_vs_counter"])
        # The normal run's counts of the same image, against the plugin's (no markers in that build).
        rec = next((r for r in recs if r.get("image") == estimates.get("image")), None)
        if rec is not None and by_index and board.counter == "instructions":
            pv["normal_count_minus_plugin"] = sorted({
                board.ticks_to_count(rec["counts"][i]) - e["plugin_count"]
                for i, e in by_index.items() if i < len(rec["counts"])})
        section["plugin_vs_counter"] = pv
    if estimates.get("error"):
        section["error"] = estimates["error"]
    report["estimates"] = section
    report["estimates_note"] = estimates.get("note")


def format_report(report: dict) -> str:
    unit = report["counter"] or "count"
    lines = [f"model {report['model']} on {report['board']} ({report['transport']}): "
             f"{report['n']} images" + ("" if report["complete"] else " (incomplete)")]
    if report.get("device"):
        lines.append(_clock_line(report["device"]))
    acc = report["accuracy"]
    lines.append("accuracy: " + (f"{100 * acc:.2f}% ({report['correct']}/{report['n']})" if acc is not None
                                 else "n/a (no labels)"))
    be = report["bitexact"]
    if be["compared"]:
        lines.append(f"bit-exact vs {be['reference']}: {be['matches']}/{be['compared']} images"
                     + (f"; mismatches: {be['mismatches'][:10]}" if be["mismatches"] else ""))
    else:
        lines.append(f"bit-exact: not checked ({be['reference'] or 'no host reference'})")
    est = "estimates" in report

    def est_cell(value) -> str:
        return f" {(f'{value:,.0f}' if value is not None else '-'):>13}" if est else ""

    lines.append(f"{'#':>3} {'layer':<28} {'op':<20} {'MACs':>11} {unit:>13} {'MACs/' + unit.split()[-1][:5]:>11}"
                 + (f" {'est. cycles':>13}" if est else ""))
    for layer in report["layers"]:
        mpc = layer["macs_per_count"]
        cnt = layer["count"]
        op = str(layer["op"])
        if layer.get("fused_into") is not None:
            op += f" + #{layer['fused_into']}"
        elif layer.get("computed_by") is not None:
            op += f" (in #{layer['computed_by']})"
        lines.append(f"{layer['index']:>3} {str(layer['name'])[:28]:<28} {op[:20]:<20} "
                     f"{layer['macs']:>11,} {(f'{cnt:,.0f}' if cnt is not None else '-'):>13} "
                     f"{(f'{mpc:.3f}' if mpc is not None else '-'):>11}" + est_cell(layer.get("estimated_cycles")))
    fl, tot = report["first_layer"], report["total"]
    if fl and fl["count"] is not None:
        lines.append(f"first layer ({fl['name']}): {fl['count']:,.0f} {unit}"
                     + (f"; {fl['estimated_cycles']:,.0f} est. cycles" if fl.get("estimated_cycles") is not None
                        else ""))
    if tot["count"] is not None:
        lines.append(f"total: {tot['count']:,.0f} {unit} per inference (min {tot['min']:,.0f}, max {tot['max']:,.0f})"
                     + (f"; {tot['estimated_cycles']:,.0f} est. cycles" if tot.get("estimated_cycles") is not None
                        else ""))
    if report.get("flash"):
        f, r = report["flash"], report["ram"]
        w = report.get("weights_region")
        weights = f"weights {w['used']:,} in {w['region']}" if w else f"weights {f['weights']:,}"
        lines.append(f"flash {f['used']:,} B (code {f['code']:,}, {weights}); "
                     f"RAM {r['used']:,} B (arena {r['arena']:,}, stack {r['stack']:,})")
    if report.get("counter_note"):
        lines.append(("" if report["counter"] is None else "note: ") + report["counter_note"])
    if report.get("estimates_note"):
        lines.append(f"note: {report['estimates_note']}")
    if report["total"].get("unknown_instructions"):
        from pixmcu.cycles.cost_tables import unknown_warning

        lines.append(unknown_warning(report["total"]["unknown_instructions"]))
    return "\n".join(lines)


def plot_layers(report: dict, path: Path) -> Path:
    """Bar chart of per-layer cost with MACs per count on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = [layer for layer in report["layers"] if layer["count"] is not None]
    names = [f"{layer['index']}:{layer['name']}" for layer in layers]
    counts = [layer["count"] for layer in layers]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(layers) + 2), 4.5))
    ax.bar(range(len(layers)), counts, color="#4878a8")
    ax.set_ylabel(f"{report['counter']} per inference")
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    ax2 = ax.twinx()
    ax2.plot(range(len(layers)), [layer["macs_per_count"] or 0 for layer in layers], "o-", color="#c85a30")
    ax2.set_ylabel(f"MACs per {report['counter'][:-1]}")
    ax.set_title(f"{report['model']} on {report['board']}: per-layer cost ({report['n']} images)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
