"""pixmcu's own model files: a training checkpoint (.pt) or an exported integer graph (.pmz).

`.pt` is what `pixmcu train` writes (model configuration + weights); loading it needs torch and
exports the model on the fly. `.pmz` is the exported integer graph itself, a numpy .npz archive
(one JSON member describing tensors and operators, one array per constant), so shipped models and
`pixmcu generate` need no torch. Both become the same `pixmcu.ir.Graph`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pixmcu.errors import PixmcuError
from pixmcu.ir import Graph, GraphError, Operator, Quantization, Tensor

GRAPH_FORMAT = "pixmcu-graph"
GRAPH_VERSION = 1
SUFFIXES = (".pt", ".pmz")


def _tuples(v: Any) -> Any:
    """JSON lists back to the tuples the IR's attributes use."""
    if isinstance(v, list):
        return tuple(_tuples(x) for x in v)
    return v


def save_graph(graph: Graph, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    tensors = []
    for i, t in enumerate(graph.tensors.values()):
        entry = {"name": t.name, "shape": list(t.shape), "dtype": t.dtype,
                 "quant": None if t.quant is None else t.quant.to_json()}
        if t.is_constant:
            entry["data"] = f"c{i}"
            arrays[f"c{i}"] = np.asarray(t.data)
        if t.variable:
            entry["variable"] = True
        tensors.append(entry)
    ops = [{"name": op.name, "kind": op.kind, "inputs": list(op.inputs), "outputs": list(op.outputs),
            "attrs": {k: v for k, v in op.attrs.items()}} for op in graph.operators]
    doc = {"format": GRAPH_FORMAT, "version": GRAPH_VERSION, "name": graph.name, "source": graph.source,
           "inputs": list(graph.inputs), "outputs": list(graph.outputs), "tensors": tensors, "operators": ops,
           "metadata": metadata or {}}
    blob = np.frombuffer(json.dumps(doc, default=_jsonable).encode(), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # a file object keeps numpy from appending ".npz"
        np.savez_compressed(f, __graph__=blob, **arrays)
    return path


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"cannot store {type(v).__name__} in a graph file")


# Uncompressed bytes a .pmz may hold: far above any MCU model, far below a decompression bomb.
MAX_PMZ_BYTES = 256 << 20


def read_graph_file(path: Path) -> tuple[Graph, dict[str, Any]]:
    from pixmcu.frontend.pmz_schema import check_doc, parse_doc
    from pixmcu.graph_checks import validate_graph

    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise ValueError("a single array, not an archive")
            total = sum(i.file_size for i in z.zip.infolist())
            if total > MAX_PMZ_BYTES:
                raise PixmcuError(f"{path}: the graph file unpacks to {total} bytes, over pixmcu's limit of "
                                  f"{MAX_PMZ_BYTES}")
            arrays = {k: z[k] for k in z.files}
    except PixmcuError:
        raise
    except Exception as exc:
        raise PixmcuError(f"{path}: not a pixmcu graph file ({type(exc).__name__}: {str(exc)[:120]})") from None
    if "__graph__" not in arrays:
        raise PixmcuError(f"{path}: not a pixmcu graph file (no __graph__ member)")
    try:
        doc = parse_doc(arrays["__graph__"])
        if doc.get("format") != GRAPH_FORMAT or doc.get("version") != GRAPH_VERSION:
            raise PixmcuError(f"{path}: unsupported graph file format {str(doc.get('format'))[:40]!r} "
                              f"v{str(doc.get('version'))[:20]}")
        check_doc(doc, arrays)
        tensors = {}
        for e in doc["tensors"]:
            q = e["quant"]
            quant = None if q is None else Quantization(tuple(q["scale"]), tuple(q["zero_point"]), q["axis"])
            data = arrays[e["data"]] if "data" in e else None
            tensors[e["name"]] = Tensor(e["name"], tuple(e["shape"]), e["dtype"], quant, data,
                                        variable=e.get("variable", False))
        ops = [Operator(o["name"], o["kind"], tuple(o["inputs"]), tuple(o["outputs"]),
                        {k: _tuples(v) for k, v in o["attrs"].items()}) for o in doc["operators"]]
        graph = Graph(tensors, ops, tuple(doc["inputs"]), tuple(doc["outputs"]), name=doc["name"], source=doc["source"])
        validate_graph(graph)
    except GraphError as exc:
        raise PixmcuError(f"{path}: {exc}") from None
    return graph, doc.get("metadata", {})


def graph_from_training_checkpoint(path: Path) -> Graph:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise PixmcuError(f"{path}: loading a training checkpoint needs torch (pip install 'pixmcu[train]'); "
                          "export it to .pmz with `pixmcu train --export` on a machine that has torch") from None
    from pixmcu.nn.export import export_model
    from pixmcu.train.loop import load_trained

    from pixmcu.graph_checks import validate_graph

    try:
        model, _ = load_trained(path)
    except PixmcuError:
        raise
    except Exception as exc:  # a corrupt or foreign file: torch, zipfile and the model builder raise assorted errors
        raise PixmcuError(f"{path}: not a loadable pixmcu training checkpoint ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:160] if str(exc) else ''})") from None
    graph = export_model(model, name=_identifier(path.stem), source=str(path))
    try:
        validate_graph(graph)
    except GraphError as exc:
        raise PixmcuError(f"{path}: {exc}") from None
    return graph


def _identifier(stem: str) -> str:
    s = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in stem)
    return s if s and not s[0].isdigit() else f"m_{s}"


def load_checkpoint(path: str | Path) -> Graph:
    """A .pt training checkpoint or a .pmz graph file as an integer graph."""
    p = Path(path)
    if not p.exists():
        raise PixmcuError(f"{p}: no such model file")
    if p.suffix == ".pmz":
        return read_graph_file(p)[0]
    if p.suffix == ".pt":
        return graph_from_training_checkpoint(p)
    raise PixmcuError(f"{p}: pixmcu checkpoints end in {' or '.join(SUFFIXES)}")
