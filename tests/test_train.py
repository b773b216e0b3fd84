"""Training loop, checkpoints and the train / models / experiment commands (issue 5)."""

import json

import numpy as np
import pytest

import torch  # noqa: E402  (a required dependency: requirements.txt)
torch.set_num_threads(1)  # the CPUs are shared; more threads only oversubscribe them

from pixmcu.nn.models import ModelConfig, build_model  # noqa: E402
from pixmcu.train.data import Dataset, Split  # noqa: E402
from pixmcu.train.loop import TrainArgs, train  # noqa: E402


@pytest.mark.parametrize("stage,bits", [("embed", 4), ("naive", 4), ("int8", 8)])
def test_one_batch_overfit(stage, bits):
    torch.manual_seed(0)
    cfg = ModelConfig(widths=(8, 16, 16), head="flatten", input_stage=stage, wbits=bits, abits=bits,
                      embed={"dim": 4, "bits": 2})
    model = build_model(cfg)
    x = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8)
    y = torch.arange(16) % 10
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    model.train()
    for _ in range(80):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3
    model.train()  # float path; BN in batch mode, as trained
    assert (model(x).argmax(1) == y).float().mean() == 1.0


def _tiny(n=96, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = np.clip(rng.normal(25 * y[:, None, None, None], 40, (n, 28, 28, 1)), 0, 255).astype(np.uint8)
    return x, y


def test_checkpoint_every_epoch_and_resume(tmp_path):
    x, y = _tiny()
    data = Dataset("tiny", Split(x, y), Split(x[:32], y[:32]), 10)
    cfg = ModelConfig(widths=(4, 8, 8), head="flatten", input_stage="embed", wbits=4, abits=4, embed={"dim": 3, "bits": 2})
    ck = tmp_path / "m.pt"
    _, r1 = train(cfg, data, TrainArgs(epochs=1, batch_size=32, progress=False), checkpoint=ck)
    assert torch.load(ck, weights_only=False)["epoch"] == 1
    # Resuming with a longer schedule continues from the saved epoch instead of starting over.
    _, resumed = train(cfg, data, TrainArgs(epochs=2, batch_size=32, progress=False), checkpoint=ck, resume=True)
    st = torch.load(ck, weights_only=False)
    assert st["epoch"] == 2 and st["step"] == 6 and len(resumed.history) == 2
    assert resumed.history[0] == r1.history[0]
    with pytest.raises(Exception, match="different model configuration"):
        other = ModelConfig(widths=(4, 8, 8), head="flatten", input_stage="int8", wbits=4, abits=4)
        train(other, data, TrainArgs(epochs=3, batch_size=32, progress=False), checkpoint=ck, resume=True)


def test_cli_train_export_and_generate_input(tmp_path, pixmcu_cli):
    x, y = _tiny(64)
    npz = tmp_path / "tiny.npz"
    np.savez(npz, x=x[..., 0], y=y)
    ck, pmz = tmp_path / "m.pt", tmp_path / "m.pmz"
    code, out, err = pixmcu_cli("train", "--dataset", npz, "--bits", "W4A4", "--input-stage", "embed",
                                "--embed-dim", "3", "--bins", "8", "--learn-bins", "--widths", "4,8,8",
                                "--epochs", "1", "--batch-size", "16", "--no-progress", "-o", ck, "--export", pmz,
                                "--val-split", "0.25")
    assert code == 0, err
    assert ck.exists() and pmz.exists() and "top-1" in out
    # The held-out split is said out loud, and sized by --val-split.
    assert "16 of 64 images held out" in err and "on 16 test images" in out
    # validate reports the PyTorch model's top-1 beside the integer engines' (m.pt beside m.pmz).
    report = tmp_path / "v.json"
    code, vout, err = pixmcu_cli("validate", pmz, "--data", npz, "--engines", "reference", "--json", report, "--quiet")
    assert code == 0, err
    r = json.loads(report.read_text())
    assert r["float"]["source"] == str(ck) and r["float"]["n"] == 64 and 0 <= r["float"]["accuracy"] <= 1
    assert 0 <= r["float"]["agreement_with_integer"]["reference"] <= 1 and "float (m.pt)" in vout
    from pixmcu.frontend.checkpoint import load_checkpoint
    from pixmcu.reference import invoke

    g = load_checkpoint(pmz)
    np.testing.assert_array_equal(invoke(g, x[:8]), invoke(load_checkpoint(ck), x[:8]))
    # Existing checkpoint without --resume is a user error, not a traceback.
    code, _, err = pixmcu_cli("train", "--dataset", npz, "--epochs", "1", "-o", ck, "--no-progress")
    assert code == 2 and "--resume" in err
    code, _, err = pixmcu_cli("train", "--dataset", npz, "--bits", "W3A4", "-o", tmp_path / "x.pt")
    assert code == 2 and "weights take" in err


def test_models_command_lists_shipped_models(pixmcu_cli):
    from pixmcu.models import list_models, resolve

    code, out, _ = pixmcu_cli("models", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [m["name"] for m in listed] == [m["name"] for m in list_models()]
    for m in listed:
        assert resolve(m["name"]) is not None and {"dataset", "input_stage", "wbits", "abits", "host_top1"} <= set(m)
    assert resolve("no-such-model") is None and resolve("../etc/passwd") is None
    code, out, _ = pixmcu_cli("models")
    assert code == 0


def test_shipped_models_load_and_run():
    from pixmcu.frontend.checkpoint import load_checkpoint
    from pixmcu.models import list_models, resolve
    from pixmcu.reference import invoke

    for m in list_models():
        g = load_checkpoint(resolve(m["name"]))
        t = g.input_tensor()
        assert any(op.kind == "pixel_embedding" for op in g.operators) and t.dtype == "uint8"
        out = invoke(g, np.zeros((2,) + t.shape[1:], np.uint8))
        assert out.shape == (2, 10)


def test_experiment_report_from_json(tmp_path):
    from pixmcu.experiments.pixel_embedding import run_plan
    from pixmcu.experiments.report import write_markdown

    ids = [r for r, _ in run_plan("fashion-mnist")]
    assert ids[0] == "float32" and "w4a4_embed_d10q2" in ids and "w4a4_embed_d10q2_k8" in ids and "w8a8_embed_d10q2_k16" in ids
    runs = [{"dataset": "fashion-mnist", "run": "float32", "label": "float32", "input_stage": "float", "wbits": None,
             "abits": None, "top1": 90.0, "train_seconds": 10, "epochs": 1, "train_samples": 10, "test_samples": 5,
             "config": {"arch": "cnn28", "widths": [1, 2, 3]}},
            {"dataset": "fashion-mnist", "run": "w4a4_naive", "label": "W4A4 naive", "input_stage": "naive", "wbits": 4,
             "abits": 4, "top1": 85.5, "train_seconds": 10, "epochs": 1, "train_samples": 10, "test_samples": 5,
             "config": {"arch": "cnn28", "widths": [1, 2, 3]}}]
    write_markdown({"runs": runs}, tmp_path / "r.md")
    text = (tmp_path / "r.md").read_text()
    assert "-4.50" in text and "Fashion-MNIST" in text


def test_augment_crops_and_flips_are_one_gather():
    from pixmcu.train.loop import augment_batch

    x = torch.randint(0, 256, (12, 3, 10, 10), dtype=torch.uint8)
    got = augment_batch(x, "crop-flip", torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # the same draws, in the same order, applied image by image
    flip = torch.rand(12, generator=g) < 0.5
    dy, dx = torch.randint(0, 9, (12,), generator=g), torch.randint(0, 9, (12,), generator=g)
    for i in range(12):
        img = x[i].flip(2) if flip[i] else x[i]
        want = torch.nn.functional.pad(img, (4, 4, 4, 4))[:, dy[i]:dy[i] + 10, dx[i]:dx[i] + 10]
        assert torch.equal(got[i], want)
    assert flip.any() and not flip.all() and (dy != 4).any()  # the seed exercises both branches


def test_choose_epochs_fits_the_budget():
    from pixmcu.experiments.pixel_embedding import choose_epochs

    # 17 runs on 17 workers at 0.1 s/step, 196 steps/epoch: 240 s holds 12 whole epochs.
    assert choose_epochs(0.1, 196, 17, 17, 240, 40, safety=1.0) == 12
    assert choose_epochs(0.1, 196, 17, 9, 240, 40, safety=1.0) == 6  # two waves
    assert choose_epochs(0.1, 196, 17, 17, 240, 40) == 9  # room for the loaded speed
    assert choose_epochs(0.001, 196, 1, 1, 240, 40) == 40  # capped
    assert choose_epochs(10.0, 196, 1, 1, 240, 40) == 1  # never zero


def test_experiment_in_parallel_workers_records_every_run(tmp_path):
    from pixmcu.experiments import pixel_embedding as pe

    argv = ["--dataset", "fashion-mnist", "--out", str(tmp_path / "out"), "--work", str(tmp_path / "w"),
            "--train-subset", "64", "--test-subset", "40", "--epochs", "1", "--widths", "4,4,4",
            "--batch-size", "32", "--jobs", "2", "--device", "cpu", "--no-progress",
            "--only", "float32", "--only", "w4a4_embed_d10q2"]
    assert pe.main(argv) == 0
    runs = json.loads((tmp_path / "out" / "pixel_embedding.json").read_text())["runs"]
    assert sorted(r["run"] for r in runs) == ["float32", "w4a4_embed_d10q2"]
    assert all(r["train_samples"] == 64 and r["test_samples"] == 40 and r["config"]["widths"] == [4, 4, 4]
               for r in runs)
    assert (tmp_path / "out" / "pixel_embedding.md").exists()
    assert pe.PLANS["fashion-mnist"].widths == (16, 32, 64)  # overrides never leak into the plan
    assert pe.main(argv) == 0  # finished runs are skipped, not retrained
    again = json.loads((tmp_path / "out" / "pixel_embedding.json").read_text())["runs"]
    assert [r["finished"] for r in again] == [r["finished"] for r in runs]


def test_a_failed_run_is_reported_and_the_others_still_recorded(tmp_path, monkeypatch):
    from pixmcu.errors import PixmcuError
    from pixmcu.experiments import pixel_embedding as pe

    real = pe.run_one

    def flaky(ds, run_id, *a, **k):
        if run_id == "float32":
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real(ds, run_id, *a, **k)

    monkeypatch.setattr(pe, "run_one", flaky)
    argv = ["--dataset", "fashion-mnist", "--out", str(tmp_path / "out"), "--work", str(tmp_path / "w"),
            "--train-subset", "32", "--test-subset", "20", "--epochs", "1", "--widths", "4,4,4",
            "--batch-size", "32", "--device", "cpu", "--no-progress", "--only", "float32", "--only", "w8a8_int8"]
    with pytest.raises(PixmcuError, match=r"1 run\(s\) failed: float32"):
        pe.main(argv)
    runs = json.loads((tmp_path / "out" / "pixel_embedding.json").read_text())["runs"]
    assert [r["run"] for r in runs] == ["w8a8_int8"]
