"""Real generated models on QEMU: the MLPerf Tiny ResNet on every QEMU board and every frontend
fixture on qemu-m4 must agree bit for bit with the host reference, layer by layer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import CIFAR_TEST, FIXTURE_MODELS, RESNET
from pixmcu.cli import main

pytestmark = pytest.mark.slow


def _generate(model: Path, outdir: Path, board: str) -> dict:
    from pixmcu.codegen.generator import generate

    generate(model, outdir, board=board, name="m")
    return json.loads((outdir / "manifest.json").read_text())


def _run(outdir: Path, data: Path, report: Path, *extra: str) -> dict:
    code = main(["run", str(outdir), "--data", str(data), "--json", str(report), "--quiet", *extra])
    rep = json.loads(report.read_text())
    assert code == 0, rep.get("error")
    return rep


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m7", "qemu-m55"])
def test_resnet_bitexact_on_cifar(tmp_path, board):
    _generate(RESNET, tmp_path / "m", board)
    rep = _run(tmp_path / "m", CIFAR_TEST, tmp_path / "r.json", "--limit", "2")
    assert rep["n"] == 2 and rep["bitexact"]["compared"] == 2 and rep["bitexact"]["mismatches"] == []
    assert rep["counter"] == "instructions" and rep["first_layer"]["count"] > 0
    assert rep["total"]["count"] > sum(la["count"] for la in rep["layers"]) * 0.98
    assert rep["accuracy"] is not None


@pytest.mark.parametrize("model", FIXTURE_MODELS, ids=lambda p: p.stem)
def test_frontend_fixture_bitexact_on_qemu_m4(tmp_path, model):
    manifest = _generate(model, tmp_path / "m", "qemu-m4")
    dt = np.dtype(manifest["input"]["dtype"])
    info = np.iinfo(dt)
    x = np.random.default_rng(7).integers(info.min, info.max + 1, (3, *manifest["input"]["shape"][1:])).astype(dt)
    np.savez(tmp_path / "d.npz", x=x)
    transport = "semihost" if model.stem == "residual" else "serial"
    rep = _run(tmp_path / "m", tmp_path / "d.npz", tmp_path / "r.json", "--transport", transport)
    assert rep["bitexact"] == {"compared": 3, "matches": 3, "mismatches": [], "reference": "pixmcu.reference"}
