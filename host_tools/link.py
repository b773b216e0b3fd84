"""Stop-and-wait request/reply over any pyserial-like port (a real UART or QEMU's TCP socket).

One request in flight at a time. A reply that does not come within the timeout (longer on every
retry), or comes garbled, makes the host flush its input and send the same frame again (same seq: the device answers a
repeat from its cache without acting twice). An unsolicited BOOT frame means the device restarted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from host_tools import protocol as P
from pixmcu.errors import PixmcuError


READ_SLICE_S = 0.05  # longest a single read blocks; the request deadline is checked between reads


class LinkError(PixmcuError):
    """The link failed in a way retries did not fix; the message says what was being done."""


class LinkTimeout(LinkError):
    pass


class DeviceReset(LinkError):
    """The device restarted (BOOT frame seen, or it no longer knows our session)."""


class DeviceError(LinkError):
    """The device answered with an ERROR frame."""

    def __init__(self, request: str, code: int, detail: int):
        self.code, self.detail = code, detail
        super().__init__(f"device refused {request}: {P.ERROR_NAMES.get(code, code)} (detail {detail})")


@dataclass
class LinkStats:
    requests: int = 0
    retries: int = 0
    bad_frames: int = 0
    garbage_bytes: int = 0
    stale_frames: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    resets: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Link:
    port: object  # pyserial Serial (or anything with read/write/in_waiting/reset_input_buffer)
    timeout: float = 2.0
    retries: int = 4
    # Called with (what, elapsed) while waiting; lets a launcher notice a dead emulator early.
    liveness: object = None
    stats: LinkStats = field(default_factory=LinkStats)

    def __post_init__(self):
        self.max_payload = 0xFFFF  # lowered to the device's after the handshake
        self.decoder = P.FrameDecoder(self.max_payload)
        self._seq = 0
        self.boot_seen = False
        self.port_error: Exception | None = None
        # Set once: on a real serial port every change of timeout reconfigures the device.
        self.port.timeout = READ_SLICE_S

    def patience(self) -> float:
        """Seconds a request waits for its reply over all its tries (each try waits longer)."""
        return self.timeout * (self.retries + 1) * (self.retries + 2) / 2

    def next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    def _read_some(self) -> bytes:
        try:
            waiting = getattr(self.port, "in_waiting", 0) or 0
            data = self.port.read(max(1, waiting))
        except OSError as exc:  # pyserial's SerialException included: the port or socket went away
            self.port_error = exc
            self._check_alive("reading from the device")
            raise LinkError(f"serial port failed: {exc}") from exc
        if data:
            self.stats.bytes_received += len(data)
        return data

    def _collect(self, data: bytes) -> list[P.Frame]:
        before_bad, before_garbage = self.decoder.bad_frames, self.decoder.discarded
        frames = self.decoder.feed(data)
        self.stats.bad_frames += self.decoder.bad_frames - before_bad
        self.stats.garbage_bytes += self.decoder.discarded - before_garbage
        return frames

    def wait_boot(self, timeout: float) -> P.Frame | None:
        """Wait for the BOOT frame a freshly started device sends; None if none came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for f in self._collect(self._read_some()):
                if f.type == P.BY_NAME["BOOT"].code:
                    self.boot_seen = True
                    return f
            self._check_alive("waiting for the device to boot")
        return None

    def _check_alive(self, what: str) -> None:
        if self.liveness is not None:
            self.liveness(what)

    def request(self, name: str, reply: str, data: bytes = b"", **values) -> dict:
        """Send request `name` and return the fields of its `reply`, retrying as needed."""
        seq = self.next_seq()
        frame = P.encode_message(name, seq, data, **values)
        want = P.BY_NAME[reply].code
        err, boot = P.BY_NAME["ERROR"].code, P.BY_NAME["BOOT"].code
        self.stats.requests += 1
        last_problem = "no reply"
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retries += 1
                try:
                    self.port.reset_input_buffer()
                except OSError as exc:
                    raise LinkError(f"serial port failed: {exc}") from exc
                self.decoder = P.FrameDecoder(self.max_payload)
            try:
                self.port.write(frame)
            except OSError as exc:
                self.port_error = exc
                self._check_alive(f"sending {name}")
                raise LinkError(f"serial port failed while sending {name}: {exc}") from exc
            self.stats.bytes_sent += len(frame)
            # Each retry waits longer: a device still swallowing a frame whose header promised more
            # bytes than came only gives up on it once the line has been quiet for a while.
            deadline = time.monotonic() + self.timeout * (1 + attempt)
            while time.monotonic() < deadline:
                data = self._read_some()
                for f in self._collect(data):
                    if f.type == boot:
                        self.boot_seen = True
                        self.stats.resets += 1
                        raise DeviceReset(f"device restarted (BOOT frame) while waiting for {reply}")
                    if f.seq != seq:
                        self.stats.stale_frames += 1  # an answer to an earlier try: ignore it
                        continue
                    if f.type == err:
                        e = P.BY_NAME["ERROR"].unpack(f.payload)
                        if e["code"] == P.ERRORS["NO_SESSION"]:
                            self.stats.resets += 1
                            raise DeviceReset(f"device lost the session (it restarted) before {name}")
                        raise DeviceError(name, e["code"], e["detail"])
                    if f.type != want:
                        last_problem = f"unexpected {f.name} frame"
                        continue
                    try:
                        return P.BY_NAME[reply].unpack(f.payload)
                    except P.ProtocolError as exc:
                        last_problem = str(exc)
                if not data:
                    self._check_alive(f"waiting for {reply}")
            if self.decoder.bad_frames:
                last_problem = "corrupted reply"
        raise LinkTimeout(f"no valid {reply} for {name} after {self.retries + 1} tries "
                          f"({self.patience():g} s in all; last problem: {last_problem})")
