"""Fault injection against the real firmware on QEMU: garbage, dropped and corrupted bytes both
ways, a stalled device, a killed QEMU, a device reset and an interrupted host. The host must say
what happened and keep every finished result; the firmware must never wedge."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "fake_model"))

import pm_fake_support as fs  # noqa: E402

from host_tools import protocol as P  # noqa: E402
from host_tools.dataset import load_inputs  # noqa: E402
from host_tools.expected import load_reference  # noqa: E402
from host_tools.link import Link, LinkTimeout  # noqa: E402
from host_tools.runner import RunFailed, RunSpec, SerialSource, run_measurement  # noqa: E402
from host_tools.session import qemu_session  # noqa: E402
from pixmcu.boards import get_board  # noqa: E402
from pixmcu.build import load_manifest  # noqa: E402

BOARD = get_board("qemu-m4")


def _session(tx=None, rx=None, timeout=0.5, retries=4):
    outdir, res = fs.built("qemu-m4")
    manifest = load_manifest(outdir)
    wrap = (lambda p: fs.FaultyPort(p, tx, rx)) if (tx or rx) else None
    return qemu_session(BOARD, res.elf, manifest, timeout=timeout, retries=retries, wrap=wrap), manifest


def _spec(tmp_path: Path, n: int, resume: bool = False) -> RunSpec:
    outdir, _ = fs.built("qemu-m4")
    manifest = load_manifest(outdir)
    data = tmp_path / "data.npz"
    if not data.exists():
        fs.make_data(data, n)
    ref, _ = load_reference(outdir, manifest, fs.MIRROR_SPEC)
    return RunSpec(manifest=manifest, board=BOARD, inputs=load_inputs(data, manifest), reference=ref,
                   json_path=tmp_path / "report.json", resume=resume, progress=False)


def _run_images(dev, n=4, seed=11):
    import numpy as np

    import fake_mirror

    xs = np.random.default_rng(seed).integers(-128, 128, (n, 16, 16, 3)).astype(np.int8)
    for x in xs:
        r = dev.infer(x.tobytes())
        assert r.output == fake_mirror.run(x)["dense"].tobytes()


def _garbage(rng: random.Random) -> bytes:
    parts = [rng.randbytes(rng.randrange(1, 40)),
             P.SYNC,  # a lone sync pair
             # A header that checks and promises a long payload: the device must not wait for it.
             P.encode(0x02, 0x77, bytes(900))[:P.HEADER_BYTES + 5],
             P.encode_message("INVOKE", 0x55, input_bytes=768)[:-1]]  # a frame one byte short
    rng.shuffle(parts)
    return b"".join(parts)


def test_garbage_before_requests_is_skipped():
    rng = random.Random(1)
    ctx, _ = _session(tx=lambda d, k: _garbage(rng) + d if k % 3 == 0 else d)
    with ctx as (dev, link, _q):
        _run_images(dev)
        assert link.stats.requests > 10


def test_garbage_from_device_side_is_skipped():
    rng = random.Random(2)
    starts = []

    # Noise in front of a frame now and then (inside a frame it is corruption: tested below).
    def rx(data: bytes, k: int) -> bytes:
        if data[:1] == P.SYNC[:1]:
            starts.append(k)
            if len(starts) in (2, 5, 9, 14):
                return rng.randbytes(7).replace(P.SYNC[:1], b"") + data
        return data

    ctx, _ = _session(rx=rx)
    with ctx as (dev, link, _q):
        _run_images(dev)
        assert link.stats.garbage_bytes > 0


def _drop_one(which: set[int]):
    def tx(data: bytes, k: int) -> bytes:
        if k in which and len(data) > 10:
            i = len(data) // 2
            return data[:i] + data[i + 1:]
        return data
    return tx


def test_dropped_bytes_to_device_are_retried():
    ctx, _ = _session(tx=_drop_one({3, 6, 7}))
    with ctx as (dev, link, _q):
        _run_images(dev)
        assert link.stats.retries >= 3


def test_dropped_and_corrupted_replies_are_retried():
    hurt, seen = [], [0]
    faults = {300: "drop", 480: "flip", 650: "drop", 820: "flip"}  # offsets in the reply stream

    def rx(data: bytes, k: int) -> bytes:
        start, seen[0] = seen[0], seen[0] + len(data)
        out = bytearray()
        for i, b in enumerate(data):
            kind = faults.get(start + i)
            if kind:
                hurt.append(kind)
            if kind == "drop":
                continue
            out.append(b ^ 0x10 if kind == "flip" else b)
        return bytes(out)

    ctx, _ = _session(rx=rx)
    with ctx as (dev, link, _q):
        _run_images(dev, n=6)
        assert len(hurt) == 4 and link.stats.retries >= 2


def test_corrupted_requests_are_retried():
    def tx(data: bytes, k: int) -> bytes:
        if k % 5 == 0:
            b = bytearray(data)
            b[len(b) // 2] ^= 0x01
            return bytes(b)
        return data

    ctx, _ = _session(tx=tx)
    with ctx as (dev, link, _q):
        _run_images(dev)
        assert link.stats.retries >= 3


def test_device_reset_is_detected_and_recovered():
    ctx, _ = _session()
    with ctx as (dev, link, _q):
        _run_images(dev, n=1)
        link.request("RESET", "RESET_ACK")
        _run_images(dev, n=2)
        assert dev.resets == 1 and link.stats.resets >= 1


class _FaultAfter(SerialSource):
    """Serial source that hurts QEMU after `after` images (SIGSTOP stalls it, SIGKILL kills it)."""

    def __init__(self, device, qemu, after: int, sig: int):
        super().__init__(device)
        self.qemu, self.after, self.sig = qemu, after, sig

    def results(self, todo, image_bytes):
        for k, item in enumerate(super().results(todo, image_bytes)):
            yield item
            if k + 1 == self.after:
                os.kill(self.qemu.proc.pid, self.sig)


def _jsonl_images(path: Path) -> list[int]:
    return [json.loads(line)["image"] for line in path.read_text().splitlines()[1:] if line.strip()]


def _complete_images(path: Path) -> list[int]:
    """Images of the finished lines of a file still being written (a torn last line is skipped)."""
    lines = path.read_text().split("\n")[1:-1]
    return [json.loads(line)["image"] for line in lines if line.strip()]


SAFETY_S = 600  # a guard against a hung child, never the expected way out of a wait


def test_stalled_device_times_out_clearly_and_keeps_results(tmp_path):
    spec = _spec(tmp_path, 6)
    ctx, _ = _session(timeout=0.5, retries=2)
    with ctx as (dev, link, qemu):
        try:
            with pytest.raises(RunFailed) as exc:
                run_measurement(spec, _FaultAfter(dev, qemu, 2, signal.SIGSTOP), link.stats)
        finally:
            os.kill(qemu.proc.pid, signal.SIGCONT)
    msg = str(exc.value)
    assert "no valid" in msg and "after 3 tries" in msg and "--resume" in msg
    assert _jsonl_images(tmp_path / "report.jsonl") == [0, 1]
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["complete"] is False and rep["n"] == 2 and "error" in rep


def test_killed_qemu_is_reported_and_run_resumes(tmp_path):
    spec = _spec(tmp_path, 5)
    ctx, _ = _session(timeout=0.5, retries=2)
    with pytest.raises(RunFailed) as exc:
        with ctx as (dev, link, qemu):
            run_measurement(spec, _FaultAfter(dev, qemu, 3, signal.SIGKILL), link.stats)
    assert "QEMU exited (killed by signal 9)" in str(exc.value)
    assert _jsonl_images(tmp_path / "report.jsonl") == [0, 1, 2]

    spec = _spec(tmp_path, 5, resume=True)
    ctx, _ = _session()
    with ctx as (dev, link, _q):
        rep = run_measurement(spec, SerialSource(dev), link.stats)
    assert rep["complete"] and rep["n"] == 5 and rep["bitexact"]["matches"] == 5
    assert _jsonl_images(tmp_path / "report.jsonl") == [0, 1, 2, 3, 4]


_RUNNER = """
import os, signal, sys, time
# A shell starting the suite in the background makes its children ignore SIGINT, and Python then
# keeps ignoring it: restore Ctrl-C, which this test sends.
signal.signal(signal.SIGINT, signal.default_int_handler)
from pixmcu.cli import cmd_run
from host_tools.results import ResultStore
import argparse
hold = int(os.environ.get("PM_TEST_HOLD_AFTER", "0"))
if hold:
    # After `hold` results of this process the run waits for the test's Ctrl-C: it lands mid-run
    # however fast the images go or however loaded the machine is (an event, not a race).
    _add, added = ResultStore.add, []
    def add(self, record):
        _add(self, record)
        added.append(record["image"])
        while len(added) >= hold:
            time.sleep(0.05)
    ResultStore.add = add
p = argparse.ArgumentParser(); s = p.add_subparsers(); cmd_run.add_parser(s)
args = p.parse_args(["run"] + sys.argv[1:])
try:
    sys.exit(cmd_run.run(args))
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
"""


@pytest.mark.slow
def test_interrupted_host_keeps_results_and_resumes(tmp_path):
    outdir, _ = fs.built("qemu-m4")
    data = fs.make_data(tmp_path / "data.npz", 60)
    rep = tmp_path / "r.json"
    argv = [str(outdir), "--data", str(data), "--json", str(rep), "--reference", fs.MIRROR_SPEC, "--quiet",
            "--no-build"]
    proc = subprocess.Popen([sys.executable, "-c", _RUNNER, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PM_TEST_HOLD_AFTER": "3"})
    jsonl = rep.with_suffix(".jsonl")
    # Wait for events (three results written; the process gone), however loaded the machine is:
    # SAFETY_S only guards against a hung child.
    deadline = time.monotonic() + SAFETY_S
    while not (jsonl.exists() and len(_complete_images(jsonl)) >= 3):
        assert proc.poll() is None, f"the run ended before 3 results: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "no 3 results within the safety limit"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=SAFETY_S)
    assert proc.returncode == 130, err
    kept = _jsonl_images(jsonl)
    assert kept == [0, 1, 2]  # held after its third result, so exactly those are kept
    partial = json.loads(rep.read_text())
    assert partial["complete"] is False and partial["n"] == len(kept) and partial["error"] == "interrupted"

    # The resumed run covers the 12 requested images whether or not more were done before.
    done = subprocess.run([sys.executable, "-c", _RUNNER, *argv, "--resume", "--limit", "12"],
                          capture_output=True, text=True, timeout=SAFETY_S)
    final = json.loads(rep.read_text())
    assert done.returncode == 0, done.stderr
    assert final["n"] == 12 and final["complete"] and final["bitexact"]["matches"] == 12
    assert _jsonl_images(jsonl)[:max(12, len(kept))] == list(range(max(12, len(kept))))


def test_silent_port_gives_clear_timeout():
    port = serial.serial_for_url("loop://", timeout=0.05)  # echoes our own frames back
    link = Link(port, timeout=0.2, retries=1)
    with pytest.raises(LinkTimeout, match=r"no valid HELLO_ACK for HELLO after 2 tries.*unexpected HELLO"):
        link.request("HELLO", "HELLO_ACK", nonce=1)
