"""The measurement loop shared by `pixmcu run` (QEMU) and `pixmcu measure` (a flashed board).

A source yields (image index, device result) — over the serial protocol or through bulk files —
and the loop checks each against the host reference, keeps it in the result store at once, and
builds the report at the end (or, on failure or interruption, from what finished).
"""

from __future__ import annotations

import sys
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from host_tools.counting import check_counts, counting_for
from host_tools.dataset import Inputs
from host_tools.device import Device, InferenceResult
from host_tools.expected import Reference
from host_tools.report import build_report, plot_layers
from host_tools.results import ResultStore, write_json_atomic
from pixmcu.boards import Board
from pixmcu.errors import PixmcuError
from pixmcu.signals import interruption_reason

REPORT_EVERY_S = 2.0


class RunFailed(PixmcuError):
    """The run stopped early; the message says why and where the finished results are."""


class SerialSource:
    name = "serial"

    def __init__(self, device: Device):
        self.device = device

    def results(self, todo: list[int], image_bytes) -> Iterator[tuple[int, InferenceResult]]:
        for i in todo:
            yield i, self.device.infer(image_bytes(i))

    def close(self) -> None:
        pass


class ExpectedPrefetch:
    """Computes expected per-layer CRCs ahead of the device in a worker thread, in small batches
    when the provider can do batches (the numpy reference is much faster per image that way)."""

    def __init__(self, reference: Reference | None, inputs: Inputs, order: list[int], batch: int = 16):
        self.reference, self.inputs = reference, inputs
        self.batch = batch if hasattr(reference, "layer_outputs_batch") else 1
        self.chunks = [order[i:i + self.batch] for i in range(0, len(order), self.batch)]
        self.chunk_of = {idx: c for c, chunk in enumerate(self.chunks) for idx in chunk}
        self._pool = ThreadPoolExecutor(max_workers=1) if reference else None
        self._futures: dict[int, Future] = {}

    def _compute(self, chunk: list[int]) -> dict[int, tuple[dict[str, int], bytes]]:
        if self.batch == 1:
            results = [self.reference.layer_outputs(self.inputs.x[i]) for i in chunk]
        else:
            results = self.reference.layer_outputs_batch(self.inputs.x[chunk])
        return {i: ({name: zlib.crc32(b) & 0xFFFFFFFF for name, b in layers.items()}, output)
                for i, (layers, output) in zip(chunk, results)}

    def _submit(self, c: int) -> None:
        if 0 <= c < len(self.chunks) and c not in self._futures:
            self._futures[c] = self._pool.submit(self._compute, self.chunks[c])

    def start(self) -> None:
        if self._pool:
            self._submit(0)
            self._submit(1)

    def get(self, i: int):
        if not self._pool:
            return None
        c = self.chunk_of.get(i)
        if c is None:  # not planned (should not happen): compute it alone
            return self._compute([i])[i]
        self._submit(c)
        self._submit(c + 1)
        self._submit(c + 2)
        return self._futures[c].result()[i]

    def close(self) -> None:
        if self._pool:
            for f in self._futures.values():
                f.cancel()
            self._pool.shutdown(wait=False, cancel_futures=True)


def compare(result: InferenceResult, expected, layer_names: list[str]) -> tuple[bool | None, str | None]:
    """(bit-exact?, first layer that differs) for one image; (None, None) when nothing to compare."""
    if expected is None:
        return None, None
    crcs, output = expected
    for name, got in zip(layer_names, result.layers):
        # 0 bytes: the layer's output never exists on the device (fused into the next layer).
        if got.bytes and name in crcs and crcs[name] != got.crc:
            return False, name
    if output != result.output:
        return False, "output"
    return True, None


@dataclass
class RunSpec:
    manifest: dict
    board: Board
    inputs: Inputs
    reference: Reference | None
    reference_note: str | None = None
    json_path: Path | None = None
    save_outputs: Path | None = None
    plot_path: Path | None = None
    resume: bool = False
    size: dict | None = None
    transport: str = "serial"
    progress: bool = True
    estimates: dict | None = None  # host_tools.estimates.estimate_run's result (or a null stub), merged into the report
    device: object = None  # host_tools.device.DeviceInfo of a serial session: its counter and clock


def _header(spec: RunSpec) -> dict:
    m = spec.manifest
    return {"kind": "header", "model_sha256": m.get("model_sha256"), "model": m.get("name"),
            "board": spec.board.name, "transport": spec.transport, "data": str(Path(spec.inputs.path).resolve()),
            "input_bytes": int(m["input"]["bytes"]), "layers": [layer.get("name") for layer in m.get("layers", [])]}


def _save_outputs(path: Path, records: dict[int, dict], manifest: dict, board: Board, device=None) -> None:
    idx = sorted(records)
    counting = check_counts(counting_for(board, device.counter if device else None),
                            [records[i]["total"] for i in idx])
    # No counter: the counts are NaN, not zero.
    conv = counting.convert or (lambda ticks: float("nan"))
    shape = tuple(manifest["output"]["shape"])
    per = shape[1:] if shape and shape[0] == 1 else shape
    dtype = np.dtype(manifest["output"]["dtype"])
    outs = np.stack([np.frombuffer(bytes.fromhex(records[i]["output"]), dtype=dtype).reshape(per) for i in idx]) \
        if idx else np.zeros((0,) + tuple(per), dtype)
    np.savez(path, outputs=outs, image=np.array(idx, dtype=np.int64),
             total=np.array([conv(records[i]["total"]) for i in idx], dtype=np.float64),
             layer_counts=np.array([[conv(c) for c in records[i]["counts"]] for i in idx],
                                   dtype=np.float64).reshape(len(idx), -1))


def run_measurement(spec: RunSpec, source, link_stats=None) -> dict:
    """Measure every image not yet in the store; returns the report (also written as JSON)."""
    from tqdm import tqdm

    manifest, inputs = spec.manifest, spec.inputs
    layer_names = [layer.get("name") for layer in manifest.get("layers", [])]
    out_dtype = np.dtype(manifest["output"]["dtype"])
    store = ResultStore(spec.json_path, _header(spec), resume=spec.resume)
    n = len(inputs)
    # With --resume and a smaller --limit the report covers the requested images only; results beyond
    # them stay in the JSONL file for a later, larger run.
    beyond = sum(1 for i in store.records if i >= n)
    if beyond:
        print(f"note: {beyond} earlier results beyond the {n} requested images are kept in {store.path}, "
              f"not in this report", file=sys.stderr)

    def in_scope() -> dict[int, dict]:
        return {i: r for i, r in store.records.items() if i < n}

    todo = [i for i in range(n) if i not in store.records]
    # A source that can check (host_tools.shards) computes the expected outputs beside each shard,
    # so the host reference scales with the shards instead of running in this one process.
    in_source = spec.reference is not None and hasattr(source, "check_with")
    if in_source:
        source.check_with(spec.reference, inputs)
    expected = ExpectedPrefetch(None if in_source else spec.reference, inputs, todo)
    ref_name = spec.reference.description if spec.reference else spec.reference_note
    started, last_report = time.monotonic(), time.monotonic()
    error: str | None = None
    done_now = 0

    def report(complete: bool) -> dict:
        return build_report(in_scope(), manifest=manifest, board=spec.board, n_requested=n,
                            transport=spec.transport, size=spec.size, reference=ref_name, complete=complete,
                            elapsed_s=time.monotonic() - started, error=error,
                            link=link_stats.as_dict() if link_stats else None, estimates=spec.estimates,
                            device=spec.device)

    bar = tqdm(total=n, initial=n - len(todo), unit="img", disable=not spec.progress,
               desc=f"{spec.board.name} {spec.transport}")
    expected.start()
    try:
        for i, res, *checked in source.results(todo, inputs.image_bytes):
            match, first = compare(res, checked[0] if in_source else expected.get(i), layer_names)
            out = np.frombuffer(res.output, dtype=out_dtype)
            label = None if inputs.y is None else int(inputs.y[i])
            store.add({"image": i, "label": label, "pred": int(np.argmax(out)) if out.size else None,
                       "status": res.status, "total": res.total, "counts": [layer.count for layer in res.layers],
                       "crcs": [layer.crc for layer in res.layers], "match": match, "first_layer": first,
                       "output": res.output.hex()})
            done_now += 1
            bar.update(1)
            if spec.json_path and time.monotonic() - last_report > REPORT_EVERY_S:
                write_json_atomic(spec.json_path, report(False))
                last_report = time.monotonic()
    except KeyboardInterrupt as exc:
        error = interruption_reason(exc)
        _finish(spec, store, report(False), in_scope())
        raise
    except Exception as exc:  # noqa: BLE001 - whatever stopped the run, the finished results are kept
        error = f"{type(exc).__name__}: {exc}"
        _finish(spec, store, report(False), in_scope())
        kept = f"; {len(store.records)} finished results kept in {store.path}, rerun with --resume" \
            if store.path else f" after {len(store.records)} images (use --json to keep results)"
        raise RunFailed(f"run stopped at image {todo[done_now] if done_now < len(todo) else '?'}: {exc}{kept}") \
            from exc
    finally:
        bar.close()
        expected.close()
        source.close()
    final = report(len(in_scope()) == n)
    _finish(spec, store, final, in_scope())
    return final


def _finish(spec: RunSpec, store: ResultStore, report: dict, records: dict[int, dict]) -> None:
    """Close the store, write the report and the outputs of `records` (the requested images)."""
    store.close()
    if spec.json_path:
        write_json_atomic(spec.json_path, report)
    if spec.save_outputs:
        _save_outputs(spec.save_outputs, records, spec.manifest, spec.board, spec.device)
    if spec.plot_path and report["layers"] and report["n"] and report["counter"]:
        plot_layers(report, spec.plot_path)
