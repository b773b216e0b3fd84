"""UNIDIRECTIONAL_SEQUENCE_LSTM (issue 11): TFLM's integer LSTM with its int8 hidden and int16 cell state
carried across consecutive invocations.

Fixtures: tests/fixtures/make_lstm_models.py (hand-built flatbuffers; the converter crashes quantizing one).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixmcu.errors import PixmcuError
from pixmcu.frontend import load_model
from pixmcu.lowering import lower
from pixmcu.reference import initial_state, invoke, run
from tflm_oracle import Oracle

FIX = Path(__file__).parent / "fixtures" / "lstm"
MODELS = ("lstm_small", "lstm_wide", "lstm_clip")


def _sequence(graph, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, (n,) + graph.input_tensor().shape[1:]).astype(np.int8)


@pytest.mark.parametrize("name", MODELS)
def test_reference_matches_tflm_over_a_sequence(name):
    path = FIX / f"{name}.tflite"
    graph = load_model(path)
    x = _sequence(graph, 12, 1)
    oracle = Oracle(path, graph)
    want = oracle.invoke(x)
    np.testing.assert_array_equal(invoke(graph, x, batch=5), want)  # state carried across batches too
    # TFLM's reset() puts both states back to real zero (the hidden state's zero point), as a fresh run.
    oracle.interp.reset()
    np.testing.assert_array_equal(invoke(graph, x[3:9]), oracle.invoke(x[3:9]))


def test_cell_clip_binds():
    graph = load_model(FIX / "lstm_clip.tflite")
    (op,) = graph.operators
    clip = lower(graph, op)["cell_clip"]
    assert clip == int(0.3 * 2 ** 15)
    state = initial_state(graph)
    run(graph, _sequence(graph, 12, 1), state)
    # The fixture's cell state reaches the clip: the clipping path is exercised by the TFLM comparison.
    assert np.abs(state["cell_state"]).max() == clip


def test_states_start_at_real_zero_and_carry():
    graph = load_model(FIX / "lstm_wide.tflite")
    state = initial_state(graph)
    assert set(state) == {"hidden_state", "cell_state"}
    assert (state["hidden_state"] == -9).all() and not state["cell_state"].any()  # zero point -9
    x = _sequence(graph, 6, 2)
    first = run(graph, x[:3], state)[graph.outputs[0]]
    later = run(graph, x[:3], state)[graph.outputs[0]]
    assert not np.array_equal(first, later)  # the same inputs after a history give other outputs
    np.testing.assert_array_equal(np.concatenate([first, later]), invoke(graph, np.concatenate([x[:3], x[:3]])))


def test_peephole_is_refused_in_one_paragraph():
    with pytest.raises(PixmcuError, match="peephole") as err:
        load_model(FIX / "lstm_peephole.tflite")
    assert "\n" not in str(err.value).strip()


def test_inspect_counts_the_macs_and_shows_both_states():
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "pixmcu", "inspect", "--json", str(FIX / "lstm_small.tflite")],
                          capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(proc.stdout)
    assert [s["name"] for s in report["state"]] == ["hidden_state", "cell_state"]
    assert report["layers"][0]["macs"] == 3 * 4 * (5 * 6 + 5 * 5)  # steps x gates x (input + recurrent FC)
