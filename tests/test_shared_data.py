"""The shared/ folder is found beside the checkout, beside a clone's origin, or where PIXMCU_SHARED says."""

import subprocess

from pixmcu import shared_data


def test_env_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("PIXMCU_SHARED", str(tmp_path))
    assert shared_data.shared_dir.__wrapped__() == tmp_path


def test_clone_finds_shared_beside_its_origin(monkeypatch, tmp_path):
    origin = tmp_path / "work" / "main"
    (tmp_path / "work" / "shared").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(origin)], check=True)
    clone = tmp_path / "elsewhere" / "checkout"
    clone.mkdir(parents=True)
    subprocess.run(["git", "-C", str(clone), "init", "-q"], check=True)
    subprocess.run(["git", "-C", str(clone), "remote", "add", "origin", str(origin)], check=True)
    monkeypatch.delenv("PIXMCU_SHARED", raising=False)
    monkeypatch.setattr(shared_data, "_CHECKOUT", clone)
    assert shared_data.shared_dir.__wrapped__() == tmp_path / "work" / "shared"
