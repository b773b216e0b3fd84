"""The first-layer benchmark: the grid, running it, the table, the issue's ratios, JSON and a plot."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from pixmcu.first_layer.bench import BenchBuilder, VariantResult
from pixmcu.first_layer.problem import make_problem
from pixmcu.first_layer.reference import Geometry
from pixmcu.first_layer.variants import FLOAT_VARIANTS, JOINT_PE, PER_CHANNEL_PE
from pixmcu.shared_data import mlperf_resnet

HEADLINE = Geometry(32, 32, 3, 16, 3, 1)
MLPERF_RESNET = mlperf_resnet()
MLPERF_LABEL = "mlperf-tiny ResNet conv1"


def grid(quick: bool = False) -> list[tuple[str, Geometry]]:
    """(label, geometry) of the issue's grid; `quick` keeps the headline case and one grey case."""
    if quick:
        return [("", HEADLINE), ("", Geometry(28, 28, 1, 16, 3, 1))]
    cases = []
    for hwc in ((32, 32, 3), (28, 28, 1)):
        for co in (8, 16, 32):
            for k in (3, 5):
                for s in (1, 2):
                    cases.append(("", Geometry(*hwc, co, k, s)))
    # The shipped models' first layers: MLPerf Tiny ResNet (CIFAR-10) conv1 is 32x32x3 -> 16, 3x3, s1,
    # SAME (the headline geometry); this case runs its int8 variant with the model's own weights and
    # requantization. The Fashion-MNIST models start 28x28x1 -> 8/16, 3x3, s1 (in the grid).
    if MLPERF_RESNET.exists():
        cases.append((MLPERF_LABEL, HEADLINE))
    return cases


@dataclass
class Case:
    shape: dict
    label: str
    variants: list[VariantResult]

    def as_json(self) -> dict:
        return {"shape": self.shape, "label": self.label, "variants": [v.as_json() for v in self.variants]}


def shape_of(g: Geometry, d: int, q: int, bins: int) -> dict:
    return {"in": [g.in_h, g.in_w, g.in_c], "out_c": g.out_c, "kernel": [g.k, g.k], "stride": g.stride,
            "padding": g.padding, "embed_dim": d, "embed_bits": q, "bins": bins}


def run_grid(board: str, workdir: Path, cases: list[tuple[str, Geometry]], d: int = 10, q: int = 2, bins: int = 8,
             log=print) -> list[Case]:
    builder = BenchBuilder(workdir, board)
    out = []
    for i, (label, g) in enumerate(cases):
        t0 = time.time()
        if label == MLPERF_LABEL:
            from pixmcu.first_layer.tune import int8_problem_from_graph
            from pixmcu.frontend import load_model

            p, _ = int8_problem_from_graph(load_model(MLPERF_RESNET), seed=i)
            p.d, p.q, p.bins = d, q, bins
        else:
            p = make_problem(g, d=d, q=q, bins=bins, seed=i)
        res = builder.run_case(workdir / builder.board.name / f"case{i:02d}", p)
        out.append(Case(shape_of(g, d, q, bins), label or g.label(), res))
        if label == MLPERF_LABEL:
            out[-1].shape["weights"] = "int8 variant: the model's conv1 weights and requantization"
        log(f"  [{i + 1}/{len(cases)}] {g.label()}: {len(res)} variants, {time.time() - t0:.1f} s")
    return out


def format_table(cases: list[Case], board: str) -> str:
    lines = [f"first layer on {board}: count = instructions executed under QEMU; estimated cycles from the "
             f"cost table (docs/cycles.md), not measured"]
    head = f"{'case':<26} {'variant':<15} {'instructions':>12} {'est. cycles':>12} {'flash B':>9} {'RAM B':>7}  bit-exact"
    for c in cases:
        lines += ["", head]
        for v in c.variants:
            exact = "yes" if v.bitexact else ("NO" if v.bitexact is False else f"float (|err| {v.max_abs_err:.1e})")
            lines.append(f"{c.label:<26} {v.name:<15} {v.count:>12,} {round(v.estimated_cycles):>12,} "
                         f"{v.flash_bytes:>9,} {v.ram_bytes:>7,}  {exact}" + (f"  [{v.note}]" if v.note else ""))
    return "\n".join(lines)


def ratios(case: Case) -> dict:
    """The issue's ratios for one case (meant for the headline case)."""
    by = {v.name: v for v in case.variants}
    floats = [by[n] for n in FLOAT_VARIANTS if n in by]
    pcs = [by[n] for n in PER_CHANNEL_PE if n in by]
    joints = [by[n] for n in JOINT_PE if n in by]
    best_f = min(floats, key=lambda v: v.estimated_cycles)
    best_pc = min(pcs, key=lambda v: v.estimated_cycles)
    s8 = by["s8_im2col"]
    r = {"best_float": best_f.name, "best_per_channel_pe": best_pc.name,
         "pe_vs_float_est_cycles": best_f.estimated_cycles / best_pc.estimated_cycles,
         "pe_vs_int8_instructions": best_pc.count / s8.count}
    if joints:
        best_j = min(joints, key=lambda v: v.estimated_cycles)
        r.update(best_joint=best_j.name, joint_vs_float_est_cycles=best_f.estimated_cycles / best_j.estimated_cycles,
                 joint_vs_int8_instructions=best_j.count / s8.count)
    return r


def format_ratios(r: dict) -> str:
    lines = [
        f"best per-channel PE ({r['best_per_channel_pe']}) vs best float ({r['best_float']}), estimated cycles: "
        f"{r['pe_vs_float_est_cycles']:.2f}x faster",
        f"best per-channel PE vs int8 (s8_im2col), instructions: {r['pe_vs_int8_instructions']:.2f} of int8",
    ]
    if "best_joint" in r:
        lines += [
            f"best joint PE ({r['best_joint']}) vs best float, estimated cycles: "
            f"{r['joint_vs_float_est_cycles']:.2f}x faster",
            f"best joint PE vs int8, instructions: {r['joint_vs_int8_instructions']:.2f} of int8",
        ]
    return "\n".join(lines)


def write_json(path: Path, board: str, cases: list[Case], r: dict | None) -> None:
    doc = {"board": board, "counter": "instructions",
           "note": "count: instructions executed under QEMU (exact); estimated_cycles: cost-table estimate, "
                   "not measured (docs/cycles.md)",
           "cases": [c.as_json() for c in cases]}
    if r is not None:
        doc["headline"] = {"shape": shape_of(HEADLINE, 10, 2, 8), **r}
    Path(path).write_text(json.dumps(doc, indent=2) + "\n")


def plot(path: Path, board: str, cases: list[Case]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = []
    for c in cases:
        for v in c.variants:
            if v.name not in names:
                names.append(v.name)
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.55 * len(cases) * len(names) / 3), 8), sharex=True)
    x = np.arange(len(cases))
    width = 0.8 / len(names)
    for ax, key, title in ((axes[0], "estimated_cycles", "estimated cycles (cost table, not measured)"),
                           (axes[1], "count", "instructions under QEMU")):
        for j, n in enumerate(names):
            vals = [next((getattr(v, key) for v in c.variants if v.name == n), np.nan) for c in cases]
            ax.bar(x + (j - len(names) / 2 + 0.5) * width, vals, width, label=n)
        ax.set_yscale("log")
        ax.set_title(f"first layer on {board}: {title}")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(ncol=4, fontsize=8)
    axes[1].set_xticks(x, [c.label for c in cases], rotation=60, ha="right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
