"""Packed 4-bit activations in the arena (issue 16, docs/lowbit.md).

A tensor whose values all lie in [low, low + 15] - the clamp of the layer that writes it, e.g. a ReLU6
at scale 0.4 and zero point -128 in the W4A4 models, or a pixel embedding's 2- or 4-bit codes - can
live in the arena two values per byte. Packing is lossless, so the kernels stay bit-exact with the
unpacked reference; it only changes how the bytes are stored. A tensor is packed when its producer and
every reader have a packed twin (pm_act4.h): the pixel embedding (pm_pixel_embedding_a4, its table
packed too), the int4-weight convolutions and fully connected layers (pm_conv2d_packed4_a4, one output
row at a time; input channels not a multiple of 4 are padded in scratch; pm_conv2d_packed2_a4 for
2-bit weights), the fused residual ADD (pm_conv2d_packed4_add_a4, pm_conv2d_packed2_add_a4) and pooling (pm_max_pool2d_a4, pm_avg_pool2d_a4); RESHAPE views pass it on.
`apply` starts from every candidate and drops those whose packing does not lower the planned arena.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from pixmcu.codegen import kernels as K
from pixmcu.codegen import packing
from pixmcu.codegen.kernels import KernelCall
from pixmcu.ir import Graph, Tensor

BITS = 4
LEVELS = 1 << BITS
CONV = ("pm_conv2d_packed4_s8", "pm_conv2d_packed4_1x1_s8")
# 2-bit weights (pm_conv2d_packed2_*): smaller than int4 (kept as they are), with twins of their own.
CONV2 = ("pm_conv2d_packed2_s8", "pm_conv2d_packed2_1x1_s8")
FUSED2 = "pm_conv2d_packed2_add_s8"
FUSED = "pm_conv2d_packed4_add_s8"
CONVS, FUSEDS = CONV + CONV2, (FUSED, FUSED2)
EMBED = "pm_pixel_embedding_u8"
POOL = {"pm_max_pool2d_s8": "pm_max_pool2d_a4", "pm_avg_pool2d_s8": "pm_avg_pool2d_a4"}
CONV_A4, FUSED_A4, EMBED_A4 = "pm_conv2d_packed4_a4", "pm_conv2d_packed4_add_a4", "pm_pixel_embedding_a4"
CONV2_A4, FUSED2_A4 = "pm_conv2d_packed2_a4", "pm_conv2d_packed2_add_a4"
EMBED_T2 = "pm_pixel_embedding_t2_a4"  # a table of 2-bit codes (at most 4 levels), a quarter of int8
EMBEDS = (EMBED_A4, EMBED_T2)
_SIDES = (("input_packed", "i32"), ("input_low", "i32"), ("output_packed", "i32"), ("output_low", "i32"))
STRUCT_FIELDS = {
    "pm_conv_a4_params_t": (("conv", "struct:pm_conv_packed_params_t"), *_SIDES, ("input_channels", "i32")),
    "pm_conv_add_a4_params_t": (("add", "struct:pm_conv_packed_add_params_t"), *_SIDES, ("input_channels", "i32"),
                                ("residual_packed", "i32"), ("residual_low", "i32")),
    "pm_pool_a4_params_t": (("pool", "struct:pm_pool_params_t"), *_SIDES),
}
K.STRUCT_FIELDS.update(STRUCT_FIELDS)
HEADER = "pm_act4.h"
KERNELS = (CONV_A4, FUSED_A4, CONV2_A4, FUSED2_A4, *EMBEDS, *POOL.values())


@dataclass
class Act4:
    """Which tensors are packed: their arena bytes and smallest value; and for each rewritten layer that
    may write over a dying input, that input and the bytes its output may start before it."""

    nbytes: dict[str, int] = field(default_factory=dict)
    low: dict[str, int] = field(default_factory=dict)
    deltas: dict[int, tuple[str, int]] = field(default_factory=dict)


def _int4_conv(graph: Graph, op, call: KernelCall) -> KernelCall | None:
    """`call` on the int4 (or 2-bit) kernels if `op` is a conv2d (dilation 1) or fully connected layer whose
    weights fit int4 (or [-2, 1]); input channels that are not a multiple of 4 are rounded up with zero weights (the packed
    kernels pad the input rows in scratch). None otherwise."""
    if call.kernel in CONVS:
        return call
    if op.kind not in ("conv2d", "fully_connected") or call.done_by is not None or call.hides or call.adapter:
        return None
    if op.kind == "conv2d" and tuple(op.attrs.get("dilation", (1, 1))) != (1, 1):
        return None
    x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    if w.data is None or w.dtype != "int8" or x.dtype != "int8":
        return None
    cin = w.shape[-1]
    cp = -(-cin // packing.GROUP) * packing.GROUP
    if cp != cin:
        if op.kind != "conv2d":
            return None
        data = np.zeros((*w.shape[:-1], cp), np.int8)
        data[..., :cin] = w.data
        tensors = {n: graph.tensors[n] for n in (*op.inputs, *op.outputs)}  # the layer alone, padded
        tensors[w.name] = Tensor(w.name, data.shape, "int8", w.quant, data)
        tensors[x.name] = Tensor(x.name, (*x.shape[:-1], cp), "int8", x.quant)
        graph = Graph(tensors, (op,), (x.name,), tuple(op.outputs))
    two = K.int2_eligible(graph, op)  # weights in [-2, 1]: four per byte (the M55's plan offers no layouts)
    if not two and not K.int4_eligible(graph, op):
        return None
    new = K.kernel_call(graph, op, packed=True, dsp=True, int4_weights=not two, int2_weights=two)
    return new if new.kernel in CONVS else None


def value_ranges(graph: Graph, calls: list[KernelCall]) -> dict[str, tuple[int, int]]:
    """The [lo, hi] every int8 activation can take, from the clamps of the layers that write them
    (convolutions, ADDs and fused ADDs: their output clamp; pooling: its input's range within its clamp, as a
    maximum or a rounded average stays in range; embeddings: the table's; views: their source's)."""
    rng: dict[str, tuple[int, int]] = {}
    for op, call in zip(graph.operators, calls):
        if call.done_by is not None:
            continue
        out = op.outputs[0] if call.is_view else call.output
        if graph.tensors[out].dtype != "int8":
            continue
        f = call.fields
        if call.is_view:
            if op.inputs[0] in rng:
                rng[out] = rng[op.inputs[0]]
        elif call.kernel == EMBED:
            t = np.asarray(call.arrays["table"])
            rng[out] = (int(t.min()), int(t.max()))
        elif call.kernel in POOL:
            lo, hi = rng.get(op.inputs[0], (-128, 127))
            rng[out] = (max(lo, f["act_min"]), min(hi, f["act_max"]))
        elif "act_min" in f and (call.kernel in CONVS or call.kernel in FUSEDS or op.kind in ("conv2d", "fully_connected", "add")):
            rng[out] = (f["act_min"], f["act_max"])
    return rng


def _roles(call: KernelCall) -> tuple[tuple[str, ...], bool]:
    """The inputs a packed twin of `call` can read packed, and whether it can write its output packed."""
    if call.kernel in CONVS or call.kernel in POOL:
        return (call.inputs[0],), True
    if call.kernel in FUSEDS:
        return tuple(call.inputs[:2]), True
    if call.kernel == EMBED:
        return (), call.fields["embed_dim"] % 2 == 0
    return (), False


def _candidates(graph: Graph, calls: list[KernelCall]) -> dict[str, list[str]]:
    """Tensors that may be packed (a tensor -> it and its views): a 4-bit range, even channels, written by
    a kernel with a packed twin and read only (directly or through views) where a twin reads packed."""
    rng = value_ranges(graph, calls)
    readers: dict[str, list[int]] = {}
    for i, (op, call) in enumerate(zip(graph.operators, calls)):
        if call.done_by is not None:
            continue
        for n in (op.inputs if call.is_view else call.inputs):
            readers.setdefault(n, []).append(i)
    ends = set(graph.inputs) | set(graph.outputs)
    out: dict[str, list[str]] = {}
    for call in calls:
        name = call.output
        if call.kernel is None or not _roles(call)[1] or name not in rng or rng[name][1] - rng[name][0] >= LEVELS:
            continue
        group, todo, ok = [], [name], True
        while todo and ok:
            t = todo.pop()
            if t in ends or graph.tensors[t].shape[-1] % 2:
                ok = False
                break
            group.append(t)
            for j in readers.get(t, []):
                c = calls[j]
                if c.is_view:
                    todo.append(graph.operators[j].outputs[0])
                elif t not in _roles(c)[0] or list(c.inputs).count(t) > 1:
                    ok = False
        if ok:
            out[name] = group
    return out


def delta_rows(fields: dict, in_bpp: int, out_bpp: int) -> int:
    """Overlap delta of pm_conv2d_packed4_a4 (see planner.overlap_delta): it writes a whole output row
    after reading the input rows of that row's windows, so row r's bytes may only land below the first
    input row any later output row reads. in_bpp / out_bpp: bytes per pixel as stored."""
    from pixmcu.codegen.planner import ALIGN

    n, h, w, _ = fields["input"]
    _, oh, ow, _ = fields["output"]
    y = np.arange(oh) * fields["stride_h"] - fields["pad_h"]
    first = ((np.arange(n)[:, None] * h + np.clip(y, 0, h)[None, :]) * w * in_bpp).ravel()
    if first.size < 2:
        return 0
    later_min = np.minimum.accumulate(first[::-1])[::-1][1:]  # min over the rows after r
    write_end = (np.arange(first.size - 1) + 1) * ow * out_bpp
    d = int(max(0, (write_end - later_min).max()))
    return -(-d // ALIGN) * ALIGN


def _pack_table(table: np.ndarray, low: int, bits: int = BITS) -> np.ndarray:
    """Each vector of the [tables][256][d] table as codes value - low, `bits` each, packed low bits first
    (a vector of 2-bit codes padded to whole bytes)."""
    codes = (np.asarray(table, np.int16) - low).astype(np.uint8)
    per = 8 // bits
    d = codes.shape[-1]
    padded = np.zeros((*codes.shape[:-1], -(-d // per) * per), np.uint8)
    padded[..., :d] = codes
    out = np.zeros((*codes.shape[:-1], padded.shape[-1] // per), np.uint8)
    for k in range(per):
        out |= padded[..., k::per] << (bits * k)
    return out.view(np.int8)


def rewrite(graph: Graph, calls: list[KernelCall], packed: dict[str, int],
            every: bool = False) -> tuple[list[KernelCall], Act4]:
    """The calls with every kernel that reads or writes a packed tensor (name -> smallest value; a view
    and its source both listed) swapped for its packed twin; with `every`, every convolution (then the
    int8-activation kernels need not be linked at all)."""
    from pixmcu.codegen.planner import overlap_delta

    act = Act4()
    for name, low in packed.items():
        act.nbytes[name] = graph.tensors[name].size // 2
        act.low[name] = low
    new = list(calls)
    for i, call in enumerate(calls):
        if call.kernel is None:
            continue
        out = call.output
        pout = out in packed
        ins = [n for n in _roles(call)[0] if n in packed]
        conv_f = call.fields.get("conv", call.fields) if call.kernel in FUSEDS else call.fields
        tail = (call.kernel in CONVS or call.kernel in FUSEDS) and \
            conv_f["input"][3] != graph.tensors[call.inputs[0]].shape[-1]
        twin_all = every and (call.kernel in CONVS or call.kernel in FUSEDS)
        if not (pout or ins or tail or twin_all):  # channel tails always take the twin: it pads them in scratch
            continue
        if call.kernel == EMBED:
            table = np.asarray(call.arrays["table"])
            two = int(table.max()) - packed[out] < 4
            new[i] = replace(call, kernel=EMBED_T2 if two else EMBED_A4,
                             arrays={**call.arrays, "table": _pack_table(table, packed[out], 2 if two else BITS)})
            continue
        src = call.inputs[0]
        pin = src in packed
        sides = {"input_packed": int(pin), "input_low": packed.get(src, 0),
                 "output_packed": int(pout), "output_low": packed.get(out, 0)}
        f = call.fields
        if call.kernel in POOL:
            new[i] = replace(call, kernel=POOL[call.kernel], struct="pm_pool_a4_params_t", fields={"pool": f, **sides})
            cin, cout = f["input"][3], f["output"][3]
            act.deltas[i] = (src, overlap_delta(f["input"], f["output"], (f["stride_h"], f["stride_w"]),
                                                (f["pad_h"], f["pad_w"]), cin // 2 if pin else cin,
                                                cout // 2 if pout else cout))
            continue
        two = call.kernel in CONV2 or call.kernel == FUSED2  # the 2-bit weights' twins
        conv = f["conv"] if call.kernel in FUSEDS else f
        channels = graph.tensors[src].shape[-1]
        _, _, w_in, cp = conv["input"]
        _, _, w_out, cout = conv["output"]
        rows = -(-conv["filter"][1] * w_in * cp // 4) * 4 if (pin or cp != channels) else 0
        out_row = w_out * cout
        if call.kernel in FUSEDS:
            res = call.inputs[1]
            pres = res in packed
            fields = {"add": f, **sides, "input_channels": channels, "residual_packed": int(pres),
                      "residual_low": packed.get(res, 0)}
            scratch = max(4, rows + (-(-out_row // 4) * 4 if pres else 0) + (out_row if pout else 0))
            new[i] = replace(call, kernel=FUSED2_A4 if two else FUSED_A4, struct="pm_conv_add_a4_params_t", fields=fields,
                             scratch_bytes=scratch, in_place=())
            # A row is written after its residual row is read: the sum may start where the residual
            # starts unless it is stored larger (an int8 sum over a packed residual).
            grow = (out_row // 2 if pout else out_row) - (out_row // 2 if pres else out_row)
            rows_total = conv["output"][0] * conv["output"][1]
            act.deltas[i] = (res, -(-max(0, (rows_total - 1) * grow) // 16) * 16)
            continue
        new[i] = replace(call, kernel=CONV2_A4 if two else CONV_A4, struct="pm_conv_a4_params_t",
                         fields={"conv": f, **sides, "input_channels": channels},
                         scratch_bytes=max(4, rows + (out_row if pout else 0)))  # the argument is never NULL
        if rows or pout:  # a row's arena writes land after all of its arena reads
            act.deltas[i] = (src, delta_rows(f, channels // 2 if pin else channels, cout // 2 if pout else cout))
        else:  # int8 in place on both sides: the plain kernel's per-pixel rule
            act.deltas[i] = (src, overlap_delta(f["input"], f["output"], (f["stride_h"], f["stride_w"]),
                                                (f["pad_h"], f["pad_w"])))
    return new, act


def _arena(graph, calls, cands, chosen, overlap, rng, every=False):
    from pixmcu.codegen.planner import plan

    packed = {t: rng[root][0] for root in chosen for t in cands[root]}
    new, act = rewrite(graph, calls, packed, every)
    return plan(graph, new, overlap=overlap, act4=act).arena_bytes, new, act


def int4_calls(graph: Graph, calls: list[KernelCall]) -> list[KernelCall]:
    """Before fusion: every convolution and fully connected layer whose weights fit int4 on the int4
    kernels (`_int4_conv`; the smallest weights, and the kernels with packed twins). Calls whose input
    channels were rounded up must then go through `apply`, whose twins pad them."""
    return [(_int4_conv(graph, op, c) or c) for op, c in zip(graph.operators, calls)]


def apply(graph: Graph, calls: list[KernelCall], overlap: bool = True) -> tuple[list[KernelCall], Act4]:
    """Pack the candidate tensors whose packing lowers the arena: every candidate packed, then each in
    turn dropped where the arena stays as low without it (fewer instructions). Channel tails take the
    packed twins either way."""
    cands = _candidates(graph, calls)
    rng = value_ranges(graph, calls)
    none = _arena(graph, calls, cands, set(), overlap, rng)
    if not cands:
        return none[1:]
    chosen = set(cands)
    best = _arena(graph, calls, cands, chosen, overlap, rng)
    for r in sorted(cands):
        trial = _arena(graph, calls, cands, chosen - {r}, overlap, rng)
        if trial[0] <= best[0]:
            best, chosen = trial, chosen - {r}
    if best[0] >= none[0]:
        best, chosen = none, set()
    # Once any convolution runs its twin, all of them do where that keeps the arena (the twins' row walk
    # costs a little time; linking one family of convolution kernels instead of two saves code).
    if any(c.kernel in (CONV_A4, FUSED_A4, CONV2_A4, FUSED2_A4) for c in best[1]):
        every = _arena(graph, calls, cands, chosen, overlap, rng, every=True)
        if every[0] <= best[0]:
            best = every
    return best[1:]
