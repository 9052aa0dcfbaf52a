"""Decoder edge cases: lost hellos, reboots the timestamps reveal, sequence wrap, devices
that change what they stream, packets that do not fit their stream."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_bridge.cobs import frame
from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.protocol import Hello, Status, encode_data, encode_hello, encode_status
from firmware_bridge.samples import Mount, SampleBlock, Side, StreamInfo, StreamKind
from firmware_bridge.simulator.faults import FaultSpec
from firmware_bridge.simulator.offline import decode_session
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig

RATE_HZ = 200
SPP = 2
PACKET_S = SPP / RATE_HZ


def hello(boot_id: int, rate_hz: int = RATE_HZ, cells: int = 8) -> Hello:
    return Hello(
        StreamKind.INSOLE,
        Side.LEFT,
        Mount.INSOLE,
        1,
        boot_id,
        rate_hz,
        SPP,
        newtons_per_count=0.5,
        cell_area_cm2=(2.0,) * cells,
    )


class Recorder:
    def __init__(self) -> None:
        self.blocks: list[SampleBlock] = []
        self.streams: list[StreamInfo] = []
        self.decoder = LinkDecoder(sink=self.blocks.append, on_stream=self.streams.append)
        self.decoder.feed(b"\x00", 0.0)  # the delimiter a device sends first

    def send(self, packet: bytes, t_s: float) -> None:
        self.decoder.feed(frame(packet), t_s)
        self.decoder.poll(t_s)

    def finish(self, t_s: float) -> None:
        self.decoder.poll(t_s + 10.0)

    @property
    def device(self):  # type: ignore[no-untyped-def]
        return next(iter(self.decoder.devices.values()))


def data(seq: int, t_us: int, cells: int = 8) -> bytes:
    return encode_data(StreamKind.INSOLE, 7, seq, t_us % 2**32, np.full((SPP, cells), 40))


@pytest.mark.parametrize("seed", range(12))
def test_counts_hold_whatever_the_seed_even_when_a_first_hello_is_lost(seed: int) -> None:
    faults = FaultSpec(loss=0.05, corrupt=0.002, reorder=0.01, duplicate=0.01)
    session = SimulatedSession(SimulationConfig(duration_s=5.0, seed=seed, faults=faults))
    run = decode_session(session)
    for index, decoder in enumerate(run.decoders):
        injected, stats = session.injected(index), decoder.stats()
        assert (stats.missing, stats.corrupt, stats.duplicate, stats.reordered) == (
            injected.missing_detectable(),
            injected.corrupted,
            injected.duplicated,
            injected.reordered,
        )


def test_sequence_wrap_is_seamless() -> None:
    faults = FaultSpec(loss=0.05, reorder=0.01, duplicate=0.01)
    session = SimulatedSession(
        SimulationConfig(duration_s=8.0, seed=4, faults=faults, first_seq=65_500, imus=False)
    )
    run = decode_session(session)
    for index, decoder in enumerate(run.decoders):
        injected, stats = session.injected(index), decoder.stats()
        assert stats.resets == 0
        assert (stats.missing, stats.duplicate, stats.reordered) == (
            injected.missing_detectable(),
            injected.duplicated,
            injected.reordered,
        )
        assert stats.packets == len({(b, o) for b, o, _ in injected.intact})


@pytest.mark.parametrize("old_clock_us", [2**32 - 300_000, 1_500_000_000])
def test_reboot_whose_hello_is_lost_is_one_reset_and_no_phantom_loss(old_clock_us: int) -> None:
    rec = Recorder()
    t = 100.0
    rec.send(encode_hello(7, 0, old_clock_us, hello(boot_id=11)), t)
    for k in range(1, 101):
        rec.send(data(k, old_clock_us + round(k * PACKET_S * 1e6)), t + k * PACKET_S)
    # Reboot 2 s later: new clock near zero, seq from 0; its hello (seq 0) is lost.
    t_boot = t + 100 * PACKET_S + 2.0
    seq = 1
    for k in range(1, 201):
        t_us = 20_000 + round(k * PACKET_S * 1e6)
        if k == 50:
            rec.send(encode_status(7, seq, t_us, Status(80, 0, boot_id=12)), t_boot + k * PACKET_S)
            seq += 1
        rec.send(data(seq, t_us), t_boot + k * PACKET_S)
        seq += 1
    rec.finish(t_boot + 3.0)
    stats = rec.device.stats
    assert stats.resets == 1
    assert stats.missing == 0  # the lost hello came before the first packet seen after it
    assert (stats.duplicate, stats.reordered, stats.late) == (0, 0, 0)
    t_all = np.concatenate([b.t_host_s for b in rec.blocks])
    assert np.all(np.diff(t_all) > 0)
    assert sum(b.n_samples for b in rec.blocks) == 300 * SPP
    assert [b.gap_before_s > 1.0 for b in rec.blocks].count(True) == 1


def test_host_stall_is_not_a_reboot() -> None:
    rec = Recorder()
    rec.send(encode_hello(7, 0, 0, hello(boot_id=3)), 0.0)
    for k in range(1, 300):
        stall_s = 1.6 if k >= 150 else 0.0  # the host read nothing for 1.6 s, then a burst
        arrival = max(k * PACKET_S, 150 * PACKET_S + stall_s) if k >= 150 else k * PACKET_S
        rec.send(data(k, round(k * PACKET_S * 1e6)), arrival)
    rec.finish(5.0)
    assert rec.device.stats.resets == 0
    assert rec.device.stats.missing == 0
    assert all(b.gap_before_s == 0 for b in rec.blocks)


def test_lost_control_packet_marks_no_gap() -> None:
    rec = Recorder()
    rec.send(encode_hello(7, 0, 0, hello(boot_id=3)), 0.0)
    seq = 1
    for k in range(200):
        if k == 100:
            seq += 1  # a status packet that never arrived
        rec.send(data(seq, round(k * PACKET_S * 1e6)), k * PACKET_S + 0.002)
        seq += 1
    rec.finish(2.0)
    assert rec.device.stats.missing == 1
    assert all(b.gap_before_s == 0 for b in rec.blocks)
    assert sum(b.n_samples for b in rec.blocks) == 200 * SPP


def test_device_that_changes_its_rate_gets_a_new_stream() -> None:
    rec = Recorder()
    rec.send(encode_hello(7, 0, 0, hello(boot_id=3)), 0.0)
    for k in range(1, 50):
        rec.send(data(k, round(k * PACKET_S * 1e6)), k * PACKET_S)
    rec.send(
        encode_hello(7, 50, round(50 * PACKET_S * 1e6), hello(boot_id=3, rate_hz=100)),
        50 * PACKET_S,
    )
    for k in range(51, 80):
        rec.send(
            data(k, round(50 * PACKET_S * 1e6 + (k - 50) * 0.02 * 1e6)),
            50 * PACKET_S + (k - 50) * 0.02,
        )
    rec.finish(3.0)
    assert [s.rate_hz for s in rec.streams] == [200.0, 100.0]
    assert rec.streams[0].stream_id != rec.streams[1].stream_id
    ids = {b.stream_id for b in rec.blocks}
    assert ids == {s.stream_id for s in rec.streams}


def test_data_that_does_not_fit_the_hello_is_dropped_and_counted() -> None:
    rec = Recorder()
    rec.send(encode_hello(7, 0, 0, hello(boot_id=3, cells=8)), 0.0)
    rec.send(data(1, 10_000, cells=16), 0.01)
    rec.send(encode_data(StreamKind.IMU, 7, 2, 20_000, np.zeros((SPP, 6))), 0.02)
    rec.send(data(3, 30_000), 0.03)
    rec.finish(1.0)
    assert rec.device.stats.extra["mismatched"] == 2
    assert rec.device.stats.missing == 0
    assert [b.n_samples for b in rec.blocks] == [SPP]


def test_old_packets_replayed_after_a_silence_are_duplicates_not_a_reboot() -> None:
    # A BLE stack may deliver notifications again after a reconnect, seconds later.
    rec = Recorder()
    rec.send(encode_hello(7, 0, 0, hello(boot_id=3)), 0.0)
    sent = [(k, round(k * PACKET_S * 1e6)) for k in range(1, 201)]
    for k, t_us in sent:
        rec.send(data(k, t_us), k * PACKET_S)
    resume_s = 200 * PACKET_S + 2.0
    for i, (k, t_us) in enumerate(sent[-3:]):
        rec.send(data(k, t_us), resume_s + i * 0.001)
    rec.finish(resume_s)
    stats = rec.device.stats
    assert stats.resets == 0
    assert stats.duplicate == 3
    assert stats.packets == 201  # the hello and 200 data packets, each once
    assert stats.samples == 400


def test_a_reboot_after_a_silence_is_still_seen() -> None:
    rec = Recorder()
    rec.send(encode_hello(7, 0, 50_000_000, hello(boot_id=3)), 0.0)
    for k in range(1, 201):
        rec.send(data(k, 50_000_000 + round(k * PACKET_S * 1e6)), k * PACKET_S)
    resume_s = 200 * PACKET_S + 2.0
    # Rebooted: the clock starts near zero and the numbers start again (the hello was lost).
    for k in range(3):
        rec.send(data(k, 1_000 + round(k * PACKET_S * 1e6)), resume_s + k * PACKET_S)
    rec.finish(resume_s)
    assert rec.device.stats.resets == 1
