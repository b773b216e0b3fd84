"""Bad data files and options: one paragraph naming the file, exit 2, never a traceback or a silently
wrong result; and the same check behind every command that reads data (issue 12)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from conftest import FIXTURES
from pixmcu import reference
from pixmcu.frontend import load_model

MODEL = FIXTURES / "models" / "pools_dense.tflite"  # int8 input [1, 15, 17, 3], 6 outputs
SHAPE = (15, 17, 3)


def _x(n, dtype=np.int8, seed=0):
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(info.min, info.max + 1, (n, *SHAPE)).astype(dtype)


def _huge_header(path):
    """An .npz whose 'x' header claims 10^9 images while the member holds one."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|i1", "fortran_order": False,
                                               "shape": (10**9, *SHAPE)})
    buf.write(_x(1).tobytes())
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", buf.getvalue())


def _write(path, case):
    kind = case
    if kind == "zero_images":
        np.savez(path, x=_x(0))
    elif kind == "x_0d":
        np.savez(path, x=np.int8(3))
    elif kind == "y_0d":
        np.savez(path, x=_x(2), y=np.int64(1))
    elif kind == "string_labels":
        np.savez(path, x=_x(2), y=np.array(["cat", "dog"]))
    elif kind == "label_out_of_range":
        np.savez(path, x=_x(3), y=np.array([0, 6, 1]))
    elif kind == "negative_label":
        np.savez(path, x=_x(3), y=np.array([0, -1, 1]))
    elif kind == "nan_label":
        np.savez(path, x=_x(3), y=np.array([0.0, np.nan, 1.0]))
    elif kind == "fractional_label":
        np.savez(path, x=_x(3), y=np.array([0.0, 1.5, 1.0]))
    elif kind == "more_labels":
        np.savez(path, x=_x(3), y=np.array([0, 1, 2, 3]))
    elif kind == "fewer_labels":
        np.savez(path, x=_x(3), y=np.array([0, 1]))
    elif kind == "plain_npy":
        path.unlink(missing_ok=True)
        with open(path, "wb") as fh:
            np.save(fh, _x(2))
    elif kind == "huge_header":
        _huge_header(path)
    elif kind == "truncated_member":
        np.savez(path, x=_x(4))
        raw = path.read_bytes()
        path.write_bytes(raw[:200] + raw[400:])
    elif kind == "object_array":
        with zipfile.ZipFile(path, "w") as z:
            buf = io.BytesIO()
            np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": (2,)})
            z.writestr("x.npy", buf.getvalue() + b"\x80\x04N.")
    elif kind == "zip_version":  # the central directory asks for zip version 17.0
        np.savez(path, x=_x(2))
        raw = bytearray(path.read_bytes())
        cd = raw.index(b"PK\x01\x02")
        raw[cd + 6:cd + 8] = (170).to_bytes(2, "little")
        path.write_bytes(bytes(raw))
    elif kind == "garbled_header":  # an .npy header dictionary cut short
        head = b"{'descr': '|i1', 'fortran_order': False, 'shape': (2,"
        head += b" " * (63 - len(head)) + b"\n"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("x.npy", b"\x93NUMPY\x01\x00" + len(head).to_bytes(2, "little") + head + bytes(2))
    elif kind == "float_x_nan":
        np.savez(path, x=np.full((2, *SHAPE), np.nan, np.float32))
    else:
        np.savez(path, x=_x(3), y=np.array([0, 1, 2]))
    return path


FILE_CASES = {
    "zero_images": "holds no images",
    "x_0d": "0-d",
    "y_0d": "0-d",
    "string_labels": "class indices",
    "label_out_of_range": "label 1 is 6, but the model has 6 outputs",
    "negative_label": "label 1 in 'y' is -1",
    "nan_label": "label 1 in 'y' is nan",
    "fractional_label": "label 1 in 'y' is 1.5",
    "more_labels": "3 images but 4 labels",
    "fewer_labels": "3 images but 2 labels",
    "plain_npy": "plain .npy array",
    "huge_header": "header claims shape (1000000000, 15, 17, 3)",
    "truncated_member": "d.npz",
    "object_array": "Python objects",
    "float_x_nan": "dtype float32",
    "zip_version": "not an .npz data file",
    "garbled_header": "unreadable header",
}

OPTION_CASES = {
    "limit_0": (["--limit", "0"], "--limit must be at least 1, got 0"),
    "limit_-1": (["--limit", "-1"], "--limit must be at least 1, got -1"),
    "batch_0": (["--batch", "0"], "--batch must be at least 1, got 0"),
    "batch_-1": (["--batch", "-1"], "--batch must be at least 1, got -1"),
    "pixel_scale_nan": (["--pixel-scale", "nan"], "--pixel-scale must be a finite number"),
    "pixel_scale_inf": (["--pixel-scale", "inf"], "--pixel-scale must be a finite number"),
    "pixel_offset_-inf": (["--pixel-offset=-inf"], "--pixel-offset must be a finite number"),
    "pixel_scale_0": (["--pixel-scale", "0"], "--pixel-scale must not be 0"),
}


def _one_paragraph_error(code, err, needle):
    assert code == 2, err
    assert "Traceback" not in err and "\n\n" not in err.strip() and needle in err, err


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_bad_data_file_is_one_paragraph_exit_2(tmp_path, pixmcu_cli, case):
    data = _write(tmp_path / "d.npz", case)
    code, _, err = pixmcu_cli("infer", MODEL, "--data", data, "--out", tmp_path / "o.npz")
    _one_paragraph_error(code, err, FILE_CASES[case])
    assert str(data) in err


@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_bad_option_is_one_paragraph_exit_2(tmp_path, pixmcu_cli, case):
    data = tmp_path / "d.npz"
    np.savez(data, x=_x(3, np.uint8), y=np.array([0, 1, 2]))
    args, needle = OPTION_CASES[case]
    code, _, err = pixmcu_cli("infer", MODEL, "--data", data, "--out", tmp_path / "o.npz", *args)
    _one_paragraph_error(code, err, needle)


def test_labels_of_shape_n_by_1_are_compared_per_image(tmp_path, pixmcu_cli):
    x = _x(12, seed=4)
    pred = reference.invoke(load_model(MODEL), x).reshape(12, -1).argmax(1)
    assert len(set(pred)) > 1  # else a broadcast N x N comparison could not be told apart
    y = pred.copy()
    y[:3] = (y[:3] + 1) % 6  # 9 of 12 right
    np.savez(tmp_path / "d.npz", x=x, y=y[:, None])
    code, out, err = pixmcu_cli("infer", MODEL, "--data", tmp_path / "d.npz", "--out", tmp_path / "o.npz", "--json")
    assert code == 0, err
    assert json.loads(out)["accuracy"] == pytest.approx(9 / 12)


def test_limit_keeps_the_first_images_and_their_labels(tmp_path, pixmcu_cli):
    np.savez(tmp_path / "d.npz", x=_x(5), y=np.array([0, 1, 2, 3, 4]))
    code, out, err = pixmcu_cli("infer", MODEL, "--data", tmp_path / "d.npz", "--out", tmp_path / "o.npz",
                                "--limit", "9", "--json")
    assert code == 0, err and json.loads(out)["n"] == 5


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    from pixmcu.codegen import generate

    out = tmp_path_factory.mktemp("gen") / "m"
    generate(MODEL, out, name="m")
    return out


@pytest.mark.parametrize("case", ["nan_label", "zero_images", "huge_header", "label_out_of_range"])
@pytest.mark.parametrize("command", ["infer", "run", "measure", "bench", "data-sample"])
def test_every_command_reading_data_gives_the_same_paragraph(tmp_path, pixmcu_cli, outdir, command, case):
    if command == "data-sample" and case == "label_out_of_range":
        return  # without a model there is no range: the file itself is fine
    data = _write(tmp_path / "d.npz", case)
    argv = {
        "infer": ["infer", MODEL, "--data", data, "--out", tmp_path / "o.npz"],
        # The data is read before a build, a board connection or QEMU: none of them is needed to fail.
        "run": ["run", outdir, "--data", data, "--no-build"],
        "measure": ["measure", "--port", "socket://127.0.0.1:9", "--manifest", outdir / "manifest.json",
                    "--data", data],
        "bench": ["bench", "model", MODEL, "--data", data, "--images", "2", "--workdir", tmp_path / "w"],
        "data-sample": ["data", "sample", data, "-n", "1", "-o", tmp_path / "s.npz"],
    }[command]
    code, _, err = pixmcu_cli(*argv)
    _one_paragraph_error(code, err, FILE_CASES[case])
    assert not (tmp_path / "w" / "qemu-m4" / "firmware.elf").exists()


def test_generate_refuses_a_pixel_mapping_that_is_not_finite(tmp_path, pixmcu_cli):
    code, _, err = pixmcu_cli("generate", MODEL, "-o", tmp_path / "g", "--pixel-scale", "nan")
    _one_paragraph_error(code, err, "--pixel-scale must be a finite number")
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("case", ["nan_label", "huge_header", "plain_npy"])
def test_train_reads_its_npz_through_the_same_check(tmp_path, pixmcu_cli, case):
    data = _write(tmp_path / "d.npz", case)
    code, _, err = pixmcu_cli("train", "--dataset", data, "-o", tmp_path / "m.pt", "--epochs", "1")
    _one_paragraph_error(code, err, FILE_CASES[case])
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("args,needle", [(["--timeout", "nan"], "--timeout must be a finite number"),
                                         (["--timeout=-1"], "--timeout must be a finite number"),
                                         (["--timeout", "inf"], "--timeout must be a finite number"),
                                         (["--retries=-1"], "--retries must be 0 or more")])
@pytest.mark.parametrize("command", ["run", "measure"])
def test_link_options_are_checked_before_anything_starts(tmp_path, pixmcu_cli, outdir, command, args, needle):
    data = _write(tmp_path / "d.npz", "good")
    argv = ["run", outdir, "--no-build"] if command == "run" else \
        ["measure", "--port", "socket://127.0.0.1:9", "--manifest", outdir / "manifest.json"]
    code, _, err = pixmcu_cli(*argv, "--data", data, *args)
    _one_paragraph_error(code, err, needle)
