"""The serial protocol between host and harness, defined once here and rendered into a C header.

Frame on the wire (all integers little-endian):

    A5 5A | type u8 | seq u8 | len u16 | hcrc u8 | payload[len] | crc32 u32

`hcrc` is a CRC-8 over type..len so a receiver rejects a corrupted length at once instead of waiting
for bytes that never come; `crc32` (IEEE, as zlib) covers type..payload. The host is the only side
that starts an exchange (stop-and-wait): it sends one request and waits for the reply with the same
`seq`. A device that sees a request with the `seq` and type it just answered resends the cached reply
without acting again, so retries are safe for every message. The device sends one unsolicited frame,
BOOT, when it starts: a host that sees it knows the device was reset.

Version 2 gave HELLO_ACK's `flags` byte (zero before) its meaning, made `clock_hz` the clock the
board actually runs at, and added the counter codes NONE and SYSTICK_CYCLES; the layout is that of
version 1, but a host that knew only version 1 would misread them, so the version says so.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from pixmcu.errors import PixmcuError

VERSION = 2
SYNC = b"\xa5\x5a"
HEADER_BYTES = 7  # sync(2) type seq len(2) hcrc
TRAILER_BYTES = 4
DEFAULT_MAX_PAYLOAD = 1024
MIN_MAX_PAYLOAD = 160  # HELLO_ACK must fit in one frame

NAME_BYTES = 16
MODEL_NAME_BYTES = 32
HASH_BYTES = 64


@dataclass(frozen=True)
class Message:
    name: str
    code: int
    fields: tuple[tuple[str, str], ...] = ()
    # A message may end with variable-length raw data after its fixed fields.
    has_data: bool = False
    doc: str = ""
    _struct: struct.Struct = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_struct", struct.Struct("<" + "".join(f for _, f in self.fields)))

    @property
    def fixed_size(self) -> int:
        return self._struct.size

    def offsets(self) -> list[tuple[str, int, int]]:
        """(field, offset, size) of each fixed field, for the C header."""
        out, off = [], 0
        for name, fmt in self.fields:
            size = struct.calcsize("<" + fmt)
            out.append((name, off, size))
            off += size
        return out

    def pack(self, data: bytes = b"", **values) -> bytes:
        args = []
        for name, fmt in self.fields:
            v = values.get(name, 0)
            if fmt.endswith("s") and isinstance(v, str):
                v = v.encode()
            args.append(v)
        if data and not self.has_data:
            raise ValueError(f"{self.name} carries no data")
        return self._struct.pack(*args) + bytes(data)

    def unpack(self, payload: bytes) -> dict:
        if len(payload) < self.fixed_size or (not self.has_data and len(payload) != self.fixed_size):
            raise ProtocolError(f"{self.name}: payload of {len(payload)} bytes, expected "
                                f"{'at least ' if self.has_data else ''}{self.fixed_size}")
        values = self._struct.unpack_from(payload)
        out = {}
        for (name, fmt), v in zip(self.fields, values):
            if fmt.endswith("s"):
                v = v.split(b"\0", 1)[0].decode("ascii", "replace")
            out[name] = v
        if self.has_data:
            out["data"] = bytes(payload[self.fixed_size:])
        return out


_S = f"{NAME_BYTES}s"
MESSAGES: tuple[Message, ...] = (
    Message("HELLO", 0x01, (("nonce", "I"),), doc="start a session; the device remembers the nonce"),
    Message("HELLO_ACK", 0x81, (
        ("proto_version", "H"), ("max_payload", "H"), ("counter", "B"), ("flags", "B"),
        ("num_layers", "H"), ("input_bytes", "I"), ("output_bytes", "I"), ("clock_hz", "I"),
        ("nonce", "I"), ("init_status", "i"), ("board", _S), ("firmware", _S),
        ("model_name", f"{MODEL_NAME_BYTES}s"), ("model_hash", f"{HASH_BYTES}s"),
    )),
    Message("WRITE", 0x02, (("offset", "I"),), has_data=True, doc="copy data into the input buffer"),
    Message("WRITE_ACK", 0x82, (("end", "I"),)),
    Message("INVOKE", 0x03, (("input_bytes", "I"),), doc="run the model on the input buffer"),
    Message("INVOKE_ACK", 0x83, (("status", "i"), ("total", "Q"), ("num_layers", "H"))),
    Message("READ", 0x04, (("region", "B"), ("reserved", "B"), ("length", "H"), ("offset", "I")),
            doc="read part of the output or the per-layer table"),
    Message("READ_ACK", 0x84, (("offset", "I"),), has_data=True),
    Message("RESET", 0x05, doc="acknowledge, then reset the device"),
    Message("RESET_ACK", 0x85),
    Message("BYE", 0x06, doc="acknowledge, then exit (QEMU) or keep serving (boards)"),
    Message("BYE_ACK", 0x86),
    Message("BOOT", 0xB0, (("proto_version", "H"), ("max_payload", "H")), doc="sent once at start-up"),
    Message("ERROR", 0xEE, (("code", "H"), ("detail", "I"))),
)
BY_NAME = {m.name: m for m in MESSAGES}
BY_CODE = {m.code: m for m in MESSAGES}

REGIONS = {"OUTPUT": 0, "LAYERS": 1}
ERRORS = {"NO_SESSION": 1, "BAD_TYPE": 2, "BAD_RANGE": 3, "BAD_LENGTH": 4, "NOT_READY": 5}
ERROR_NAMES = {v: k for k, v in ERRORS.items()}
# What the device's raw count means; the host turns it into the reported unit (host_tools.counting).
# NONE: no counter advanced on the device (its counts are all zero and mean nothing). SYSTICK_CYCLES:
# DWT CYCCNT did not advance, so SysTick counts core-clock ticks instead.
COUNTERS = {"NONE": 0, "DWT_CYCLES": 1, "SYSTICK_ICOUNT": 2, "SYSTICK_CYCLES": 3}
COUNTER_NAMES = {v: k for k, v in COUNTERS.items()}

# HELLO_ACK `flags`: CLOCK_FALLBACK is set when a clock bring-up wait (CLOCK_STEPS) timed out and the
# board carried on from its internal oscillator; the step that timed out is in the top four bits.
FLAGS = {"CLOCK_FALLBACK": 0x01}
CLOCK_STEP_SHIFT = 4
CLOCK_STEPS = {"NONE": 0, "SUPPLY": 1, "VOLTAGE_SCALE": 2, "PLL": 3, "OVERDRIVE": 4, "OVERDRIVE_SWITCH": 5,
               "FLASH_LATENCY": 6, "SYSCLK_SWITCH": 7}
CLOCK_STEP_NAMES = {v: k for k, v in CLOCK_STEPS.items()}

# One record per layer in the LAYERS region and in bulk results.
LAYER_RECORD = Message("LAYER_RECORD", 0, (("count", "Q"), ("crc", "I"), ("bytes", "I")))

# Bulk transport through semihosting files (QEMU only).
BULK_IN_NAME = "pm_bulk_in.bin"
BULK_OUT_NAME = "pm_bulk_out.bin"
BULK_CMDLINE = "pm-bulk"
BULK_IN_HEADER = Message("BULK_IN_HEADER", 0, (("magic", "4s"), ("version", "H"), ("reserved", "H"),
                                                ("count", "I"), ("input_bytes", "I")))
BULK_IN_RECORD = Message("BULK_IN_RECORD", 0, (("index", "I"),), has_data=True)
BULK_OUT_HEADER = Message("BULK_OUT_HEADER", 0, (("magic", "4s"), ("version", "H"), ("num_layers", "H"),
                                                  ("output_bytes", "I"), ("init_status", "i"),
                                                  ("model_hash", f"{HASH_BYTES}s")))
BULK_OUT_RECORD = Message("BULK_OUT_RECORD", 0, (("index", "I"), ("status", "i"), ("total", "Q")),
                          has_data=True)  # then layer records, then output bytes
BULK_IN_MAGIC = b"PMBI"
BULK_OUT_MAGIC = b"PMBO"


class ProtocolError(PixmcuError):
    """A frame or payload that does not follow the protocol."""


def crc32(data: bytes, value: int = 0) -> int:
    return zlib.crc32(data, value) & 0xFFFFFFFF


def _crc8_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = ((c << 1) ^ 0x07) & 0xFF if c & 0x80 else (c << 1) & 0xFF
        table.append(c)
    return table


def _crc32_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


CRC8_TABLE = _crc8_table()
CRC32_TABLE = _crc32_table()


def crc8(data: bytes) -> int:
    c = 0
    for b in data:
        c = CRC8_TABLE[c ^ b]
    return c


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes

    @property
    def message(self) -> Message | None:
        return BY_CODE.get(self.type)

    @property
    def name(self) -> str:
        m = self.message
        return m.name if m else f"0x{self.type:02x}"

    def fields(self) -> dict:
        m = self.message
        if m is None:
            raise ProtocolError(f"unknown message type 0x{self.type:02x}")
        return m.unpack(self.payload)


def encode(mtype: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError("payload too long")
    head = struct.pack("<BBH", mtype, seq & 0xFF, len(payload))
    head += bytes([crc8(head)])
    body = head + payload
    return SYNC + body + struct.pack("<I", crc32(body))


def encode_message(name: str, seq: int, data: bytes = b"", **values) -> bytes:
    m = BY_NAME[name]
    return encode(m.code, seq, m.pack(data, **values))


class FrameDecoder:
    """Byte-stream to frames, skipping anything that is not a whole valid frame.

    After a bad header or CRC the search restarts one byte after the failed sync, so a valid frame
    that starts inside garbage is still found.
    """

    def __init__(self, max_payload: int = 0xFFFF):
        self.max_payload = max_payload
        self.buf = bytearray()
        self.discarded = 0  # bytes skipped as garbage
        self.bad_frames = 0  # frames whose header or CRC did not check

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        frames = []
        while True:
            start = self.buf.find(SYNC)
            if start < 0:
                keep = 1 if self.buf.endswith(SYNC[:1]) else 0
                self.discarded += len(self.buf) - keep
                del self.buf[: len(self.buf) - keep]
                return frames
            if start:
                self.discarded += start
                del self.buf[:start]
            if len(self.buf) < HEADER_BYTES:
                return frames
            mtype, seq, length, hcrc = struct.unpack_from("<BBHB", self.buf, 2)
            if crc8(self.buf[2:6]) != hcrc or length > self.max_payload:
                self._skip_bad()
                continue
            total = HEADER_BYTES + length + TRAILER_BYTES
            if len(self.buf) < total:
                return frames
            (crc,) = struct.unpack_from("<I", self.buf, HEADER_BYTES + length)
            if crc32(bytes(self.buf[2: HEADER_BYTES + length])) != crc:
                self._skip_bad()
                continue
            frames.append(Frame(mtype, seq, bytes(self.buf[HEADER_BYTES: HEADER_BYTES + length])))
            del self.buf[:total]

    def _skip_bad(self):
        self.bad_frames += 1
        self.discarded += 1
        del self.buf[:1]

    def pending(self) -> int:
        return len(self.buf)


def c_constants() -> dict:
    """The context the C header template renders: every number the firmware needs."""
    def msg_ctx(m: Message) -> dict:
        return {"name": m.name, "code": m.code, "size": m.fixed_size, "doc": m.doc,
                "fields": [{"name": n.upper(), "offset": o, "size": s} for n, o, s in m.offsets()]}

    def fmt_table(values: list[int], per_line: int, width: int) -> list[str]:
        return [", ".join(f"0x{v:0{width}x}u" for v in values[i: i + per_line])
                for i in range(0, len(values), per_line)]

    return {
        "version": VERSION,
        "sync": list(SYNC),
        "header_bytes": HEADER_BYTES,
        "trailer_bytes": TRAILER_BYTES,
        "default_max_payload": DEFAULT_MAX_PAYLOAD,
        "min_max_payload": MIN_MAX_PAYLOAD,
        "name_bytes": NAME_BYTES,
        "model_name_bytes": MODEL_NAME_BYTES,
        "hash_bytes": HASH_BYTES,
        "messages": [msg_ctx(m) for m in MESSAGES],
        "records": [msg_ctx(m) for m in (LAYER_RECORD, BULK_IN_HEADER, BULK_IN_RECORD,
                                         BULK_OUT_HEADER, BULK_OUT_RECORD)],
        "regions": REGIONS,
        "errors": ERRORS,
        "counters": COUNTERS,
        "flags": FLAGS,
        "clock_step_shift": CLOCK_STEP_SHIFT,
        "clock_steps": CLOCK_STEPS,
        "bulk_in_name": BULK_IN_NAME,
        "bulk_out_name": BULK_OUT_NAME,
        "bulk_cmdline": BULK_CMDLINE,
        "bulk_in_magic": BULK_IN_MAGIC.decode(),
        "bulk_out_magic": BULK_OUT_MAGIC.decode(),
        "crc8_table": fmt_table(CRC8_TABLE, 12, 2),
        "crc32_table": fmt_table(CRC32_TABLE, 6, 8),
    }


def render_c_header() -> str:
    from pixmcu.templating import render_template

    return render_template("protocol.h.j2", c_constants())
