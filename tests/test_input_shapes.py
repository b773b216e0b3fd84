"""Models whose input is not an image: a data file's `x` is (N, *input_shape[1:]) for every input rank,
through `infer` (both engines), `run` on qemu-m4, `bench model` and `data sample`; outputs equal TFLM's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import FIXTURES, SHARED
from tflm_oracle import Oracle

AD01 = SHARED / "models" / "mlperf_tiny" / "ad01_int8.tflite"  # input [1, 640]
KWS = SHARED / "models" / "mlperf_tiny" / "kws_ref_model.tflite"  # input [1, 49, 10, 1]
SEQ = FIXTURES / "models" / "seq_input.tflite"  # input [1, 10, 6]


def _random(shape, dtype=np.int8, seed=5):
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(info.min, info.max + 1, shape).astype(dtype)


def _infer(pixmcu_cli, model, data, out, *extra):
    code, _, err = pixmcu_cli("infer", model, "--data", data, "--out", out, "--json", *extra)
    assert code == 0, err
    return np.load(out)["outputs"]


@pytest.mark.slow
def test_ad01_2d_input_through_infer_run_and_bench_equals_tflm(tmp_path, pixmcu_cli):
    x = _random((3, 640))
    data = tmp_path / "ad.npz"
    np.savez(data, x=x)
    tflm = Oracle(AD01).invoke(x)
    assert tflm.shape == (3, 640)

    for engine in ("reference", "host-c"):
        got = _infer(pixmcu_cli, AD01, data, tmp_path / f"{engine}.npz", "--engine", engine)
        np.testing.assert_array_equal(got, tflm)

    code, _, err = pixmcu_cli("generate", AD01, "-o", tmp_path / "g")
    assert code == 0, err
    code, _, err = pixmcu_cli("run", tmp_path / "g", "--data", data, "--transport", "semihost", "--quiet",
                              "--no-estimate-cycles", "--json", tmp_path / "r.json", "--save-outputs",
                              tmp_path / "dev.npz")
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "dev.npz")["outputs"], tflm)

    code, _, err = pixmcu_cli("bench", "model", AD01, "--data", data, "--images", "2", "--no-estimate",
                              "--json", tmp_path / "bench.json")
    assert code == 0, err
    bench = json.loads((tmp_path / "bench.json").read_text())
    assert bench["images"] == 2 and bench["bitexact"]["matches"] == bench["bitexact"]["compared"] == 2


def test_3d_input_infer_equals_tflm_and_data_sample_keeps_the_shape(tmp_path, pixmcu_cli):
    x = _random((5, 10, 6), seed=9)
    data = tmp_path / "seq.npz"
    np.savez(data, x=x)
    got = _infer(pixmcu_cli, SEQ, data, tmp_path / "o.npz")
    np.testing.assert_array_equal(got, Oracle(SEQ).invoke(x))

    code, _, err = pixmcu_cli("data", "sample", data, "-n", "2", "--seed", "1", "-o", tmp_path / "s.npz")
    assert code == 0, err
    sub = np.load(tmp_path / "s.npz")["x"]
    assert sub.shape == (2, 10, 6) and all(any((row == r).all() for r in x) for row in sub)


def test_grayscale_images_without_channel_axis_still_fit(tmp_path, pixmcu_cli):
    x = _random((2, 49, 10), np.uint8, seed=3)
    np.savez(tmp_path / "hw.npz", x=x)
    np.savez(tmp_path / "hwc.npz", x=x[..., None])
    a = _infer(pixmcu_cli, KWS, tmp_path / "hw.npz", tmp_path / "a.npz")
    b = _infer(pixmcu_cli, KWS, tmp_path / "hwc.npz", tmp_path / "b.npz")
    np.testing.assert_array_equal(a, b)


def test_wrong_feature_count_names_the_expected_shape(tmp_path, pixmcu_cli):
    np.savez(tmp_path / "d.npz", x=_random((4, 639)))
    code, _, err = pixmcu_cli("infer", AD01, "--data", tmp_path / "d.npz", "--out", tmp_path / "o.npz")
    assert code == 2 and "(639,)" in err and "(N, 640)" in err and "Traceback" not in err
