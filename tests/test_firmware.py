"""End to end on QEMU with the hand-written fake model: build, serial and semihost transports,
bit-exact per-layer checksums, deterministic instruction counts, chunking, the CLI and its report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import serial

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "fake_model"))

import fake_mirror  # noqa: E402
import pm_fake_support as fs  # noqa: E402

from host_tools import protocol as P  # noqa: E402
from host_tools.device import HandshakeError  # noqa: E402
from host_tools.link import Link  # noqa: E402
from host_tools.qemu import Qemu  # noqa: E402
from host_tools.session import qemu_session  # noqa: E402
from pixmcu.boards import get_board  # noqa: E402
from pixmcu.build import BuildError, build, load_manifest  # noqa: E402
from pixmcu.cli import cmd_build, cmd_run  # noqa: E402


def _images(n: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (n, 1, 16, 16, 3)).astype(np.int8)


def _check(result, x) -> None:
    import zlib

    exp = fake_mirror.run(x)
    assert result.status == 0
    assert result.output == exp["dense"].tobytes()
    for name, layer in zip(fake_mirror.LAYERS, result.layers):
        assert layer.crc == zlib.crc32(exp[name].tobytes()), name
        assert layer.bytes == exp[name].nbytes


def _cli(module, argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    module.add_parser(sub)
    args = parser.parse_args([next(iter(sub.choices)), *argv])
    return module.run(args)


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m7", "qemu-m55"])
def test_serial_bitexact_and_deterministic_counts(board):
    outdir, res = fs.built(board)
    manifest = load_manifest(outdir)
    xs = _images(3)
    runs = []
    for _ in range(2):  # two QEMU runs: counts must repeat exactly
        with qemu_session(get_board(board), res.elf, manifest) as (dev, link, _):
            assert dev.info.board == board and dev.info.model_hash == manifest["model_sha256"]
            assert dev.info.counter == P.COUNTERS["SYSTICK_ICOUNT"]
            out = []
            for x in xs:
                r = dev.infer(x.tobytes())
                _check(r, x)
                out.append((r.total, [layer.count for layer in r.layers]))
            runs.append(out)
    assert runs[0] == runs[1]
    b = get_board(board)
    total, layers = runs[0][0]
    assert 0 < sum(layers) <= total * 1.02  # the total holds the layers (hooks' own cost removed)
    # The dense layer does 1,920 MACs: at least one instruction each, and not absurdly many.
    assert 1920 <= b.ticks_to_count(layers[2]) <= 1920 * 12


def test_small_frames_chunk_the_input(tmp_path):
    outdir, res = fs.built("qemu-m4", max_payload=P.MIN_MAX_PAYLOAD)
    manifest = load_manifest(outdir)
    assert manifest["input"]["bytes"] > 4 * P.MIN_MAX_PAYLOAD
    with qemu_session(get_board("qemu-m4"), res.elf, manifest) as (dev, link, _):
        assert dev.info.max_payload == P.MIN_MAX_PAYLOAD
        x = _images(1)[0]
        _check(dev.infer(x.tobytes()), x)
        assert link.stats.requests >= 1 + 5 + 1 + 2  # hello, >= 5 input chunks, invoke, 2 reads


def test_semihost_matches_serial_counts(tmp_path):
    from host_tools.bulk import BulkSource

    outdir, res = fs.built("qemu-m4")
    manifest = load_manifest(outdir)
    xs = _images(4)
    src = BulkSource(get_board("qemu-m4"), res.elf, 768, manifest["model_sha256"])
    try:
        bulk = dict(src.results([3, 0, 1, 2], lambda i: xs[i].tobytes()))
    finally:
        src.close()
    assert sorted(bulk) == [0, 1, 2, 3]
    with qemu_session(get_board("qemu-m4"), res.elf, manifest) as (dev, _, _q):
        for i, x in enumerate(xs):
            r = dev.infer(x.tobytes())
            _check(bulk[i], x)
            assert (bulk[i].total, [la.count for la in bulk[i].layers]) == (r.total, [la.count for la in r.layers])


def test_handshake_refuses_other_model_hash():
    outdir, res = fs.built("qemu-m4")
    manifest = dict(load_manifest(outdir), model_sha256="0" * 64)
    with pytest.raises(HandshakeError, match="model hash mismatch"):
        with qemu_session(get_board("qemu-m4"), res.elf, manifest):
            pass


def test_build_reports_sizes_and_failing_command(tmp_path):
    outdir, res = fs.built("qemu-m4")
    s = res.size
    assert s["flash"]["weights"] == 1920  # the fake model's dense weights, nothing else
    assert s["ram"]["arena"] >= 970 and s["ram"]["stack"] == get_board("qemu-m4").stack_bytes
    assert s["flash"]["code"] > 0 and s["flash"]["used"] == s["flash"]["code"] + 1920 + s["flash"]["data_init"]
    assert res.elf.is_file() and res.bin.is_file()

    broken = fs.copy_model(tmp_path / "broken")
    src = broken / "fake_model.c"
    src.write_text(src.read_text() + "\nint unused_and_wrong(void) { return undeclared_symbol; }\n")
    with pytest.raises(BuildError) as exc:
        build(broken, "qemu-m4", include_kernels=False)
    msg = str(exc.value)
    assert "arm-none-eabi-gcc" in msg and "fake_model.c" in msg and "undeclared_symbol" in msg


def test_build_with_kernels_links():
    """The real build path compiles every firmware/kernels/*.c too (whatever is there today)."""
    outdir, _ = fs.built("qemu-m4")
    res = build(outdir, "qemu-m4", include_kernels=True)
    assert res.elf.is_file()
    build(outdir, "qemu-m4", include_kernels=False)  # leave the cache as other tests expect


def test_unchanged_build_recompiles_nothing():
    outdir, _ = fs.built("qemu-m7")
    assert build(outdir, "qemu-m7", include_kernels=False).compiled == 0


def test_cli_run_report_resume_and_outputs(tmp_path, capsys):
    outdir, _ = fs.built("qemu-m4")
    data = fs.make_data(tmp_path / "data.npz", 8)
    report_path = tmp_path / "rep" / "report.json"
    argv = [str(outdir), "--data", str(data), "--json", str(report_path), "--reference", fs.MIRROR_SPEC,
            "--save-outputs", str(tmp_path / "out.npz"), "--quiet", "--limit", "6", "--no-build"]
    assert _cli(cmd_run, argv) == 0
    rep = json.loads(report_path.read_text())
    assert rep["n"] == 6 and rep["complete"] and rep["counter"] == "instructions"
    assert rep["accuracy"] == pytest.approx(4 / 6)  # labels 0 and 4 were made wrong
    assert rep["bitexact"] == {"compared": 6, "matches": 6, "mismatches": [], "reference": "fake-model mirror"}
    assert [la["name"] for la in rep["layers"]] == ["affine", "pool", "dense"]
    assert {"index", "name", "op", "macs", "count"} <= set(rep["layers"][0])
    assert rep["first_layer"]["name"] == "affine" and rep["first_layer"]["count"] == rep["layers"][0]["count"]
    assert rep["total"]["count"] >= sum(la["count"] for la in rep["layers"]) * 0.98
    assert rep["flash"]["weights"] == 1920
    assert report_path.with_suffix(".png").stat().st_size > 1000
    out = np.load(tmp_path / "out.npz")
    assert out["outputs"].shape == (6, 10) and list(out["image"]) == list(range(6))
    printed = capsys.readouterr().out
    assert "bit-exact vs fake-model mirror: 6/6" in printed and "first layer (affine)" in printed

    # Resume with the full set: only the 2 missing images run; the report covers all 8.
    lines_before = report_path.with_suffix(".jsonl").read_text().count("\n")
    argv = [a for a in argv if a not in ("--limit", "6")] + ["--resume"]
    assert _cli(cmd_run, argv) == 0
    rep = json.loads(report_path.read_text())
    assert rep["n"] == 8 and rep["bitexact"]["matches"] == 8
    assert report_path.with_suffix(".jsonl").read_text().count("\n") == lines_before + 2


def test_cli_semihost_reports_mismatch_with_first_layer(tmp_path):
    outdir, _ = fs.built("qemu-m4")
    data = fs.make_data(tmp_path / "data.npz", 5)
    # A reference that disagrees on layer "pool" for image 2 (as a wrong kernel would).
    wrong = tmp_path / "wrong_ref.py"
    wrong.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(fs.HERE)!r})\n"
        "import fake_mirror\n"
        "class R(fake_mirror.MirrorReference):\n"
        "    description = 'perturbed'\n"
        "    def layer_outputs(self, x):\n"
        "        layers, out = super().layer_outputs(x)\n"
        "        if x.reshape(-1)[0] == self.marker:\n"
        "            layers['pool'] = bytes([layers['pool'][0] ^ 1]) + layers['pool'][1:]\n"
        "        return layers, out\n"
        "def make(outdir, manifest):\n"
        "    import numpy as np\n"
        f"    r = R(manifest); r.marker = int(np.load({str(data)!r})['x'][2].reshape(-1)[0]); return r\n")
    rep_path = tmp_path / "r.json"
    rc = _cli(cmd_run, [str(outdir), "--data", str(data), "--transport", "semihost", "--json", str(rep_path),
                        "--reference", f"{wrong}:make", "--quiet", "--no-build"])
    rep = json.loads(rep_path.read_text())
    assert rc == 0 and rep["n"] == 5 and rep["transport"] == "semihost"
    assert rep["bitexact"]["mismatches"] == [{"image": 2, "first_layer": "pool"}]


def test_cli_build_prints_size(tmp_path, capsys):
    outdir = fs.copy_model(tmp_path / "m")
    assert _cli(cmd_build, [str(outdir), "--board", "qemu-m55", "--json"]) == 0
    size = json.loads(capsys.readouterr().out)
    assert size["weights"]["region"] == "QSPI" and size["weights"]["used"] >= 1920
    assert size["sections"][".weights"]["addr"] == 0x28000000
    assert (outdir / "firmware.weights.bin").stat().st_size >= 1920


def test_qemu_exits_cleanly_on_bye():
    outdir, res = fs.built("qemu-m4")
    with Qemu(get_board("qemu-m4"), res.elf) as q:
        port = serial.serial_for_url(q.url, timeout=0.1)
        link = Link(port)
        assert link.wait_boot(5.0) is not None
        link.request("BYE", "BYE_ACK")
        assert q.wait(5.0) == 0
        port.close()


_NOP_MODEL = r"""
#include <stdint.h>
#include <string.h>
#include "pm_hooks.h"
#include "pm_model.h"
/* Two layers of straight-line NOPs: their counts must differ by exactly the extra NOPs. */
int pm_model_init(void) { return 0; }
int pm_model_invoke(const int8_t *input, int8_t *output)
{
    pm_hook_layer_begin(0);
    __asm volatile(".rept 1000\n\tnop\n\t.endr" ::: "memory");
    pm_hook_layer_end(0, input, 4);
    pm_hook_layer_begin(1);
    __asm volatile(".rept 3000\n\tnop\n\t.endr" ::: "memory");
    pm_hook_layer_end(1, input, 4);
    memcpy(output, input, 4);
    return 0;
}
"""


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m55"])
def test_instruction_counts_are_exact(tmp_path, board):
    d = tmp_path / "nops"
    d.mkdir()
    (d / "nops.c").write_text(_NOP_MODEL)
    manifest = json.loads((fs.HERE / "manifest.json").read_text())
    manifest.update(name="nops", sources=["nops.c"], model_sha256="ab" * 32, board=board,
                    input=dict(manifest["input"], shape=[1, 4], bytes=4),
                    output=dict(manifest["output"], shape=[1, 4], bytes=4),
                    layers=[dict(manifest["layers"][0], index=0, name="n1000"),
                            dict(manifest["layers"][1], index=1, name="n3000")])
    (d / "manifest.json").write_text(json.dumps(manifest))
    (d / "pm_model.h").write_text(
        '#include <stdint.h>\n#define PM_MODEL_NAME "nops"\n#define PM_MODEL_HASH "' + "ab" * 32 + '"\n'
        "#define PM_MODEL_INPUT_BYTES 4\n#define PM_MODEL_OUTPUT_BYTES 4\n#define PM_MODEL_NUM_LAYERS 2\n"
        "#define PM_MODEL_ARENA_BYTES 0\nint pm_model_init(void);\n"
        "int pm_model_invoke(const int8_t *input, int8_t *output);\n")
    res = build(d, board, include_kernels=False)
    b = get_board(board)
    with qemu_session(b, res.elf, manifest) as (dev, _, _q):
        r = dev.infer(b"\x01\x02\x03\x04")
    c0, c1 = (b.ticks_to_count(la.count) for la in r.layers)
    assert c1 - c0 == 2000
    assert 1000 <= c0 <= 1040  # the NOPs plus a few instructions of hook call and return
