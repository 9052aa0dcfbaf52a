"""The wire protocol: round trips, corruption, truncation, wraparound, BLE size limits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from firmware_bridge.cobs import Deframer, cobs_decode, frame
from firmware_bridge.errors import ProtocolError
from firmware_bridge.protocol import (
    MAX_PACKET_BYTES,
    OVERHEAD_BYTES,
    Hello,
    Status,
    crc16,
    decode_packet,
    encode_data,
    encode_hello,
    encode_status,
    max_samples_per_packet,
)
from firmware_bridge.samples import Mount, Side, StreamKind

u32 = st.integers(min_value=0, max_value=2**32 - 1)
u16 = st.integers(min_value=0, max_value=2**16 - 1)


def imu_samples(max_rows: int = 19) -> st.SearchStrategy[np.ndarray]:
    return st.integers(1, max_rows).flatmap(
        lambda n: arrays(np.int16, (n, 6), elements=st.integers(-32768, 32767))
    )


def insole_samples() -> st.SearchStrategy[np.ndarray]:
    return st.sampled_from([8, 16]).flatmap(
        lambda cells: st.integers(1, max_samples_per_packet(cells)).flatmap(
            lambda n: arrays(np.uint16, (n, cells), elements=st.integers(0, 65535))
        )
    )


def test_crc_is_ccitt_false() -> None:
    assert crc16(b"123456789") == 0x29B1


@given(u32, u16, u32, imu_samples())
def test_imu_round_trip(device_id: int, seq: int, t_us: int, samples: np.ndarray) -> None:
    packet = decode_packet(encode_data(StreamKind.IMU, device_id, seq, t_us, samples))
    assert (packet.kind, packet.device_id, packet.seq, packet.t_device_us) == (
        StreamKind.IMU,
        device_id,
        seq,
        t_us,
    )
    assert packet.samples is not None
    np.testing.assert_array_equal(packet.samples, samples)


@given(u32, u16, u32, insole_samples())
def test_insole_round_trip(device_id: int, seq: int, t_us: int, samples: np.ndarray) -> None:
    data = encode_data(StreamKind.INSOLE, device_id, seq, t_us, samples)
    assert len(data) <= MAX_PACKET_BYTES
    packet = decode_packet(data)
    assert packet.samples is not None
    np.testing.assert_array_equal(packet.samples, samples)


@given(
    st.sampled_from([8, 16]),
    st.floats(0.125, 8.0, width=32),
    u16,
    st.sampled_from([Side.LEFT, Side.RIGHT]),
)
def test_hello_round_trip(cells: int, newtons: float, boot_id: int, side: Side) -> None:
    areas = tuple(round(1.0 + 0.25 * i, 2) for i in range(cells))
    insole = Hello(
        StreamKind.INSOLE,
        side,
        Mount.INSOLE,
        3,
        boot_id,
        200,
        2,
        newtons_per_count=newtons,
        cell_area_cm2=areas,
    )
    imu = Hello(StreamKind.IMU, side, Mount.FOOT, 3, boot_id, 1000, 10, 16, 2000)
    for hello in (insole, imu):
        packet = decode_packet(encode_hello(7, 1, 2, hello))
        assert packet.hello == hello


def test_status_round_trip() -> None:
    status = Status(battery_pct=81, flags=0x03, boot_id=4242)
    assert decode_packet(encode_status(1, 2, 3, status)).status == status


@given(imu_samples(), st.data())
def test_any_single_bit_flip_is_detected(samples: np.ndarray, data: st.DataObject) -> None:
    packet = bytearray(encode_data(StreamKind.IMU, 1, 2, 3, samples))
    bit = data.draw(st.integers(0, 8 * len(packet) - 1))
    packet[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ProtocolError):
        decode_packet(bytes(packet))


@given(imu_samples(), st.data())
def test_truncation_is_detected(samples: np.ndarray, data: st.DataObject) -> None:
    packet = encode_data(StreamKind.IMU, 1, 2, 3, samples)
    cut = data.draw(st.integers(0, len(packet) - 1))
    with pytest.raises(ProtocolError):
        decode_packet(packet[:cut])


@given(st.lists(imu_samples(4), min_size=2, max_size=12), st.binary(max_size=40), st.data())
def test_stream_with_garbage_between_frames_yields_every_intact_packet(
    blocks: list[np.ndarray], garbage: bytes, data: st.DataObject
) -> None:
    wire = bytearray(b"\x00")
    for seq, block in enumerate(blocks):
        wire += frame(encode_data(StreamKind.IMU, 9, seq, 1000 * seq, block))
        if data.draw(st.booleans()):
            wire += garbage + b"\x00"
    decoded = []
    for encoded in Deframer().feed(bytes(wire)):
        try:
            decoded.append(decode_packet(cobs_decode(encoded)))
        except ProtocolError:
            continue
    assert [p.seq for p in decoded] == list(range(len(blocks)))


def test_sequence_and_timestamp_fields_wrap() -> None:
    block = np.zeros((1, 6), np.int16)
    packet = decode_packet(encode_data(StreamKind.IMU, 1, 65536 + 5, 2**32 + 77, block))
    assert (packet.seq, packet.t_device_us) == (5, 77)


def test_packets_fit_ble_mtu_and_larger_ones_are_refused() -> None:
    n = max_samples_per_packet(6)
    assert OVERHEAD_BYTES + 12 * n <= MAX_PACKET_BYTES < OVERHEAD_BYTES + 12 * (n + 1)
    encode_data(StreamKind.IMU, 1, 0, 0, np.zeros((n, 6)))
    with pytest.raises(ValueError, match="exceeds"):
        encode_data(StreamKind.IMU, 1, 0, 0, np.zeros((n + 1, 6)))
    with pytest.raises(ValueError, match="exceeds"):
        encode_data(StreamKind.IMU, 1, 0, 0, np.zeros((2, 6)), max_packet_bytes=20)


def test_unknown_version_names_both_versions() -> None:
    packet = bytearray(encode_data(StreamKind.IMU, 1, 0, 0, np.zeros((1, 6))))
    packet[0] = 9
    body = bytes(packet[:-2])
    with pytest.raises(ProtocolError, match="version 9"):
        decode_packet(body + crc16(body).to_bytes(2, "little"))
