"""pixmcu inspect MODEL: what is in a model and whether pixmcu can run it."""

from __future__ import annotations

import hashlib
import json
import sys

from pixmcu.frontend import CHECKPOINT_SUFFIXES, load_model, resolve_model_path
from pixmcu.frontend.float_ends import describe, stripped_float_ends
from pixmcu.frontend.tflite_reader import read_tflite
from pixmcu.errors import UnsupportedOperatorError
from pixmcu.frontend.tflite_to_ir import SUPPORTED_OPS, tflite_to_ir, unsupported_message, unsupported_operators
from pixmcu.model_info import layer_table, tensor_summary
from pixmcu.table import format_table


def add_parser(sub):
    p = sub.add_parser("inspect", help="list a model's layers, MACs, parameters and quantization",
                       description="List a model's layers (op, shapes, MACs, parameter bytes, quantization) and "
                                   "name every unsupported operator. MODEL is a .tflite file, a .pmz integer graph, "
                                   "a .pt training checkpoint (needs torch) or a shipped model's name (`pixmcu "
                                   "models`). For what the firmware will hold on a board, see `pixmcu analyze`.")
    p.add_argument("model", help="a .tflite file, a .pmz/.pt checkpoint, or a shipped model's name")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def run(args) -> int:
    path = resolve_model_path(args.model)
    if path.suffix in CHECKPOINT_SUFFIXES:
        graph = load_model(path)
        return _report(args, graph, str(path), _sha256(path))
    raw = read_tflite(path)
    bad = unsupported_operators(raw)
    if bad:
        report = {
            "model": str(raw.path), "sha256": raw.sha256, "supported": False,
            "operators": [{"index": op.index, "op": op.opcode, "supported": op not in bad} for op in raw.operators],
            "unsupported": [{"index": op.index, "op": op.opcode} for op in bad],
            "supported_operators": list(SUPPORTED_OPS),
        }
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print(format_table(["#", "operator", "status"],
                               [[o["index"], o["op"], "ok" if o["supported"] else "UNSUPPORTED"] for o in report["operators"]]))
            print(f"\n{len(bad)} unsupported operator(s): " + ", ".join(f"{o['op']} (#{o['index']})" for o in report["unsupported"]))
            print("pixmcu supports: " + ", ".join(SUPPORTED_OPS))
        sys.stdout.flush()
        # The same paragraph and exit status as `generate` (the table or JSON above stays on stdout).
        raise UnsupportedOperatorError(unsupported_message(raw, bad))
    return _report(args, tflite_to_ir(raw), str(raw.path), raw.sha256, stripped_float_ends(raw))


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _report(args, graph, model: str, sha256: str, float_ends: dict | None = None) -> int:
    layers = layer_table(graph)
    report = {
        "model": model, "sha256": sha256, "supported": True,
        "input": tensor_summary(graph.input_tensor()), "output": tensor_summary(graph.output_tensor()),
        "layers": layers,
        "total_macs": sum(r["macs"] for r in layers),
        "param_bytes": sum(r["param_bytes"] for r in layers),
        "float_ends_stripped": float_ends,
        # Variable tensors: the model's state, kept across inferences (static memory in the generated C).
        "state": [dict(tensor_summary(t), bytes=t.nbytes) for t in graph.tensors.values() if t.variable],
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    inp, out = report["input"], report["output"]
    print(f"{model}  sha256 {sha256[:16]}…")
    print(f"input  {inp['name']} {inp['shape']} {inp['dtype']} scale={inp['scale']} zp={inp['zero_point']}")
    print(f"output {out['name']} {out['shape']} {out['dtype']} scale={out['scale']} zp={out['zero_point']}")
    for st in report["state"]:
        print(f"state  {st['name']} {st['shape']} {st['dtype']} scale={st['scale']} zp={st['zero_point']} "
              f"({st['bytes']} B, kept across inferences, real zero at start)")
    print(describe(float_ends) + "\n" if float_ends else "")
    rows = [[r["index"], r["name"], " ".join("x".join(map(str, s)) for s in r["input_shapes"]),
             "x".join(map(str, r["output_shape"])), f"{r['macs']:,}", f"{r['param_bytes']:,}",
             r["activation"], r["weights_quant"], r["weight_bits"] or "-", r["output_bits"], r["output_quant"]]
            for r in layers]
    print(format_table(["#", "layer", "input", "output", "MACs", "params B", "act", "weights", "w bits", "a bits",
                        "output quant"], rows, right=(0, 4, 5, 8, 9)))
    print(f"\ntotal: {report['total_macs']:,} MACs, {report['param_bytes']:,} parameter bytes, {len(layers)} layers")
    return 0
