"""SVDF (issue 11): TFLM's int8 SVDF with its int16 state carried across consecutive inferences.

Fixtures: tests/fixtures/make_svdf_models.py (hand-built flatbuffers; the converter makes no SVDF).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixmcu.frontend import load_model
from pixmcu.reference import initial_state, invoke, run
from tests.tflm_oracle import Oracle

FIX = Path(__file__).parent / "fixtures" / "svdf"
MODELS = ("svdf_r1", "svdf_r2", "svdf_relu")


def _sequence(graph, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, (n,) + graph.input_tensor().shape[1:]).astype(np.int8)


@pytest.mark.parametrize("name", MODELS)
def test_reference_matches_tflm_over_a_sequence(name):
    path = FIX / f"{name}.tflite"
    graph = load_model(path)
    x = _sequence(graph, 16, 1)
    oracle = Oracle(path, graph)
    want = oracle.invoke(x)
    np.testing.assert_array_equal(invoke(graph, x, batch=5), want)  # state carried across batches too
    # TFLM's reset() zeroes the state, as a fresh reference run starts from zero.
    oracle.interp.reset()
    np.testing.assert_array_equal(invoke(graph, x[3:9]), oracle.invoke(x[3:9]))


def test_state_persists_and_is_updated_in_place():
    graph = load_model(FIX / "svdf_r2.tflite")
    x = _sequence(graph, 8, 2)
    state = initial_state(graph)
    (name,) = state
    assert graph.tensors[name].variable and not state[name].any()
    first = run(graph, x[:4], state)[graph.outputs[0]]
    assert state[name].any()
    later = run(graph, x[:4], state)[graph.outputs[0]]
    # The same inputs after a history give other outputs: the outputs depend on the carried state.
    assert not np.array_equal(first, later)
    np.testing.assert_array_equal(np.concatenate([first, later]), invoke(graph, np.concatenate([x[:4], x[:4]])))
