"""Packed 4-bit activations in the arena (issue 16, docs/lowbit.md).

A tensor whose values all lie in [low, low + 15] - the clamp of the layer that writes it, e.g. a ReLU6
at scale 0.4 and zero point -128 in the W4A4 models - can live in the arena two values per byte.
Packing is lossless, so the kernels stay bit-exact with the unpacked reference; it only changes how the
bytes are stored. A tensor is packed when its producer and every reader have a packed kernel
(pm_act4.h): the int4-weight convolutions and fully connected layers (pm_conv2d_packed4_a4, one output
row at a time) and the pooling layers (pm_max_pool2d_a4, pm_avg_pool2d_a4); RESHAPE views pass it on.
`apply` plans the arena with and without packing and keeps packing only where it lowers the peak.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from pixmcu.codegen import kernels as K
from pixmcu.codegen.kernels import KernelCall
from pixmcu.ir import Graph

BITS = 4
LEVELS = 1 << BITS
CONV = ("pm_conv2d_packed4_s8", "pm_conv2d_packed4_1x1_s8")
POOL = {"pm_max_pool2d_s8": "pm_max_pool2d_a4", "pm_avg_pool2d_s8": "pm_avg_pool2d_a4"}
CONV_A4 = "pm_conv2d_packed4_a4"
_SIDES = (("input_packed", "i32"), ("input_low", "i32"), ("output_packed", "i32"), ("output_low", "i32"))
STRUCT_FIELDS = {
    "pm_conv_a4_params_t": (("conv", "struct:pm_conv_packed_params_t"), *_SIDES),
    "pm_pool_a4_params_t": (("pool", "struct:pm_pool_params_t"), *_SIDES),
}
K.STRUCT_FIELDS.update(STRUCT_FIELDS)
HEADER = "pm_act4.h"
KERNELS = (CONV_A4, *POOL.values())


@dataclass
class Act4:
    """Which tensors are packed: their arena bytes and smallest value; and the overlap delta of each
    rewritten windowed layer (bytes its output may start before its dying input)."""

    nbytes: dict[str, int] = field(default_factory=dict)
    low: dict[str, int] = field(default_factory=dict)
    deltas: dict[int, int] = field(default_factory=dict)

    def bytes_saved(self, graph: Graph) -> int:
        return sum(graph.tensors[n].nbytes - b for n, b in self.nbytes.items())


def value_ranges(graph: Graph, calls: list[KernelCall]) -> dict[str, tuple[int, int]]:
    """The [lo, hi] every int8 activation can take, from the clamps of the layers that write them
    (convolutions: act_min..act_max; max pooling: its input's range within its clamp; views: their source's)."""
    rng: dict[str, tuple[int, int]] = {}
    for op, call in zip(graph.operators, calls):
        out = op.outputs[0]
        if graph.tensors[out].dtype != "int8":
            continue
        f = call.fields
        if call.is_view and op.inputs[0] in rng:
            rng[out] = rng[op.inputs[0]]
        elif call.kernel in CONV and "act_min" in f:
            rng[out] = (f["act_min"], f["act_max"])
        elif call.kernel in POOL:
            lo, hi = rng.get(op.inputs[0], (-128, 127))  # a maximum or a rounded average stays in range
            rng[out] = (max(lo, f["act_min"]), min(hi, f["act_max"]))
    return rng


def _candidates(graph: Graph, calls: list[KernelCall]) -> dict[str, int]:
    """Tensors that may be packed -> their smallest value: 4-bit range, even channels, written by a
    packable kernel and read only (directly or through views) as the first input of packable kernels."""
    rng = value_ranges(graph, calls)
    readers: dict[str, list[int]] = {}
    for i, (op, call) in enumerate(zip(graph.operators, calls)):
        if call.done_by is not None:
            continue
        for n in (op.inputs if call.is_view else call.inputs):
            readers.setdefault(n, []).append(i)
    ends = set(graph.inputs) | set(graph.outputs)
    out: dict[str, int] = {}
    for i, (op, call) in enumerate(zip(graph.operators, calls)):
        name = op.outputs[0]
        if call.kernel not in CONV and call.kernel not in POOL:
            continue
        if name not in rng or rng[name][1] - rng[name][0] >= LEVELS or call.output != name:
            continue
        group, todo, ok = [], [name], True
        while todo and ok:  # the tensor and the views of it
            t = todo.pop()
            if t in ends or graph.tensors[t].shape[-1] % 2:
                ok = False
                break
            group.append(t)
            for j in readers.get(t, []):
                c = calls[j]
                if c.is_view:
                    todo.append(graph.operators[j].outputs[0])
                elif not ((c.kernel in CONV or c.kernel in POOL) and c.inputs[0] == t and t not in c.inputs[1:]):
                    ok = False
        if ok:
            for t in group:
                out[t] = rng[name][0]
    return out


def delta_rows(fields: dict, in_bpp: int, out_bpp: int) -> int:
    """Overlap delta of pm_conv2d_packed4_a4 (see planner.overlap_delta): it writes a whole output row
    after reading the input rows of that row's windows, so row r's bytes may only land below the first
    input row any later output row reads. in_bpp / out_bpp: bytes per pixel as stored."""
    from pixmcu.codegen.planner import ALIGN

    n, h, w, _ = fields["input"]
    _, oh, ow, _ = fields["output"]
    y = np.arange(oh) * fields["stride_h"] - fields["pad_h"]
    ya = np.clip(y, 0, h)
    first = ((np.arange(n)[:, None] * h + ya[None, :]) * w * in_bpp).ravel()
    if first.size < 2:
        return 0
    later_min = np.minimum.accumulate(first[::-1])[::-1][1:]  # min over rows after r
    write_end = (np.arange(first.size - 1) + 1) * ow * out_bpp
    d = int(max(0, (write_end - later_min).max()))
    return -(-d // ALIGN) * ALIGN


def _bpp(c: int, packed: bool) -> int:
    return c // 2 if packed else c


def rewrite(graph: Graph, calls: list[KernelCall], packed: dict[str, int]) -> tuple[list[KernelCall], Act4]:
    """The calls with every kernel that reads or writes a packed tensor swapped for its packed twin."""
    from pixmcu.codegen.planner import overlap_delta

    act = Act4()
    view_src: dict[str, str] = {}
    for op, call in zip(graph.operators, calls):
        if call.is_view:
            view_src[op.outputs[0]] = view_src.get(op.inputs[0], op.inputs[0])
    for name, low in packed.items():
        act.nbytes[name] = graph.tensors[name].size // 2
        act.low[name] = low
    new = list(calls)
    for i, call in enumerate(calls):
        if call.kernel not in CONV and call.kernel not in POOL:
            continue
        src, out = call.inputs[0], call.output
        pin, pout = src in packed, out in packed
        if not (pin or pout):
            continue
        sides = {"input_packed": int(pin), "input_low": packed.get(src, 0),
                 "output_packed": int(pout), "output_low": packed.get(out, 0)}
        if call.kernel in POOL:
            f = call.fields
            new[i] = replace(call, kernel=POOL[call.kernel], struct="pm_pool_a4_params_t",
                             fields={"pool": f, **sides})
            cin, cout = f["input"][3], f["output"][3]
            act.deltas[i] = overlap_delta(f["input"], f["output"], (f["stride_h"], f["stride_w"]),
                                          (f["pad_h"], f["pad_w"]), _bpp(cin, pin), _bpp(cout, pout))
            continue
        f = call.fields
        _, _, w_in, cin = f["input"]
        _, _, w_out, cout = f["output"]
        kh = f["filter"][1]
        scratch = (-(-kh * w_in * cin // 4) * 4 if pin else 0) + (w_out * cout if pout else 0)
        new[i] = replace(call, kernel=CONV_A4, struct="pm_conv_a4_params_t", fields={"conv": f, **sides},
                         scratch_bytes=scratch)
        act.deltas[i] = delta_rows(f, _bpp(cin, pin), _bpp(cout, pout))
    return new, act


def apply(graph: Graph, calls: list[KernelCall], overlap: bool = True) -> tuple[list[KernelCall], Act4 | None]:
    """Pack every candidate tensor when that lowers the arena; else the calls unchanged and None."""
    from pixmcu.codegen.planner import plan

    packed = _candidates(graph, calls)
    if not packed:
        return calls, None
    new, act = rewrite(graph, calls, packed)
    base = plan(graph, calls, overlap=overlap).arena_bytes
    if plan(graph, new, overlap=overlap, act4=act).arena_bytes >= base:
        return calls, None
    return new, act
