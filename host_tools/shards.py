"""Sharded runs on QEMU: K emulators on disjoint slices of the pending images, as one result source.

`ShardedSource` has the interface of `host_tools.bulk.BulkSource`, so `run_measurement` (and any
command built on it, `pixmcu run` today) keeps a single result store and a single report: results
arrive from all shards in any order and are stored as they come, keyed by image index, so the
report equals an unsharded run's. Each shard is a bulk (semihosting) QEMU run driven by a thread
here, or, with a Ray address, a Ray task that streams its results back as it makes them; either
computes the host reference's expected outputs for its own images, so the check scales with the
shards instead of running in the one process that merges. A shard
that dies loses only its image in flight: the other shards go on, the run ends with an error
naming the shard, and `--resume` runs just the missing images.
"""

from __future__ import annotations

import argparse
import queue
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

from host_tools.bulk import BulkSource
from host_tools.device import InferenceResult
from host_tools.qemu import QemuError
from pixmcu.boards import Board, get_board
from pixmcu.errors import PixmcuError


def add_shard_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shards", type=int, default=1, metavar="K",
                   help="K QEMU instances on disjoint slices of the data (semihost transport; default 1)")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run the shards as Ray tasks: a local Ray instance, or 'auto' / HOST:PORT / "
                        "ray://HOST:10001 for a cluster (pip install 'pixmcu[cluster]')")


def source_from_args(args, board: Board, elf: Path, input_bytes: int, model_hash: str | None,
                     timeout_per_image: float):
    """A BulkSource, or a ShardedSource when the options ask for shards or Ray."""
    if args.shards < 1:
        raise PixmcuError("--shards must be at least 1")
    if args.shards == 1 and not args.ray:
        return BulkSource(board, elf, input_bytes, model_hash, timeout_per_image=timeout_per_image)
    return ShardedSource(board, elf, input_bytes, model_hash, args.shards, timeout_per_image, ray_address=args.ray)


def split(todo: list[int], k: int) -> list[list[int]]:
    """k contiguous, disjoint slices covering todo (no empty ones)."""
    n = len(todo)
    return [s for s in (todo[i * n // k:(i + 1) * n // k] for i in range(k)) if s]


class ShardedSource:
    name = "semihost"

    def __init__(self, board: Board, elf: Path, input_bytes: int, model_hash: str | None, shards: int,
                 timeout_per_image: float = 5.0, ray_address: str | None = None):
        if shards < 1:
            raise PixmcuError("--shards must be at least 1")
        self.board, self.elf, self.input_bytes, self.model_hash = board, Path(elf), input_bytes, model_hash
        self.shards, self.timeout_per_image, self.ray_address = shards, timeout_per_image, ray_address
        self._reference, self._inputs = None, None
        self._stop = threading.Event()
        self._local: list[BulkSource] = []
        self._remote: list = []
        self._threads: list[threading.Thread] = []

    def check_with(self, reference, inputs) -> None:
        """Each shard computes the expected outputs of its own images (run_measurement calls this);
        results then come as (index, result, expected)."""
        self._reference, self._inputs = reference, inputs

    def results(self, todo: list[int], image_bytes) -> Iterator[tuple]:
        slices = split(todo, self.shards)
        if not slices:
            return
        q: queue.Queue = queue.Queue()
        start = self._start_ray(slices, image_bytes, q) if self.ray_address else self._start_local
        for k, part in enumerate(slices):
            t = threading.Thread(target=start, args=(k, part, image_bytes, q), daemon=True,
                                 name=f"pixmcu-shard-{k}")
            t.start()
            self._threads.append(t)
        errors, running = [], len(slices)
        while running:
            kind, k, payload = q.get()
            if kind == "result":
                yield payload
            else:
                running -= 1
                if kind == "error":
                    part = slices[k]
                    errors.append(f"shard {k + 1} of {len(slices)} (images {part[0]}..{part[-1]}): {payload}")
        if errors:
            raise QemuError("; ".join(errors))

    def _start_local(self, k: int, part: list[int], image_bytes, q: queue.Queue) -> None:
        src = BulkSource(self.board, self.elf, self.input_bytes, self.model_hash,
                         timeout_per_image=self.timeout_per_image)
        self._local.append(src)
        if self._stop.is_set():  # closed while this shard was starting: close() may have missed it
            q.put(("error", k, QemuError("stopped before it started")))
            return
        _pump(k, lambda: _checked(src.results(part, image_bytes), self._reference, self._inputs, part), q,
              self._stop, src.close)

    def _start_ray(self, slices: list[list[int]], image_bytes, q: queue.Queue):
        from pixmcu.cluster import connect

        ray = connect(self.ray_address)
        task = ray.remote(num_cpus=1, max_retries=0)(_ray_shard)
        elf = ray.put(self.elf.read_bytes())

        def start(k: int, part: list[int], image_bytes, q: queue.Queue) -> None:
            x = None if self._reference is None else self._inputs.x[part]
            gen = task.remote(self.board.name, elf, self.input_bytes, self.model_hash, self.timeout_per_image,
                              part, [image_bytes(i) for i in part], self._reference, x)
            self._remote.append(gen)
            _pump(k, lambda: (ray.get(ref) for ref in gen), q, self._stop, lambda: None)

        return start

    def close(self) -> None:
        """Stops every shard still running (an interrupted or failed run)."""
        self._stop.set()
        for src in self._local:
            src.close()
        if self._remote:
            import ray

            for gen in self._remote:
                try:
                    ray.cancel(gen, force=True)
                except Exception:  # noqa: BLE001 - a finished task cannot be cancelled; nothing to do
                    pass
        for t in self._threads:
            t.join(5.0)


def _pump(k: int, results, q: queue.Queue, stop: threading.Event, close) -> None:
    """Moves one shard's results to the merge queue; ends with ('done'|'error', k, why)."""
    try:
        for item in results():
            if stop.is_set():
                break
            q.put(("result", k, item))
        q.put(("done", k, None))
    except Exception as exc:  # noqa: BLE001 - reported by the merging side, the other shards go on
        q.put(("error", k, exc))
    finally:
        close()


def _checked(results, reference, inputs, part: list[int]):
    """(index, result[, expected]): the expected outputs computed here, a batch ahead of the device."""
    if reference is None:
        yield from results
        return
    from host_tools.runner import ExpectedPrefetch

    expected = ExpectedPrefetch(reference, inputs, part)
    expected.start()
    try:
        for i, res in results:
            yield i, res, expected.get(i)
    finally:
        expected.close()


class _Rows:
    """A shard's model inputs, indexed by the run's image indices (what ExpectedPrefetch reads)."""

    def __init__(self, indices: list[int], x):
        self.pos, self.data = {i: k for k, i in enumerate(indices)}, x

    def __getitem__(self, idx):
        if isinstance(idx, (list, tuple)):
            return self.data[[self.pos[i] for i in idx]]
        return self.data[self.pos[idx]]


def _ray_shard(board_name: str, elf: bytes, input_bytes: int, model_hash: str | None, timeout: float,
               indices: list[int], images: list[bytes], reference=None, x=None):
    """A Ray task: one bulk QEMU run over its slice, yielding (index, result[, expected]) as they
    appear; with a reference, the expected outputs are computed on the task's node."""
    with tempfile.TemporaryDirectory(prefix="pixmcu-shard-") as tmp:
        path = Path(tmp) / "firmware.elf"
        path.write_bytes(elf)
        work = Path(tmp) / "run"
        work.mkdir()
        src = BulkSource(get_board(board_name), path, input_bytes, model_hash, timeout_per_image=timeout,
                         workdir=work)
        lookup = dict(zip(indices, images))
        inputs = None if reference is None else SimpleNamespace(x=_Rows(indices, x))
        try:
            yield from _checked(src.results(indices, lookup.__getitem__), reference, inputs, indices)
        finally:
            src.close()
