"""What the frontend strips from a model with a float interface (QUANTIZE in, DEQUANTIZE out).

Such a model runs as its integer core: the float <-> int8 conversions stay on the host. `inspect`
says so and names the int8 tensors that are deployed instead.
"""

from __future__ import annotations

from typing import Any

from pixmcu.frontend.tflite_reader import RawModel


def stripped_float_ends(raw: RawModel) -> dict[str, Any] | None:
    """{"input": ..., "output": ...} for each float end removed, or None when the interface is integer."""
    ends: dict[str, Any] = {}
    for op in raw.operators:
        if not op.inputs or not op.outputs:
            continue
        src, dst = raw.tensors[op.inputs[0]], raw.tensors[op.outputs[0]]
        if op.opcode == "QUANTIZE" and src.dtype == "float32" and op.inputs[0] in raw.inputs:
            ends["input"] = {"float_tensor": src.name, "operator": f"QUANTIZE (operator {op.index})",
                             "deployed": dst.name, "dtype": dst.dtype}
        elif op.opcode == "DEQUANTIZE" and dst.dtype == "float32" and op.outputs[0] in raw.outputs:
            ends["output"] = {"float_tensor": dst.name, "operator": f"DEQUANTIZE (operator {op.index})",
                              "deployed": src.name, "dtype": src.dtype}
    return ends or None


def describe(ends: dict[str, Any]) -> str:
    """One sentence for the table view."""
    parts = [f"{side} '{e['float_tensor']}' (float32, {e['operator']}) -> deployed {e['dtype']} '{e['deployed']}'"
             for side, e in ends.items()]
    return ("float ends stripped (the float32 <-> int8 conversion stays on the host; data files hold the "
            "int8 values): " + "; ".join(parts))
