"""Choosing the first-layer variant: the cost model, budgets, wait states, and `pixmcu tune`."""

import json

import pytest

from pixmcu.first_layer.choose import Target, candidates, choose, data_bytes, model_cycles
from pixmcu.first_layer.reference import Geometry
from tests.kernel_support.first_layer_graphs import tiny_pe_graph

G = Geometry(32, 32, 3, 16, 3, 1)


def test_model_orders_variants_like_the_benchmark():
    # The fitted model's order on the headline case is the measured one (docs/first_layer.md).
    cyc = {n: model_cycles(n, G, 10, 8, "cortex-m4") for n in
           ("pe_joint_s16", "pe_folded_s16", "s8_im2col", "f32_vmul", "pe_folded_s32", "pe_embed_conv")}
    assert list(cyc) == sorted(cyc, key=cyc.get)


def test_joint_wins_when_binned_folded_when_not():
    assert choose(G, 10, 2, 8, Target())["variant"] == "pe_joint_s16"
    assert choose(G, 10, 2, None, Target())["variant"] == "pe_folded_s16"


def test_flash_budget_excludes_big_tables():
    budget = data_bytes("pe_folded_s16", G, 10, None) - 1
    d = choose(G, 10, 2, None, Target(flash_budget=budget))
    assert d["variant"] == "pe_embed_conv"
    assert "pe_folded_s16 (needs" in d["reason"]
    with pytest.raises(ValueError, match="no first-layer variant fits"):
        choose(G, 10, 2, None, Target(flash_budget=1000))


def test_wait_states_cost_table_lookups_and_ram_removes_them():
    slow = {c.name: c for c in candidates(G, 10, 2, 8, Target(flash_wait_states=5))}
    fast = {c.name: c for c in candidates(G, 10, 2, 8, Target())}
    # A 16-channel int16 row is two 16-byte flash lines: 2 * 5 cycles per lookup.
    extra = slow["pe_folded_s16"].est_cycles - fast["pe_folded_s16"].est_cycles
    assert extra == pytest.approx(G.out_h * G.out_w * 27 * 2 * 5)
    in_ram = {c.name: c for c in candidates(G, 10, 2, 8, Target(flash_wait_states=5, ram_budget=1 << 20))}
    assert in_ram["pe_joint_s16"].tables_in == "ram"
    assert in_ram["pe_joint_s16"].est_cycles == fast["pe_joint_s16"].est_cycles


def test_measured_numbers_override_the_model():
    d = choose(G, 10, 2, 8, Target(), measured={"pe_folded_s16": 1.0})
    assert d["variant"] == "pe_folded_s16" and "counted under QEMU" in d["reason"]
    # Estimated cycles are never called measured (issue 14).
    assert "measured" not in d["reason"]


def test_int16_unprovable_excludes_the_variant():
    d = choose(G, 10, 2, None, Target(), int16_ok={"pe_folded_s16": False})
    assert d["variant"] != "pe_folded_s16" and "int16 bound not provable" in d["reason"]


def test_tune_graph_measures_and_chooses(tmp_path):
    from pixmcu.first_layer.tune import problem_from_graph, tune_graph

    graph = tiny_pe_graph(bins=4, seed=1)
    p, info = problem_from_graph(graph)
    assert info["bins"] == 4 and p.d == 4
    d = tune_graph(graph, "qemu-m4", tmp_path, Target())
    assert {m["name"] for m in d["measurements"]} == {"pe_folded_s16", "pe_joint_s16", "pe_folded_s32",
                                                      "pe_embed_conv"}
    assert all(m["bitexact"] for m in d["measurements"])
    best = min(d["measurements"], key=lambda m: m["estimated_cycles"])
    assert d["variant"] == best["name"]
    json.dumps(d, default=float)


def test_tune_cli_rejects_a_model_without_embedding(tmp_path, pixmcu_cli):
    import shutil

    from tests.conftest import FIXTURES

    shutil.copy(FIXTURES / "models" / "conv_ops.tflite", tmp_path / "model.tflite")
    (tmp_path / "manifest.json").write_text(json.dumps({"source_file": "model.tflite", "board": "qemu-m4"}))
    code, out, err = pixmcu_cli("tune", str(tmp_path))
    assert code == 2 and "no pixel embedding" in err


def test_tune_an_exported_binned_model(tmp_path):
    """A model from pixmcu's own exporter (issue 5's binned pixel embedding): its real table, bin
    edges, weights and requantization drive every variant, all bit-exact on QEMU."""
    import torch
    from pixmcu.first_layer.tune import problem_from_graph, tune_graph
    from pixmcu.nn.export import export_model
    from pixmcu.nn.models import ModelConfig, build_model

    cfg = ModelConfig(arch="cnn28", in_channels=1, image_size=28, input_stage="embed",
                      embed={"dim": 10, "bits": 2, "bins": 8})
    torch.manual_seed(0)
    model = build_model(cfg)
    model.eval()
    graph = export_model(model)
    p, info = problem_from_graph(graph)
    assert info["bins"] == 8 and info["geometry"].startswith("28x28x1->")
    d = tune_graph(graph, "qemu-m4", tmp_path, Target())
    assert all(m["bitexact"] for m in d["measurements"])
    assert d["variant"] in ("pe_folded_s16", "pe_joint_s16")
