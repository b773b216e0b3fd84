"""The bit-exact integer reference: runs a Graph in numpy and returns every layer's output."""

from __future__ import annotations

from typing import Callable

import numpy as np

from pixmcu.errors import PixmcuError
from pixmcu.ir import Graph
from pixmcu.lowering import lower
from pixmcu.reference.ops import OPS

KernelFn = Callable[..., np.ndarray]


def register(kind: str, fn: KernelFn) -> None:
    """Add the reference kernel of an IR operator kind defined outside this package."""
    OPS[kind] = fn


def _batched(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Accept (N,)+shape[1:] for a batch-1 model, or exactly (N,)+shape; return (N,)+shape."""
    t = graph.input_tensor()
    x = np.asarray(x)
    if x.dtype != np.dtype(t.dtype):
        raise PixmcuError(f"input has dtype {x.dtype}, the model input '{t.name}' is {t.dtype}")
    if t.shape[0] == 1 and x.shape[1:] == t.shape[1:]:
        return x.reshape((x.shape[0],) + t.shape)
    if x.shape[1:] == t.shape:
        return x
    raise PixmcuError(f"input shape {x.shape} does not fit the model input '{t.name}' {t.shape} "
                      f"(expected (N, {', '.join(map(str, t.shape[1:]))}))")


def _unbatched(graph: Graph, name: str, y: np.ndarray) -> np.ndarray:
    shape = graph.tensors[name].shape
    return y.reshape((y.shape[0],) + shape[1:]) if shape[0] == 1 else y


def initial_state(graph: Graph) -> dict[str, np.ndarray]:
    """The variable (state) tensors at the start of a run: real zero, as TFLM resets them (an int8 state
    holds its zero point, an LSTM's asymmetric hidden state; int16 states are symmetric)."""
    return {n: np.full(t.shape, state_fill(t), t.dtype) for n, t in graph.tensors.items() if t.variable}


def state_fill(t) -> int:
    return int(t.quant.zero_point[0]) if t.dtype == "int8" and t.quant is not None else 0


def run(graph: Graph, x: np.ndarray, state: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Every operator's output keyed by operator name, plus the graph outputs keyed by tensor name.

    `x` holds N inputs in the model input's dtype. Arrays come back with the batch axis first. A graph
    with variable tensors takes the N inputs as consecutive inferences: its state starts from `state`
    (updated in place; zero when not given) and carries from one input to the next.
    """
    values: dict[str, np.ndarray] = {graph.inputs[0]: _batched(graph, x)}
    values.update(initial_state(graph) if state is None else state)
    results: dict[str, np.ndarray] = {}
    for op in graph.operators:
        fn = OPS.get(op.kind)
        if fn is None:
            raise PixmcuError(f"layer '{op.name}': the reference has no kernel for '{op.kind}'")
        inputs = [values[n] for n in op.inputs if not graph.tensors[n].is_constant or op.kind == "concatenation"]
        y = fn(graph, op, inputs, lower(graph, op))
        values[op.outputs[0]] = y
        results[op.name] = _unbatched(graph, op.outputs[0], y)
    for name in graph.outputs:
        results[name] = _unbatched(graph, name, values[name])
    return results


def invoke(graph: Graph, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """The first graph output for N inputs (consecutive inferences), computed in batches to bound memory."""
    state = initial_state(graph)
    outs = [run(graph, x[i:i + batch], state)[graph.outputs[0]] for i in range(0, len(x), batch)]
    return np.concatenate(outs) if outs else np.zeros((0,) + graph.output_tensor().shape[1:], graph.output_tensor().dtype)


# Operator kinds whose reference lives in their own module register themselves on import.
from pixmcu.reference import ops_embedding  # noqa: E402,F401
from pixmcu.reference import ops_16x8, ops_activation, ops_elementwise, ops_lstm, ops_shape, ops_svdf  # noqa: E402

for _module in (ops_activation, ops_elementwise, ops_shape, ops_16x8, ops_svdf, ops_lstm):
    OPS.update(_module.OPS)
