"""A failed `pixmcu flash` leaves OUTDIR as it was: `pixmcu run OUTDIR` still runs the QEMU firmware."""

import hashlib
import json

from conftest import CIFAR_TEST, RESNET


def _digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_flash_without_probe_keeps_outdir_for_qemu(tmp_path, pixmcu_cli):
    out = tmp_path / "g"
    assert pixmcu_cli("generate", RESNET, "-o", out, "--board", "qemu-m4")[0] == 0
    assert pixmcu_cli("build", out)[0] == 0
    before = {p.name: _digest(p) for p in (out / "firmware.elf", out / "firmware.bin", out / "build" / "build.json")}
    code, _, err = pixmcu_cli("flash", out, "--board", "nucleo-f446re")
    assert code == 2
    assert "\x1b" not in err and "no debug probe found" in err and "pixmcu probes" in err
    assert err.count("\n") == 1
    # The Nucleo's firmware was built beside OUTDIR's, not over it.
    assert (out / "board-nucleo-f446re" / "firmware.elf").is_file()
    after = {p.name: _digest(p) for p in (out / "firmware.elf", out / "firmware.bin", out / "build" / "build.json")}
    assert after == before
    report = tmp_path / "r.json"
    code, stdout, err = pixmcu_cli("run", out, "--data", CIFAR_TEST, "--limit", 2, "--no-build",
                                   "--no-estimate-cycles", "--json", report)
    assert code == 0, err
    r = json.loads(report.read_text())
    assert r["board"] == "qemu-m4" and r["n"] == 2 and r["bitexact"]["matches"] == 2


def test_flash_refuses_a_qemu_board(tmp_path, pixmcu_cli):
    out = tmp_path / "g"
    assert pixmcu_cli("generate", RESNET, "-o", out)[0] == 0
    code, _, err = pixmcu_cli("flash", out)
    assert code == 2 and "QEMU board" in err and "nucleo-f446re" in err
    assert not (out / "firmware.elf").exists()


def test_probes_lists_json(pixmcu_cli):
    code, out, err = pixmcu_cli("probes", "--json", "--all")
    assert code == 0, err
    inv = json.loads(out)
    assert isinstance(inv["probes"], list) and isinstance(inv["serial_ports"], list)
    for p in inv["serial_ports"]:
        assert {"device", "vid", "pid", "boards"} <= set(p)


def test_board_guess_from_usb_ids():
    from host_tools.probes import board_guess, strip_ansi

    assert board_guess(0x0483, 0x374B) == ["nucleo-f446re"]
    assert board_guess(0x0483, 0x374E) == ["nucleo-h743zi2"]
    assert board_guess(0x1234, 0x5678) == []
    assert board_guess(None, None, "NUCLEO-F446RE") == ["nucleo-f446re"]
    assert strip_ansi("\x1b[31mNo probe\x1b[0m found") == "No probe found"
