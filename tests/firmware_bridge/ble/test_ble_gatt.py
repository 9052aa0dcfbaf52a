"""Notification layout: whole packets back to back, fragments below ATT_MTU 67, control
messages, advertisement data; packets come from the simulated devices."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_bridge.ble.gatt import (
    AdvertInfo,
    ControlOp,
    ControlReply,
    ControlStatus,
    DeviceInfo,
    NotificationReader,
    control_reply,
    control_request,
    fragment_packet,
    fragments_packets,
    pack_notifications,
    packet_length,
    packet_limit_bytes,
)
from firmware_bridge.errors import ProtocolError
from firmware_bridge.protocol import HEADER
from firmware_bridge.samples import Mount, Side, StreamKind
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig


@pytest.fixture(scope="module")
def packets() -> list[bytes]:
    """Two seconds of every kind of packet (hello, status, IMU, 8- and 16-cell insole)."""
    out: list[bytes] = []
    for cells in (8, 16):
        session = SimulatedSession(SimulationConfig(duration_s=5.0, seed=3, n_cells=cells))
        for device in session.devices:
            out += [p.data for p in device.produce(2.0)]
    return out


def test_packet_length_reads_every_kind(packets: list[bytes]) -> None:
    kinds = {p[1] for p in packets}
    assert kinds == {1, 2, 3, 4}
    for packet in packets:
        assert packet_length(packet + b"\x01\x02") == len(packet)
        assert packet_length(packet[:5]) is None


@pytest.mark.parametrize("att_mtu", [67, 100, 185, 247, 517])
def test_packed_notifications_split_back_into_the_packets(
    packets: list[bytes], att_mtu: int
) -> None:
    fitting = [p for p in packets if len(p) <= packet_limit_bytes(att_mtu)]
    notes = pack_notifications(fitting, att_mtu)
    assert all(len(n) <= att_mtu - 3 for n in notes)
    assert len(notes) < len(fitting)
    reader = NotificationReader()
    out = [p for n in notes for p in reader.feed(n)]
    assert out == fitting
    assert reader.counters.malformed == 0


def test_fragments_reassemble_and_a_lost_fragment_costs_one_packet(packets: list[bytes]) -> None:
    assert fragments_packets(23)
    assert not fragments_packets(67)
    notes: list[bytes] = []
    owner: list[int] = []
    counter = 0
    for i, packet in enumerate(packets[:200]):
        frags, counter = fragment_packet(packet, 23, counter)
        assert all(len(f) <= 20 for f in frags)
        notes += frags
        owner += [i] * len(frags)
    rng = np.random.default_rng(1)
    dropped = set(rng.choice(len(notes), size=12, replace=False).tolist())
    lost_packets = {owner[i] for i in dropped}
    reader = NotificationReader()
    out = [p for i, n in enumerate(notes) if i not in dropped for p in reader.feed(n)]
    expected = [p for i, p in enumerate(packets[:200]) if i not in lost_packets]
    assert out == expected
    assert reader.counters.broken_fragments <= len(lost_packets)


def test_garbage_is_counted_not_raised() -> None:
    reader = NotificationReader()
    assert reader.feed(b"") == []
    assert reader.feed(b"\x07\x01\x02") == []
    truncated = HEADER.pack(1, 2, 0, 0, 0, 5, 6) + bytes(4)
    assert reader.feed(truncated) == []
    assert reader.counters.malformed == 3


def test_control_messages_round_trip() -> None:
    assert control_request(ControlOp.START) == b"\x01"
    assert control_request(ControlOp.SET_RATE, 500) == b"\x03\xf4\x01"
    with pytest.raises(ValueError, match="SET_RATE"):
        control_request(ControlOp.SET_RATE)
    info = DeviceInfo(0x6A01BEEF, StreamKind.IMU, Side.RIGHT, Mount.FOOT, 3, 1000, 247, 6)
    reply = ControlReply.decode(control_reply(ControlOp.GET_INFO, ControlStatus.OK, info.encode()))
    assert reply.opcode == ControlOp.GET_INFO
    assert reply.status == ControlStatus.OK
    assert DeviceInfo.decode(reply.payload) == info
    assert len(control_reply(ControlOp.GET_INFO, ControlStatus.OK, info.encode())) <= 20
    with pytest.raises(ProtocolError):
        ControlReply.decode(b"\x04\x00")
    with pytest.raises(ProtocolError):
        DeviceInfo.decode(b"\x00" * 5)


def test_advertisement_data_fits_and_decodes() -> None:
    advert = AdvertInfo(StreamKind.INSOLE, Side.LEFT, 0x6A00ABCD)
    data = advert.encode()
    # flags (3) + 128-bit service UUID list (18) + manufacturer data AD (4 + data) <= 31
    assert 3 + 18 + 4 + len(data) <= 31
    assert AdvertInfo.decode(data) == advert
    assert AdvertInfo.decode(b"\x09\x00\x00\x00\x00\x00") is None
    assert AdvertInfo.decode(b"\x01") is None
