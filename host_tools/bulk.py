"""Bulk transport for QEMU: inputs and results through semihosting files instead of the UART.

The host writes every pending image to pm_bulk_in.bin in a scratch directory, starts QEMU there
with the semihosting command line `pm-bulk`, and tails pm_bulk_out.bin while the firmware appends
one record per image, so results arrive (and are kept) one at a time like on the serial path.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Iterator

from host_tools import protocol as P
from host_tools.device import InferenceResult, parse_layer_table
from host_tools.qemu import Qemu, QemuError, describe_exit
from pixmcu.boards import Board

BULK_EXIT = {10: "could not open the input file", 11: "input file malformed or for another model",
             12: "could not create the output file", 13: "writing the output file failed"}


def write_inputs(path: Path, images: Iterator[tuple[int, bytes]], count: int, input_bytes: int) -> None:
    with open(path, "wb") as fh:
        fh.write(P.BULK_IN_HEADER.pack(magic=P.BULK_IN_MAGIC, version=P.VERSION, count=count,
                                       input_bytes=input_bytes))
        for index, data in images:
            fh.write(P.BULK_IN_RECORD.pack(data, index=index))


class BulkReader:
    """Parses pm_bulk_out.bin incrementally as the firmware appends to it."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.header: dict | None = None
        self.record_bytes = 0

    def poll(self) -> list[tuple[int, InferenceResult]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                blob = fh.read()
        except FileNotFoundError:
            return []
        out, pos = [], 0
        if self.header is None:
            if len(blob) < P.BULK_OUT_HEADER.fixed_size:
                return []
            self.header = P.BULK_OUT_HEADER.unpack(blob[: P.BULK_OUT_HEADER.fixed_size])
            if self.header["magic"] != P.BULK_OUT_MAGIC.decode():
                raise QemuError(f"{self.path}: not a pixmcu bulk result file")
            pos = P.BULK_OUT_HEADER.fixed_size
            self.record_bytes = (P.BULK_OUT_RECORD.fixed_size + self.header["num_layers"] * P.LAYER_RECORD.fixed_size
                                 + self.header["output_bytes"])
        while len(blob) - pos >= self.record_bytes:
            rec = blob[pos: pos + self.record_bytes]
            head = P.BULK_OUT_RECORD.unpack(rec)
            nl = self.header["num_layers"] * P.LAYER_RECORD.fixed_size
            table = head["data"][:nl]
            output = head["data"][nl:]
            out.append((head["index"], InferenceResult(head["status"], head["total"],
                                                       parse_layer_table(table, self.header["num_layers"]),
                                                       bytes(output))))
            pos += self.record_bytes
        self.offset += pos
        return out


class BulkSource:
    """Runs the pending images through QEMU in bulk mode and yields results as they appear."""

    name = "semihost"

    def __init__(self, board: Board, elf: Path, input_bytes: int, model_hash: str | None,
                 timeout_per_image: float = 5.0, workdir: Path | None = None):
        self.board, self.elf, self.input_bytes = board, Path(elf), input_bytes
        self.model_hash = model_hash
        self.timeout_per_image = timeout_per_image
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="pixmcu-bulk-")
        self.workdir = Path(workdir or self._tmp.name)
        self.qemu: Qemu | None = None

    def results(self, todo: list[int], image_bytes) -> Iterator[tuple[int, InferenceResult]]:
        if not todo:
            return
        write_inputs(self.workdir / P.BULK_IN_NAME, ((i, image_bytes(i)) for i in todo), len(todo),
                     self.input_bytes)
        out = self.workdir / P.BULK_OUT_NAME
        out.unlink(missing_ok=True)
        reader = BulkReader(out)
        self.qemu = Qemu(self.board, self.elf, serial=False, semihost_args=[P.BULK_CMDLINE], cwd=self.workdir)
        self.qemu.start()
        seen, last_progress = 0, time.monotonic()
        try:
            while True:
                exited = self.qemu.returncode is not None
                batch = reader.poll()
                if reader.header and self.model_hash and reader.header["model_hash"] != self.model_hash:
                    raise QemuError("model hash mismatch: the firmware runs another model than the manifest; "
                                    "refusing to measure (rebuild the firmware)")
                if reader.header and reader.header["init_status"] != 0:
                    raise QemuError(f"model init failed on the device (status {reader.header['init_status']})")
                for item in batch:
                    seen += 1
                    yield item
                if batch:
                    last_progress = time.monotonic()
                if seen >= len(todo):
                    break
                if exited:
                    code = self.qemu.returncode
                    why = BULK_EXIT.get(code, describe_exit(code))
                    raise QemuError(f"QEMU stopped after {seen} of {len(todo)} bulk images: {why}")
                if time.monotonic() - last_progress > self.timeout_per_image + 10.0:
                    raise QemuError(f"no bulk result for {time.monotonic() - last_progress:.0f} s "
                                    f"after {seen} of {len(todo)} images; stopping QEMU")
                if not batch:
                    time.sleep(0.02)
            code = self.qemu.wait(10.0)
            if code not in (0, None):
                raise QemuError(f"QEMU ended badly after the bulk run: {describe_exit(code)}")
        finally:
            self.qemu.stop()

    def close(self) -> None:
        if self.qemu is not None:
            self.qemu.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
