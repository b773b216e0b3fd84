"""`pixmcu generate`: IR -> C sources, data arrays, static arena plan and manifest.json.

All arithmetic happens here (or in lowering/planner); templates only place pre-formatted text.
Output is a pure function of (model bytes, board, name, pixel mapping): no dates, no paths.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pixmcu import __version__
from pixmcu.codegen import act4 as act4_mod
from pixmcu.codegen import first_layer as fl
from pixmcu.codegen.cformat import c_comment, c_int, c_type, format_array
from pixmcu.codegen.outdir import OutDir
from pixmcu.codegen.kernels import DSP_CORES, MVE_CORES, PACKED_CORES, STRUCT_FIELDS, KernelCall, fuse_residual_adds, kernel_call
from pixmcu.codegen.layout_plan import plan_layouts
from pixmcu.codegen.planner import Plan, plan
from pixmcu.codegen.reserved import check_model_name, safe_default_name
from pixmcu.codegen.take_home import write_take_home
from pixmcu.boards import get_board
from pixmcu.errors import UnsupportedOperatorError
from pixmcu.ir import Graph
from pixmcu.lowering import macs
from pixmcu.reference import state_fill
from pixmcu.templating import render_template

# Kernels declared outside pm_kernels.h.
KERNEL_HEADERS = {"pm_pixel_embedding_u8": "pm_embedding.h", **{k: act4_mod.HEADER for k in act4_mod.KERNELS}}


@dataclass
class Generated:
    out_dir: Path
    manifest: dict[str, Any]
    plan: Plan


def board_core(board: str | None) -> tuple[str, str]:
    """(board name, core); None is the default board."""
    b = get_board(board)
    return b.name, b.core


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _field_lines(struct: str, fields: dict, array_syms: dict[str, str], indent: str) -> list[str]:
    lines = []
    for fname, kind in {**STRUCT_FIELDS, **fl.FIRST_STRUCT_FIELDS}[struct]:
        v = fields[fname]
        if kind.startswith("struct:"):
            lines.append(f"{indent}.{fname} = {{")
            lines += _field_lines(kind.split(":", 1)[1], v, array_syms, indent + "    ")
            lines.append(f"{indent}}},")
            continue
        if kind == "dims":
            text = "{" + ", ".join(c_int(x) for x in v) + "}"
        elif kind.endswith("*"):
            text = "NULL" if v is None else array_syms[v]
        else:
            text = c_int(v)
        lines.append(f"{indent}.{fname} = {text},")
    return lines


def _struct_init(struct: str, var: str, fields: dict, array_syms: dict[str, str]) -> str:
    return "\n".join([f"static const {struct} {var} = {{", *_field_lines(struct, fields, array_syms, "    "), "};"])


class _Emitter:
    """Collects the constant arrays of the model, named NAME_<layer>_<role>."""

    def __init__(self, name: str):
        self.name = name
        self.arrays: list[dict[str, str]] = []
        self.declarations: list[str] = []
        self.used: set[str] = set()
        self.sizes: list[int] = []
        self.bytes = 0

    def add(self, layer: str, role: str, values: np.ndarray, comment: str) -> str:
        sym = f"{self.name}_{layer}_{role}"
        if sym in self.used:  # layer names that differ only around an underscore
            sym = f"{sym}_{len(self.arrays)}"
        self.used.add(sym)
        values = np.asarray(values)
        ctype = c_type(str(values.dtype))
        decl = f"{ctype} {sym}[{max(values.size, 1)}]"
        body = format_array(values) if values.size else "    0,"
        self.arrays.append({"declaration": decl, "body": body, "comment": c_comment(comment)})
        self.declarations.append(decl)
        self.sizes.append(int(values.nbytes))
        self.bytes += values.nbytes
        return sym


def _tensor_expr(graph: Graph, p: Plan, name: str, const_syms: dict[str, str]) -> str:
    if name in const_syms:
        return const_syms[name]
    pl = p.tensors[name]
    if pl.where == "arena":
        return f"(arena + {pl.offset})"
    if pl.where == "input":
        return "input" if pl.offset == 0 else f"(input + {pl.offset})"
    return "output"


def graph_digest(graph: Graph) -> str:
    """sha256 of a graph's content (for graphs that come without a source file): deterministic."""
    h = hashlib.sha256()
    for name in sorted(graph.tensors):
        t = graph.tensors[name]
        h.update(json.dumps([name, list(t.shape), t.dtype, t.quant.to_json() if t.quant else None]).encode())
        if t.data is not None:
            h.update(np.ascontiguousarray(t.data).tobytes())
    for op in graph.operators:
        h.update(json.dumps([op.name, op.kind, list(op.inputs), list(op.outputs),
                             sorted((k, repr(v)) for k, v in op.attrs.items())]).encode())
    h.update(json.dumps([list(graph.inputs), list(graph.outputs)]).encode())
    return h.hexdigest()


def _io_json(graph: Graph, name: str) -> dict[str, Any]:
    t = graph.tensors[name]
    q = t.quant
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype,
            "scale": float(np.float32(q.scale[0])) if q else None,
            "zero_point": int(q.zero_point[0]) if q else None, "bytes": t.nbytes}


def _first_layer_room(graph: Graph, layouts, flash_budget: int | None) -> int | None:
    """The bytes of the whole-model `flash_budget` left for a fused first layer: the budget less the
    layout plan's flash without the embedding's and the conv's constants (None: no budget or no plan)."""
    idx = fl.match(graph)
    if flash_budget is None or layouts is None or idx is None:
        return None
    rest = layouts.predicted_flash_bytes - sum(layouts.layers[i].chosen.weight_bytes for i in idx)
    return max(0, flash_budget - rest)


def generate(model: str | Path | Graph, out_dir: str | Path, board: str | None = None, name: str | None = None,
             pixel_mapping: dict[str, float] | None = None, overlap: bool = True, fuse: bool = True,
             packed: bool | None = None, first_layer: str | None = None, flash_budget: int | None = None,
             first_layer_decision: dict | None = None, flash_wait_states: int = 0,
             optimize: str = "balanced") -> Generated:
    """Write the generated model into out_dir and return its manifest.

    overlap: let windowed kernels write over the tail of a dying input (smaller arena, same hooks).
    fuse: fold residual ADDs into the convolution before them (the default: smallest arena and no
    separate ADD pass; the convolution's own output then never exists, its per-layer hook reports
    0 bytes and its manifest entry says `fused_into`).
    packed: fast convolutions with generate-time layouts (default: on; packed int16 weights on
    Armv7E-M DSP cores, Helium kernels on the M55); False keeps the generic int8 kernels.
    first_layer: for a graph starting pixel_embedding -> conv2d, run both layers as one first-layer
    kernel: "auto" (the cost model of pixmcu.first_layer.choose for the board's core, within
    `flash_budget` bytes), a variant name (pixmcu.codegen.first_layer.CHOICES) or "unfused" (two
    calls). None (the API default) leaves the two layers as they are and records nothing; `pixmcu
    generate` passes "auto". first_layer_decision: a measured choice from `pixmcu tune`.
    optimize: speed | balanced | size, the per-layer weight layouts under the flash budget
    (`flash_budget` bytes of code + constants, default the board's; pixmcu.codegen.layout_plan) when
    `packed` is None.
    """
    from pixmcu.frontend import load_model, resolve_model_path

    if isinstance(model, Graph):
        graph = model
        src = Path(graph.source) if graph.source and Path(graph.source).is_file() else None
    else:
        src = resolve_model_path(model)
        graph = load_model(src)
    board_name, core = board_core(board)
    packed_requested = packed
    name = check_model_name(name) if name is not None else safe_default_name(src.stem if src else graph.name)
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UnsupportedOperatorError(
            f"model has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; generated code supports one of each")
    for n in (graph.inputs[0], graph.outputs[0]):
        if graph.tensors[n].dtype not in ("int8", "uint8", "int16"):
            raise UnsupportedOperatorError(f"model input/output '{n}' is {graph.tensors[n].dtype}; only int8/uint8/int16 are supported")

    dsp = core in DSP_CORES
    mve = core in MVE_CORES and packed is not False
    layouts = (plan_layouts(graph, board_name, optimize, flash_budget, f"model {src.name}" if src else None)
               if packed is None else None)
    packed = core in PACKED_CORES if packed is None else packed
    calls: list[KernelCall] = [kernel_call(graph, op, dsp=dsp, mve=mve,
                                           **(layouts.kernel_args(i) if layouts else {"packed": packed}))
                               for i, op in enumerate(graph.operators)]
    first = None
    if first_layer is not None or first_layer_decision is not None:
        first = fl.plan_first_layer(graph, core, first_layer or "auto", flash_budget, first_layer_decision,
                                    flash_wait_states, _first_layer_room(graph, layouts, flash_budget), optimize)
        if first is not None and first.calls is not None:
            calls[first.embed_index], calls[first.conv_index] = first.calls
    size = layouts is not None and optimize == "size"
    if size:
        calls = act4_mod.int4_calls(graph, calls)
    if fuse:
        calls = fuse_residual_adds(graph, calls)
    act4 = None
    if size:  # packed 4-bit activations where they lower the arena
        calls, act4 = act4_mod.apply(graph, calls, overlap)
    packed_act = act4.nbytes if act4 is not None else {}
    mem = plan(graph, calls, overlap=overlap, act4=act4)

    model_sha = _sha256(src) if src else graph_digest(graph)
    source_file = f"model{src.suffix}" if src else None
    provenance = c_comment(f"Generated by pixmcu {__version__} from {source_file or 'an in-memory graph'} "
                           f"(sha256 {model_sha}), board {board_name}. Do not edit.")

    emit = _Emitter(name)
    const_syms: dict[str, str] = {}
    # Variable tensors: static buffers outside the arena, zeroed by NAME_reset_state (and NAME_init).
    states = [{"symbol": f"{name}_state_{k}", "ctype": c_type(t.dtype), "count": t.size, "bytes": t.nbytes,
               "tensor": t.name, "label": c_comment(t.name), "fill": state_fill(t) & 0xFF}
              for k, t in enumerate(t for t in graph.tensors.values() if t.variable)]
    state_syms = {s["tensor"]: s["symbol"] for s in states}
    params: list[str] = []
    layers_ctx: list[dict[str, Any]] = []
    layers_json: list[dict[str, Any]] = []
    for i, (op, call) in enumerate(zip(graph.operators, calls)):
        out = graph.tensors[call.output]
        out_expr = _tensor_expr(graph, mem, out.name, const_syms)
        out_bytes = 0 if call.hides or out.name in packed_act else out.nbytes  # hooks see int8 tensors only
        stored = packed_act.get(out.name, out_bytes)
        statements: list[str] = []
        arrays_before = len(emit.arrays)
        if call.kernel is not None:
            array_syms = {role: emit.add(op.name, role, arr, f"{op.name}: {role}") for role, arr in call.arrays.items()}
            for k, tname in enumerate(call.inputs):
                t = graph.tensors[tname]
                if t.is_constant and tname not in const_syms:
                    const_syms[tname] = emit.add(op.name, f"in{k}", t.data, f"{op.name}: constant input {k}")
            var = f"{name}_{op.name}_params"
            params.append(_struct_init(call.struct, var, call.fields, array_syms))
            ins = [_tensor_expr(graph, mem, n, const_syms) for n in call.inputs]
            ins += [state_syms[n] for n in call.state]
            if call.scratch_bytes:
                ins.append(f"(arena + {mem.scratch[i][0]})")
            if call.kernel in ("pm_pixel_embedding_u8", *act4_mod.EMBEDS) or call.adapter:  # uint8 pixels; the API passes int8_t
                ins[0] = f"(const uint8_t *){ins[0]}"
            if call.adapter:
                if not call.scratch_bytes:
                    ins.append("NULL")
                statements.append(f"status = {call.adapter}(&{var}, {', '.join(ins)}, {out_expr});")
            elif call.kernel == "pm_concatenation_s8":
                statements.append("{")
                statements.append(f"    const int8_t *const ins[{len(ins)}] = {{{', '.join(ins)}}};")
                statements.append(f"    status = {call.kernel}(&{var}, ins, {out_expr});")
                statements.append("}")
            else:
                statements.append(f"status = {call.kernel}(&{var}, {', '.join(ins)}, {out_expr});")
            statements += ["if (status != PM_OK) {", "    return status;", "}"]
        pl = mem.tensors[out.name]
        where = f"arena[{pl.offset}:{pl.offset + stored}]" if pl.where == "arena" else f"caller's {pl.where} buffer"
        if out.name in packed_act:
            where += f", packed 4-bit (value = nibble + {act4.low[out.name]})"
        if call.hides and call.adapter:
            where = (f"pixel embedding folded into the first layer ({call.kernel}); the embedded image is never "
                     f"stored; the conv's output goes to {where}")
        elif call.hides:
            where = f"fused with the ADD after it; its own output is never stored; the sum goes to {where}"
        elif call.done_by is not None:
            where = f"computed by layer {call.done_by} into {where}"
        layers_ctx.append({"index": i, "name": c_comment(op.name), "op": op.kind, "statements": statements,
                           "output": out_expr, "output_bytes": out_bytes, "placement": c_comment(where)})
        entry = {
            "index": i, "name": op.name, "op": op.kind,
            "input_shapes": [list(graph.tensors[n].shape) for n in op.inputs if not graph.tensors[n].is_constant],
            "output_shape": list(graph.tensors[op.outputs[0]].shape),
            "output_dtype": graph.tensors[op.outputs[0]].dtype, "macs": int(macs(graph, op)),
            "kernel": call.kernel or ("view" if call.is_view else calls[call.done_by].kernel),
            "buffer": "none" if call.hides else pl.where,
            "arena_offset": pl.offset if pl.where == "arena" and not call.hides else None,
            "arena_bytes": stored if pl.where == "arena" else 0,
            "output_bytes": out_bytes,
        }
        if out.name in packed_act:
            entry["activation_bits"] = act4_mod.BITS
            entry["packed_bytes"] = stored
        # What this layer puts in flash, for `pixmcu analyze` (each array is 16-byte aligned).
        entry["constants"] = [{"array": a["declaration"].split("[")[0].split()[-1], "ctype": a["declaration"].split()[0],
                               "bytes": n} for a, n in zip(emit.arrays[arrays_before:], emit.sizes[arrays_before:])]
        if call.scratch_bytes:
            entry["scratch"] = {"arena_offset": mem.scratch[i][0], "bytes": mem.scratch[i][1]}
        if call.hides:
            entry["fused_into"] = next(j for j, c in enumerate(calls) if c.done_by == i)
        if call.done_by is not None:
            entry["computed_by"] = call.done_by
        layers_json.append(entry)

    out_name = graph.outputs[0]
    copy_output = _tensor_expr(graph, mem, out_name, const_syms) if mem.copy_output else ""
    in_t, out_t = graph.input_tensor(), graph.output_tensor()
    common = {"provenance": provenance, "name": name, "upper": name.upper(), "model_sha256": model_sha,
              "input_bytes": in_t.nbytes, "output_bytes": out_t.nbytes, "arena_bytes": mem.arena_bytes,
              "num_layers": len(graph.operators), "weight_bytes": emit.bytes, "states": states,
              "state_bytes": sum(s["bytes"] for s in states)}
    files = {
        f"{name}_data.h": ("model_data.h.j2", {**common, "guard": f"{name.upper()}_DATA_H",
                                               "declarations": emit.declarations}),
        f"{name}_data.c": ("model_data.c.j2", {**common, "arrays": emit.arrays}),
        f"{name}.h": ("model.h.j2", {**common, "guard": f"{name.upper()}_H", "input_ctype": c_type(in_t.dtype),
                                     "output_ctype": c_type(out_t.dtype)}),
        f"{name}.c": ("model.c.j2", {**common, "arena_alloc": max(mem.arena_bytes, 16), "param_definitions": params,
                                     "extra_includes": sorted({KERNEL_HEADERS[c.kernel] for c in calls
                                                               if c.kernel in KERNEL_HEADERS}
                                                              | {"pm_first_layer.h" for c in calls if c.adapter}),
                                     "layers": layers_ctx, "copy_output": copy_output}),
        "pm_model.h": ("pm_model.h.j2", common),
    }
    out = OutDir(out_dir)
    out_dir = out.path
    out.prepare([*files, *([source_file] if source_file else [])])
    for fname, (template, ctx) in files.items():
        out.write(fname, render_template(template, ctx))
    if src is not None and not (out_dir / source_file).resolve() == src.resolve():
        out.write(source_file, src.read_bytes())

    mapping = {"scale": 1.0, "offset": 0.0}
    if pixel_mapping:
        mapping.update({k: float(v) for k, v in pixel_mapping.items()})
    manifest = {
        "pixmcu_version": __version__, "name": name, "board": board_name, "core": core,
        "model_sha256": model_sha, "source_file": source_file,
        "input": _io_json(graph, graph.inputs[0]), "output": _io_json(graph, out_name),
        "layers": layers_json, "weight_bytes": emit.bytes, "arena_bytes": mem.arena_bytes,
        # Static RAM besides the arena: the model's state, kept across inferences.
        "state_bytes": common["state_bytes"], "state": states,
        "sources": [f"{name}.c", f"{name}_data.c"], "headers": [f"{name}.h", f"{name}_data.h", "pm_model.h"],
        "pixel_mapping": mapping,
        "provenance": provenance,
        "generate_options": {"overlap": overlap, "fuse": fuse, "packed": packed_requested},
    }
    if first is not None:
        manifest["first_layer"] = first.manifest
    if layouts is not None:
        manifest["layout_plan"] = layouts.manifest()
    manifest["take_home"] = write_take_home(out_dir, manifest, get_board(board_name).cflags)
    out.write("manifest.json", json.dumps(manifest, indent=2) + "\n")
    return Generated(out_dir, manifest, mem)
