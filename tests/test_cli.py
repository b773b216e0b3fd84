"""pixmcu inspect / infer as a user runs them."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import FIXTURE_MODELS, RESNET
from pixmcu import reference
from pixmcu.frontend import load_model


def test_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "pixmcu", "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("inspect", "infer"):
        assert cmd in out


def test_inspect_resnet_json(pixmcu_cli):
    code, out, _ = pixmcu_cli("inspect", RESNET, "--json")
    assert code == 0
    r = json.loads(out)
    assert r["total_macs"] == 12_501_632
    assert [l["op"] for l in r["layers"]].count("conv2d") == 9
    first = r["layers"][0]
    assert first["macs"] == 32 * 32 * 16 * 27 and first["param_bytes"] == 16 * 27 + 16 * 4
    assert r["input"]["scale"] == [1.0] and r["input"]["zero_point"] == [-128]


@pytest.mark.parametrize("path", FIXTURE_MODELS, ids=lambda p: p.stem)
def test_inspect_table_on_fixtures(path, pixmcu_cli):
    code, out, _ = pixmcu_cli("inspect", path)
    assert code == 0 and "total:" in out


def test_infer_uint8_images_with_labels(tmp_path, cifar_images, pixmcu_cli):
    images, labels = cifar_images
    data = tmp_path / "d.npz"
    np.savez(data, x=images[:60], y=labels[:60])
    out = tmp_path / "o.npz"
    code, stdout, _ = pixmcu_cli("infer", RESNET, "--data", data, "--out", out, "--json")
    assert code == 0
    summary = json.loads(stdout)
    outputs = np.load(out)["outputs"]
    assert outputs.shape == (60, 10) and outputs.dtype == np.int8
    expected = reference.invoke(load_model(RESNET), (images[:60].astype(np.int16) - 128).astype(np.int8))
    np.testing.assert_array_equal(outputs, expected)
    assert summary["accuracy"] == pytest.approx((expected.argmax(1) == labels[:60]).mean())


def test_infer_rejects_wrong_shape(tmp_path, pixmcu_cli):
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((2, 28, 28, 1), np.uint8))
    code, _, err = pixmcu_cli("infer", RESNET, "--data", data, "--out", tmp_path / "o.npz")
    assert code == 2 and "(28, 28, 1)" in err and "32, 32, 3" in err


def test_infer_rejects_unreadable_data(tmp_path, pixmcu_cli):
    data = tmp_path / "d.npz"
    data.write_bytes(b"garbage")
    code, _, err = pixmcu_cli("infer", RESNET, "--data", data, "--out", tmp_path / "o.npz")
    assert code == 2 and str(data) in err


def test_infer_pixel_mapping_is_overridable(tmp_path, pixmcu_cli):
    data = tmp_path / "d.npz"
    np.savez(data, x=np.full((1, 32, 32, 3), 200, np.uint8))
    out = tmp_path / "o.npz"
    # real = pixel * 0.5 + 10 = 110 -> int8 110 - 128 = -18
    assert pixmcu_cli("infer", RESNET, "--data", data, "--out", out, "--pixel-scale", "0.5", "--pixel-offset", "10")[0] == 0
    expected = reference.invoke(load_model(RESNET), np.full((1, 32, 32, 3), -18, np.int8))
    np.testing.assert_array_equal(np.load(out)["outputs"], expected)


def test_data_sample_decodes_a_seeded_subset(tmp_path, pixmcu_cli):
    from conftest import CIFAR_TEST

    out = tmp_path / "s.npz"
    code, stdout, _ = pixmcu_cli("data", "sample", CIFAR_TEST, "-n", "30", "--seed", "3", "-o", out)
    assert code == 0 and str(out) in stdout
    d = np.load(out)
    assert d["x"].shape == (30, 32, 32, 3) and d["x"].dtype == np.uint8 and d["y"].shape == (30,)
    assert len(set(d["y"].tolist())) > 3  # the archive is sorted by class; a random sample is not
    again = tmp_path / "s2.npz"
    pixmcu_cli("data", "sample", CIFAR_TEST, "-n", "30", "--seed", "3", "-o", again)
    np.testing.assert_array_equal(np.load(again)["x"], d["x"])


def test_data_export_fashion_mnist(tmp_path, pixmcu_cli):
    out = tmp_path / "f.npz"
    code, _, err = pixmcu_cli("data", "export", "fashion-mnist", "-n", "50", "-o", out)
    assert code == 0, err
    d = np.load(out)
    assert d["x"].shape == (50, 28, 28, 1) and d["y"].max() <= 9
    code, _, err = pixmcu_cli("data", "export", "imagenet", "-o", out)
    assert code == 2 and "fashion-mnist" in err


def test_inspect_accepts_a_shipped_model_name(pixmcu_cli):
    code, out, _ = pixmcu_cli("inspect", "fmnist-pe-w8a8", "--json")
    assert code == 0
    r = json.loads(out)
    assert r["layers"][0]["op"] == "pixel_embedding" and r["input"]["dtype"] == "uint8"
    code, _, err = pixmcu_cli("inspect", "no-such-model")
    assert code == 2 and "fmnist-pe-w8a8" in err
