"""Pick the first-layer variant for a target: a cost model, a flash budget, flash wait states.

The model estimates cycles from the work each variant does (table lookups or multiply-accumulates,
outputs, window values, input pixels), linear with coefficients fitted to the QEMU benchmark's
estimated cycles (cost table of pixmcu/cycles, zero wait states), then adds what
zero-wait-state estimates leave out: on a real part, tables and weights in flash pay wait states.
Weights stream sequentially and the flash prefetcher hides most of that; table rows are read at
random, so every 16-byte flash line of a row costs the wait states again (no cache assumed). Tables
may instead be copied to RAM at start-up when the RAM budget allows: zero wait states, but the image
still carries them in flash.

Measured numbers (from `pixmcu tune` or `pixmcu bench first-layer --json`) replace the model's
estimate for any variant they cover; the wait-state penalty is added to them the same way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from pixmcu.first_layer.reference import Geometry

FLASH_LINE = 16  # bytes per flash read line (STM32F4/F7/H7 flash interfaces: 128 bits)

# Estimated cycles as a linear function of the work, per core and variant, least-squares fitted to
# `pixmcu bench first-layer` (all 25 cases, zero wait states; max relative error on the grid: 7 % for
# embed-then-conv, 12-15 % for float and joint, 22-31 % for the rest). Features, P = output pixels:
#   table variants: P*lookups*out_c/16, P*ceil(out_c/16), P*out_c, input pixels
#   MAC variants:   MACs, P*out_c, P*window length, input pixels
COEFFS = {
    "cortex-m4": {
        "pe_folded_s16": (23.92, 343.06, -2.45, 4.14),
        "pe_joint_s16": (33.54, 194.71, -0.96, 52.93),
        "pe_folded_s32": (163.36, 720.8, 9.02, 57.93),
        "pe_embed_conv": (1.22, 42.36, 15.04, 64.35),
        "s8_im2col": (1.0, 39.17, 15.23, 49.01),
        "f32_vmul": (3.05, 10.57, 4.64, 46.59),
        "f32_vfma": (3.98, 10.93, 4.64, 50.19),
    },
    "cortex-m7": {
        "pe_folded_s16": (18.7, 231.87, -2.05, 3.01),
        "pe_joint_s16": (24.07, 136.63, -1.02, 36.07),
        "pe_folded_s32": (97.74, 424.38, 7.51, 34.48),
        "pe_embed_conv": (0.93, 27.41, 9.49, 41.69),
        "s8_im2col": (0.78, 25.63, 9.38, 32.54),
        "f32_vmul": (2.53, 7.05, 3.28, 33.78),
        "f32_vfma": (1.61, 6.5, 3.27, 33.31),
    },
}

CODE_BYTES = {"pe_folded_s16": 5000, "pe_joint_s16": 5000, "pe_folded_s32": 700, "pe_embed_conv": 1800,
              "s8_im2col": 1700, "f32_vmul": 1300, "f32_vfma": 1200}


@dataclass
class Target:
    core: str = "cortex-m4"
    flash_budget: int | None = None      # bytes the first layer may use in flash (code + data)
    ram_budget: int | None = None        # bytes it may use in RAM (scratch, output, tables moved to RAM)
    flash_wait_states: int = 0           # e.g. 5 on an STM32F446 at 180 MHz, 0 under QEMU
    integer_only: bool = True            # the float baselines are never chosen for an integer model


@dataclass
class Candidate:
    name: str
    est_cycles: float
    flash_bytes: int
    ram_bytes: int
    tables_in: str = "flash"             # where the tables/weights go: "flash" or "ram"
    feasible: bool = True
    reason: str = ""
    source: str = "model"                # "model" or "measured"
    detail: dict = field(default_factory=dict)


def _work(g: Geometry, d: int, bins: int | None) -> dict:
    pixels = g.out_h * g.out_w
    blocks = math.ceil(g.out_c / 16)
    return {"pixels": pixels, "blocks": blocks, "in_pixels": g.in_h * g.in_w,
            "lookups_pc": g.taps * g.in_c, "lookups_joint": g.taps,
            "macs": pixels * g.taps * g.in_c * g.out_c, "macs_embed": pixels * g.taps * g.in_c * d * g.out_c,
            "joint_rows": (bins ** g.in_c) if bins else 0}


def data_bytes(name: str, g: Geometry, d: int, bins: int | None) -> int:
    """Constant data of a variant (tables or weights), as the generator lays it out."""
    kp4 = lambda k: (k + 3) & ~3  # noqa: E731
    if name == "pe_folded_s16":
        return g.taps * g.in_c * 256 * g.out_c * 2
    if name == "pe_folded_s32":
        return g.taps * g.in_c * 256 * g.out_c * 4
    if name == "pe_joint_s16":
        return g.taps * (bins ** g.in_c + 1) * g.out_c * 2 + g.in_c * 256 * 4
    if name == "pe_embed_conv":
        return g.out_c * kp4(g.taps * g.in_c * d) * 2 + g.in_c * 256 * d * 2
    if name == "s8_im2col":
        return g.out_c * kp4(g.taps * g.in_c) * 2
    return g.out_c * g.taps * g.in_c * 4 + g.out_c * 4 + 8 * g.in_c  # float


def scratch_bytes(name: str, g: Geometry, d: int) -> int:
    kp4 = lambda k: (k + 3) & ~3  # noqa: E731
    wb, hp = (g.out_w - 1) * g.stride + g.k, (g.out_h - 1) * g.stride + g.k
    return {"pe_joint_s16": (wb * hp + wb * g.k) * 4, "s8_im2col": 10 * kp4(g.taps * g.in_c),
            "pe_embed_conv": 10 * kp4(g.taps * g.in_c * d),
            "f32_vmul": g.in_h * g.in_w * g.in_c * 4, "f32_vfma": g.in_h * g.in_w * g.in_c * 4}.get(name, 0)


def model_cycles(name: str, g: Geometry, d: int, bins: int | None, core: str) -> float:
    """Zero-wait-state estimated cycles of one variant (the fitted linear model)."""
    c = COEFFS.get(core, COEFFS["cortex-m4"])[name]
    w = _work(g, d, bins)
    p = w["pixels"]
    if name in ("pe_folded_s16", "pe_folded_s32", "pe_joint_s16"):
        lookups = w["lookups_joint"] if name == "pe_joint_s16" else w["lookups_pc"]
        x = (p * lookups * g.out_c / 16, p * w["blocks"], p * g.out_c, w["in_pixels"])
    else:
        dd = d if name == "pe_embed_conv" else 1
        x = (w["macs_embed"] if name == "pe_embed_conv" else w["macs"], p * g.out_c, p * g.taps * g.in_c * dd,
             w["in_pixels"])
    return float(sum(ci * xi for ci, xi in zip(c, x)))


def wait_state_cycles(name: str, g: Geometry, d: int, bins: int | None, ws: int) -> float:
    """Extra cycles of table/weight reads from flash with `ws` wait states (tables read at random)."""
    if ws <= 0:
        return 0.0
    w = _work(g, d, bins)
    if name in ("pe_folded_s16", "pe_joint_s16", "pe_folded_s32"):
        lookups = w["lookups_joint"] if name == "pe_joint_s16" else w["lookups_pc"]
        row_bytes = g.out_c * (4 if name == "pe_folded_s32" else 2)
        return w["pixels"] * lookups * math.ceil(row_bytes / FLASH_LINE) * ws
    # Weights stream in order: the prefetch buffer hides all but about one stall per line.
    return data_bytes(name, g, d, bins) * w["pixels"] / FLASH_LINE * 0.1 * ws


PE_NAMES = ("pe_folded_s16", "pe_joint_s16", "pe_folded_s32", "pe_embed_conv")


def candidates(g: Geometry, d: int, q: int, bins: int | None, target: Target,
               measured: dict[str, float] | None = None, int16_ok: dict[str, bool] | None = None,
               names: tuple[str, ...] | list[str] | None = None) -> list[Candidate]:
    """Every variant with its estimate and whether it fits the target; `int16_ok` says, per table
    variant, whether the bound proof allowed int16 (False: that variant is not available). `names`
    defaults to the variants that compute a pixel-embedding first layer; the int8 and float
    baselines compute other models and are only compared when asked for."""
    names = list(names or PE_NAMES)
    if target.integer_only:
        names = [n for n in names if not n.startswith("f32")]
    out = []
    for n in names:
        if n == "pe_joint_s16" and not bins:
            out.append(Candidate(n, math.inf, 0, 0, feasible=False, reason="embedding is not binned"))
            continue
        if int16_ok is not None and n in int16_ok and not int16_ok[n]:
            out.append(Candidate(n, math.inf, 0, 0, feasible=False, reason="int16 bound not provable"))
            continue
        base = measured.get(n) if measured else None
        est = base if base is not None else model_cycles(n, g, d, bins, target.core)
        data = data_bytes(n, g, d, bins)
        code = CODE_BYTES[n]
        out_b = g.out_h * g.out_w * g.out_c * (4 if n.startswith("f32") else 1)
        ram = scratch_bytes(n, g, d) + out_b
        cand = Candidate(n, est, code + data, ram, source="measured" if base is not None else "model")
        ws = wait_state_cycles(n, g, d, bins, target.flash_wait_states)
        cand.detail = {"zero_ws_cycles": est, "wait_state_cycles": ws, "data_bytes": data}
        fits_flash = target.flash_budget is None or code + data <= target.flash_budget
        fits_ram = target.ram_budget is None or ram <= target.ram_budget
        can_move = target.ram_budget is None or ram + data <= target.ram_budget
        if ws > 0 and can_move and target.ram_budget is not None:
            # Tables copied to RAM at start-up (the image still carries them in flash): no wait states.
            cand.tables_in, cand.ram_bytes = "ram", ram + data
        else:
            cand.est_cycles = est + ws
        if not fits_flash:
            cand.feasible, cand.reason = False, f"needs {code + data:,} B of flash, budget {target.flash_budget:,}"
        if cand.feasible and not fits_ram:
            cand.feasible, cand.reason = False, f"needs {ram:,} B of RAM, budget {target.ram_budget:,}"
        out.append(cand)
    return out


def choose(g: Geometry, d: int, q: int, bins: int | None, target: Target,
           measured: dict[str, float] | None = None, int16_ok: dict[str, bool] | None = None,
           names: tuple[str, ...] | list[str] | None = None) -> dict:
    """The fastest feasible variant and why: {"variant", "tables_in", "est_cycles", "reason", "candidates"}."""
    cands = candidates(g, d, q, bins, target, measured, int16_ok, names)
    feasible = [c for c in cands if c.feasible]
    if not feasible:
        raise ValueError("no first-layer variant fits the budgets: " +
                         "; ".join(f"{c.name}: {c.reason}" for c in cands))
    best = min(feasible, key=lambda c: c.est_cycles)
    runner = sorted((c for c in feasible if c is not best), key=lambda c: c.est_cycles)
    # An estimate is never a measurement: say where the estimate came from.
    origin = {"model": "cost model", "measured": "cost table over instruction classes counted under QEMU"}
    why = (f"{best.name}: {best.est_cycles:,.0f} estimated cycles ({origin.get(best.source, best.source)}"
           f"{', tables in RAM' if best.tables_in == 'ram' else ''}"
           f"{f', {target.flash_wait_states} flash wait states' if target.flash_wait_states else ''})")
    if runner:
        why += f", {runner[0].est_cycles / best.est_cycles:.2f}x ahead of {runner[0].name}"
    excluded = [f"{c.name} ({c.reason})" for c in cands if not c.feasible]
    if excluded:
        why += "; excluded: " + ", ".join(excluded)
    return {"variant": best.name, "tables_in": best.tables_in, "est_cycles": best.est_cycles, "reason": why,
            "target": asdict(target), "candidates": [asdict(c) for c in cands]}
