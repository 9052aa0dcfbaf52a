"""BleLink over bleak's real BleakClient facade and the emulated radio: exact against the
simulator's own record of what it sent, lost and replayed."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from bleak import BleakClient

from firmware_bridge.ble.battery import BATTERY_LEVEL_UUID
from firmware_bridge.ble.emulation import BleFaults, air_from_session
from firmware_bridge.ble.gatt import (
    CONTROL_CHAR_UUID,
    DATA_CHAR_UUID,
    GAITCUE_SERVICE_UUID,
    ControlOp,
    ControlReply,
    DeviceInfo,
    control_request,
)
from firmware_bridge.decoder import count_scales
from firmware_bridge.hostclock import ScaledClock
from firmware_bridge.samples import StreamKind
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig

RunEmulated = Any

pytestmark = pytest.mark.realtime  # paced by a clock running 5× real time


def assert_samples_match_truth(run: Any, packet_counts: Any) -> None:
    """Every sample the simulator delivered reaches the sink once, in order, in units."""
    for peripheral in run.air.gaitcue_devices():
        link = run.link_for(peripheral.address)
        device = link.decoder.devices[peripheral.spec.device_id]
        assert device.info is not None
        assert device.hello is not None
        data = [p for p in peripheral.truth.delivered if p.kind != StreamKind.HELLO]
        data = [p for p in data if p.kind != StreamKind.STATUS]
        expected = np.concatenate([packet_counts(p) for p in data]).astype(np.float32)
        expected *= count_scales(device.hello)
        got = np.concatenate([b.values for b in run.blocks[device.info.stream_id]])
        np.testing.assert_array_equal(got, expected)
        times = np.concatenate([b.t_host_s for b in run.blocks[device.info.stream_id]])
        assert np.all(np.diff(times) > 0)


@pytest.mark.parametrize("interval_s", [0.0075, 0.015, 0.030])
def test_clean_link_delivers_every_sample_in_bursts(
    run_emulated: RunEmulated, data_counts: Any, interval_s: float
) -> None:
    run = run_emulated(2.5, seed=2, interval_s=interval_s)
    assert_samples_match_truth(run, data_counts)
    for peripheral in run.air.gaitcue_devices():
        link = run.link_for(peripheral.address)
        stats = link.stats()
        truth = peripheral.truth
        assert len(truth.delivered) > 200
        assert stats.packets == len(truth.delivered)
        assert (stats.missing, stats.duplicate, stats.corrupt) == (0, 0, 0)
        assert link.att_mtu == 247
        assert link.note is None
        assert link.battery_pct == peripheral.battery_pct
        # several packets per notification
        assert truth.max_packets_per_notification >= 2
        assert link.reader.counters.notifications == truth.notifications
    if interval_s >= 0.015:
        # several notifications per connection event (IMU packets do not share one; at
        # 7.5 ms an event rarely finds more than one packet waiting, except after a stall)
        assert sum(p.truth.events_with_burst for p in run.air.gaitcue_devices()) > 0


def test_faults_are_counted_exactly(run_emulated: RunEmulated, data_counts: Any) -> None:
    faults = BleFaults(
        notification_loss=0.02,
        disconnect_at_s=(2.0,),
        unreachable_s=0.6,
        duplicate_after_reconnect=4,
    )

    def replayed(run: Any) -> bool:
        return all(p.truth.duplicated > 0 for p in run.air.gaitcue_devices())

    run = run_emulated(5.0, seed=4, faults=faults, insoles=False, until=replayed)
    assert_samples_match_truth(run, data_counts)
    for peripheral in run.air.gaitcue_devices():
        link = run.link_for(peripheral.address)
        truth = peripheral.truth
        stats = link.stats()
        assert truth.disconnects == 1
        assert truth.lost_in_notifications > 0
        assert truth.duplicated > 0
        assert truth.skipped_in_outages > 0
        assert stats.packets == len(truth.delivered)
        assert stats.missing == truth.missing_between()
        assert stats.duplicate == truth.duplicated
        assert stats.resets == 0
        assert link.disconnects == 1
        assert link.reconnects == 1
        states = [s for port, s in run.states if port == link.port]
        assert states[:3] == ["connected", "reconnecting", "connected"]
        device = link.decoder.devices[peripheral.spec.device_id]
        assert device.info is not None
        gaps = [b.gap_before_s for b in run.blocks[device.info.stream_id] if b.gap_before_s > 0]
        # the outage (unreachable 0.6 s plus reconnecting) is one marked gap of that size
        assert max(gaps) > 0.5


def test_one_device_vanishing_does_not_stop_the_others(
    run_emulated: RunEmulated, data_counts: Any
) -> None:
    def vanish_first(air: Any) -> None:
        first = air.gaitcue_devices()[0]
        first.faults = BleFaults(disconnect_at_s=(1.0,), unreachable_s=1e9)

    def tried_again(run: Any) -> bool:
        return run.links[0].last_error is not None

    run = run_emulated(3.0, seed=7, insoles=False, configure=vanish_first, until=tried_again)
    gone, other = run.air.gaitcue_devices()
    gone_link, other_link = run.link_for(gone.address), run.link_for(other.address)
    assert gone.truth.disconnects == 1
    assert gone_link.reconnects == 0
    assert gone_link.last_error is not None
    assert "not found" in gone_link.last_error
    assert [s for p, s in run.states if p == gone.address][:2] == ["connected", "reconnecting"]
    assert other_link.disconnects == 0
    assert other_link.stats().packets == len(other.truth.delivered) > 250
    assert other_link.stats().missing == 0
    assert_samples_match_truth(run, data_counts)


def test_mtu_23_fragments_and_falls_back_to_a_lower_rate(
    run_emulated: RunEmulated, data_counts: Any
) -> None:
    run = run_emulated(3.0, seed=5, att_mtu=23, faults=BleFaults(notification_loss=0.01))
    assert_samples_match_truth(run, data_counts)
    for peripheral in run.air.gaitcue_devices():
        link = run.link_for(peripheral.address)
        assert link.att_mtu == 23
        assert link.note is not None
        assert "reduced" in link.note
        assert peripheral.rate_hz < peripheral.spec.rate_hz
        counters = link.reader.counters
        assert counters.fragments == counters.notifications > 0
        assert max(len(p.data) for p in peripheral.truth.delivered) > 20
        stats = link.stats()
        assert stats.missing == peripheral.truth.missing_between()
        assert counters.broken_fragments > 0


def test_notifications_are_the_simulators_bytes() -> None:
    """Straight through bleak's facade: the notification stream is the device's packets."""
    clock = ScaledClock(10.0)
    session = SimulatedSession(
        SimulationConfig(duration_s=30.0, seed=8, link="ble", insoles=False, start_s=clock())
    )
    air = air_from_session(session, clock)
    peripheral = air.gaitcue_devices()[0]
    received: list[bytes] = []
    replies: list[ControlReply] = []

    async def scenario() -> None:
        async with BleakClient(peripheral.address, backend=air.client_backend) as client:
            assert client.services.get_service(GAITCUE_SERVICE_UUID) is not None
            await client.start_notify(
                CONTROL_CHAR_UUID, lambda _, d: replies.append(ControlReply.decode(bytes(d)))
            )
            await client.write_gatt_char(
                CONTROL_CHAR_UUID, control_request(ControlOp.GET_INFO), response=True
            )
            await client.start_notify(DATA_CHAR_UUID, lambda _, d: received.append(bytes(d)))
            await client.write_gatt_char(
                CONTROL_CHAR_UUID, control_request(ControlOp.START), response=True
            )
            await asyncio.sleep(0.15)
            assert (await client.read_gatt_char(BATTERY_LEVEL_UUID))[0] == peripheral.battery_pct
            await client.write_gatt_char(
                CONTROL_CHAR_UUID, control_request(ControlOp.STOP), response=True
            )

    asyncio.run(scenario())
    info = DeviceInfo.decode(replies[0].payload)
    assert (info.device_id, info.kind, info.side) == (
        peripheral.spec.device_id,
        peripheral.spec.kind,
        peripheral.spec.side,
    )
    stream = b"".join(received)
    sent = b"".join(p.data for p in peripheral.truth.delivered)
    assert stream == sent
    assert len(peripheral.truth.delivered) > 50
    assert all(len(n) <= 244 for n in received)


@pytest.mark.parametrize("one_foot", [False, True])
def test_footpod_cadence_per_step_with_auto_doubling(
    run_emulated: RunEmulated, one_foot: bool
) -> None:
    run = run_emulated(6.0, seed=6, insoles=False, imus=False, footpod=True, one_foot=one_foot)
    (link,) = run.links
    assert link.kind == "rsc"
    assert link.footpod is not None
    assert link.footpod.multiplier == (2 if one_foot else 1)
    info = next(i for i in run.infos.values() if i.kind == StreamKind.FOOTPOD)
    rows = np.concatenate([b.values for b in run.blocks[info.stream_id]])
    pod = next(iter(run.air.peripherals.values()))
    assert rows.shape[0] == len(pod.sent) >= 5  # type: ignore[attr-defined]
    truth = np.array([spm for _, spm in pod.sent])  # type: ignore[attr-defined]
    decided = slice(3, None)  # auto decides after three running measurements
    assert np.all(np.abs(rows[decided, 0] - truth[decided]) <= 2.5)
    assert np.all(rows[decided, 5] == 1.0)
    assert np.all(np.isfinite(rows[:, 2]))
    assert np.all(np.isfinite(rows[:, 3]))
    assert link.battery_pct == link.footpod.status().battery_pct == 64
