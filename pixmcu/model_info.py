"""Per-layer facts about a model (shapes, MACs, parameter bytes, quantization) for inspect and reports."""

from __future__ import annotations

from typing import Any

from pixmcu.ir import Graph
from pixmcu.lowering import macs


def _quant_summary(t) -> str:
    if t.quant is None:
        return "-"
    q = t.quant
    if q.per_channel:
        return f"per-channel x{len(q.scale)} (axis {q.axis})"
    return f"s={q.scale[0]:.6g} zp={q.zero_point[0]}"


def data_bits(t) -> int | None:
    """Bits the values of constant tensor `t` need: 2 or 4 when every value fits that signed width (a
    W4 or W2 model stores its weights as int8 values in that range), else its dtype's width."""
    if t.data is None:
        return None
    import numpy as np

    d = np.asarray(t.data)
    width = int(d.dtype.itemsize * 8)
    if d.dtype.kind != "i" or not d.size:
        return width
    lo, hi = int(d.min()), int(d.max())
    return next((b for b in (2, 4) if -(1 << (b - 1)) <= lo and hi < (1 << (b - 1))), width)


def output_bits(graph: Graph) -> dict[str, int]:
    """Bits the values of each int8 activation need, from the clamps of the layers that write them
    (pixmcu.codegen.act4.value_ranges): 2 or 4 when its range fits that many levels, else 8. Empty when
    the graph has an operator the code generator does not map."""
    from pixmcu.codegen.act4 import value_ranges
    from pixmcu.codegen.kernels import kernel_call
    from pixmcu.errors import PixmcuError

    try:
        calls = [kernel_call(graph, op) for op in graph.operators]
    except PixmcuError:
        return {}
    return {n: next(b for b in (2, 4, 8) if hi - lo < (1 << b)) for n, (lo, hi) in value_ranges(graph, calls).items()}


def layer_table(graph: Graph) -> list[dict[str, Any]]:
    obits = output_bits(graph)
    rows = []
    for i, op in enumerate(graph.operators):
        acts = [graph.tensors[n] for n in op.inputs if not graph.tensors[n].is_constant]
        consts = [graph.tensors[n] for n in op.inputs if graph.tensors[n].is_constant]
        out = graph.tensors[op.outputs[0]]
        rows.append({
            "index": i,
            "name": op.name,
            "op": op.kind,
            "input_shapes": [list(t.shape) for t in acts],
            "output_shape": list(out.shape),
            "macs": macs(graph, op),
            "param_bytes": sum(t.nbytes for t in consts),
            "activation": op.attrs.get("activation", "none"),
            "weights_quant": _quant_summary(consts[0]) if consts else "-",
            "weight_bits": data_bits(consts[0]) if consts and op.kind != "pixel_embedding" else None,
            "output_quant": _quant_summary(out),
            "output_bits": obits.get(out.name, 8 if out.dtype in ("int8", "uint8") else out.nbytes * 8 // max(out.size, 1)),
        })
    return rows


def tensor_summary(t) -> dict[str, Any]:
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype,
            "scale": list(t.quant.scale) if t.quant else None,
            "zero_point": list(t.quant.zero_point) if t.quant else None,
            "bytes": t.nbytes}
