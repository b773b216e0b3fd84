"""Connecting to Ray, the optional engine behind `--ray [ADDRESS]` (pip install 'pixmcu[cluster]').

ADDRESS "local" (what a bare `--ray` means) starts a private Ray instance for this command; "auto"
joins the cluster that `ray start` set up on this machine (or RAY_ADDRESS); "HOST:PORT" or
"ray://HOST:10001" joins that cluster, whose nodes must have pixmcu installed. A process that has
already called `ray.init` (a notebook, a test) keeps its instance.
"""

from __future__ import annotations

import os
from pathlib import Path

from pixmcu.errors import PixmcuError

LOCAL = "local"


def connect(address: str | None = LOCAL, num_cpus: int | None = None):
    """The `ray` module, connected. Local workers import pixmcu from where this process does."""
    try:
        import ray
    except ImportError:
        raise PixmcuError("--ray needs Ray: pip install 'pixmcu[cluster]'") from None
    if ray.is_initialized():
        return ray
    kwargs = {"include_dashboard": False, "log_to_driver": True, "configure_logging": False}
    if (address or LOCAL) == LOCAL:
        here = str(Path(__file__).resolve().parents[1])
        path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
        kwargs.update(address="local", num_cpus=num_cpus, runtime_env={"env_vars": {"PYTHONPATH": path}})
    else:
        kwargs.pop("include_dashboard")
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except ConnectionError as exc:
        raise PixmcuError(f"--ray {address}: cannot reach a Ray cluster there ({exc})") from None
    return ray
