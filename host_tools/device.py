"""A measurement session with a device running the pixmcu harness: handshake, then one inference at
a time (input in chunks, invoke, output and per-layer table read back in chunks)."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from host_tools import protocol as P
from host_tools.link import DeviceReset, Link, LinkError


class HandshakeError(LinkError):
    """The device is not the one the manifest describes (protocol, model hash or sizes differ)."""


@dataclass(frozen=True)
class DeviceInfo:
    proto_version: int
    max_payload: int
    counter: int
    flags: int
    num_layers: int
    input_bytes: int
    output_bytes: int
    clock_hz: int
    init_status: int
    board: str
    firmware: str
    model_name: str
    model_hash: str

    @property
    def clock_fallback(self) -> bool:
        """The board's clock did not come up as configured; it runs from its internal oscillator."""
        return bool(self.flags & P.FLAGS["CLOCK_FALLBACK"])

    @property
    def clock_step(self) -> str | None:
        """The bring-up step whose ready flag never came (protocol.CLOCK_STEPS), if any."""
        step = self.flags >> P.CLOCK_STEP_SHIFT
        return P.CLOCK_STEP_NAMES.get(step, f"step {step}") if step else None

    @property
    def counter_kind(self) -> str:
        return P.COUNTER_NAMES.get(self.counter, f"unknown counter {self.counter}")


@dataclass
class LayerResult:
    count: int  # raw counter ticks
    crc: int
    bytes: int


@dataclass
class InferenceResult:
    status: int
    total: int  # raw counter ticks, hooks excluded
    layers: list[LayerResult]
    output: bytes


def parse_layer_table(blob: bytes, num_layers: int) -> list[LayerResult]:
    size = P.LAYER_RECORD.fixed_size
    if len(blob) != size * num_layers:
        raise P.ProtocolError(f"layer table of {len(blob)} bytes for {num_layers} layers")
    return [LayerResult(**P.LAYER_RECORD.unpack(blob[i * size:(i + 1) * size])) for i in range(num_layers)]


class Device:
    """Host side of one device. `expect` holds the manifest values the firmware must match."""

    def __init__(self, link: Link, *, model_hash: str | None = None, input_bytes: int | None = None,
                 output_bytes: int | None = None, num_layers: int | None = None, max_resets: int = 3):
        self.link = link
        self.expect = {"model_hash": model_hash, "input_bytes": input_bytes,
                       "output_bytes": output_bytes, "num_layers": num_layers}
        self.max_resets = max_resets
        self.info: DeviceInfo | None = None
        self.resets = 0

    def handshake(self) -> DeviceInfo:
        nonce = struct.unpack("<I", os.urandom(4))[0] | 1
        for boots in range(self.max_resets + 1):
            try:
                ack = self.link.request("HELLO", "HELLO_ACK", nonce=nonce)
                break
            except DeviceReset:
                # A BOOT frame while we waited: the device was still starting (a board is slow to
                # come up when its clock bring-up falls back) and our HELLO came before its UART was
                # listening. It is listening now; ask again.
                if boots == self.max_resets:
                    raise
        if ack["nonce"] != nonce:
            raise HandshakeError("device echoed a different session nonce")
        info = DeviceInfo(**{k: ack[k] for k in DeviceInfo.__dataclass_fields__})
        if info.proto_version != P.VERSION:
            raise HandshakeError(f"device speaks protocol version {info.proto_version}, host {P.VERSION}: "
                                 "rebuild and reflash the firmware")
        if info.max_payload < P.MIN_MAX_PAYLOAD:
            raise HandshakeError(f"device frame buffer of {info.max_payload} bytes is too small")
        want = self.expect["model_hash"]
        if want is not None and info.model_hash != want:
            raise HandshakeError(
                f"model hash mismatch: the firmware on the device runs model {info.model_name!r} "
                f"with hash {info.model_hash[:16]}..., the manifest says {want[:16]}...; "
                "refusing to measure (rebuild and reflash the firmware for this model)")
        for key in ("input_bytes", "output_bytes", "num_layers"):
            if self.expect[key] is not None and getattr(info, key) != self.expect[key]:
                raise HandshakeError(f"device reports {key}={getattr(info, key)}, "
                                     f"manifest says {self.expect[key]}")
        if info.init_status != 0:
            raise HandshakeError(f"model init failed on the device (status {info.init_status})")
        self.info = info
        self.link.max_payload = info.max_payload
        return info

    def _chunk(self) -> int:
        return self.info.max_payload - P.BY_NAME["WRITE"].fixed_size

    def _read_region(self, region: str, size: int) -> bytes:
        out = bytearray()
        step = self.info.max_payload - P.BY_NAME["READ_ACK"].fixed_size
        while len(out) < size:
            n = min(step, size - len(out))
            ack = self.link.request("READ", "READ_ACK", region=P.REGIONS[region], length=n, offset=len(out))
            if ack["offset"] != len(out) or len(ack["data"]) != n:
                raise P.ProtocolError(f"READ {region} at {len(out)}: got {len(ack['data'])} bytes "
                                      f"at offset {ack['offset']}")
            out += ack["data"]
        return bytes(out)

    def _infer_once(self, data: bytes) -> InferenceResult:
        step = self._chunk()
        for off in range(0, len(data), step):
            part = data[off: off + step]
            ack = self.link.request("WRITE", "WRITE_ACK", part, offset=off)
            if ack["end"] != off + len(part):
                raise P.ProtocolError(f"WRITE at {off}: device acknowledged up to {ack['end']}")
        inv = self.link.request("INVOKE", "INVOKE_ACK", input_bytes=len(data))
        table = self._read_region("LAYERS", inv["num_layers"] * P.LAYER_RECORD.fixed_size)
        output = self._read_region("OUTPUT", self.info.output_bytes)
        return InferenceResult(inv["status"], inv["total"], parse_layer_table(table, inv["num_layers"]), output)

    def infer(self, data: bytes) -> InferenceResult:
        """One inference; a device reset on the way is handled by a new handshake and a retry."""
        if self.info is None:
            self.handshake()
        if len(data) != self.info.input_bytes:
            raise ValueError(f"input of {len(data)} bytes, model takes {self.info.input_bytes}")
        while True:
            try:
                return self._infer_once(data)
            except DeviceReset:
                self.resets += 1
                if self.resets > self.max_resets:
                    raise
                self.handshake()

    def bye(self) -> None:
        self.link.request("BYE", "BYE_ACK")
