"""The serial protocol: Python framing, the rendered C header, and the firmware's frame parser
(compiled for the host and fed garbage)."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools import protocol as P
from pixmcu.resources import firmware_dir


def test_crc_tables_match_zlib_and_crc8():
    data = bytes(range(256)) * 3
    c = 0xFFFFFFFF
    for b in data:
        c = P.CRC32_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    assert c ^ 0xFFFFFFFF == zlib.crc32(data)
    assert P.crc8(b"123456789") == 0xF4  # CRC-8/SMBUS check value


def test_encode_decode_roundtrip():
    frame = P.encode_message("WRITE", 7, b"\x01\x02\x03", offset=1234)
    frames = P.FrameDecoder().feed(frame)
    assert len(frames) == 1 and frames[0].name == "WRITE" and frames[0].seq == 7
    assert frames[0].fields() == {"offset": 1234, "data": b"\x01\x02\x03"}


def test_message_codes_unique_and_hello_ack_fits_minimum_payload():
    assert len({m.code for m in P.MESSAGES}) == len(P.MESSAGES)
    assert P.BY_NAME["HELLO_ACK"].fixed_size <= P.MIN_MAX_PAYLOAD
    with pytest.raises(P.ProtocolError):
        P.BY_NAME["INVOKE_ACK"].unpack(b"\x00" * 3)


def test_decoder_resynchronises_after_garbage_and_bad_frames():
    good = [P.encode_message("READ_ACK", i, bytes([i]) * i, offset=i) for i in range(1, 6)]
    bad = bytearray(good[1])
    bad[-1] ^= 0xFF  # CRC broken
    fake_header = P.SYNC + b"\x84\x01\xff\xff\x00"  # header CRC wrong, huge length
    stream = b"\x00\xa5garbage" + good[0] + fake_header + bytes(bad) + b"\xa5\xa5\x5a" + good[2] + good[3] + good[4]
    dec = P.FrameDecoder(max_payload=1024)
    frames = dec.feed(stream)
    assert [f.seq for f in frames] == [1, 3, 4, 5]
    assert dec.bad_frames >= 2 and dec.discarded > 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=6), st.binary(max_size=64), st.integers(1, 17))
def test_decoder_any_split_any_garbage(payloads, garbage, step):
    frames = [P.encode(0x84, i, p) for i, p in enumerate(payloads)]
    # Garbage must not contain the sync pair, or it could legitimately start a frame that swallows
    # the real one; that case is the retry path's job, tested against the firmware.
    garbage = garbage.replace(P.SYNC, b"")
    stream = b"".join(garbage + f for f in frames)
    dec = P.FrameDecoder()
    got = []
    for i in range(0, len(stream), step):
        got += dec.feed(stream[i:i + step])
    assert [(f.seq, f.payload) for f in got] == [(i & 0xFF, p) for i, p in enumerate(payloads)]


def test_rendered_header_is_consistent_with_python():
    text = P.render_c_header()
    assert f"#define PM_PROTO_VERSION {P.VERSION}u" in text
    for m in P.MESSAGES:
        assert f"#define PM_MSG_{m.name} 0x{m.code:02x}u" in text
        assert f"#define PM_{m.name}_SIZE {m.fixed_size}u" in text
    assert "#define PM_HELLO_ACK_MODEL_HASH 92u" in text


_DRIVER = r"""
#include <stdio.h>
#include "pm_frame.h"
static pm_frame_rx_t rx;
int main(void) {
    int c;
    pm_frame_rx_reset(&rx);
    while ((c = getchar()) != EOF) {
        if (pm_frame_rx_feed(&rx, (uint8_t)c)) {
            uint16_t len = pm_frame_len(rx.buf);
            printf("%u %u %u %08x\n", pm_frame_type(rx.buf), pm_frame_seq(rx.buf), len,
                   pm_crc32(0, pm_frame_payload(rx.buf), len));
        }
    }
    /* Also check the encoder: a frame it builds must be what the Python side builds. */
    uint8_t out[PM_FRAME_BYTES];
    pm_put_u32(pm_frame_payload(out), 0xDEADBEEFu);
    size_t n = pm_frame_finish(out, PM_MSG_HELLO, 9, 4);
    for (size_t i = 0; i < n; i++) printf("%02x", out[i]);
    printf("\n");
    return 0;
}
"""


@pytest.fixture(scope="module")
def host_parser(tmp_path_factory) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc, "a host C compiler (gcc) is needed to test the firmware's frame parser"
    d = tmp_path_factory.mktemp("parser")
    (d / "pm_protocol.h").write_text(P.render_c_header())
    (d / "driver.c").write_text(_DRIVER)
    exe = d / "parser"
    fw = firmware_dir()
    subprocess.run([gcc, "-O2", "-Wall", "-Wextra", "-Werror", "-DPM_PROTO_MAX_PAYLOAD=256", f"-I{d}",
                    f"-I{fw / 'harness'}", str(fw / "harness" / "pm_frame.c"), str(d / "driver.c"), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    return exe


def _parse(exe: Path, stream: bytes) -> tuple[list[tuple[int, int, int, int]], str]:
    out = subprocess.run([str(exe)], input=stream, capture_output=True, check=True, timeout=30).stdout.decode()
    lines = out.strip().splitlines()
    return [tuple(int(v, 16) if i == 3 else int(v) for i, v in enumerate(line.split())) for line in lines[:-1]], lines[-1]


def test_firmware_parser_never_wedges_on_garbage(host_parser):
    rng = random.Random(4)
    expected, stream = [], bytearray()
    for i in range(300):
        # Random garbage, sometimes with sync bytes and plausible headers inside.
        junk = bytearray(rng.randbytes(rng.randrange(0, 80)))
        if rng.random() < 0.3:
            junk += P.SYNC + bytes([0x02, 0x01]) + struct.pack("<H", rng.randrange(0, 0xFFFF))
        if rng.random() < 0.2:
            junk += P.encode(0x02, i & 0xFF, rng.randbytes(300))[:20]  # over the device's max payload
        payload = rng.randbytes(rng.randrange(0, 257))
        frame = P.encode(0x02, i & 0xFF, payload)
        if rng.random() < 0.1:  # corrupted copy first, then the clean retry
            broken = bytearray(frame)
            broken[rng.randrange(2, len(broken))] ^= 1 << rng.randrange(8)
            stream += junk + broken
            junk = bytearray()
        stream += junk + frame
        expected.append((0x02, i & 0xFF, len(payload), zlib.crc32(payload)))
    got, _ = _parse(host_parser, bytes(stream))
    # A truncated header or frame inside garbage can swallow the start of the next frame; the host's
    # retry covers that. The parser must still find the vast majority and end in sync.
    assert set(got) <= set(expected)
    assert len(got) >= 0.97 * len(expected)
    assert got[-1] == expected[-1]


def test_firmware_parser_and_python_agree_on_frames(host_parser):
    frames = [P.encode(t, s, bytes([s]) * s) for t, s in [(1, 1), (0x84, 200), (0xEE, 0)]]
    got, encoded = _parse(host_parser, b"".join(frames))
    assert got == [(1, 1, 1, zlib.crc32(b"\x01")), (0x84, 200, 200, zlib.crc32(b"\xc8" * 200)), (0xEE, 0, 0, 0)]
    assert bytes.fromhex(encoded) == P.encode_message("HELLO", 9, nonce=0xDEADBEEF)
