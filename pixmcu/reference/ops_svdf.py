"""Reference of TFLM's int8 SVDF (int16 state and weights_time), images taken as consecutive invocations."""

from __future__ import annotations

import numpy as np

from pixmcu import quant
from pixmcu.ir import Graph, Operator


def svdf(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    """`inputs` is [x (N, 1, F), state]; the state array is updated in place, one image after the other,
    as TFLM's interpreter updates its variable tensor on each invoke()."""
    x, state = inputs
    wf = graph.tensors[op.inputs[1]].data.astype(np.int64)
    wt = graph.tensors[op.inputs[2]].data.astype(np.int64)
    bias = graph.tensors[op.inputs[3]].data.astype(np.int64)
    n_filter, memory = wt.shape
    flat = state.reshape(-1)
    outs = []
    for xi in x.reshape(x.shape[0], -1).astype(np.int64):
        # The whole state moves one step to the left; each filter's newest slot gets its feature.
        flat[:-1] = flat[1:].copy()
        feature = quant.multiply_by_quantized_multiplier(wf @ (xi + p["input_offset"]), p["multiplier_1"], p["shift_1"])
        flat[memory - 1::memory] = np.clip(feature, -32768, 32767)
        # TFLM sums in int32; the wrap keeps its two's-complement result where a long memory overflows.
        time = quant.wrap32((wt * flat.reshape(n_filter, memory).astype(np.int64)).sum(axis=1))
        acc = quant.wrap32(bias + time.reshape(-1, p["rank"]).sum(axis=1))
        y = quant.multiply_by_quantized_multiplier(acc, p["multiplier_2"], p["shift_2"]) + p["output_offset"]
        outs.append(np.clip(y, -128, 127).astype(np.int8))
    return np.stack(outs).reshape((x.shape[0],) + graph.tensors[op.outputs[0]].shape)


OPS = {"svdf": svdf}
