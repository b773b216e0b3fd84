"""SVDF (issue 11): TFLM's int8 SVDF with its int16 state carried across consecutive inferences.

Fixtures: tests/fixtures/make_svdf_models.py (hand-built flatbuffers; the converter makes no SVDF).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixmcu.frontend import load_model
from pixmcu.reference import initial_state, invoke, run
from qemu_support import assert_sequence_matches_tflm
from tflm_oracle import Oracle

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


def test_inspect_shows_the_state(tmp_path):
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "pixmcu", "inspect", "--json", str(FIX / "svdf_r2.tflite")],
                          capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(proc.stdout)
    assert report["state"] == [{"name": "svdf_state", "shape": [1, 72], "dtype": "int16",
                                "scale": [pytest.approx(0.02)], "zero_point": [0], "bytes": 144}]
    assert report["layers"][0]["macs"] == 12 * 20 + 12 * 6


@pytest.mark.parametrize("name", ("svdf_r1", "svdf_relu"))
def test_host_c_matches_tflm_over_a_sequence(name):
    from pixmcu.engines.host_c import run_host_c

    path = FIX / f"{name}.tflite"
    graph = load_model(path)
    x = _sequence(graph, 10, 4)
    y = run_host_c(path, x, board="qemu-m4")  # ASan + UBSan; one init, then 10 invocations
    np.testing.assert_array_equal(y.reshape(10, -1), Oracle(path, graph).invoke(x).reshape(10, -1))


def test_generated_c_keeps_the_state_outside_the_arena(tmp_path):
    from pixmcu.codegen.generator import generate

    manifest = generate(FIX / "svdf_r2.tflite", tmp_path / "m", board="qemu-m4", name="m").manifest
    assert manifest["state_bytes"] == 144 and manifest["state"][0]["tensor"] == "svdf_state"
    assert manifest["arena_bytes"] < 144  # input and output only: the state is not in the arena
    src = (tmp_path / "m" / "m.c").read_text()
    assert "static int16_t m_state_0[72]" in src and "memset(m_state_0, 0, sizeof m_state_0);" in src
    assert "void m_reset_state(void);" in (tmp_path / "m" / "m.h").read_text()


@pytest.mark.slow
def test_qemu_m4_matches_tflm_over_a_sequence(tmp_path):
    path = FIX / "svdf_r2.tflite"
    assert_sequence_matches_tflm(path, _sequence(load_model(path), 6, 5), tmp_path)


def _random_svdf(rng, memory: int, state_zp: int = 0):
    from pixmcu.ir import Graph, Operator, Quantization, Tensor

    n_in, rank = int(rng.integers(1, 40)), int(rng.integers(1, 4))
    n_filter = rank * int(rng.integers(1, 6))
    q = lambda s, z=0: Quantization((s,), (z,))  # noqa: E731
    t = [Tensor("x", (1, n_in), "int8", q(0.05, int(rng.integers(-128, 128)))),
         Tensor("wf", (n_filter, n_in), "int8", q(0.02), rng.integers(-128, 128, (n_filter, n_in))),
         Tensor("wt", (n_filter, memory), "int16", q(0.004), rng.integers(-32768, 32768, (n_filter, memory))),
         Tensor("b", (n_filter // rank,), "int32", q(0.02 * 0.004), rng.integers(-2**31, 2**31, (n_filter // rank,))),
         Tensor("s", (1, n_filter * memory), "int16", q(0.02, state_zp), variable=True),
         Tensor("y", (1, n_filter // rank), "int8", q(float(rng.uniform(0.5, 300.0)), int(rng.integers(-128, 128))))]
    op = Operator("svdf_0", "svdf", ("x", "wf", "wt", "b", "s"), ("y",), {"rank": rank})
    return Graph({x.name: x for x in t}, (op,), ("x",), ("y",))


def test_kernel_matches_reference_with_int32_wrap():
    """The C kernel (UBSan) on random shapes and a random state; long memories make TFLM's int32 sums wrap."""
    import subprocess
    import tempfile

    from kernel_support import load, run_kernel
    from pixmcu.codegen.kernels import kernel_call
    from pixmcu.lowering import lower
    from pixmcu.reference.ops_svdf import svdf
    from pixmcu.resources import firmware_dir

    fw = firmware_dir()
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "libsvdf.so"
        subprocess.run(["gcc", "-std=c11", "-O1", "-g", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror",
                        "-fsanitize=undefined", "-fno-sanitize-recover=all", f"-I{fw / 'include'}",
                        str(fw / "kernels" / "pm_svdf_s8.c"), "-o", str(lib)], check=True)
        lib = load(lib)
        rng = np.random.default_rng(11)
        wrapped = 0
        for memory in (1, 2, 7, 40, 300):
            g = _random_svdf(rng, memory)
            op = g.operators[0]
            state = rng.integers(-32768, 32768, g.tensors["s"].shape).astype(np.int16)
            ref_state = state.copy()
            for _ in range(3):
                x = rng.integers(-128, 128, (1, 1) + g.tensors["x"].shape[1:]).astype(np.int8)
                want = svdf(g, op, [x, ref_state], lower(g, op))
                got = run_kernel(lib, kernel_call(g, op), [x, state], g.tensors["y"].shape)
                np.testing.assert_array_equal(got, want.reshape(got.shape), err_msg=f"memory {memory}")
                np.testing.assert_array_equal(state, ref_state)
            wt = g.tensors["wt"].data.astype(np.int64)
            sums = (wt * ref_state.reshape(wt.shape)).sum(axis=1)
            wrapped += int((np.abs(sums) >= 2**31).any())
        assert wrapped  # the wrap path was exercised


def test_asymmetric_state_is_refused():
    from pixmcu.ir import GraphError

    with pytest.raises(GraphError, match="state must be symmetric"):
        _random_svdf(np.random.default_rng(0), 3, state_zp=4)


def test_infer_cli_carries_the_state_across_batches(tmp_path):
    from pixmcu.cli import main

    path = FIX / "svdf_r1.tflite"
    graph = load_model(path)
    x = _sequence(graph, 7, 6)
    np.savez(tmp_path / "d.npz", x=x.reshape(7, -1))
    code = main(["infer", str(path), "--data", str(tmp_path / "d.npz"), "--batch", "3", "--quiet",
                 "--out", str(tmp_path / "o.npz")])
    assert code == 0
    with np.load(tmp_path / "o.npz") as z:
        got = z["outputs"]
    np.testing.assert_array_equal(got.reshape(7, -1), Oracle(path, graph).invoke(x).reshape(7, -1))


def test_validate_refuses_to_shard_a_sequence(tmp_path):
    from pixmcu.errors import PixmcuError
    from pixmcu.validate import validate

    graph = load_model(FIX / "svdf_r1.tflite")
    np.savez(tmp_path / "d.npz", x=_sequence(graph, 4, 0).reshape(4, -1))
    with pytest.raises(PixmcuError, match="one sequence that cannot be split"):
        validate(str(FIX / "svdf_r1.tflite"), str(tmp_path / "d.npz"), board="qemu-m4", shards=2)
