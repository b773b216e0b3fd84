"""Data-parallel training under torchrun (issue 17): shares of the global batch, identical exports on
every rank, resume with another process count, and the export bit-exact on qemu-m4."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT

torch.set_num_threads(1)


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("n", [7, 64])
def test_shares_of_a_global_batch_reassemble_it(world, n):
    from pixmcu.train.distributed import Context
    from pixmcu.train.loop import apply_augment, augment_batch, augment_draws

    x = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8)
    whole = augment_batch(x, "crop-flip", torch.Generator().manual_seed(5))
    draws = augment_draws(n, "crop-flip", torch.Generator().manual_seed(5))
    shares = [Context(r, world).share(n) for r in range(world)]
    assert [lo for lo, _ in shares] == [0] + [hi for _, hi in shares[:-1]] and shares[-1][1] == n
    parts = [apply_augment(x[lo:hi], {k: v[lo:hi] for k, v in draws.items()}) for lo, hi in shares]
    assert torch.equal(torch.cat(parts), whole)  # every rank sees its slice of the one-process batch


def _torchrun(*args, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "pixmcu", *map(str, args)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_torchrun_two_processes_export_the_same_model_bit_exact_on_qemu(tmp_path, pixmcu_cli):
    from pixmcu.codegen.generator import graph_digest
    from pixmcu.frontend.checkpoint import load_checkpoint, read_graph_file

    from pixmcu.train.data import load_fashion_mnist

    fm = load_fashion_mnist()  # a slice of it: the integer-contract evaluation of 10,000 images is slow here
    npz, data = tmp_path / "fm.npz", tmp_path / "fm_test.npz"
    np.savez(npz, x=fm.train.x[:256, ..., 0], y=fm.train.y[:256], x_test=fm.test.x[:200], y_test=fm.test.y[:200])
    np.savez(data, x=fm.test.x[:12], y=fm.test.y[:12])
    ck, pmz = tmp_path / "m.pt", tmp_path / "m.pmz"
    common = ["train", "--dataset", npz, "--bits", "W4A4",
              "--widths", "4,8,8", "--batch-size", "64", "--no-progress", "-o", ck]
    r = _torchrun(*common, "--epochs", "1", "--export", pmz)
    assert r.returncode == 0, r.stdout + r.stderr
    digests = dict(re.findall(r"rank (\d)/2: integer model sha256 ([0-9a-f]{64})", r.stderr))
    assert sorted(digests) == ["0", "1"] and digests["0"] == digests["1"]  # each rank exported on its own
    graph, meta = read_graph_file(pmz)
    assert graph_digest(graph) == digests["0"]
    assert meta["world_size"] == 2 and meta["global_batch"] == 64
    st = torch.load(ck, weights_only=False)
    assert (st["world_size"], st["global_batch"], st["step"]) == (2, 64, 4)

    # One process continues the two-process checkpoint (steps count global batches).
    code, out, err = pixmcu_cli(*common, "--epochs", "2", "--resume", "--threads", "1")
    assert code == 0, err
    st = torch.load(ck, weights_only=False)
    assert st["step"] == 8 and [h["world_size"] for h in st["history"]] == [2, 1]
    # ... and a resume with another global batch is refused, not silently re-scheduled.
    code, _, err = pixmcu_cli(*[a if a != "64" else "32" for a in common], "--epochs", "3", "--resume")
    assert code == 2 and "global batch of 64" in err

    out_dir, report = tmp_path / "gen", tmp_path / "r.json"
    assert pixmcu_cli("generate", pmz, "-o", out_dir, "--board", "qemu-m4")[0] == 0
    code, out, err = pixmcu_cli("run", out_dir, "--data", data, "--transport", "semihost", "--quiet",
                                "--no-estimate-cycles", "--json", report)
    assert code == 0, err
    rep = json.loads(report.read_text())
    assert rep["n"] == 12 and rep["bitexact"]["compared"] == 12 and rep["bitexact"]["matches"] == 12, rep["bitexact"]
    assert load_checkpoint(pmz).name == "model"
