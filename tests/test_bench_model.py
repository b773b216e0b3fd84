"""`pixmcu bench model`: the report it builds (unit), and the whole path under QEMU: the ResNet in the
default (fused, packed/Helium) mode built for qemu-m4 and qemu-m55, bit-exact with the reference on
CIFAR-10 test images, per-layer counts and estimated cycles present. No timing thresholds here: the
benchmark prints the figures (docs/performance.md)."""

from __future__ import annotations

import json

import pytest

from conftest import CIFAR_TEST as CIFAR, RESNET
from pixmcu.bench import model as bm




def _fake(core="cortex-m4"):
    manifest = {"model_sha256": "0" * 64, "arena_bytes": 1000, "weight_bytes": 64, "layers": [
        {"index": 0, "name": "conv", "op": "conv2d", "kernel": "pm_conv2d_packed_add_s8", "macs": 1000,
         "output_bytes": 0, "fused_into": 1},
        {"index": 1, "name": "add", "op": "add", "kernel": "pm_conv2d_packed_add_s8", "macs": 0, "output_bytes": 16,
         "computed_by": 0}]}
    report = {"model": "m", "board": "qemu-m4", "counter": "instructions", "n": 2,
              "bitexact": {"compared": 2, "matches": 2}, "total": {"count": 2030.0, "min": 2030, "max": 2030},
              "first_layer": {"name": "conv", "count": 2000.0}, "flash": {"code": 10, "weights": 20},
              "layers": [{"count": 2000.0}, {"count": 30.0}], "counter_note": "instructions"}
    regions = [{"insns": 2001, "classes": {"mul": 500, "alu": 1501}, "events": {}},
               {"insns": 29, "classes": {"alu": 29}, "events": {}}]
    return manifest, report, regions


def test_summary_table_and_plot(tmp_path):
    manifest, report, regions = _fake()
    res = bm.summarize(manifest, report, regions, "cortex-m4")
    assert res["total"]["count"] == 2030 and res["total"]["instructions_exact"] == 2030
    assert res["layers"][0]["fused_into"] == 1 and res["layers"][0]["estimated_cycles"] == 2001
    assert res["total"]["macs_per_count"] == pytest.approx(1000 / 2030)
    assert res["peak_macs_per_cycle"] == 2.0 and 0 < res["total"]["fraction_of_peak"] < 1
    text = bm.format_table(res)
    assert "est. cycles" in text and "bit-exact 2/2" in text and "not measured" in text
    bm.plot(res, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
    # The M55 prices Helium classes; an unclassified instruction is priced and reported, never hidden.
    regions55 = [dict(regions[0], classes={"mve_mul": 500, "alu": 1500, "unknown": 1}), regions[1]]
    res55 = bm.summarize(manifest, report, regions55, "cortex-m55")
    assert res55["layers"][0]["estimated_cycles"] == 500 * 2 + 1500 + 2
    assert res55["total"]["unknown_instructions"] == 1 and "could not classify" in bm.format_table(res55)
    # No cost table for a core: instructions only, said so.
    res33 = bm.summarize(manifest, report, regions, "cortex-m33")
    assert "estimated_cycles" not in res33["total"] and "no cost table" in res33["cycles_note"]
    assert "est. cycles" not in bm.format_table(res33)


def test_cli_registers_bench_model():
    from pixmcu.cli import build_parser

    args = build_parser().parse_args(["bench", "model", str(RESNET), "--board", "qemu-m7", "--images", "3"])
    assert args.board == "qemu-m7" and args.images == 3 and args._bench_run is bm.run


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m55"])
def test_bench_resnet_under_qemu(tmp_path, board, capsys):
    """The default generated ResNet (fused residual ADDs; packed SMLAD kernels on M4, Helium on M55)
    bit-exact under QEMU on CIFAR-10 test images, with per-layer counts."""
    from pixmcu.cli import main

    out = tmp_path / "bench.json"
    rc = main(["bench", "model", str(RESNET), "--board", board, "--images", "3", "--data", str(CIFAR),
               "--json", str(out), "--workdir", str(tmp_path / "work")])
    text = capsys.readouterr().out
    assert rc == 0, text
    res = json.loads(out.read_text())
    assert res["bitexact"]["compared"] == 3 and res["bitexact"]["matches"] == 3
    assert res["arena_bytes"] <= 33000
    kernels = {layer["kernel"] for layer in res["layers"]}
    family = "mve" if board == "qemu-m55" else "packed"
    assert f"pm_conv2d_{family}_s8" in kernels and f"pm_conv2d_{family}_add_s8" in kernels
    assert [layer["name"] for layer in res["layers"] if "fused_into" in layer] == ["conv2d_2", "conv2d_6", "conv2d_10"]
    assert all(layer["count"] > 0 for layer in res["layers"])
    assert res["total"]["instructions_exact"] > 1_000_000
    assert res["total"]["estimated_cycles"] > 0 and res["total"]["unknown_instructions"] == 0
    assert out.with_suffix(".png").exists() and "MACs/instr" in text


def test_bench_builds_what_generate_builds(tmp_path, capsys):
    """`bench model` builds the model `pixmcu generate` makes with default options (here the fused
    pixel-embedding first layer and the default name), and --no-estimate means no estimate column."""
    from pixmcu.cli import main

    assert main(["generate", "fmnist-pe-w8a8", "-o", str(tmp_path / "gen"), "--board", "qemu-m4"]) == 0
    want = json.loads((tmp_path / "gen" / "manifest.json").read_text())
    out = tmp_path / "bench.json"
    rc = main(["bench", "model", "fmnist-pe-w8a8", "--board", "qemu-m4", "--images", "1", "--no-estimate",
               "--json", str(out), "--workdir", str(tmp_path / "work")])
    text = capsys.readouterr().out
    assert rc == 0, text
    got = json.loads((tmp_path / "work" / "qemu-m4" / "manifest.json").read_text())
    assert got["name"] == want["name"] and got["first_layer"]["variant"] == want["first_layer"]["variant"]
    assert [layer["kernel"] for layer in got["layers"]] == [layer["kernel"] for layer in want["layers"]]
    res = json.loads(out.read_text())
    assert want["first_layer"]["variant"] != "unfused"
    assert "estimated_cycles" not in res["total"] and "instructions_exact" not in res["total"]
    assert "est. cycles" not in text
