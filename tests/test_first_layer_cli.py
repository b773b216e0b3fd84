"""`pixmcu bench first-layer`: table, ratios, JSON in the documented shape, plot."""

import json


def test_bench_first_layer_quick(tmp_path, pixmcu_cli):
    out = tmp_path / "fl.json"
    code, stdout, err = pixmcu_cli("bench", "first-layer", "--quick", "--json", str(out))
    assert code == 0, err
    assert "estimated cycles" in stdout and "ratios for 32x32x3->16 k3 s1" in stdout
    doc = json.loads(out.read_text())
    assert doc["board"] == "qemu-m4" and doc["counter"] == "instructions"
    assert len(doc["cases"]) == 2
    for case in doc["cases"]:
        assert set(case["shape"]) >= {"in", "out_c", "kernel", "stride"}
        for v in case["variants"]:
            assert set(v) >= {"name", "count", "counter", "estimated_cycles", "flash_bytes", "ram_bytes", "bitexact"}
            assert v["bitexact"] in (True, None)
    # The ratios are figures the benchmark reports (docs/first_layer.md), not pass/fail criteria of a test.
    h = doc["headline"]
    for key in ("pe_vs_float_est_cycles", "pe_vs_int8_instructions", "joint_vs_float_est_cycles",
                "joint_vs_int8_instructions"):
        assert h[key] > 0
    assert (tmp_path / "fl.png").stat().st_size > 1000


def test_bench_rejects_bad_arguments(pixmcu_cli):
    code, _, err = pixmcu_cli("bench", "first-layer", "--embed-bits", "9")
    assert code == 2 and "--embed-bits" in err
