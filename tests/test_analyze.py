"""pixmcu analyze: the predicted firmware against the one `pixmcu build` makes, and the fit check."""

import json

import pytest

from conftest import SHARED

VWW = SHARED / "models" / "mlperf_tiny" / "vww_96_int8.tflite"


def _within(predicted: int, built: int, tol: float) -> bool:
    return abs(predicted - built) <= tol * built


@pytest.mark.parametrize("model,board", [(VWW, "qemu-m4"), ("cifar10-pe-w4a4", "nucleo-f446re")],
                         ids=["vww-qemu-m4", "pe-w4a4-f446re"])
def test_analyze_predicts_what_build_reports(tmp_path, pixmcu_cli, model, board):
    code, out, _ = pixmcu_cli("analyze", model, "--board", board, "--json")
    assert code == 0
    a = json.loads(out)
    assert a["fits"] is True and a["board"] == board
    assert {"flash_bytes", "ram_bytes", "arena_bytes", "fits", "layers"} <= set(a)
    code, _, _ = pixmcu_cli("generate", model, "--board", board, "-o", tmp_path / "g")
    assert code == 0
    code, out, _ = pixmcu_cli("build", tmp_path / "g", "--json")
    assert code == 0
    size = json.loads(out)
    assert _within(a["flash_bytes"], size["flash"]["used"], 0.03), (a["size"]["flash"], size["flash"])
    assert _within(a["ram_bytes"], size["ram"]["used"], 0.03), (a["size"]["ram"], size["ram"])
    assert a["arena_bytes"] == size["ram"]["arena"]
    # Each part is predicted, not just the sum: constant data to the byte, code within 1 %.
    assert a["size"]["flash"]["weights"] == size["flash"]["weights"]
    assert _within(a["size"]["flash"]["code"], size["flash"]["code"], 0.01)
    manifest = json.loads((tmp_path / "g" / "manifest.json").read_text())
    assert [l["kernel"] for l in a["layers"]] == [l["kernel"] for l in manifest["layers"]]
    assert sum(l["flash_bytes"] for l in a["layers"]) <= a["size"]["flash"]["weights"] + a["size"].get(
        "weights", {}).get("used", 0)


def test_analyze_reports_the_embedding(pixmcu_cli):
    code, out, _ = pixmcu_cli("analyze", "fmnist-pe-w8a8", "--json")
    assert code == 0
    a = json.loads(out)
    emb = a["layers"][0]
    assert emb["op"] == "pixel_embedding" and emb["embedding"]["d"] == 4 and emb["embedding"]["Q"] == 4
    assert 1 <= emb["embedding"]["K"] <= 256
    convs = [l for l in a["layers"] if l["op"] == "conv2d"]
    assert convs and all(l["weight_bits"] == 8 and l["activation_bits"] == 8 for l in convs)


def test_model_too_big_for_the_board_exits_2_and_writes_nothing(tmp_path, pixmcu_cli):
    args = ("cifar10-pe-w4a4", "--board", "nucleo-f446re", "--first-layer", "pe_folded_s32")
    code, out, err = pixmcu_cli("analyze", *args)
    assert code == 2 and "DOES NOT FIT" in out
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "nucleo-f446re" in err and "524,288 available" in err
    needed = int(err.split(" bytes needed")[0].rsplit(" ", 1)[-1].replace(",", ""))
    assert needed > 524_288
    outdir = tmp_path / "out"
    code, _, gerr = pixmcu_cli("generate", *args, "-o", outdir)
    assert code == 2 and f"{needed:,} bytes needed" in gerr
    assert not outdir.exists() and list(tmp_path.iterdir()) == []
    # The user can insist; the files are then the same as any generate's.
    code, _, _ = pixmcu_cli("generate", *args, "-o", outdir, "--no-fit-check")
    assert code == 0 and (outdir / "manifest.json").is_file()


def test_auto_first_layer_chooses_within_the_flash_the_board_has_left(tmp_path, monkeypatch):
    # A part like the F446RE with 320 KiB of flash: the folded tables auto picks (221 kB) leave the
    # firmware 416 kB; within what is left, auto picks a smaller variant and the firmware fits.
    import dataclasses

    from pixmcu import boards
    from pixmcu.analysis import generate_checked

    small = dataclasses.replace(boards.get_board("nucleo-f446re"), name="f446-320k",
                                flash=boards.Region("FLASH", 0x08000000, 320 * 1024))
    monkeypatch.setitem(boards.BOARDS, small.name, small)
    report, gen = generate_checked("cifar10-pe-w4a4", tmp_path / "g", board=small.name, first_layer="auto")
    assert report["fits"] and report["size"]["flash"]["used"] <= 320 * 1024
    retry = report["first_layer_within_room"]
    assert 0 < retry["room_bytes"] < 221_408
    fl = gen.manifest["first_layer"]
    assert fl["variant"] == retry["variant"] != "pe_folded_s16"
    size = {c["name"]: c["flash_bytes"] for c in fl["candidates"]}
    assert size[retry["variant"]] <= retry["room_bytes"] < size["pe_folded_s16"]
    # Asking for a variant explicitly is never overridden: it does not fit, and nothing is written.
    with pytest.raises(Exception, match="does not fit f446-320k"):
        generate_checked("cifar10-pe-w4a4", tmp_path / "h", board=small.name, first_layer="pe_folded_s16")
    assert not (tmp_path / "h").exists()
