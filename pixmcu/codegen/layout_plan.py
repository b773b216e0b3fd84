"""Per-layer weight layouts under a whole-model flash budget (`pixmcu generate --optimize/--flash-budget`).

    plan_layouts(graph: Graph, board: str | Board | None = None, optimize: str = "balanced",
                 flash_budget: int | None = None, model_name: str | None = None) -> LayoutPlan

A pure function (no files written, nothing built): for every layer of `graph` it lists the weight
layouts the board's kernels offer, predicts each one's constant bytes (exact: the arrays the generator
would emit) and instructions (a per-kernel instructions-per-MAC model, `INSTR_PER_MAC`), and picks one:

- ``speed``: the fastest layout everywhere (conv2d weights pre-widened to int16 on Armv7E-M DSP cores).
- ``size``: the smallest everywhere (int8 weights read and widened in the kernel with SXTB16; int4
  weights, two per byte, where every value of a layer fits 4 bits: `kernels.int4_eligible`; 2-bit
  weights, four per byte, where every value fits [-2, 1]: `kernels.int2_eligible`).
- ``balanced`` (default): the fastest plan whose predicted flash fits the budget and is at most
  `BALANCE` times the smallest plan's. Starting from the fastest plan, layers move to their smaller
  layout in order of fewest instructions lost per byte saved, until the plan fits. (The bound keeps
  the int16 copies where they buy the most: on the MLPerf Tiny models they cost 0.5 instructions per
  MAC saved, so a layer with few output pixels - the late layers that hold most of the weights - gains
  little from doubling its flash.)

Predicted flash = constant data + `CODE_RESERVE_BYTES` (kernels, model code, harness). The budget is
`flash_budget` when given, else the board's weight region. `balanced` shrinks the plan until constants
+ reserve fit; the reserve is an estimate, so a plan fails (PixmcuError naming the model, the board and
the bytes) only when its constants alone exceed the budget (`speed` and `size` are checked the same
way). `pixmcu analyze` calls this function to show the plan without generating anything.

`LayoutPlan.packed(i)` tells the generator whether layer i takes the pre-widened (packed) kernels;
`LayoutPlan.manifest()` is what manifest.json records (the choice per layer and why).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pixmcu.boards import Board, get_board
from pixmcu.errors import PixmcuError
from pixmcu.ir import Graph
from pixmcu.lowering import macs as op_macs

OPTIMIZE = ("speed", "balanced", "size")

# `balanced` stays within this factor of the smallest plan's predicted flash.
BALANCE = 1.4

# Flash the plan keeps free for code: the kernels, the generated model code and the harness
# (measured: 20-40 KB on the MLPerf Tiny models on qemu-m4/m7; docs/performance.md).
CODE_RESERVE_BYTES = 48 * 1024

# Predicted instructions per MAC of each kernel on its core (measured on the MLPerf Tiny models with
# `pixmcu bench model`; a model for ranking layouts, not a promise). Kernels not listed: 2.0.
INSTR_PER_MAC = {
    "pm_conv2d_packed_s8": 0.95, "pm_conv2d_packed_add_s8": 0.95, "pm_conv2d_packed_pad_s8": 1.05,
    "pm_conv2d_packed_patch_s8": 1.15, "pm_conv2d_packed8_s8": 1.45, "pm_conv2d_packed8_add_s8": 1.45,
    "pm_conv2d_packed_1x1_s8": 0.9, "pm_conv2d_packed8_1x1_s8": 1.35,
    "pm_conv2d_packed4_s8": 1.75, "pm_conv2d_packed4_add_s8": 1.75, "pm_conv2d_packed4_1x1_s8": 1.6,
    "pm_conv2d_packed2_s8": 1.6, "pm_conv2d_packed2_add_s8": 1.6, "pm_conv2d_packed2_1x1_s8": 1.5,
    "pm_conv2d_dsp_s8": 1.5, "pm_conv2d_1x1_s8": 2.1,
    "pm_conv2d_s8": 8.0, "pm_conv2d_mve_s8": 0.2,
}
DEFAULT_INSTR_PER_MAC = 2.0


@dataclass(frozen=True)
class LayoutOption:
    """One way to run a layer: its weight layout ("int16": pre-widened; "int8"), kernel and predictions."""

    layout: str
    kernel: str | None
    packed: bool
    weight_bytes: int
    instructions: int
    int8_weights: bool = False
    int4_weights: bool = False
    int2_weights: bool = False


# The low-bit layouts: taken only where a layer's weights fit them, never the reference of `balanced`.
LOWBIT = ("int4", "int2")


@dataclass
class LayerLayout:
    index: int
    name: str
    op: str
    macs: int
    options: tuple[LayoutOption, ...]
    chosen: LayoutOption
    reason: str = ""


@dataclass
class LayoutPlan:
    """The chosen layout of every layer and the plan's predicted flash (constants + code reserve)."""

    model: str
    board: str
    core: str
    optimize: str
    budget_bytes: int
    budget_source: str
    layers: list[LayerLayout] = field(default_factory=list)

    @property
    def constant_bytes(self) -> int:
        return sum(layer.chosen.weight_bytes for layer in self.layers)

    @property
    def predicted_flash_bytes(self) -> int:
        return self.constant_bytes + CODE_RESERVE_BYTES

    @property
    def predicted_instructions(self) -> int:
        return sum(layer.chosen.instructions for layer in self.layers)

    def packed(self, index: int) -> bool:
        return self.layers[index].chosen.packed

    def kernel_args(self, index: int) -> dict:
        """Keyword arguments of pixmcu.codegen.kernels.kernel_call for layer `index`'s choice."""
        o = self.layers[index].chosen
        return {"packed": o.packed, "int8_weights": o.int8_weights, "int4_weights": o.int4_weights,
                "int2_weights": o.int2_weights}

    def manifest(self) -> dict:
        return {
            "optimize": self.optimize, "budget_bytes": self.budget_bytes, "budget_source": self.budget_source,
            "code_reserve_bytes": CODE_RESERVE_BYTES, "predicted_constant_bytes": self.constant_bytes,
            "predicted_flash_bytes": self.predicted_flash_bytes,
            "predicted_instructions": self.predicted_instructions,
            "layers": [{"index": lay.index, "name": lay.name, "layout": lay.chosen.layout,
                        "weight_bytes": lay.chosen.weight_bytes, "reason": lay.reason}
                       for lay in self.layers if len(lay.options) > 1],
        }


def _option(graph: Graph, op, dsp: bool, packed: bool, mve: bool, layout: str, int8_weights: bool = False,
            int4_weights: bool = False, int2_weights: bool = False) -> LayoutOption:
    from pixmcu.codegen.kernels import kernel_call

    call = kernel_call(graph, op, dsp=dsp, packed=packed, mve=mve, int8_weights=int8_weights,
                       int4_weights=int4_weights, int2_weights=int2_weights)
    nbytes = sum(int(a.nbytes) for a in call.arrays.values())
    for name in op.inputs:  # constant inputs the generator emits as they are (e.g. an ADD's operand)
        t = graph.tensors[name]
        if t.is_constant and op.kind not in ("conv2d", "depthwise_conv2d", "fully_connected"):
            nbytes += int(t.nbytes)
    ipm = INSTR_PER_MAC.get(call.kernel or "", DEFAULT_INSTR_PER_MAC)
    return LayoutOption(layout, call.kernel, packed, nbytes, round(ipm * op_macs(graph, op)), int8_weights,
                        int4_weights, int2_weights)


def _options(graph: Graph, op, core: str) -> tuple[LayoutOption, ...]:
    from pixmcu.codegen.kernels import DSP_CORES, MVE_CORES, PACKED_CORES, int2_eligible, int4_eligible

    dsp, mve = core in DSP_CORES, core in MVE_CORES
    # int4 (two weights per byte, pm_conv2d_packed4_*): where every weight fits 4 bits (W4 models);
    # int2 (four per byte, pm_conv2d_packed2_*): where every weight fits [-2, 1].
    int4 = (_option(graph, op, dsp, True, mve, "int4", True, True),) \
        if core in PACKED_CORES and int4_eligible(graph, op) else ()
    if int4 and int2_eligible(graph, op):
        int4 += (_option(graph, op, dsp, True, mve, "int2", True, False, True),)
    if op.kind == "conv2d" and core in PACKED_CORES:
        return (_option(graph, op, dsp, True, mve, "int16"), _option(graph, op, dsp, True, mve, "int8", True)) + int4
    return (_option(graph, op, dsp, core in PACKED_CORES, mve, "int8"),) + int4


def _model_name(graph: Graph) -> str:
    from pathlib import Path

    return f"model {Path(graph.source).name}" if graph.source and Path(graph.source).is_file() else f"model '{graph.name}'"


def plan_layouts(graph: Graph, board: str | Board | None = None, optimize: str = "balanced",
                 flash_budget: int | None = None, model_name: str | None = None) -> LayoutPlan:
    """The per-layer weight layouts of `graph` on `board` (see the module docstring); `model_name`
    names the model in errors (default: from the graph)."""
    b = board if isinstance(board, Board) else get_board(board)
    if optimize not in OPTIMIZE:
        raise PixmcuError(f"--optimize {optimize}: choose one of {', '.join(OPTIMIZE)}")
    if flash_budget is not None and flash_budget < 0:
        raise PixmcuError("--flash-budget must be a number of bytes >= 0")
    budget = flash_budget if flash_budget is not None else b.weights_region.size
    source = "--flash-budget" if flash_budget is not None else f"{b.name} {b.weights_region.name} size"
    plan = LayoutPlan(model_name or _model_name(graph), b.name, b.core, optimize, budget, source)
    for i, op in enumerate(graph.operators):
        opts = _options(graph, op, b.core)
        fastest = min(opts, key=lambda o: (o.instructions, o.weight_bytes))
        smallest = min(opts, key=lambda o: (o.weight_bytes, o.instructions))
        pick = smallest if optimize == "size" else fastest
        why = "the only layout" if len(opts) == 1 else (
            "--optimize size: smallest" if optimize == "size" else "fastest")
        plan.layers.append(LayerLayout(i, op.name, op.kind, int(op_macs(graph, op)), opts, pick, why))
    smallest = sum(min(o.weight_bytes for o in lay.options) for lay in plan.layers) + CODE_RESERVE_BYTES
    if optimize == "balanced":
        # The int4 (and 2-bit) layouts never tighten the bound: a W4 model's balanced plan is its W8 sibling's
        # unless the budget asks for less (int4 then comes in by the same cost-per-byte rule).
        ref = sum(min(o.weight_bytes for o in lay.options if o.layout not in LOWBIT) for lay in plan.layers) \
            + CODE_RESERVE_BYTES
        bound = min(budget, int(BALANCE * ref))
        why = (f"the flash budget ({budget:,} B, {source})" if bound == budget else
               f"balanced: at most {BALANCE} x the smallest int8 plan's {ref:,} B")
        if plan.predicted_flash_bytes > bound:
            _shrink(plan, bound, why)
    if plan.constant_bytes > budget:
        raise PixmcuError(
            f"{plan.model} does not fit {b.name}: the {optimize} plan's constants alone take "
            f"{plan.constant_bytes:,} bytes of flash (with about {CODE_RESERVE_BYTES:,} B for code and the harness: "
            f"{plan.predicted_flash_bytes:,} B) but the budget ({source}) is {budget:,} bytes; the smallest plan "
            f"(int8 weights everywhere) needs {smallest - CODE_RESERVE_BYTES:,} bytes of constants. Give a larger "
            f"--flash-budget, choose --optimize size, or use a board with more flash.")
    return plan


def _shrink(plan: LayoutPlan, bound: int, why: str) -> None:
    """Move layers to their smaller layout, fewest instructions lost per byte saved first, until the
    predicted flash is at most `bound`."""
    moves = []
    for lay in plan.layers:
        for o in lay.options:
            saved = lay.chosen.weight_bytes - o.weight_bytes
            if saved > 0:
                moves.append(((o.instructions - lay.chosen.instructions) / saved, -saved, lay.index, o))
    # Ties (the same cost per byte): the larger saving first, so fewer layers give up their speed.
    for cost, _, index, o in sorted(moves, key=lambda m: m[:3]):
        if plan.predicted_flash_bytes <= bound:
            break
        lay = plan.layers[index]
        if o.weight_bytes >= lay.chosen.weight_bytes:
            continue
        lay.chosen = o
        lay.reason = (f"{o.layout} to fit {why}: costs {cost:.1f} predicted instructions per byte saved, "
                      "the fewest")
