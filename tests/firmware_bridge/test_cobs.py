"""COBS framing: round trips, resynchronisation after garbage, bounded buffering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.cobs import Deframer, cobs_decode, cobs_encode, frame
from firmware_bridge.errors import ProtocolError


@given(st.binary(max_size=1200))
def test_round_trip_and_no_zero_bytes(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert len(encoded) <= len(data) + len(data) // 254 + 2
    assert cobs_decode(encoded) == data


@pytest.mark.parametrize("size", [253, 254, 255, 508, 509])
def test_runs_at_the_254_byte_boundary(size: int) -> None:
    data = bytes(range(1, 256)) * 3
    assert cobs_decode(cobs_encode(data[:size])) == data[:size]
    assert cobs_decode(cobs_encode(data[:size] + b"\x00")) == data[:size] + b"\x00"


def test_truncated_frame_is_rejected() -> None:
    encoded = cobs_encode(b"\x01\x02\x03\x04")
    with pytest.raises(ProtocolError):
        cobs_decode(encoded[:-1] if encoded[0] > len(encoded) - 1 else b"\x09\x01")


@given(
    st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=20),
    st.binary(max_size=64).map(lambda b: b.replace(b"\x00", b"")),
    st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=50),
)
def test_deframer_recovers_every_frame_after_garbage_whatever_the_read_sizes(
    packets: list[bytes], garbage: bytes, read_sizes: list[int]
) -> None:
    stream = garbage + b"\x00" + b"".join(frame(p) for p in packets)
    deframer = Deframer()
    frames: list[bytes] = []
    pos, i = 0, 0
    while pos < len(stream):
        size = read_sizes[i % len(read_sizes)]
        frames.extend(deframer.feed(stream[pos : pos + size]))
        pos += size
        i += 1
    assert [cobs_decode(f) for f in frames] == packets
    assert deframer.garbage_bytes == len(garbage)


def test_deframer_bounds_a_line_without_delimiters() -> None:
    deframer = Deframer(max_frame_bytes=100, synced=True)
    for _ in range(50):
        assert deframer.feed(b"\x55" * 64) == []
    assert deframer.garbage_bytes >= 50 * 64 - 100
    assert [cobs_decode(f) for f in deframer.feed(b"\x00" + frame(b"ok"))] == [b"ok"]
