"""Turn image records into the run report: accuracy, bit-exact agreement, per-layer and total counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pixmcu import __version__
from pixmcu.boards import Board


def _stats(values: list[float]) -> dict:
    if not values:
        return {"count": None, "min": None, "max": None}
    return {"count": round(float(np.mean(values)), 1), "min": round(float(min(values)), 1),
            "max": round(float(max(values)), 1)}


def build_report(records: dict[int, dict], *, manifest: dict, board: Board, n_requested: int,
                 transport: str, size: dict | None, reference: str | None, complete: bool,
                 elapsed_s: float | None = None, error: str | None = None, link: dict | None = None) -> dict:
    recs = [records[i] for i in sorted(records)]
    layers_meta = manifest.get("layers", [])
    conv = board.ticks_to_count

    labelled = [r for r in recs if r.get("label") is not None]
    correct = sum(1 for r in labelled if r["pred"] == r["label"])
    compared = [r for r in recs if r.get("match") is not None]
    mismatches = [{"image": r["image"], "first_layer": r.get("first_layer")} for r in compared if not r["match"]]

    layers = []
    for i, meta in enumerate(layers_meta):
        counts = [conv(r["counts"][i]) for r in recs if i < len(r["counts"])]
        st = _stats(counts)
        macs = int(meta.get("macs") or 0)
        layers.append({
            "index": meta.get("index", i), "name": meta.get("name"), "op": meta.get("op"), "macs": macs,
            "count": st["count"], "count_min": st["min"], "count_max": st["max"],
            "macs_per_count": round(macs / st["count"], 4) if st["count"] else None,
        })
    total = _stats([conv(r["total"]) for r in recs])
    report = {
        "pixmcu_version": __version__,
        "model": manifest.get("name"),
        "model_sha256": manifest.get("model_sha256"),
        "board": board.name,
        "transport": transport,
        "counter": board.counter,
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
    if board.counter == "instructions":
        report["counter_note"] = ("guest instructions counted by QEMU (-icount shift=%d, SysTick); "
                                  "not cycles" % board.icount_shift)
    return report


def format_report(report: dict) -> str:
    unit = report["counter"]
    lines = [f"model {report['model']} on {report['board']} ({report['transport']}): "
             f"{report['n']} images" + ("" if report["complete"] else " (incomplete)")]
    acc = report["accuracy"]
    lines.append("accuracy: " + (f"{100 * acc:.2f}% ({report['correct']}/{report['n']})" if acc is not None
                                 else "n/a (no labels)"))
    be = report["bitexact"]
    if be["compared"]:
        lines.append(f"bit-exact vs {be['reference']}: {be['matches']}/{be['compared']} images"
                     + (f"; mismatches: {be['mismatches'][:10]}" if be["mismatches"] else ""))
    else:
        lines.append(f"bit-exact: not checked ({be['reference'] or 'no host reference'})")
    lines.append(f"{'#':>3} {'layer':<28} {'op':<20} {'MACs':>11} {unit:>13} {'MACs/' + unit[:5]:>11}")
    for layer in report["layers"]:
        mpc = layer["macs_per_count"]
        cnt = layer["count"]
        lines.append(f"{layer['index']:>3} {str(layer['name'])[:28]:<28} {str(layer['op'])[:20]:<20} "
                     f"{layer['macs']:>11,} {(f'{cnt:,.0f}' if cnt is not None else '-'):>13} "
                     f"{(f'{mpc:.3f}' if mpc is not None else '-'):>11}")
    fl, tot = report["first_layer"], report["total"]
    if fl and fl["count"] is not None:
        lines.append(f"first layer ({fl['name']}): {fl['count']:,.0f} {unit}")
    if tot["count"] is not None:
        lines.append(f"total: {tot['count']:,.0f} {unit} per inference (min {tot['min']:,.0f}, max {tot['max']:,.0f})")
    if report.get("flash"):
        f, r = report["flash"], report["ram"]
        w = report.get("weights_region")
        weights = f"weights {w['used']:,} in {w['region']}" if w else f"weights {f['weights']:,}"
        lines.append(f"flash {f['used']:,} B (code {f['code']:,}, {weights}); "
                     f"RAM {r['used']:,} B (arena {r['arena']:,}, stack {r['stack']:,})")
    if report.get("counter_note"):
        lines.append(f"note: {report['counter_note']}")
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
