"""Host tools without a device: flashing through a fake pyOCD probe, the result store and resume,
the report, expected-output providers, bulk result parsing; and `pixmcu measure` on a URL."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "fake_model"))

import pm_fake_support as fs  # noqa: E402

from host_tools import protocol as P  # noqa: E402
from host_tools.bulk import BulkReader  # noqa: E402
from host_tools.expected import load_reference  # noqa: E402
from host_tools.flash import FlashError, flash  # noqa: E402
from host_tools.qemu import Qemu  # noqa: E402
from host_tools.report import build_report, format_report  # noqa: E402
from host_tools.results import ResultStore  # noqa: E402
from pixmcu.boards import get_board  # noqa: E402
from pixmcu.build import load_manifest  # noqa: E402
from pixmcu.cli import cmd_flash, cmd_measure  # noqa: E402
from pixmcu.errors import PixmcuError  # noqa: E402


class FakeTarget:
    def __init__(self):
        self.memory: dict[int, int] = {}
        self.resets = 0

    def read_memory_block8(self, addr: int, size: int) -> list[int]:
        return [self.memory.get(addr + i, 0xFF) for i in range(size)]

    def reset(self):
        self.resets += 1


class FakeSession:
    """Stands in for pyocd.core.session.Session: context manager with .board.target and .probe."""

    def __init__(self):
        self.target = FakeTarget()
        self.board = argparse.Namespace(target=self.target)
        self.probe = argparse.Namespace(unique_id="FAKE-STLINK-0001")
        self.open = False

    def __enter__(self):
        self.open = True
        return self

    def __exit__(self, *exc):
        self.open = False


class FakeProgrammer:
    """Stands in for pyocd.flash.file_programmer.FileProgrammer."""

    def __init__(self, session, corrupt_at: int | None = None):
        self.session, self.corrupt_at = session, corrupt_at
        self.calls = []

    def program(self, path, file_format=None, base_address=None):
        assert self.session.open, "programming outside the session"
        self.calls.append((path, file_format, base_address))
        data = bytearray(Path(path).read_bytes())
        if self.corrupt_at is not None:
            data[self.corrupt_at] ^= 0xFF
        for i, b in enumerate(data):
            self.session.target.memory[base_address + i] = b


@pytest.fixture(scope="module")
def nucleo_build():
    return fs.built("nucleo-h743zi2")


def test_flash_writes_verifies_and_resets(nucleo_build):
    _, res = nucleo_build
    session = FakeSession()
    programmers = []

    def make_programmer(s):
        programmers.append(FakeProgrammer(s))
        return programmers[-1]

    out = flash(res.bin, get_board("nucleo-h743zi2"), session_factory=lambda: session,
                programmer_factory=make_programmer)
    assert out.verified and out.address == 0x08000000 and out.bytes_written == res.bin.stat().st_size
    assert out.probe == "FAKE-STLINK-0001" and session.target.resets == 1
    assert programmers[0].calls == [(str(res.bin), "bin", 0x08000000)]
    assert bytes(session.target.read_memory_block8(0x08000000, 8)) == res.bin.read_bytes()[:8]


def test_flash_verify_failure_names_offset(nucleo_build):
    _, res = nucleo_build
    session = FakeSession()
    with pytest.raises(FlashError, match="verify failed.*offset 0x40"):
        flash(res.bin, get_board("nucleo-h743zi2"), session_factory=lambda: session,
              programmer_factory=lambda s: FakeProgrammer(s, corrupt_at=0x40))
    assert session.target.resets == 0


def test_flash_refuses_qemu_boards_and_oversized_images(tmp_path):
    with pytest.raises(FlashError, match="not a real board"):
        flash(tmp_path / "x.bin", get_board("qemu-m4"))
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(600 * 1024))
    with pytest.raises(FlashError, match="flash"):
        flash(big, get_board("nucleo-f446re"), session_factory=FakeSession)


def test_flash_cli_uses_pyocd_session(monkeypatch, nucleo_build, capsys):
    import host_tools.flash as hf

    outdir, _ = nucleo_build
    session = FakeSession()
    monkeypatch.setattr(hf, "_default_session", lambda board, uid, freq: session)
    monkeypatch.setattr(hf, "_default_programmer", lambda s: FakeProgrammer(s))
    parser = argparse.ArgumentParser()
    cmd_flash.add_parser(parser.add_subparsers())
    args = parser.parse_args(["flash", str(outdir), "--board", "nucleo-h743zi2"])
    assert cmd_flash.run(args) == 0
    assert "flashed" in capsys.readouterr().out and session.target.resets == 1


def test_flash_without_probe_is_a_clear_error(nucleo_build):
    # The real pyOCD path with no probe attached (as on CI).
    _, res = nucleo_build
    with pytest.raises(FlashError, match="no debug probe found"):
        flash(res.bin, get_board("nucleo-h743zi2"))


def _header(**kw):
    return {"kind": "header", "model_sha256": "ab", "input_bytes": 4, "data": "/d.npz", **kw}


def test_result_store_survives_torn_line_and_refuses_other_model(tmp_path):
    rep = tmp_path / "r.json"
    store = ResultStore(rep, _header())
    store.add({"image": 0, "total": 5})
    store.add({"image": 1, "total": 6})
    store.close()
    with open(rep.with_suffix(".jsonl"), "a") as fh:
        fh.write('{"kind": "image", "image": 2, "tot')  # killed mid-write
    store = ResultStore(rep, _header(), resume=True)
    assert sorted(store.records) == [0, 1]
    store.add({"image": 2, "total": 7})
    store.close()
    lines = rep.with_suffix(".jsonl").read_text().splitlines()
    assert [json.loads(x)["kind"] for x in lines] == ["header", "image", "image", "image"]
    with pytest.raises(PixmcuError, match="cannot resume.*model_sha256"):
        ResultStore(rep, _header(model_sha256="cd"), resume=True)
    with pytest.raises(PixmcuError, match="--resume needs --json"):
        ResultStore(None, _header(), resume=True)


def test_report_without_labels_or_reference():
    manifest = load_manifest(fs.HERE)
    recs = {i: {"image": i, "label": None, "pred": 1, "status": 0, "total": 6400 * (10 + i),
                "counts": [6400, 12800, 19200], "match": None, "first_layer": None} for i in range(3)}
    rep = build_report(recs, manifest=manifest, board=get_board("qemu-m4"), n_requested=3, transport="serial",
                       size=None, reference=None, complete=True)
    assert rep["accuracy"] is None and rep["bitexact"]["compared"] == 0
    assert [la["count"] for la in rep["layers"]] == [1000, 2000, 3000]
    assert rep["first_layer"] == {"name": "affine", "count": 1000}
    assert rep["total"] == {"count": 11000, "min": 10000, "max": 12000}
    assert rep["layers"][2]["macs_per_count"] == pytest.approx(1920 / 3000)
    text = format_report(rep)
    assert "n/a (no labels)" in text and "not checked" in text and "instructions" in text


def test_reference_specs(tmp_path):
    manifest = load_manifest(fs.HERE)
    ref, why = load_reference(fs.HERE, manifest, fs.MIRROR_SPEC)
    assert why is None and ref.description == "fake-model mirror"
    with pytest.raises(PixmcuError, match="module:factory"):
        load_reference(fs.HERE, manifest, "nonsense")
    with pytest.raises(PixmcuError, match="not found"):
        load_reference(fs.HERE, manifest, str(tmp_path / "none.py") + ":make")
    # The default provider needs a model the pixmcu frontend reads; the fake one is not.
    ref, why = load_reference(fs.HERE, manifest)
    assert ref is None and "unavailable" in why


def test_bulk_reader_waits_for_whole_records(tmp_path):
    out = tmp_path / P.BULK_OUT_NAME
    head = P.BULK_OUT_HEADER.pack(magic=P.BULK_OUT_MAGIC, version=1, num_layers=2, output_bytes=3,
                                  init_status=0, model_hash="ab" * 32)
    layers = b"".join(P.LAYER_RECORD.pack(count=100 + i, crc=7, bytes=3) for i in range(2))
    rec = P.BULK_OUT_RECORD.pack(layers + b"\x01\x02\x03", index=5, status=0, total=999)
    reader = BulkReader(out)
    assert reader.poll() == []
    out.write_bytes(head + rec[:10])
    assert reader.poll() == []
    out.write_bytes(head + rec + rec[:3])
    got = reader.poll()
    assert len(got) == 1 and got[0][0] == 5 and got[0][1].output == b"\x01\x02\x03"
    assert [la.count for la in got[0][1].layers] == [100, 101]


def test_measure_cli_on_a_socket_url(tmp_path, capsys):
    """`pixmcu measure` with an already running device: here QEMU started by hand."""
    outdir, res = fs.built("qemu-m4")
    data = fs.make_data(tmp_path / "d.npz", 3)
    with Qemu(get_board("qemu-m4"), res.elf) as q:
        parser = argparse.ArgumentParser()
        cmd_measure.add_parser(parser.add_subparsers())
        args = parser.parse_args(["measure", "--port", q.url, "--manifest", str(outdir / "manifest.json"),
                                  "--data", str(data), "--json", str(tmp_path / "m.json"),
                                  "--reference", fs.MIRROR_SPEC, "--quiet"])
        assert cmd_measure.run(args) == 0
    rep = json.loads((tmp_path / "m.json").read_text())
    assert rep["n"] == 3 and rep["bitexact"]["matches"] == 3 and rep["board"] == "qemu-m4"
    assert rep["flash"]["weights"] == 1920  # size comes from the build beside the manifest
    assert "accuracy" in capsys.readouterr().out


def test_dataset_needs_matching_shape(tmp_path):
    from host_tools.dataset import load_inputs

    manifest = load_manifest(fs.HERE)
    np.savez(tmp_path / "bad.npz", x=np.zeros((2, 8, 8, 3), np.int8))
    with pytest.raises(PixmcuError, match="shape"):
        load_inputs(tmp_path / "bad.npz", manifest)
