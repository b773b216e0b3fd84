"""Results page and plot of the pixel-embedding experiment, rebuilt from the JSON alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATASET_TITLES = {"fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10 (JPEG)"}


def _stage(r: dict[str, Any]) -> str:
    if r["input_stage"] == "float":
        return "float (all float32)"
    if r["input_stage"] == "naive":
        return f"naive input quantization ({r['abits']}-bit pixels)"
    if r["input_stage"] == "int8":
        return "8-bit input, quantized first layer"
    kind = f"pixel embedding d={r['embed_dim']}, Q={r['embed_bits']}"
    if r.get("bins"):
        kind += f", K={r['bins']} learned bins"
    if r.get("embed_lr_mult") not in (None, 1.0):
        kind += f", table lr x{r['embed_lr_mult']:g}"
    return kind


def _bits(r: dict[str, Any]) -> str:
    return "float32" if r["wbits"] is None else f"W{r['wbits']}A{r['abits']}"


def budget_of(r: dict[str, Any]) -> tuple[int, float, tuple[int, ...]]:
    """What makes rows comparable: training images, epochs and network widths."""
    return r["train_samples"], float(r["epochs"]), tuple(r["config"]["widths"])


def budgets(results: dict[str, Any], dataset: str) -> list[tuple[int, float, tuple[int, ...]]]:
    """Training budgets run for `dataset`, the largest first."""
    b = {budget_of(r) for r in results["runs"] if r["dataset"] == dataset}
    return sorted(b, key=lambda t: (-t[0] * t[1], -sum(t[2])))


def headline_budget(results: dict[str, Any], dataset: str):
    """The longest training that has a float baseline and quantized rows to compare with it."""
    for b in budgets(results, dataset):
        runs = [r for r in results["runs"] if r["dataset"] == dataset and budget_of(r) == b]
        if any(r["run"] == "float32" for r in runs) and sum(r["run"] != "float32" for r in runs) >= 2:
            return b
    return None


def rows(results: dict[str, Any], dataset: str, budget=None) -> list[dict[str, Any]]:
    if budget is None:
        budget = headline_budget(results, dataset)
    runs = [r for r in results["runs"] if r["dataset"] == dataset and budget_of(r) == budget]
    base = next((r["top1"] for r in runs if r["run"] == "float32"), None)
    out = []
    for r in runs:
        gap = None if base is None else round(r["top1"] - base, 2)
        out.append({**r, "gap": gap, "stage_text": _stage(r), "bits_text": _bits(r)})
    stage = {"float": 0, "naive": 1, "int8": 2, "embed": 3}
    return sorted(out, key=lambda r: (stage[r["input_stage"]] > 0, -(r["wbits"] or 99), -(r["abits"] or 99),
                                      stage[r["input_stage"]], r["run"]))


def summary(results: dict[str, Any]) -> list[str]:
    """One line per dataset and bit setting: naive, 8-bit and best pixel-embedding gap to float."""
    lines = []
    for ds, title in DATASET_TITLES.items():
        rs = rows(results, ds)
        if not any(r["run"] == "float32" for r in rs):
            continue
        for bits in sorted({r["bits_text"] for r in rs if r["wbits"]}, reverse=True):
            group = [r for r in rs if r["bits_text"] == bits]
            naive = next((r for r in group if r["input_stage"] == "naive"), None)
            int8 = next((r for r in group if r["input_stage"] == "int8"), None)
            embeds = [r for r in group if r["input_stage"] == "embed"]
            best = max(embeds, key=lambda r: r["top1"]) if embeds else None
            part = []
            if naive:
                part.append(f"naive {naive['gap']:+.2f}")
            if int8:
                part.append(f"8-bit input {int8['gap']:+.2f}")
            if best:
                part.append(f"best pixel embedding ({best['stage_text'].replace('pixel embedding ', '')}) "
                            f"{best['gap']:+.2f} points vs float")
            lines.append(f"- **{title}, {bits}**: " + ", ".join(part))
    return lines + [""] if lines else []


def _setup(rs: list[dict[str, Any]]) -> str:
    """Training set-up and hardware of a table's rows, as the records state them."""
    args = {json.dumps(r.get("train_args"), sort_keys=True) for r in rs}
    parts = []
    if len(args) == 1 and rs[0].get("train_args"):
        a = rs[0]["train_args"]
        parts.append(f"batch {a['batch_size']}, lr {a['lr']:g}, weight decay {a['weight_decay']:g}")
    else:
        parts.append("batch 128, lr 0.003, weight decay 0.0001" if all(not r.get("train_args") for r in rs)
                     else "mixed training arguments (see the JSON)")
    hws = sorted({r.get("hardware", "?") for r in rs})
    parts.append("trained on " + "; ".join(hws))
    return "; ".join(parts)


def _table(title: str, rs: list[dict[str, Any]]) -> list[str]:
    r0 = rs[0]
    cfg = r0["config"]
    lines = [f"## {title}: {r0['train_samples']} training images x {r0['epochs']:g} epoch(s), widths "
             f"{tuple(cfg['widths'])}", "",
             f"Model `{cfg['arch']}` widths {tuple(cfg['widths'])}; top-1 on {r0['test_samples']} test images; "
             "quantized rows are evaluated with the integer contract (bit-exact with the numpy reference). "
             f"Training: {_setup(rs)}. Train time is wall time while sharing the machine with the other runs.", "",
             "| bits | input stage | top-1 % | gap to float (points) | train time (s) |",
             "|---|---|---:|---:|---:|"]
    for r in rs:
        gap = "—" if r["run"] == "float32" or r["gap"] is None else f"{r['gap']:+.2f}"
        lines.append(f"| {r['bits_text']} | {r['stage_text']} | {r['top1']:.2f} | {gap} | {r['train_seconds']:.0f} |")
    return lines + [""]


def write_markdown(results: dict[str, Any], path: Path) -> None:
    lines = ["# Pixel embedding: accuracy of fully quantized networks by input stage", "",
             "Generated by `pixmcu experiment pixel-embedding` from `pixel_embedding.json`; "
             "see the notes at the end for what the numbers can and cannot say.", ""]
    summ = summary(results)
    if summ:
        lines += ["## Summary (gap to the float32 baseline, top-1 points)", ""] + summ
    for ds, title in DATASET_TITLES.items():
        for budget in budgets(results, ds):
            lines += _table(title, rows(results, ds, budget))
    shipped = results.get("shipped", [])
    if shipped:
        lines += ["## Shipped models (`pixmcu models`)", "",
                  "Agreement = share of test images on which the PyTorch evaluation and the numpy integer "
                  "reference (run on the shipped `.pmz`) predict the same class.", "",
                  "| name | dataset | setting | host top-1 % (reference) | agreement, integer-contract eval | "
                  "agreement, float fake-quant eval | test images |",
                  "|---|---|---|---:|---:|---:|---:|"]
        for r in shipped:
            lines.append(f"| `{r['name']}` | {DATASET_TITLES.get(r['dataset'], r['dataset'])} | {r['label']} | "
                         f"{r['host_top1']:.2f} | {r['agreement_exact_eval_vs_reference']:.3f}% | "
                         f"{r['agreement_float_fakequant_vs_reference']:.3f}% | {r['test_images']} |")
        lines.append("")
    runs = results.get("runs", [])
    if runs:
        hw = runs[0].get("hardware", "?")
        lines += ["## Method", "",
                  "- Networks: `cnn28` (3x3 convs 16-32-64, two 2x2 max pools, NHWC flatten, FC) for Fashion-MNIST; "
                  "`resnet8` (the MLPerf Tiny ResNet shape: stem, three residual stacks, global average pool, FC) for "
                  "CIFAR-10 (JPEG), at the widths each table names (16-32-64 is MLPerf Tiny's).",
                  "- Fully quantized: every conv and FC, first and last included, has per-channel symmetric weights "
                  "(W4: codes -7..7, W8: -127..127) with BatchNorm folded before quantization and int32 biases; every "
                  "ReLU6 activation that feeds a conv or FC has 2^A - 1 steps over [0, 6] (int8 containers, zero point "
                  "-128); the tensors entering a residual add and the logits are 8-bit.",
                  "- Input stages: *naive* = pixels requantized to A bits by the graph's own `quantize` op (16 grey "
                  "levels at A4, 4 at A2); *8-bit input* = int8 pixels (p - 128, scale 1/255) into the quantized first "
                  "layer; *pixel embedding* = one table per input channel, d entries of Q bits on [0, 1], "
                  "ramp-initialised, trained through a straight-through quantizer; *binned* = each channel's 256 values "
                  "in K bins with learned thresholds, one vector per bin.",
                  "- Training: AdamW (cosine schedule with 2% warm-up, no weight decay on the table, BN and biases), "
                  "BN statistics frozen for the last 20% of steps so training ends on the exact folded network; "
                  "random crop + flip on CIFAR-10; seed 0, one run per row. Batch, learning rate and hardware are "
                  "given per table.",
                  "- Evaluation: quantized rows are computed with the integer contract itself (TFLM requantization, "
                  "double rounding included), which is bit-exact with `pixmcu.reference` on the exported graph.",
                  "- Several runs share a machine at once (`--jobs`), so train times are wall times under load, not "
                  "speeds of one run.", ""]
    notes = results.get("notes")
    if notes:
        lines += ["## Notes", ""] + [notes, ""]
    path.write_text("\n".join(lines))


def write_plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [ds for ds in DATASET_TITLES if rows(results, ds)]
    if not present:
        return
    fig, axes = plt.subplots(1, len(present), figsize=(7 * len(present), 5), squeeze=False)
    for ax, ds in zip(axes[0], present):
        rs = rows(results, ds)
        base = next((r["top1"] for r in rs if r["run"] == "float32"), None)
        qs = [r for r in rs if r["run"] != "float32"]
        labels = [f"{r['bits_text']} {r['run'].split('_', 1)[1]}" for r in qs]
        colors = ["#888888" if r["input_stage"] == "naive" else "#4c72b0" if r["input_stage"] == "int8" else "#dd8452"
                  for r in qs]
        ax.barh(range(len(qs)), [r["top1"] for r in qs], color=colors)
        ax.set_yticks(range(len(qs)), labels, fontsize=8)
        ax.invert_yaxis()
        if base is not None:
            ax.axvline(base, color="k", ls="--", lw=1, label=f"float32 {base:.1f}%")
            ax.legend(loc="lower right")
        lo, hi = min(r["top1"] for r in rs), max(r["top1"] for r in rs)
        ax.set_xlim(max(0, lo - 3), min(100, hi + 2))
        for i, r in enumerate(qs):
            ax.text(r["top1"], i, f" {r['top1']:.1f}", va="center", fontsize=7)
        ax.set_xlabel("top-1 %")
        ax.set_title(DATASET_TITLES[ds])
    fig.suptitle("Fully quantized networks by input stage (grey naive, blue 8-bit, orange pixel embedding)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
