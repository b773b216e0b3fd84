"""Expected outputs for bit-exact checking: which host computation the device must agree with.

A provider has `description` and `layer_outputs(x) -> (per-layer bytes by layer name, output bytes)`
for one input `x` (the model input's dtype and shape), and optionally `layer_outputs_batch(xs)`
returning a list of those for a batch. The default provider rebuilds the model from
the manifest's `source_file` with pixmcu's frontend and runs the numpy integer reference. Any other
provider can be plugged in with a spec `module:factory` or `path/to/file.py:factory`; the factory is
called with (outdir, manifest).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Protocol

import numpy as np

from pixmcu.errors import PixmcuError


class Reference(Protocol):
    description: str

    def layer_outputs(self, x: np.ndarray) -> tuple[dict[str, bytes], bytes]: ...


class PixmcuReference:
    """pixmcu.reference.run on the graph pixmcu.frontend.load_model builds from the source model."""

    description = "pixmcu.reference"

    def __init__(self, outdir: Path, manifest: dict):
        from pixmcu import frontend, reference

        src = Path(outdir) / manifest["source_file"]
        if not src.is_file():
            raise PixmcuError(f"source model {src} named in manifest.json is missing")
        self._reference = reference
        self.graph = frontend.load_model(src)
        self.layer_names = [layer["name"] for layer in manifest.get("layers", [])]
        self.output_name = self.graph.outputs[0]

    def layer_outputs(self, x: np.ndarray) -> tuple[dict[str, bytes], bytes]:
        return self.layer_outputs_batch(np.asarray(x)[None])[0]

    def layer_outputs_batch(self, xs: np.ndarray) -> list[tuple[dict[str, bytes], bytes]]:
        xs = np.asarray(xs).reshape((len(xs),) + tuple(self.graph.input_tensor().shape[1:]))
        res = self._reference.run(self.graph, xs)
        names = [n for n in self.layer_names if n in res]
        return [({n: np.ascontiguousarray(res[n][k]).tobytes() for n in names},
                 np.ascontiguousarray(res[self.output_name][k]).tobytes()) for k in range(len(xs))]


def _load_factory(spec: str):
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise PixmcuError(f"reference spec '{spec}' must look like module:factory or file.py:factory")
    if target.endswith(".py"):
        path = Path(target).resolve()
        if not path.is_file():
            raise PixmcuError(f"reference file {path} not found")
        name = f"_pixmcu_reference_{abs(hash(str(path)))}"
        module = sys.modules.get(name)
        if module is None:
            loader_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[name] = module
            loader_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise PixmcuError(f"cannot import reference module '{target}': {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PixmcuError(f"reference module '{target}' has no '{attr}'") from None


def load_reference(outdir: Path, manifest: dict, spec: str | None = None) -> tuple[Reference | None, str | None]:
    """The provider to check against, or (None, why) when there is none."""
    if spec:
        return _load_factory(spec)(outdir, manifest), None
    try:
        return PixmcuReference(outdir, manifest), None
    except (ImportError, AttributeError) as exc:
        return None, f"host reference unavailable ({exc})"
    except PixmcuError as exc:
        return None, f"host reference unavailable: {exc}"
