"""`generate` never writes outside OUTDIR: no writing through symbolic or hard links, no stale files
of another model, clear errors for an OUTDIR that is a file and for names that clash (issue 12)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import FIXTURES

MODEL_A = FIXTURES / "models" / "pools_dense.tflite"
MODEL_B = FIXTURES / "models" / "mean_keepdims.tflite"


def _gen(pixmcu_cli, model, out, *extra):
    return pixmcu_cli("generate", model, "-o", out, *extra)


def _one_paragraph(code, err, needle):
    assert code == 2, err
    assert "Traceback" not in err and "\n\n" not in err.strip() and needle in err, err


@pytest.mark.parametrize("target", ["manifest.json", "pm_model.h", "a.c", "model.tflite"])
def test_symlink_in_outdir_is_refused_and_its_target_untouched(tmp_path, pixmcu_cli, target):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.symlink(victim, out / target)
    code, _, err = _gen(pixmcu_cli, MODEL_A, out, "--name", "a")
    _one_paragraph(code, err, "symbolic link")
    assert victim.read_text() == "precious\n"
    assert sorted(p.name for p in out.iterdir()) == [target]  # refused before writing anything


def test_hard_linked_file_is_replaced_not_written_through(tmp_path, pixmcu_cli):
    out = tmp_path / "out"
    assert _gen(pixmcu_cli, MODEL_A, out, "--name", "a")[0] == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for name in ("manifest.json", "a.c"):
        (out / name).unlink()
        os.link(victim, out / name)
    code, _, err = _gen(pixmcu_cli, MODEL_A, out, "--name", "a")
    assert code == 0, err
    assert victim.read_text() == "precious\n"
    assert json.loads((out / "manifest.json").read_text())["name"] == "a"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_another_models_files_are_removed_and_nothing_else(tmp_path, pixmcu_cli):
    out = tmp_path / "out"
    assert _gen(pixmcu_cli, MODEL_A, out, "--name", "model_a")[0] == 0
    a_files = set(json.loads((out / "manifest.json").read_text())["sources"])
    (out / "notes.txt").write_text("mine\n")
    (out / "user.c").write_text("int user;\n")
    (tmp_path / "outside.c").write_text("int outside;\n")
    # A manifest naming a file outside OUTDIR must not make generate delete it.
    m = json.loads((out / "manifest.json").read_text())
    m["sources"].append("../outside.c")
    (out / "manifest.json").write_text(json.dumps(m))
    assert _gen(pixmcu_cli, MODEL_B, out, "--name", "model_b")[0] == 0
    names = {p.name for p in out.iterdir()}
    assert not (a_files & names), a_files & names
    assert {"model_b.c", "model_b.h", "model_b_data.c", "model_b_data.h", "pm_model.h", "manifest.json",
            "model.tflite", "notes.txt", "user.c", "CMakeLists.txt", "pixmcu.mk", "pm_runtime"} == names
    # The take-home runtime is replaced whole: model A's kernels that B does not call are gone.
    kernels = {str(p.relative_to(out / "pm_runtime")) for p in (out / "pm_runtime" / "kernels").glob("*.c")}
    assert kernels == set(json.loads((out / "manifest.json").read_text())["take_home"]["kernel_sources"])
    assert (tmp_path / "outside.c").exists()


def test_outdir_that_is_a_file_is_a_clear_error(tmp_path, pixmcu_cli):
    f = tmp_path / "out"
    f.write_text("a file\n")
    code, _, err = _gen(pixmcu_cli, MODEL_A, f)
    _one_paragraph(code, err, "OUTDIR is an existing file")
    assert f.read_text() == "a file\n"
    code, _, err = _gen(pixmcu_cli, MODEL_A, f / "sub")
    _one_paragraph(code, err, "a part of the path is a file")


@pytest.mark.parametrize("name", ["pm_model", "pm", "PM_Port", "pm_measure", "time", "stdint", "string"])
def test_names_that_clash_with_the_harness_or_headers_are_refused(tmp_path, pixmcu_cli, name):
    code, _, err = _gen(pixmcu_cli, MODEL_A, tmp_path / "out", "--name", name)
    _one_paragraph(code, err, "Reserved names: pm, pm_*")
    assert "stdint" in err and not (tmp_path / "out").exists()


def test_a_file_named_like_a_reserved_name_gets_a_safe_default(tmp_path, pixmcu_cli):
    shutil.copyfile(MODEL_A, tmp_path / "pm_model.tflite")
    code, out, err = _gen(pixmcu_cli, tmp_path / "pm_model.tflite", tmp_path / "out", "--json")
    assert code == 0, err
    assert json.loads(out)["name"] == "m_pm_model"


def test_bench_workdir_that_is_a_file_is_a_clear_error(tmp_path, pixmcu_cli):
    f = tmp_path / "w"
    f.write_text("a file\n")
    code, _, err = pixmcu_cli("bench", "model", MODEL_A, "--workdir", f, "--images", "1")
    _one_paragraph(code, err, "a file is in the way")
