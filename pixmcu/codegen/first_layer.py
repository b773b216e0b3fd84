"""The first layer of a pixel-embedding model as one `pm_first_*` call (issue #6, "Choice").

A graph that starts `pixel_embedding -> conv2d` (the embedding read only by the conv) can run the two
layers as one kernel of firmware/first_layer: the embedding folded into the conv (per-channel int16 or
int32 tables), the joint-channel table when the embedding is binned, or embed-then-conv in one call.
`plan_first_layer` picks the variant (the cost model of `pixmcu.first_layer.choose` for the board's
core within a flash budget, or the one asked for), builds its tables from the model's own table,
weights and requantization with `pixmcu.first_layer.tables` (int16 bound proved from the actual
weights; widening or int32 tables where it is not), and returns the KernelCalls that replace the
two layers: the fused call at the embedding's index (its own output, the embedded image, is never
stored: `hides`), the conv computed by it (`done_by`), exactly as the residual-ADD fusion marks them.

Variants: "unfused" (the embedding kernel, then the conv kernel: today's two calls), "pe_embed_conv",
"pe_folded_s16", "pe_folded_s32", "pe_joint_s16", or "auto".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pixmcu.codegen.kernels import KernelCall
from pixmcu.errors import PixmcuError
from pixmcu.first_layer import tables as tb
from pixmcu.ir import Graph

UNFUSED = "unfused"
FUSED_VARIANTS = ("pe_folded_s16", "pe_joint_s16", "pe_folded_s32", "pe_embed_conv")
CHOICES = ("auto", UNFUSED, *FUSED_VARIANTS)
# Cores with a fitted cost model (pixmcu.first_layer.choose.COEFFS); elsewhere auto keeps two calls.
MODELLED_CORES = ("cortex-m4", "cortex-m7")

# C structs of pm_first_layer.h, in declaration order (the generator formats them like STRUCT_FIELDS).
FIRST_STRUCT_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "pm_first_geom_t": tuple((n, "i32") for n in (
        "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h", "stride_w", "pad_h", "pad_w")),
    "pm_first_requant_t": (("bias", "int32_t*"), ("multiplier", "int32_t*"), ("shift", "int32_t*"),
                           ("output_offset", "i32"), ("act_min", "i32"), ("act_max", "i32")),
    "pm_first_params_t": (("geom", "struct:pm_first_geom_t"), ("rq", "struct:pm_first_requant_t"),
                          ("embed_dim", "i32"), ("n_joint", "i32"), ("widen_every", "i32"),
                          ("table16", "int16_t*"), ("table32", "int32_t*"), ("weights", "int16_t*"),
                          ("bin_offset", "uint32_t*"), ("lane_bias", "int16_t*")),
}

KERNEL_SOURCE = {"pe_folded_s16": "pm_first_folded_s16", "pe_folded_s32": "pm_first_folded_s32",
                 "pe_joint_s16": "pm_first_joint_s16", "pe_embed_conv": "pm_first_embedconv_s8"}


@dataclass
class FirstLayerPlan:
    """The decision for one model: the calls replacing layers 0 and 1 and the manifest block."""

    variant: str
    manifest: dict[str, Any]
    embed_index: int = 0
    conv_index: int = 1
    calls: tuple[KernelCall, KernelCall] | None = None  # None: unfused (the generator's own two calls)
    firmware_sources: list[str] = field(default_factory=list)  # relative to firmware/


def match(graph: Graph) -> tuple[int, int] | None:
    """(embedding, conv) indices when the graph starts pixel_embedding -> conv2d and the variants apply."""
    ops = list(graph.operators)
    if len(ops) < 2 or ops[0].kind != "pixel_embedding" or ops[1].kind != "conv2d":
        return None
    emb, conv = ops[0], ops[1]
    e_out = emb.outputs[0]
    if conv.inputs[0] != e_out or e_out in graph.outputs:
        return None
    if any(e_out in o.inputs for o in ops[2:]) or graph.tensors[emb.inputs[0]].dtype != "uint8":
        return None
    x = graph.tensors[emb.inputs[0]]
    w = graph.tensors[conv.inputs[1]]
    sh, sw = conv.attrs["stride"]
    if len(x.shape) != 4 or x.shape[0] != 1 or sh != sw or w.shape[1] != w.shape[2] \
            or tuple(conv.attrs.get("dilation", (1, 1))) != (1, 1) \
            or conv.attrs.get("padding", "same") not in ("same", "valid"):
        return None
    out = graph.tensors[conv.outputs[0]]
    # pm_first_geom_t holds 16-bit sizes and 8-bit kernel/stride/padding; the kernels keep at most
    # PM_FL_MAX_OUT_C / PM_FL_MAX_BLOCK (256) accumulators of one window.
    if max(x.shape[1], x.shape[2], x.shape[3], out.shape[1], out.shape[2]) > 0xFFFF or out.shape[3] > 256 \
            or w.shape[1] > 255 or sh > 255:
        return None
    return 0, 1


def _geom_fields(g) -> dict[str, int]:
    return {"in_h": g.in_h, "in_w": g.in_w, "in_c": g.in_c, "out_h": g.out_h, "out_w": g.out_w, "out_c": g.out_c,
            "k_h": g.k, "k_w": g.k, "stride_h": g.stride, "stride_w": g.stride, "pad_h": g.pad_h, "pad_w": g.pad_w}


@dataclass
class _Built:
    name: str                      # the variant actually built (pe_folded_s16 may become pe_folded_s32)
    arrays: dict[str, np.ndarray]
    fields: dict[str, Any]
    scratch_bytes: int
    note: str


def _build(name: str, p, info: dict) -> _Built | None:
    """The arrays and struct fields of one variant for problem `p` (from the model); None: not available."""
    g = p.g
    rq = p.rq_embed
    zero = {"embed_dim": 0, "n_joint": 0, "widen_every": 0, "table16": None, "table32": None, "weights": None,
            "bin_offset": None, "lane_bias": None}
    if name == "pe_folded_s16":
        t = p.folded()
        proof = tb.prove_int16(t)
        if proof.dtype == "int32":
            built = _build("pe_folded_s32", p, info)
            built.note = "int16 bound not provable (an entry leaves int16): int32 tables"
            return built
        lb = tb.lane_bias(t, rq.bias, proof)
        arrays = {"tables": tb.folded_c_layout(t)}
        if lb is not None:
            arrays["lane_bias"] = lb
        note = ("int16, whole window proved" if not proof.widens else f"int16, widen every {proof.widen_every}") \
            + f" (bound +{proof.max_pos}/{proof.max_neg})" + (", bias in the lanes" if lb is not None else "")
        return _Built(name, arrays, {**zero, "widen_every": proof.widen_every, "table16": "tables",
                                     "lane_bias": "lane_bias" if lb is not None else None}, 0, note)
    if name == "pe_folded_s32":
        t = p.folded()
        if t.max() > np.iinfo(np.int32).max or t.min() < np.iinfo(np.int32).min:
            return None
        return _Built(name, {"tables": t.astype(np.int32)}, {**zero, "table32": "tables"}, 0, "int32 tables")
    if name == "pe_joint_s16":
        if not info.get("bins"):
            return None
        t = p.joint()
        proof = tb.prove_int16(t)
        if proof.dtype == "int32":
            return None
        lb = tb.lane_bias(t, rq.bias, proof)
        arrays = {"bin_offset": tb.bin_offsets(p.bins_of, p.bins, g.taps, g.out_c),
                  "tables": tb.joint_c_layout(t, g.k, g.k)}
        if lb is not None:
            arrays["lane_bias"] = lb
        wb, hp = (g.out_w - 1) * g.stride + g.k, (g.out_h - 1) * g.stride + g.k
        note = f"K={p.bins}, {t.shape[1]} joint rows/tap" + ("" if not proof.widens else
                                                              f", widen every {proof.widen_every}")
        return _Built(name, arrays, {**zero, "n_joint": int(t.shape[1]), "widen_every": proof.widen_every,
                                     "table16": "tables", "bin_offset": "bin_offset",
                                     "lane_bias": "lane_bias" if lb is not None else None},
                      (wb * hp + wb * g.k) * 4, note)
    if name == "pe_embed_conv":
        lut = np.asarray(p.lut, np.int64) - p.embed_zero_point
        if lut.min() < -32768 or lut.max() > 32767:
            return None
        kp = tb.padded_k(g.taps * g.in_c * p.d)
        return _Built(name, {"lut": lut.astype(np.int16), "weights": tb.pack_weights_s16(p.w_embed)},
                      {**zero, "embed_dim": p.d, "table16": "lut", "weights": "weights"}, 5 * kp * 2,
                      "embedding read into the im2col column, SMLAD GEMM")
    raise PixmcuError(f"unknown first-layer variant {name!r}")


def plan_first_layer(graph: Graph, core: str, variant: str = "auto", flash_budget: int | None = None,
                     decision: dict | None = None, flash_wait_states: int = 0,
                     room: int | None = None, optimize: str = "balanced") -> FirstLayerPlan | None:
    """The first-layer decision for `graph`, or None when the graph does not start with a pixel
    embedding followed by a conv2d the variants compute (the generator then keeps its own calls).

    flash_budget: the whole model's (--flash-budget), recorded; room: the bytes of it the rest of the
    model leaves the first layer (code + tables), which bounds the candidates (None: flash_budget).

    decision: a measured choice from `pixmcu tune` (pixmcu.first_layer.tune), recorded as it is.
    flash_wait_states: of the target's flash; the cost model charges them to random table reads.
    optimize: "size" makes "auto" keep the two layers unfused: the embedding table and the conv's
    weights (int4 where they fit) are always smaller than any precomputed first-layer table.
    """
    from pixmcu.first_layer.choose import Target, candidates, choose
    from pixmcu.first_layer.tune import problem_from_graph

    if variant not in CHOICES:
        raise PixmcuError(f"unknown first-layer variant {variant!r}; choose one of {', '.join(CHOICES)}")
    idx = match(graph)
    if idx is None:
        if variant not in ("auto", UNFUSED):
            raise PixmcuError(f"--first-layer {variant}: the model does not start with a pixel embedding "
                              "followed by a square, undilated conv2d")
        return None
    p, info = problem_from_graph(graph)
    g = p.g
    bins = info["bins"]
    target = Target(core=core if core in MODELLED_CORES else "cortex-m4",
                    flash_budget=flash_budget if room is None else room,
                    flash_wait_states=int(flash_wait_states or 0))
    proof16 = tb.prove_int16(p.folded())
    int16_ok = {"pe_folded_s16": proof16.dtype == "int16"}
    if bins:
        int16_ok["pe_joint_s16"] = tb.prove_int16(p.joint()).dtype == "int16"
    block = {"variant": None, "requested": variant, "flash_budget": flash_budget, "flash_room": target.flash_budget,
             "flash_wait_states": target.flash_wait_states, "core": core,
             "geometry": g.label(), "embed_dim": p.d, "bins": bins, "source": "model"}

    def cand_json(cands) -> list[dict]:
        return [{"name": c.name, "predicted_cycles": None if not np.isfinite(c.est_cycles) else round(c.est_cycles),
                 "flash_bytes": c.flash_bytes, "fits_budget": bool(c.feasible),
                 "source": c.source, **({"excluded": c.reason} if c.reason else {})} for c in cands]

    if decision is not None:  # measured by `pixmcu tune`
        chosen = decision["variant"]
        block.update(source="measured", reason=decision["reason"], board_measured=decision.get("board"),
                     candidates=cand_json(candidates(g, p.d, p.q, bins, target,
                                                     {m["name"]: m["estimated_cycles"]
                                                      for m in decision.get("measurements", [])}, int16_ok)),
                     measurements=[{k: m[k] for k in ("name", "count", "estimated_cycles", "flash_bytes", "bitexact")
                                    if k in m} for m in decision.get("measurements", [])])
        block["requested"] = "tuned"
    elif variant == "auto":
        cands = candidates(g, p.d, p.q, bins, target, None, int16_ok)
        block["candidates"] = cand_json(cands)
        if optimize == "size":
            chosen = UNFUSED
            block["reason"] = ("--optimize size: the embedding and the conv stay two calls (their constants are "
                               "smaller than any fused variant's tables)")
        elif core not in MODELLED_CORES:
            chosen = UNFUSED
            block["reason"] = f"no first-layer cost model for {core}: the embedding and the conv stay two calls"
        elif not any(c.feasible for c in cands):
            chosen = UNFUSED
            block["reason"] = ("no fused first-layer variant fits the flash budget: the embedding and the conv "
                               "stay two calls; " + "; ".join(f"{c.name}: {c.reason}" for c in cands))
        else:
            d = choose(g, p.d, p.q, bins, target, None, int16_ok)
            chosen, block["reason"] = d["variant"], d["reason"]
    else:
        chosen = variant
        block["candidates"] = cand_json(candidates(g, p.d, p.q, bins, target, None, int16_ok))
        block["reason"] = f"requested with --first-layer {variant}"

    if chosen == UNFUSED:
        block["variant"] = UNFUSED
        block["kernel"] = None
        return FirstLayerPlan(UNFUSED, block)
    built = _build(chosen, p, info)
    if built is None:
        raise PixmcuError(f"first-layer variant {chosen} is not available for this model "
                          f"({'the embedding is not binned' if chosen == 'pe_joint_s16' and not bins else 'its values do not fit'})")
    if built.name != chosen:
        block["reason"] += f"; {chosen} widened to {built.name}"
    kernel = KERNEL_SOURCE[built.name]
    block.update(variant=built.name, kernel=kernel, note=built.note,
                 data_bytes=int(sum(a.nbytes for a in built.arrays.values())), scratch_bytes=built.scratch_bytes)
    rq = p.rq_embed
    arrays = {**built.arrays, "bias": np.asarray(rq.bias, np.int64).astype(np.int32),
              "multiplier": np.asarray(rq.multiplier, np.int64).astype(np.int32),
              "shift": np.asarray(rq.shift, np.int64).astype(np.int32)}
    fields = {"geom": _geom_fields(g),
              "rq": {"bias": "bias", "multiplier": "multiplier", "shift": "shift",
                     "output_offset": rq.output_offset, "act_min": rq.act_min, "act_max": rq.act_max},
              **built.fields}
    emb, conv = graph.operators[idx[0]], graph.operators[idx[1]]
    out = conv.outputs[0]
    fused = KernelCall(kernel, "pm_first_params_t", fields, arrays, (emb.inputs[0],), output=out,
                       scratch_bytes=built.scratch_bytes, hides=emb.outputs[0])
    fused.adapter = f"{kernel}_layer"
    done = KernelCall(None, None, inputs=(), output=out, done_by=idx[0])
    sources = [f"first_layer/adapters/{kernel}_layer.c", f"first_layer/{kernel}.c"]
    block["firmware_sources"] = sources
    return FirstLayerPlan(built.name, block, idx[0], idx[1], (fused, done), sources)
