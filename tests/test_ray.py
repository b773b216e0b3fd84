"""Ray on a local instance (issue 17): an experiment grid whose runs are Ray tasks, and QEMU shards as
Ray tasks. One small instance serves the whole module."""

import json

import pytest

from test_shards import _records, _report, _run_args


@pytest.fixture(scope="module")
def ray_local():
    from pixmcu.cluster import connect

    ray = connect("local", num_cpus=2)  # the commands below find it initialised and keep it
    yield ray
    ray.shutdown()


def _grid(tmp_path, *extra, where="", rows=("float32", "w4a4_embed_d10q2")):
    return ["--dataset", "fashion-mnist", "--out", str(tmp_path / f"out{where}"), "--work", str(tmp_path / f"w{where}"),
            "--train-subset", "64", "--test-subset", "40", "--epochs", "1", "--widths", "4,4,4",
            "--batch-size", "32", "--device", "cpu", "--no-progress", *(a for r in rows for a in ("--only", r)),
            *extra]


@pytest.mark.slow
def test_experiment_grid_on_ray_records_skips_and_survives_a_failed_run(tmp_path, ray_local):
    from pixmcu.errors import PixmcuError
    from pixmcu.experiments import pixel_embedding as pe

    # float32 cannot save its checkpoint (a directory sits where the file goes): that run fails on
    # its Ray worker, the other is recorded all the same.
    blocker = tmp_path / "w" / "fashion-mnist" / "64x1_w4-4-4" / "float32.pt.tmp"
    blocker.mkdir(parents=True)
    with pytest.raises(PixmcuError, match=r"1 run\(s\) failed: float32"):
        pe.main(_grid(tmp_path, "--ray"))
    path = tmp_path / "out" / "pixel_embedding.json"
    first = json.loads(path.read_text())["runs"]
    assert [r["run"] for r in first] == ["w4a4_embed_d10q2"]

    blocker.rmdir()
    assert pe.main(_grid(tmp_path, "--ray")) == 0  # only the missing row runs
    runs = {r["run"]: r for r in json.loads(path.read_text())["runs"]}
    assert sorted(runs) == ["float32", "w4a4_embed_d10q2"]
    assert runs["w4a4_embed_d10q2"]["finished"] == first[0]["finished"]

    # The same record as the local pool writes (less what depends on when and where it ran).
    assert pe.main(_grid(tmp_path, where="_local", rows=["w4a4_embed_d10q2"])) == 0
    local = json.loads((tmp_path / "out_local" / "pixel_embedding.json").read_text())["runs"]
    local = {r["run"]: r for r in local}["w4a4_embed_d10q2"]
    varying = {"train_seconds", "wall_seconds", "finished", "history", "checkpoint", "hardware"}
    ray_rec = runs["w4a4_embed_d10q2"]
    assert set(ray_rec) == set(local)
    assert {k: v for k, v in ray_rec.items() if k not in varying} == {k: v for k, v in local.items() if k not in varying}


@pytest.mark.slow
def test_shards_as_ray_tasks_give_the_unsharded_results(resnet_run, ray_local, pixmcu_cli):
    d = resnet_run
    one, shards = d / "ray_one.json", d / "ray_shards.json"
    assert pixmcu_cli(*_run_args(d, one))[0] == 0
    code, out, err = pixmcu_cli(*_run_args(d, shards, "--shards", "2", "--ray"))
    assert code == 0, err
    assert _records(shards) == _records(one) and len(_records(one)) == 24
    assert _report(shards) == _report(one)
