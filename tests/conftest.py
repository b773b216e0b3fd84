import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from pixmcu.shared_data import shared_dir

ROOT = Path(__file__).resolve().parents[1]
SHARED = shared_dir()
FIXTURES = Path(__file__).resolve().parent / "fixtures"
RESNET = SHARED / "models" / "mlperf_tiny" / "pretrainedResnet_quant.tflite"
CIFAR_TEST = SHARED / "datasets" / "cifar10_test_jpeg.npz"
FIXTURE_MODELS = sorted((FIXTURES / "models").glob("*.tflite"))


def pytest_configure(config):
    # Shared data and the toolchains are part of the contract with CI: missing ones fail, never skip.
    for p in (RESNET, CIFAR_TEST):
        if not p.exists():
            raise pytest.UsageError(f"required shared file missing: {p} (set PIXMCU_SHARED to the shared/ folder)")
    for tool in ("gcc", "arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            raise pytest.UsageError(f"{tool} is not installed (bash scripts/setup.sh installs it)")


@pytest.fixture(scope="session")
def cifar_images():
    """The first 500 CIFAR-10 (JPEG) test images of a fixed random selection, with labels."""
    from PIL import Image

    d = dict(np.load(CIFAR_TEST))
    idx = np.random.default_rng(0).choice(len(d["labels"]), 500, replace=False)
    x = np.stack([np.asarray(Image.open(io.BytesIO(d["jpeg"][d["offsets"][i]:d["offsets"][i + 1]].tobytes())).convert("RGB"))
                  for i in idx])
    return x, d["labels"][idx].astype(np.int64)


@pytest.fixture(scope="session")
def resnet_run(tmp_path_factory, cifar_images):
    """The MLPerf Tiny ResNet built for qemu-m4 (m/) and 24 CIFAR-10 (JPEG) images (c.npz), for sharded runs."""
    from pixmcu.cli import main

    d = tmp_path_factory.mktemp("shards")
    x, y = cifar_images
    np.savez(d / "c.npz", x=x[:24], y=y[:24])
    assert main(["generate", str(RESNET), "-o", str(d / "m"), "--board", "qemu-m4"]) == 0
    assert main(["build", str(d / "m")]) == 0
    return d


@pytest.fixture
def pixmcu_cli(capsys):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    from pixmcu.cli import main

    def run(*args):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (make setup installs it); this is a failure, not a skip")
    return path
