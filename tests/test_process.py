"""Process hygiene of a real `pixmcu run` subprocess: SIGTERM and SIGHUP stop its QEMU child and keep
every finished result; the semihost transport works from a relative OUTDIR; `--resume` with a smaller
`--limit` reports the requested images (issue 12).

Every wait here ends on an event (a result line written, the process gone); SAFETY_S only guards
against a hung child and is never the expected way out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "fake_model"))

import pm_fake_support as fs  # noqa: E402

from pixmcu.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAFETY_S = 600


def _proc_state(pid: int) -> str | None:
    """The /proc state letter of `pid`, None when no such process exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _descendants(pid: int) -> dict[int, str]:
    """{pid: command name} of every live descendant of `pid`."""
    parent, comm = {}, {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        head, tail = stat.rsplit(")", 1)
        parent[int(d.name)] = int(tail.split()[1])
        comm[int(d.name)] = head.split("(", 1)[1]
    found, frontier = {}, [pid]
    while frontier:
        p = frontier.pop()
        for child, pp in parent.items():
            if pp == p and child not in found:
                found[child] = comm[child]
                frontier.append(child)
    return found


def _images(jsonl: Path) -> list[int]:
    if not jsonl.exists():
        return []
    out = []
    for line in jsonl.read_text().splitlines()[1:]:
        try:
            out.append(json.loads(line)["image"])
        except (json.JSONDecodeError, KeyError):
            pass  # a line being written
    return out


def _wait_until(cond, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + SAFETY_S
    while not cond():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"pixmcu run ended (exit {proc.returncode}) before {what}:\n{err[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} within the {SAFETY_S} s safety limit")
        time.sleep(0.01)


def _run_cmd(outdir, data, rep, *extra):
    return [sys.executable, "-m", "pixmcu", "run", str(outdir), "--data", str(data), "--json", str(rep),
            "--reference", fs.MIRROR_SPEC, "--quiet", "--no-build", "--no-estimate-cycles", *extra]


@pytest.mark.slow
@pytest.mark.parametrize("sig,transport,n", [(signal.SIGTERM, "serial", 400), (signal.SIGHUP, "serial", 400),
                                             (signal.SIGTERM, "semihost", 5000)],
                         ids=["SIGTERM-serial", "SIGHUP-serial", "SIGTERM-semihost"])
def test_termination_signal_stops_qemu_and_keeps_results(tmp_path, sig, transport, n):
    outdir, _ = fs.built("qemu-m4")
    data = fs.make_data(tmp_path / "data.npz", n, wrong_every=0)
    rep = tmp_path / "r.json"
    jsonl = rep.with_suffix(".jsonl")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(_run_cmd(outdir, data, rep, "--transport", transport), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    qemus: dict[int, str] = {}
    try:
        _wait_until(lambda: len(_images(jsonl)) >= 1, proc, "the first result")
        qemus = {p: c for p, c in _descendants(proc.pid).items() if c.startswith("qemu-system")}
        assert qemus, "no QEMU child found while the run was going"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=SAFETY_S)
    finally:
        if proc.poll() is None:
            proc.kill()
        leaked = [p for p in qemus if _proc_state(p) not in (None, "Z")]
        for p in leaked:  # never leave one behind, even when the test fails
            os.kill(p, signal.SIGKILL)
    assert not leaked, f"QEMU still running after {sig.name}: {leaked}"
    assert proc.returncode == 128 + sig, err
    assert f"terminated by {sig.name}" in err
    kept = _images(jsonl)
    assert 1 <= len(kept) < n and kept == list(range(len(kept)))
    report = json.loads(rep.read_text())
    assert report["complete"] is False and report["n"] == len(kept)
    assert report["error"] == f"terminated by {sig.name}"
    assert report["bitexact"]["matches"] == len(kept)


@pytest.mark.slow
def test_semihost_no_build_with_a_relative_outdir(tmp_path, monkeypatch):
    outdir, _ = fs.built("qemu-m4")
    data = fs.make_data(tmp_path / "data.npz", 3)
    monkeypatch.chdir(outdir.parent)
    rep = tmp_path / "r.json"
    code = main(["run", outdir.name, "--data", str(data), "--transport", "semihost", "--no-build", "--quiet",
                 "--no-estimate-cycles", "--reference", fs.MIRROR_SPEC, "--json", str(rep)])
    report = json.loads(rep.read_text())
    assert code == 0, report.get("error")
    assert report["n"] == 3 and report["bitexact"]["matches"] == 3


@pytest.mark.slow
def test_resume_with_a_smaller_limit_reports_the_requested_images(tmp_path, capsys):
    outdir, _ = fs.built("qemu-m4")
    data = fs.make_data(tmp_path / "data.npz", 8)
    rep = tmp_path / "r.json"
    base = ["run", str(outdir), "--data", str(data), "--transport", "semihost", "--no-build", "--quiet",
            "--no-estimate-cycles", "--reference", fs.MIRROR_SPEC, "--json", str(rep)]
    assert main(base) == 0
    code = main([*base, "--resume", "--limit", "3", "--save-outputs", str(tmp_path / "o.npz")])
    err = capsys.readouterr().err
    report = json.loads(rep.read_text())
    assert code == 0, err
    assert report["n"] == 3 and report["n_requested"] == 3 and report["complete"] is True
    assert report["bitexact"]["compared"] == 3
    assert "5 earlier results beyond the 3 requested images" in err
    import numpy as np

    assert np.load(tmp_path / "o.npz")["image"].tolist() == [0, 1, 2]
    assert _images(rep.with_suffix(".jsonl")) == list(range(8))  # nothing lost
