"""Bad model files get one clear paragraph naming the file and the problem, and a non-zero exit."""

import os

import pytest

from conftest import FIXTURES, RESNET
from pixmcu.errors import PixmcuError, UnsupportedOperatorError
from pixmcu.frontend import load_model

BAD = FIXTURES / "bad"


def make(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def bad_files(tmp_path):
    resnet = RESNET.read_bytes()
    return {
        "empty": (make(tmp_path, "empty.tflite", b""), "empty"),
        "truncated_header": (make(tmp_path, "t1.tflite", resnet[:10]), "TFL3"),
        "truncated_half": (make(tmp_path, "t2.tflite", resnet[: len(resnet) // 2]), "malformed or truncated"),
        "random_bytes": (make(tmp_path, "rand.tflite", os.urandom(4096)), "not a TensorFlow Lite model"),
        "random_with_magic": (make(tmp_path, "rand2.tflite", b"\x10\x00\x00\x00TFL3" + os.urandom(200)),
                              "malformed or truncated"),
        "text": (make(tmp_path, "model.txt", b"this is not a model\n" * 10), "not a TensorFlow Lite model"),
        "missing": (tmp_path / "nope.tflite", "no such model file"),
        "float": (BAD / "float_model.tflite", "float or hybrid"),
        "hybrid": (BAD / "hybrid_model.tflite", "float or hybrid"),
        "unsupported": (BAD / "unsupported_ops.tflite", "SPACE_TO_DEPTH \\(operator 1\\)"),
    }


@pytest.mark.parametrize("case", ["empty", "truncated_header", "truncated_half", "random_bytes", "random_with_magic",
                                  "text", "missing", "float", "hybrid", "unsupported"])
def test_bad_model_error(tmp_path, case, pixmcu_cli):
    path, msg = bad_files(tmp_path)[case]
    with pytest.raises(PixmcuError, match=msg) as info:
        load_model(path)
    assert str(path) in str(info.value)
    code, out, err = pixmcu_cli("infer", path, "--data", tmp_path / "d.npz", "--out", tmp_path / "o.npz")
    assert code != 0
    assert str(path) in err and "Traceback" not in err


def test_unsupported_lists_every_operator_and_the_supported_set():
    with pytest.raises(UnsupportedOperatorError) as info:
        load_model(BAD / "unsupported_ops.tflite")
    msg = str(info.value)
    assert "SPACE_TO_DEPTH (operator 1)" in msg and "DEPTH_TO_SPACE (operator 3)" in msg
    assert "pixmcu supports: CONV_2D" in msg


def test_inspect_names_unsupported_operators(pixmcu_cli, tmp_path):
    import json

    code, out, err = pixmcu_cli("inspect", BAD / "unsupported_ops.tflite", "--json")
    assert code == 2
    report = json.loads(out)
    assert {(u["index"], u["op"]) for u in report["unsupported"]} == {(1, "SPACE_TO_DEPTH"), (3, "DEPTH_TO_SPACE")}
    assert "SOFTMAX" in report["supported_operators"]
    # The same one paragraph as generate gives, exit 2 for both.
    gen_code, _, gen_err = pixmcu_cli("generate", BAD / "unsupported_ops.tflite", "-o", tmp_path / "g")
    assert gen_code == 2 and "SPACE_TO_DEPTH (operator 1)" in gen_err
    assert err.split("error: ", 1)[1] == gen_err.split("error: ", 1)[1]
    code, out, err_table = pixmcu_cli("inspect", BAD / "unsupported_ops.tflite")
    assert code == 2 and "UNSUPPORTED" in out and err_table == err
