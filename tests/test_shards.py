"""Sharded runs on QEMU (issue 17): K emulators on disjoint slices give the unsharded run's results,
and a shard killed midway loses nothing that `--resume` does not finish."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import RESNET, ROOT


def test_split_is_disjoint_contiguous_and_complete():
    from host_tools.shards import split

    for n in (0, 1, 5, 40):
        for k in (1, 2, 3, 8):
            todo = list(range(100, 100 + n))
            parts = split(todo, k)
            assert sum(parts, []) == todo and all(parts) and len(parts) == min(k, n)


def _records(report: Path) -> dict[int, dict]:
    rows = [json.loads(line) for line in report.with_suffix(".jsonl").read_text().splitlines() if line.strip()]
    return {r["image"]: r for r in rows if r.get("kind") == "image"}


def _report(report: Path) -> dict:
    rep = json.loads(report.read_text())
    rep.pop("elapsed_s", None)
    return rep


def _run_args(d: Path, report: Path, *extra) -> list[str]:
    return ["run", str(d / "m"), "--data", str(d / "c.npz"), "--transport", "semihost", "--no-build",
            "--quiet", "--no-estimate-cycles", "--json", str(report), *extra]


def _qemu_children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                stat = (p / "stat").read_text()
            except OSError:
                continue
            comm, ppid = stat[stat.index("(") + 1:stat.rindex(")")], int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid == pid and comm.startswith("qemu-system"):
                out.append(int(p.name))
    return out


def test_shards_need_the_bulk_transport(resnet_run, pixmcu_cli):
    d = resnet_run
    code, _, err = pixmcu_cli("run", str(d / "m"), "--data", str(d / "c.npz"), "--shards", "2", "--no-build")
    assert code == 2 and "--transport semihost" in err
    code, _, err = pixmcu_cli(*_run_args(d, d / "zero.json", "--shards", "0"))
    assert code == 2 and "--shards must be at least 1" in err


@pytest.mark.slow
def test_sharded_run_equals_unsharded_and_a_killed_shard_resumes(resnet_run, pixmcu_cli):
    from host_tools import protocol as P
    from host_tools.bulk import BulkReader
    from host_tools.shards import split

    d = resnet_run
    one, two, killed = d / "one.json", d / "two.json", d / "killed.json"
    assert pixmcu_cli(*_run_args(d, one))[0] == 0
    code, out, err = pixmcu_cli(*_run_args(d, two, "--shards", "2"))
    assert code == 0, err
    assert _records(two) == _records(one) and len(_records(one)) == 24
    assert _report(two) == _report(one)
    assert _report(one)["bitexact"]["matches"] == 24

    # The shards compute the expected outputs themselves: a reference that disagrees is caught there.
    (d / "bad_ref.py").write_text(
        "from host_tools.expected import PixmcuReference\n"
        "class Bad(PixmcuReference):\n"
        "    def layer_outputs_batch(self, xs):\n"
        "        return [(crcs, bytes(len(out))) for crcs, out in super().layer_outputs_batch(xs)]\n")
    bad = d / "bad.json"
    code, out, err = pixmcu_cli(*_run_args(d, bad, "--shards", "2", "--reference", f"{d / 'bad_ref.py'}:Bad"))
    assert code == 0, err
    assert [m["first_layer"] for m in _report(bad)["bitexact"]["mismatches"]] == ["output"] * 24

    # A shard killed once it has finished an image: the others go on, every finished image is kept.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "pixmcu", *_run_args(d, killed, "--shards", "2")], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim, deadline = None, time.monotonic() + 120
    while victim is None and proc.poll() is None and time.monotonic() < deadline:
        for pid in _qemu_children(proc.pid):
            try:
                done = len(BulkReader(Path(f"/proc/{pid}/cwd") / P.BULK_OUT_NAME).poll())
            except OSError:
                continue
            if done >= 1:
                os.kill(pid, signal.SIGKILL)
                victim = pid
                break
        time.sleep(0.01)
    _, err = proc.communicate(timeout=120)
    assert victim is not None, "no shard was seen with a finished image"
    assert proc.returncode == 2 and "shard" in err and "--resume" in err, err
    kept = _records(killed)
    assert 1 <= len(kept) < 24 and all(kept[i] == _records(one)[i] for i in kept)
    assert any(set(part) <= set(kept) for part in split(list(range(24)), 2))  # the other shard went on

    code, out, err = pixmcu_cli(*_run_args(d, killed, "--shards", "2", "--resume"))
    assert code == 0, err
    rows = [line for line in killed.with_suffix(".jsonl").read_text().splitlines() if line.strip()]
    assert len(rows) == 1 + 24  # the header, every image once: only the missing ones ran again
    assert _records(killed) == _records(one) and _report(killed) == _report(one)
