"""Static memory plan: every activation tensor gets an arena offset at generate time.

Tensors that share bytes form a *group* (members at fixed offsets relative to each other):
- RESHAPE is a view: its output is its input's bytes.
- Element-wise kernels (ADD, QUANTIZE) write over an input that dies at that layer.
- Windowed kernels (convolutions, pooling) walk output pixels in raster order, so their output may
  start `delta` bytes before an input that dies there: the writes of pixel q then only land on input
  bytes no later pixel reads. `overlap_delta` computes the smallest safe delta exactly.
- A fused convolution + residual ADD writes the sum over the residual when it dies there.
Groups are then placed greedily, as TFLM's GreedyMemoryPlanner does (largest first, lowest offset
where no member overlaps a live member of another group); a member only holds its bytes while it
is live, and a few placement orders are tried, the smallest arena winning. The model input is read in place from the caller's buffer and the
last layer writes straight into the caller's output buffer, so neither takes arena space.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pixmcu.codegen.kernels import KernelCall
from pixmcu.ir import Graph

ALIGN = 16
SHUFFLES = 48
WINDOWED = ("conv2d", "depthwise_conv2d", "avg_pool2d", "max_pool2d")


@dataclass(frozen=True)
class Placement:
    where: str  # "arena", "input" (the caller's input buffer) or "output" (the caller's output buffer)
    offset: int = 0


@dataclass
class Plan:
    arena_bytes: int
    tensors: dict[str, Placement]
    scratch: dict[int, tuple[int, int]]  # layer index -> (arena offset, bytes)
    copy_output: bool  # the graph output ended up elsewhere: invoke copies it to the output buffer
    groups: list[dict] = field(default_factory=list)  # for reports and tests


@dataclass
class _Group:
    members: dict[str, int] = field(default_factory=dict)  # tensor -> offset relative to the group
    external: str | None = None
    scratch_of: int | None = None
    size_hint: int = 0


def _round_up(x: int, a: int) -> int:
    return -(-x // a) * a


def overlap_delta(in_shape, out_shape, stride, pad, in_bpp: int | None = None, out_bpp: int | None = None) -> int:
    """Smallest d >= 0 (a multiple of ALIGN) such that output may start d bytes before the input.

    Output pixel q (raster order over batch, rows, columns; all channels contiguous) is written
    after the kernel has read every input byte it needs, and no later pixel reads a byte below
    first_read(p) = offset of input pixel (max(0, oy*sh - ph), max(0, ox*sw - pw)). Safe iff for all q:
    (q + 1) * Cout - d <= min over p >= q of first_read(p).
    in_bpp / out_bpp: bytes per pixel as stored (default: the channels; packed 4-bit tensors store half).
    """
    n, h, w, cin = in_shape
    _, oh, ow, cout = out_shape
    sh, sw = stride
    ph, pw = pad
    cin = cin if in_bpp is None else in_bpp
    cout = cout if out_bpp is None else out_bpp
    ys = np.maximum(0, np.arange(oh) * sh - ph)
    xs = np.maximum(0, np.arange(ow) * sw - pw)
    b = np.arange(n)
    first = ((b[:, None, None] * h + ys[None, :, None]) * w + xs[None, None, :]) * cin
    first = first.ravel()
    suffix_min = np.minimum.accumulate(first[::-1])[::-1]
    write_end = (np.arange(first.size) + 1) * cout
    d = int(max(0, (write_end - suffix_min).max()))
    return _round_up(d, ALIGN)


def _place(order) -> tuple[dict[int, int], list[tuple[int, int, int, int]]]:
    """Greedy: each group in turn at the lowest aligned base where none of its members overlaps a
    placed member of another group in both address and lifetime."""
    placed: list[tuple[int, int, int, int]] = []  # (start, end, first, last)
    base: dict[int, int] = {}
    for gi, members in order:
        # Per member, the placed ranges live at the same time: only those may not share its bytes.
        clashes = [(rel, rel + size, [(s0, e0) for s0, e0, f0, l0 in placed if not (l0 < first or f0 > last)])
                   for rel, size, first, last in members]
        # Every base in [b, e0 - lo) keeps a clash at b, so the lowest base that fits is found by
        # jumping past the furthest clash until none is left.
        b = _round_up(-min(m[0] for m in members), ALIGN)
        while True:
            past = max((e0 - lo for lo, hi, live in clashes for s0, e0 in live if b + lo < e0 and s0 < b + hi),
                       default=None)
            if past is None:
                break
            b = _round_up(past, ALIGN)
        base[gi] = b
        placed.extend((b + rel, b + rel + size, first, last) for rel, size, first, last in members)
    return base, placed


def _best_placement(items):
    """Greedy placement under a few orders (largest first as TFLM does, earliest first, and seeded
    shuffles); the smallest arena wins. Deterministic: same graph, same plan."""
    orders = [
        sorted(items, key=lambda t: (-max(m[1] for m in t[1]), min(m[2] for m in t[1]), t[0])),
        sorted(items, key=lambda t: (min(m[2] for m in t[1]), -max(m[1] for m in t[1]), t[0])),
    ]
    rng = np.random.default_rng(0)
    members = sum(len(m) for _, m in items)
    shuffles = SHUFFLES if members <= 40 else max(0, SHUFFLES * 40 * 40 // (members * members))
    for _ in range(shuffles if len(items) > 1 else 0):
        orders.append([items[i] for i in rng.permutation(len(items))])
    best = None
    for order in orders:
        base, placed = _place(order)
        arena = max((e for _, e, _, _ in placed), default=0)
        if best is None or arena < best[0]:
            best = (arena, base, placed)
    return best[1], best[2]


def _window_params(graph: Graph, op, call: KernelCall):
    f = call.fields
    return (tuple(f["input"]), tuple(f["output"]), (f["stride_h"], f["stride_w"]), (f["pad_h"], f["pad_w"]))


# Rounds of chain breaking (see plan) and the most overlap links tried per round.
BREAK_ROUNDS = 3


def plan(graph: Graph, calls: list[KernelCall], overlap: bool = True, act4=None) -> Plan:
    """Arena offsets for every activation the calls write (calls[i] runs layer i).

    Overlapping a windowed layer's output with its dying input chains the two into one group at fixed
    relative offsets; along a long chain the offsets drift (each output starts below its input), and
    the drift, not the live bytes, can set the arena (MobileNets: every layer overlaps the last). So
    the plan with every overlap is improved greedily: a few rounds, each keeping the single broken
    link (that layer's output placed on its own) that lowers the arena most.
    act4: the packed 4-bit tensors (pixmcu.codegen.act4.Act4): their packed sizes and overlap deltas."""
    best = _plan(graph, calls, overlap, frozenset(), act4)
    if not overlap:
        return best[0]
    breaks: frozenset[int] = frozenset()
    for _ in range(BREAK_ROUNDS):
        trial = min(((_plan(graph, calls, overlap, breaks | {i}, act4), breaks | {i}) for i in best[1]),
                    key=lambda t: (t[0][0].arena_bytes, sorted(t[1])), default=None)
        if trial is None or trial[0][0].arena_bytes >= best[0].arena_bytes:
            break
        best, breaks = trial
    return best[0]


def _plan(graph: Graph, calls: list[KernelCall], overlap: bool, breaks: frozenset[int],
          act4=None) -> tuple[Plan, list[int]]:
    """The plan with every overlap link except those of the layers in `breaks`; and the layers whose
    output joined its input's group by overlap."""
    linked: list[int] = []
    ops = graph.operators
    n_ops = len(ops)
    nbytes = {name: t.nbytes for name, t in graph.tensors.items()}
    deltas = act4.deltas if act4 is not None else {}
    if act4 is not None:
        nbytes.update(act4.nbytes)
    graph_out = set(graph.outputs)
    last_use: dict[str, int] = {}
    producer: dict[str, int] = {name: -1 for name in graph.inputs}
    for i, (op, call) in enumerate(zip(ops, calls)):
        if call.done_by is not None:
            continue
        reads = op.inputs if call.is_view else call.inputs
        for name in reads:
            if not graph.tensors[name].is_constant:
                last_use[name] = i
        producer[call.output] = i
    for name in graph.outputs:
        last_use[name] = n_ops
    for name in producer:
        last_use.setdefault(name, producer[name])  # computed but never read: lives only at its producer

    groups: list[_Group] = []
    group_of: dict[str, _Group] = {}

    def dies_at(g: _Group, i: int) -> bool:
        return g.external is None and max(last_use[m] for m in g.members) == i

    def join(g: _Group, name: str, rel: int) -> None:
        g.members[name] = rel
        group_of[name] = g

    for name in graph.inputs:
        g = _Group(external="input")
        groups.append(g)
        join(g, name, 0)

    for i, (op, call) in enumerate(zip(ops, calls)):
        if call.done_by is not None:
            continue
        out = call.output
        placed = False
        if call.is_view:
            src = op.inputs[0]
            join(group_of[src], out, group_of[src].members[src])
            placed = True
        elif out not in graph_out and overlap and i in deltas and i not in breaks:
            src, delta = deltas[i]
            g = group_of[src]
            if dies_at(g, i):
                join(g, out, g.members[src] - delta)
                placed = True
                linked.append(i)
        elif out not in graph_out and call.in_place:
            for src in call.in_place:
                g = group_of[src]
                if nbytes[src] == nbytes[out] and dies_at(g, i):
                    join(g, out, g.members[src])
                    placed = True
                    break
        elif out not in graph_out and overlap and op.kind in WINDOWED and call.hides is None and i not in breaks \
                and "input" in call.fields and graph.tensors[out].nbytes == graph.tensors[out].size:  # overlap_delta counts 1-byte elements
            src = call.inputs[0]
            g = group_of[src]
            if dies_at(g, i):
                join(g, out, g.members[src] - overlap_delta(*_window_params(graph, op, call)))
                placed = True
                linked.append(i)
        if not placed:
            g = _Group(external="output" if out in graph_out else None)
            groups.append(g)
            join(g, out, 0)
        if call.scratch_bytes:
            groups.append(_Group(scratch_of=i, size_hint=call.scratch_bytes))

    # Each arena group is a set of members (relative offset, size, lifetime). A member only
    # reserves its bytes while it is live, so a group's footprint may drift as it is rewritten.
    items = []
    for gi, g in enumerate(groups):
        if g.external is not None:
            continue
        if g.scratch_of is not None:
            members = [(0, g.size_hint, g.scratch_of, g.scratch_of)]
        else:
            members = [(rel, nbytes[m], producer[m], last_use[m]) for m, rel in g.members.items()]
        items.append((gi, members))

    base, placed = _best_placement(items)

    tensors: dict[str, Placement] = {}
    scratch: dict[int, tuple[int, int]] = {}
    report = []
    for gi, g in enumerate(groups):
        if g.scratch_of is not None:
            scratch[g.scratch_of] = (base[gi], g.size_hint)
            continue
        for m, rel in g.members.items():
            tensors[m] = Placement(g.external, rel) if g.external else Placement("arena", base[gi] + rel)
        report.append({"members": sorted(g.members), "external": g.external})
    arena = max((e for _, e, _, _ in placed), default=0)
    out_name = graph.outputs[0]
    return Plan(arena_bytes=arena, tensors=tensors, scratch=scratch,
                copy_output=tensors[out_name].where != "output", groups=report), linked


def live_pairs_bound(graph: Graph) -> int:
    """The largest sum of the two biggest activation tensors live at the same time (a lower-bound yardstick)."""
    ops = graph.operators
    last: dict[str, int] = {}
    born: dict[str, int] = {n: -1 for n in graph.inputs}
    for i, op in enumerate(ops):
        for n in op.inputs:
            if not graph.tensors[n].is_constant:
                last[n] = i
        born[op.outputs[0]] = i
    for n in graph.outputs:
        last[n] = len(ops)
    best = 0
    for i in range(len(ops)):
        live = sorted((graph.tensors[n].nbytes for n, b in born.items() if b <= i <= last.get(n, b)), reverse=True)
        best = max(best, sum(live[:2]))
    return best
