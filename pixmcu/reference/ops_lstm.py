"""Reference of TFLM's integer UNIDIRECTIONAL_SEQUENCE_LSTM (int8 input, weights and hidden state, int16
cell state); each image is one invocation of `steps` time steps, the two states carried across images."""

from __future__ import annotations

import numpy as np

from pixmcu import quant
from pixmcu.ir import Graph, Operator
from pixmcu.reference.ops_activation import logistic16_values, tanh16_values

GATES = ("input", "forget", "cell", "output")
# Gate pre-activations are Q3.12 and gate outputs Q0.15 whatever the tensors' scales (TFLM's Prepare).
_GATE_ACT = {"input_multiplier": 3, "input_left_shift": 0}


def _clamp16(v: np.ndarray) -> np.ndarray:
    return np.clip(v, -32768, 32767)


def _fc16(w: np.ndarray, v: np.ndarray, bias, multiplier: int, shift: int) -> np.ndarray:
    acc = quant.wrap32(w @ v + (0 if bias is None else bias))
    return _clamp16(quant.multiply_by_quantized_multiplier(acc, multiplier, shift))


def step(weights: dict, p: dict, x: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One time step on int64 vectors: returns the new (hidden, cell) state; the hidden state is the output."""
    xin, hin = x + p["input_offset"], h - p["hidden_zero_point"]
    gate = {}
    for g in GATES:
        a = _fc16(weights[f"w_{g}"], xin, weights[f"b_{g}"], p[f"{g}_input_multiplier"], p[f"{g}_input_shift"])
        b = _fc16(weights[f"r_{g}"], hin, None, p[f"{g}_recurrent_multiplier"], p[f"{g}_recurrent_shift"])
        pre = _clamp16(a + b)
        act = tanh16_values if g == "cell" else logistic16_values
        gate[g] = act(pre, _GATE_ACT).astype(np.int64)
    forget = _clamp16(quant.multiply_by_quantized_multiplier(gate["forget"] * c, p["forget_multiplier"], p["forget_shift"]))
    new = _clamp16(quant.multiply_by_quantized_multiplier(gate["input"] * gate["cell"], p["input_mul_multiplier"],
                                                          p["input_mul_shift"]))
    c = _clamp16(forget + new)
    if p["cell_clip"] > 0:
        c = np.clip(c, -p["cell_clip"], p["cell_clip"])
    t = tanh16_values(c, {"input_multiplier": p["tanh_multiplier"], "input_left_shift": p["tanh_shift"]})
    h = quant.multiply_by_quantized_multiplier(t.astype(np.int64) * gate["output"], p["output_multiplier"],
                                               p["output_shift"]) + p["hidden_zero_point"]
    return np.clip(h, -128, 127), c


def op_weights(graph: Graph, op: Operator) -> dict:
    data = [graph.tensors[n].data.astype(np.int64) for n in op.inputs[1:13]]
    return {**{f"w_{g}": data[i] for i, g in enumerate(GATES)}, **{f"r_{g}": data[4 + i] for i, g in enumerate(GATES)},
            **{f"b_{g}": data[8 + i] for i, g in enumerate(GATES)}}


def lstm(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    """`inputs` is [x (N, 1, steps, features), hidden, cell]; both states are updated in place."""
    x, hidden, cell = inputs
    weights = op_weights(graph, op)
    h, c = hidden.reshape(-1).astype(np.int64), cell.reshape(-1).astype(np.int64)
    steps = graph.tensors[op.inputs[0]].shape[1]
    outs = []
    for xi in x.reshape(x.shape[0], steps, -1).astype(np.int64):
        for xt in xi:
            h, c = step(weights, p, xt, h, c)
            outs.append(h.astype(np.int8))
    hidden.reshape(-1)[:] = h
    cell.reshape(-1)[:] = c
    return np.stack(outs).reshape((x.shape[0],) + graph.tensors[op.outputs[0]].shape)


OPS = {"unidirectional_sequence_lstm": lstm}
