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
from qemu_support import assert_sequence_matches_tflm
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


def test_host_c_matches_tflm_over_a_sequence():
    from pixmcu.engines.host_c import run_host_c

    path = FIX / "lstm_wide.tflite"  # hidden zero point -9: the generated init must fill it
    graph = load_model(path)
    x = _sequence(graph, 8, 4)
    y = run_host_c(path, x, board="qemu-m4")  # ASan + UBSan; one init, then 8 invocations
    np.testing.assert_array_equal(y.reshape(8, -1), Oracle(path, graph).invoke(x).reshape(8, -1))


def test_generated_c_fills_the_hidden_state_with_its_zero_point(tmp_path):
    from pixmcu.codegen.generator import generate

    manifest = generate(FIX / "lstm_wide.tflite", tmp_path / "m", board="qemu-m4", name="m").manifest
    assert [s["tensor"] for s in manifest["state"]] == ["hidden_state", "cell_state"]
    assert manifest["state_bytes"] == 8 + 16
    src = (tmp_path / "m" / "m.c").read_text()
    assert "memset(m_state_0, 247, sizeof m_state_0);" in src  # int8 -9
    assert "memset(m_state_1, 0, sizeof m_state_1);" in src


def _random_lstm(rng, steps: int, n_in: int, units: int):
    from pixmcu.ir import Graph, Operator, Quantization, Tensor

    q = lambda s, z=0: Quantization((s,), (z,))  # noqa: E731
    s_x, s_h = float(rng.uniform(0.002, 0.1)), float(rng.uniform(0.002, 0.1))
    zp_h = int(rng.integers(-128, 128))
    t = [Tensor("x", (1, steps, n_in), "int8", q(s_x, int(rng.integers(-128, 128))))]
    for k in range(8):
        shape, s_w = ((units, n_in) if k < 4 else (units, units)), float(rng.uniform(0.001, 0.05))
        t.append(Tensor(f"w{k}", shape, "int8", q(s_w), rng.integers(-128, 128, shape)))
    t += [Tensor(f"b{k}", (units,), "int32", q(s_x * 0.01), rng.integers(-2**20, 2**20, (units,))) for k in range(4)]
    t += [Tensor("h", (1, units), "int8", q(s_h, zp_h), variable=True),
          Tensor("c", (1, units), "int16", q(2.0 ** int(rng.integers(-15, -7))), variable=True),
          Tensor("y", (1, steps, units), "int8", q(s_h, zp_h))]
    clip = float(rng.choice([0.0, 0.5]))
    op = Operator("lstm_0", "unidirectional_sequence_lstm", tuple(v.name for v in t[:-1]), ("y",), {"cell_clip": clip})
    return Graph({v.name: v for v in t}, (op,), ("x",), ("y",))


def test_kernel_matches_reference_from_random_states(tmp_path):
    """The C kernel (UBSan) on random shapes, scales and states (saturating cell values included)."""
    from kernel_support import build_kernels, load, run_kernel
    from pixmcu.codegen.kernels import kernel_call
    from pixmcu.reference.ops_lstm import lstm

    lib = load(build_kernels(tmp_path / "liblstm.so",
                             ("pm_unidirectional_sequence_lstm_s8", "pm_logistic_s16", "pm_tanh_s16")))
    rng = np.random.default_rng(12)
    for steps, n_in, units in ((1, 1, 1), (3, 7, 4), (5, 33, 17), (2, 64, 40)):
        g = _random_lstm(rng, steps, n_in, units)
        op = g.operators[0]
        h = rng.integers(-128, 128, (1, units)).astype(np.int8)
        c = rng.integers(-32768, 32768, (1, units)).astype(np.int16)
        ref_h, ref_c = h.copy(), c.copy()
        for _ in range(3):
            x = rng.integers(-128, 128, (1, 1, steps, n_in)).astype(np.int8)
            want = lstm(g, op, [x, ref_h, ref_c], lower(g, op))
            got = run_kernel(lib, kernel_call(g, op), [x, h, c], g.tensors["y"].shape)
            np.testing.assert_array_equal(got, want.reshape(got.shape), err_msg=f"{steps}x{n_in}x{units}")
            np.testing.assert_array_equal(h, ref_h)
            np.testing.assert_array_equal(c, ref_c)


@pytest.mark.slow
def test_qemu_m4_matches_tflm_over_a_sequence(tmp_path):
    path = FIX / "lstm_small.tflite"
    assert_sequence_matches_tflm(path, _sequence(load_model(path), 6, 5), tmp_path)
