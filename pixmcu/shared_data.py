"""Where the read-only data beside the project lives (`../shared`: datasets, the MLPerf Tiny models).

Looked up once, in this order: `$PIXMCU_SHARED`; `shared/` beside the checkout; for a clone of a
local checkout (`git clone /work/main elsewhere`), `shared/` beside the repository it was cloned from.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1]


def _beside_origin() -> Path | None:
    try:
        url = subprocess.run(["git", "-C", str(_CHECKOUT), "config", "--get", "remote.origin.url"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    origin = Path(url.removeprefix("file://"))
    return origin.parent / "shared" if url and origin.is_absolute() else None


@functools.cache
def shared_dir() -> Path:
    env = os.environ.get("PIXMCU_SHARED")
    if env:
        return Path(env)
    beside = _CHECKOUT.parent / "shared"
    if beside.is_dir():
        return beside
    origin = _beside_origin()
    return origin if origin is not None and origin.is_dir() else beside


def mlperf_resnet() -> Path:
    return shared_dir() / "models" / "mlperf_tiny" / "pretrainedResnet_quant.tflite"


def cifar10_test() -> Path:
    return shared_dir() / "datasets" / "cifar10_test_jpeg.npz"
