"""pixmcu validate: engines on the same images, accuracy per engine, pairwise comparisons."""

import json

import numpy as np

from conftest import CIFAR_TEST, RESNET


def test_validate_resnet_on_8_cifar_jpeg_images(tmp_path, pixmcu_cli):
    # The device engine runs as two QEMU shards (issue 17); the report must be that of one run.
    report_path = tmp_path / "v.json"
    code, out, err = pixmcu_cli("validate", RESNET, "--data", CIFAR_TEST, "--limit", 8, "--board", "qemu-m4",
                                "--engines", "reference,device", "--shards", 2, "--json", report_path)
    assert code == 0, err
    r = json.loads(report_path.read_text())
    assert set(r["engines"]) == {"reference", "device"} and r["n"] == 8
    from pixmcu import reference
    from pixmcu.data import load_dataset
    from pixmcu.frontend import load_model

    ds = load_dataset(CIFAR_TEST, limit=8)
    expected = reference.invoke(load_model(RESNET), (ds.x.astype(np.int16) - 128).astype(np.int8))
    for name in ("reference", "device"):
        e = r["engines"][name]
        assert e["n"] == 8 and e["predictions"] == expected.argmax(1).tolist()
        assert e["accuracy"] == (expected.argmax(1) == ds.y).mean()
        assert 0 <= e["accuracy"] <= e["top5"] <= 1
    (c,) = r["comparisons"]
    assert c["engines"] == ["reference", "device"] and c["values_compared"] == 80 and c["mismatches"] == 0
    assert c["layers_compared"] >= 10 and c["first_diverging_layer"] is None and c["bit_exact"]
    assert "top-1" in out and "reference vs device" in out
    assert "device" in err  # progress goes to stderr


def test_compare_names_the_first_diverging_layer():
    from pixmcu.validate import EngineRun, compare

    y = np.arange(20, dtype=np.int8).reshape(2, 10)
    a = EngineRun(y, {"l0": [1, 2], "l1": [3, 4], "l2": [5, 6]}, 0.0)
    y2 = y.copy()
    y2[1, 3] += 1
    b = EngineRun(y2, {"l0": [1, 2], "l1": [3, 9], "l2": [5, 7]}, 0.0)
    c = compare(a, b, ["l0", "l1", "l2"])
    assert c["mismatches"] == 1 and c["images_differing"] == 1 and c["values_compared"] == 20
    assert c["first_diverging_layer"] == {"layer": "l1", "images": [1], "images_differing": 1}
    assert c["bit_exact"] is False


def test_infer_without_out_prints_accuracy_and_progress(tmp_path, pixmcu_cli):
    code, out, err = pixmcu_cli("infer", RESNET, "--data", CIFAR_TEST, "--limit", 8, "--json")
    assert code == 0
    s = json.loads(out)
    assert s["out"] is None and s["n"] == 8 and s["accuracy"] is not None
    assert "reference" in err
    code, _, err = pixmcu_cli("infer", RESNET, "--data", CIFAR_TEST, "--limit", 8, "--json", "--quiet")
    assert code == 0 and err == ""
