"""The fuzzer (pixmcu.fuzz): its outcome classes, determinism, and a short seeded campaign per file kind.

The long campaigns are scripts/fuzz_campaign.sh; their counts are in docs/fuzzing.md.
"""

import os
import signal
import time

import numpy as np
import pytest

from conftest import FIXTURES
from pixmcu.errors import PixmcuError
from pixmcu.fuzz.campaign import campaign, default_bases, make_mutant
from pixmcu.fuzz.runner import run_isolated
from pixmcu.fuzz.targets import data_target


def _sleep():
    time.sleep(120)


def _allocate():
    return str(np.ones(3 << 30, np.uint8).sum())  # 3 GB, over the 1 GB limit


def _spin():
    while True:
        pass


def _segv():
    os.kill(os.getpid(), signal.SIGSEGV)


def _raise_pixmcu():
    raise PixmcuError("m.tflite: layer 3 (CONV_2D): bad")


def _raise_other():
    return {}["missing"]


@pytest.mark.parametrize("fn, status", [(lambda: "fine", "accepted"), (_raise_pixmcu, "rejected"),
                                        (_raise_other, "exception"), (_allocate, "memory"), (_segv, "crash"),
                                        (_sleep, "timeout"), (_spin, "timeout")])
def test_runner_classifies_every_outcome(fn, status):
    # The limit is CPU time (a busy loop); a child using no CPU (a hang) is stopped after hang_s of wall time.
    out = run_isolated(fn, timeout_s=0.5 if status == "timeout" else 60.0, hang_s=2.0 if fn is _sleep else None)
    assert out.status == status, out
    assert out.escaped == (status not in ("accepted", "rejected"))


def test_mutants_are_a_function_of_seed_and_index(tmp_path):
    bases = default_bases("tflite")
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for i in (0, 7, 13):
        pa, da, _ = make_mutant("tflite", bases, 11, i, a)
        pb, db, _ = make_mutant("tflite", bases, 11, i, b)
        assert da == db and pa.read_bytes() == pb.read_bytes()
    other = {make_mutant("tflite", bases, seed, 7, a)[1] for seed in (12, 13, 14)}
    assert len(other | {da}) > 1  # another seed gives other mutants


@pytest.mark.parametrize("kind, count", [("tflite", 40), ("pmz", 30)])
def test_short_campaign_has_no_escapes(tmp_path, kind, count):
    s = campaign(kind, count, seed=2026, out=tmp_path, progress=False)
    assert sum(s["outcomes"].values()) == count
    escapes = (tmp_path / "escapes.jsonl").read_text()
    assert s["escapes"] == 0, escapes[:3000]
    assert s["outcomes"].get("accepted", 0) > 0 and s["outcomes"].get("rejected", 0) > 0  # both sides reached


def _data(tmp_path, **arrays):
    p = tmp_path / "d.npz"
    np.savez(p, **arrays)
    return p


@pytest.mark.parametrize("case", ["labels_out_of_range", "limit_minus_1", "pixel_scale_nan"])
def test_data_oracle_never_calls_a_silently_wrong_run_accepted(tmp_path, case):
    model = FIXTURES / "models" / "pools_dense.tflite"
    from pixmcu.frontend import load_model

    shape = load_model(model).input_tensor().shape
    x = np.zeros((3,) + shape[1:], np.uint8)
    y = np.array([0, 1, 99 if case == "labels_out_of_range" else 2])
    opts = {"limit_minus_1": ["--limit", "-1"], "pixel_scale_nan": ["--pixel-scale", "nan"]}.get(case, [])
    out = run_isolated(data_target(model, _data(tmp_path, x=x, y=y), tmp_path / "o.npz", opts, 6))
    assert out.status in ("rejected", "wrong"), out


def test_short_data_campaign_has_no_escapes(tmp_path):
    s = campaign("data", 20, seed=2026, out=tmp_path, progress=False)
    assert s["escapes"] == 0, (tmp_path / "escapes.jsonl").read_text()[:3000]


def test_a_rejection_that_does_not_name_the_file_is_unclear():
    named = run_isolated(_raise_pixmcu, names=("m.tflite",))
    unnamed = run_isolated(_raise_pixmcu, names=("other.tflite",))
    assert (named.status, unnamed.status) == ("rejected", "unclear") and not unnamed.escaped
