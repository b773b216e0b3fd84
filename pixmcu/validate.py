"""`pixmcu validate`: run one model on several engines over the same images and compare them.

Engines: `reference` (the numpy integer reference), `host-c` (the generated C compiled with the host gcc
under ASan/UBSan) and `device` (the firmware for a QEMU board, through semihosting bulk files). All three
run the C generated once for the board, and each gives the output and a CRC-32 of every stored layer
output per image, so any two can be compared value by value and layer by layer. For a model trained
here (a `.pt` checkpoint, or a `.pmz` with its `.pt` beside it) the PyTorch model's top-1 is reported too.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pixmcu.errors import PixmcuError

ENGINES = ("reference", "host-c", "device")


@dataclass
class EngineRun:
    outputs: np.ndarray  # (N, ...) in the output dtype
    crcs: dict[str, list[int]]  # layer name -> CRC-32 per image, for the layers this engine stores
    seconds: float


def _crcs(per_layer: dict[str, np.ndarray], names: list[str]) -> dict[str, list[int]]:
    return {n: [zlib.crc32(np.ascontiguousarray(a).tobytes()) & 0xFFFFFFFF for a in per_layer[n]]
            for n in names if n in per_layer}


def _run_reference(graph, manifest: dict, x: np.ndarray, progress: Callable[[int], None]) -> EngineRun:
    from pixmcu import reference

    names = [l["name"] for l in manifest["layers"] if l["output_bytes"]]
    outs, crcs = [], {n: [] for n in names}
    t0 = time.monotonic()
    for i in range(0, len(x), 64):
        res = reference.run(graph, x[i:i + 64])
        outs.append(res[graph.outputs[0]])
        for n, c in _crcs(res, names).items():
            crcs[n] += c
        progress(len(res[graph.outputs[0]]))
    return EngineRun(np.concatenate(outs), {n: c for n, c in crcs.items() if c}, time.monotonic() - t0)


def _run_host_c(gen_dir: Path, manifest: dict, x: np.ndarray, progress: Callable[[int], None]) -> EngineRun:
    from pixmcu.engines.host_c import run_generated

    t0 = time.monotonic()
    y, layers = run_generated(gen_dir, x, layers=True)
    progress(len(x))
    return EngineRun(y, _crcs(layers, [l["name"] for l in manifest["layers"]]), time.monotonic() - t0)


def _run_device(gen_dir: Path, manifest: dict, board, x: np.ndarray, progress: Callable[[int], None],
                shards: int = 1, ray: str | None = None) -> EngineRun:
    from host_tools.bulk import BulkSource
    from host_tools.shards import ShardedSource
    from pixmcu.build import build

    if not board.is_qemu:
        raise PixmcuError(f"--engines device runs the firmware on a QEMU board; {board.name} is a real board: "
                          f"`pixmcu flash` it, then `pixmcu measure --port ...` (or choose --board qemu-m4)")
    res = build(gen_dir, board.name)
    args = (board, res.elf, int(manifest["input"]["bytes"]), manifest.get("model_sha256"))
    src = BulkSource(*args) if shards == 1 and not ray else ShardedSource(*args, shards, ray_address=ray)
    out_shape = tuple(manifest["output"]["shape"])
    per = out_shape[1:] if out_shape[0] == 1 else out_shape
    outs: dict[int, np.ndarray] = {}
    names = [l["name"] for l in manifest["layers"]]
    crcs: dict[str, dict[int, int]] = {n: {} for n in names}
    t0 = time.monotonic()
    try:
        for i, r in src.results(list(range(len(x))), lambda i: np.ascontiguousarray(x[i]).tobytes()):
            if r.status != 0:
                raise PixmcuError(f"device engine: image {i}: the model returned status {r.status}")
            outs[i] = np.frombuffer(r.output, dtype=manifest["output"]["dtype"]).reshape(per)
            for n, layer in zip(names, r.layers):
                if layer.bytes:  # 0 bytes: fused, never stored on the device
                    crcs[n][i] = layer.crc
            progress(1)
    finally:
        src.close()
    y = np.stack([outs[i] for i in range(len(x))])
    return EngineRun(y, {n: [c[i] for i in range(len(x))] for n, c in crcs.items() if len(c) == len(x)},
                     time.monotonic() - t0)


def float_predictions(model_path: Path, images: np.ndarray) -> tuple[np.ndarray, str] | None:
    """Top-1 classes of the PyTorch model a checkpoint came from, or None when there is none."""
    pt = model_path if model_path.suffix == ".pt" else model_path.with_suffix(".pt")
    if not pt.is_file() or images.dtype != np.uint8:
        return None
    import torch

    from pixmcu.train.loop import load_trained, predict

    model, _ = load_trained(pt)
    return predict(model, images, torch.device("cpu")), str(pt)


def _accuracy(pred: np.ndarray, y: np.ndarray | None, k: int = 1) -> float | None:
    if y is None:
        return None
    return float(np.mean([y[i] in pred[i][:k] for i in range(len(y))]))


def engine_summary(run: EngineRun, y: np.ndarray | None) -> dict[str, Any]:
    flat = run.outputs.reshape(len(run.outputs), -1).astype(np.int64)
    # Ties go to the lowest class index, as np.argmax (and the device report) decide them.
    order = np.argsort(-flat, axis=1, kind="stable")
    s = {"n": int(len(flat)), "accuracy": _accuracy(order[:, :1], y), "seconds": round(run.seconds, 3),
         "predictions": order[:, 0].tolist(), "layers_compared": list(run.crcs)}
    if flat.shape[1] >= 5:
        s["top5"] = _accuracy(order[:, :5], y, 5)
    return s


def compare(a: EngineRun, b: EngineRun, layer_order: list[str]) -> dict[str, Any]:
    """Values compared, mismatches, and the first layer (in execution order) where any image differs."""
    mism = a.outputs.reshape(len(a.outputs), -1) != b.outputs.reshape(len(b.outputs), -1)
    first = None
    common = [n for n in layer_order if n in a.crcs and n in b.crcs]
    for n in common:
        bad = [i for i, (p, q) in enumerate(zip(a.crcs[n], b.crcs[n])) if p != q]
        if bad:
            first = {"layer": n, "images": bad[:10], "images_differing": len(bad)}
            break
    return {"values_compared": int(mism.size), "mismatches": int(mism.sum()),
            "images_differing": int(mism.any(axis=1).sum()), "layers_compared": len(common),
            "first_diverging_layer": first, "bit_exact": bool(not mism.any() and first is None)}


def validate(model: str, data: str | Path, board: str | None = None, engines: tuple[str, ...] = ENGINES,
             limit: int | None = None, pixel_mapping: dict[str, float] | None = None,
             progress: bool = True, shards: int = 1, ray: str | None = None) -> dict[str, Any]:
    from tqdm import tqdm

    from pixmcu.analysis import generate_checked
    from pixmcu.boards import get_board
    from pixmcu.data import Dataset, PixelMapping, check_labels, fit_shape, load_dataset, per_input_shape, to_model_input
    from pixmcu.frontend import load_model, resolve_model_path

    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        raise PixmcuError(f"--engines {','.join(engines)}: choose from {', '.join(ENGINES)}")
    b = get_board(board)
    path = resolve_model_path(model)
    graph = load_model(path)
    if shards < 1:
        raise PixmcuError("--shards must be at least 1")
    mapping = {"scale": 1.0, "offset": 0.0, **(pixel_mapping or {})}
    # As pixmcu.data.read_model_inputs, keeping the images as stored for the float model.
    ds = load_dataset(data, limit=limit)
    images = fit_shape(ds.x, graph.input_tensor(), str(ds.path))
    x = to_model_input(images, graph.input_tensor(), PixelMapping(mapping["scale"], mapping["offset"]), str(ds.path))
    check_labels(Dataset(x=x, y=ds.y, path=ds.path), int(np.prod(per_input_shape(graph.output_tensor()))))
    work = Path(tempfile.mkdtemp(prefix="pixmcu-validate-"))
    try:
        _, gen = generate_checked(path, work / "gen", board=b.name, pixel_mapping=mapping, first_layer="auto")
        manifest = gen.manifest
        order = [l["name"] for l in manifest["layers"]]
        runs: dict[str, EngineRun] = {}
        for name in engines:
            with tqdm(total=len(x), desc=name, unit="img", disable=not progress) as bar:
                if name == "reference":
                    runs[name] = _run_reference(graph, manifest, x, bar.update)
                elif name == "host-c":
                    runs[name] = _run_host_c(gen.out_dir, manifest, x, bar.update)
                else:
                    runs[name] = _run_device(gen.out_dir, manifest, b, x, bar.update, shards, ray)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report: dict[str, Any] = {
        "model": str(model), "data": str(ds.path), "board": b.name, "n": int(len(x)),
        "labels": ds.y is not None, "pixel_mapping": mapping,
        "engines": {n: engine_summary(r, ds.y) for n, r in runs.items()},
        "comparisons": [{"engines": [p, q], **compare(runs[p], runs[q], order)}
                        for i, p in enumerate(runs) for q in list(runs)[i + 1:]],
    }
    fl = float_predictions(path, images)
    if fl is not None:
        pred, src = fl
        report["float"] = {"source": src, "n": int(len(pred)), "accuracy": _accuracy(pred[:, None], ds.y),
                           "agreement_with_integer": {n: float(np.mean(pred == np.array(s["predictions"])))
                                                      for n, s in report["engines"].items()}}
    return report
