"""`pixmcu tune`: measure the first-layer variants of a real model on a QEMU board and choose.

The model's own embedding table, weights and requantization (from `pixmcu.lowering`) are turned
into each variant's tables; each variant runs on the board, is checked bit for bit against the
project's reference (`pixmcu.reference.run` on the model's first two layers), and the chooser
(choose.py) picks the fastest that fits the budgets, from the estimated cycles of the instruction classes counted under QEMU.

The decision is written to OUTDIR/first_layer.json, and `pixmcu tune` (pixmcu/cli/cmd_tune.py)
regenerates OUTDIR with it: `pixmcu.codegen.generate(..., first_layer_decision=decision)` replaces the
first two layers by one call of the chosen pm_first_* kernel (pixmcu/codegen/first_layer.py) and
records the measurements and the reason in manifest.json's `first_layer`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pixmcu.errors import PixmcuError
from pixmcu.first_layer import tables as tb
from pixmcu.first_layer.choose import Target, choose
from pixmcu.first_layer.problem import Problem, make_problem
from pixmcu.first_layer.reference import Geometry, Requant
from pixmcu.ir import Graph
from pixmcu.lowering import lower

PE_VARIANTS = ["pe_folded_s16", "pe_joint_s16", "pe_folded_s32", "pe_embed_conv"]


def first_layer_of(graph: Graph) -> dict:
    """The model's first layer: {"kind": "pixel_embedding"|"conv2d", "embed": op|None, "conv": op}."""
    ops = list(graph.operators)
    if not ops:
        raise PixmcuError("the model has no operators")
    first = ops[0]
    if first.kind == "pixel_embedding":
        conv = next((o for o in ops[1:] if first.outputs[0] in o.inputs), None)
        if conv is None or conv.kind != "conv2d":
            raise PixmcuError("the pixel embedding is not followed by a conv2d: no first-layer variant applies")
        return {"kind": "pixel_embedding", "embed": first, "conv": conv}
    if first.kind == "conv2d":
        return {"kind": "conv2d", "embed": None, "conv": first}
    raise PixmcuError(f"the model starts with {first.kind}, not a pixel embedding or a conv2d")


def _geometry(graph: Graph, conv, x_shape) -> Geometry:
    w = graph.tensors[conv.inputs[1]]
    out = graph.tensors[conv.outputs[0]]
    sh, sw = conv.attrs["stride"]
    if sh != sw or w.shape[1] != w.shape[2] or tuple(conv.attrs.get("dilation", (1, 1))) != (1, 1):
        raise PixmcuError("first-layer variants need a square kernel, equal strides and no dilation")
    return Geometry(x_shape[1], x_shape[2], x_shape[3], out.shape[3], w.shape[1], sh,
                    conv.attrs.get("padding", "same"))


def problem_from_graph(graph: Graph, seed: int = 0) -> tuple[Problem, dict]:
    """A Problem whose embedding variants compute exactly the model's first two layers."""
    fl = first_layer_of(graph)
    if fl["kind"] != "pixel_embedding":
        raise PixmcuError("the model has no pixel embedding: its first layer is int8 only, nothing to choose")
    emb, conv = fl["embed"], fl["conv"]
    x = graph.tensors[emb.inputs[0]]
    table = graph.tensors[emb.inputs[1]]
    g = _geometry(graph, conv, x.shape)
    d = int(emb.attrs["embed_dim"])
    t = np.asarray(table.data, np.int64)
    lut = np.broadcast_to(t, (g.in_c, 256, d)).copy() if t.shape[0] == 1 else t
    zp = int(table.quant.zero_point[0])
    q = max(1, int(lut.max() - zp).bit_length())
    p = make_problem(g, d=d, q=min(q, 7), seed=seed)
    pr = lower(graph, conv)
    rq = Requant(np.asarray(pr["bias"], np.int64), np.asarray(pr["multiplier"], np.int64),
                 np.asarray(pr["shift"], np.int64), int(pr["output_offset"]), int(pr["act_min"]), int(pr["act_max"]))
    p.lut, p.embed_zero_point = lut.astype(np.int8), zp
    p.w_embed = np.asarray(graph.tensors[conv.inputs[1]].data, np.int8)
    p.rq_embed = p.rq_joint = rq
    edges = emb.attrs.get("bin_edges")
    bins = None
    if edges:
        bins = len(edges[0]) + 1
        th = np.asarray(edges, np.int64)
        th = np.broadcast_to(th, (g.in_c, bins - 1)) if th.shape[0] == 1 else th
        bins_of = np.stack([np.searchsorted(th[c], np.arange(256), side="right") for c in range(g.in_c)])
        first_value = np.stack([[int(np.argmax(bins_of[c] == k)) for k in range(bins)] for c in range(g.in_c)])
        p.bins, p.bins_of = bins, bins_of
        p.bin_lut = lut[np.arange(g.in_c)[:, None], first_value]
        if not np.array_equal(tb.expand_binned(p.bin_lut, bins_of), lut):
            raise PixmcuError("the embedding's bin edges do not describe its table")
    p.cache.clear()
    info = {"geometry": g.label(), "embed_dim": d, "bits": q, "bins": bins, "conv": conv.name, "embed": emb.name}
    return p, info


def int8_problem_from_graph(graph: Graph, seed: int = 0) -> tuple[Problem, dict]:
    """A Problem whose int8 variant computes exactly the model's first conv (int8 input, pixel - 128);
    its other variants stay synthetic (same geometry). The expected output is checked against
    `pixmcu.reference.run` on the model."""
    from pixmcu import reference

    fl = first_layer_of(graph)
    if fl["kind"] != "conv2d":
        raise PixmcuError("the model's first layer is not an int8 conv2d")
    conv = fl["conv"]
    x = graph.tensors[conv.inputs[0]]
    if x.dtype != "int8":
        raise PixmcuError(f"the first conv reads {x.dtype}, not int8")
    g = _geometry(graph, conv, x.shape)
    p = make_problem(g, seed=seed)
    pr = lower(graph, conv)
    p.w_s8 = np.asarray(graph.tensors[conv.inputs[1]].data, np.int8)
    p.input_offset_s8 = int(pr["input_offset"])
    p.rq_s8 = Requant(np.asarray(pr["bias"], np.int64), np.asarray(pr["multiplier"], np.int64),
                      np.asarray(pr["shift"], np.int64), int(pr["output_offset"]), int(pr["act_min"]),
                      int(pr["act_max"]))
    xin = (p.pixels.astype(np.int16) - 128).astype(np.int8)
    got = reference.run(graph, xin[None])[conv.name][0]
    if not np.array_equal(got, p.expected_s8()):
        raise PixmcuError("internal error: the first-layer reference disagrees with pixmcu.reference")
    return p, {"geometry": g.label(), "conv": conv.name}


def _reference_check(graph: Graph, p: Problem, conv_name: str) -> bool:
    """The model's reference output of the conv on p.pixels equals the problem's expected output."""
    from pixmcu import reference
    from pixmcu.reference import ops_embedding  # noqa: F401  (registers the embedding kernel)

    res = reference.run(graph, p.pixels[None].astype(np.uint8))
    return bool(np.array_equal(res[conv_name][0], p.expected_embed()))


def tune_graph(graph: Graph, board: str, workdir: Path, target: Target) -> dict:
    from pixmcu.boards import get_board
    from pixmcu.first_layer.bench import BenchBuilder

    p, info = problem_from_graph(graph)
    if not _reference_check(graph, p, info["conv"]):
        raise PixmcuError("internal error: the first-layer reference disagrees with pixmcu.reference")
    names = [n for n in PE_VARIANTS if n != "pe_joint_s16" or info["bins"]]
    results = BenchBuilder(workdir, board).run_case(Path(workdir) / "tune", p, names)
    bad = [r.name for r in results if r.bitexact is not True]
    if bad:
        raise PixmcuError(f"variants not bit-exact on {board}: {', '.join(bad)}")
    measured = {r.name: r.estimated_cycles for r in results}
    proof = tb.prove_int16(p.folded())
    int16_ok = {"pe_folded_s16": proof.dtype == "int16"}
    if info["bins"]:
        int16_ok["pe_joint_s16"] = tb.prove_int16(p.joint()).dtype == "int16"
    target.core = get_board(board).core
    decision = choose(p.g, p.d, p.q, info["bins"], target, measured, int16_ok)
    decision.update(board=board, model=info,
                    measurements=[{**r.as_json(), "classes": r.classes} for r in results])
    return decision


def tune_outdir(outdir: Path, board: str | None, target: Target, workdir: Path) -> dict:
    from pixmcu.build import load_manifest
    from pixmcu.frontend import load_model

    manifest = load_manifest(outdir)
    src = manifest.get("source_file")
    if not src:
        raise PixmcuError(f"{outdir}/manifest.json names no source_file: cannot rebuild the model's tables")
    graph = load_model(Path(outdir) / src)
    decision = tune_graph(graph, board or manifest.get("board") or "qemu-m4", workdir, target)
    (Path(outdir) / "first_layer.json").write_text(json.dumps(decision, indent=2, default=float) + "\n")
    return decision
