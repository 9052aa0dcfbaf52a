"""The BLE budget against the simulator: the bytes a device needs are the bytes its
simulated twin sends, and the fallback rates fit the links they are chosen for."""

from __future__ import annotations

import pytest

from firmware_bridge.ble.budget import (
    HEADROOM,
    STANDARD_SET,
    air_time_share,
    device_need,
    fallback_rate_hz,
    fits,
    link_capacity,
    plan_set_rates,
)
from firmware_bridge.ble.gatt import packet_limit_bytes
from firmware_bridge.samples import StreamKind
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig


@pytest.mark.parametrize("att_mtu", [23, 100, 247])
def test_need_equals_what_the_simulated_devices_send(att_mtu: int) -> None:
    session = SimulatedSession(SimulationConfig(duration_s=30.0, seed=9))
    duration_s = 20.0
    for device in session.devices:
        spec = device.spec
        device.spec = type(spec)(
            **{**spec.__dict__, "max_packet_bytes": packet_limit_bytes(att_mtu)}
        )
        sent = device.produce(duration_s)
        need = device_need(
            spec.kind, spec.rate_hz, spec.n_channels, att_mtu=att_mtu, interval_s=0.015
        )
        assert need.samples_per_packet == device.spec.samples_per_packet
        assert sum(len(p.data) for p in sent) / duration_s == pytest.approx(
            need.bytes_per_s, rel=0.01
        )
        assert len(sent) / duration_s == pytest.approx(need.packets_per_s, rel=0.01)


def test_full_set_fits_mtu_247_and_overfills_the_radio_at_mtu_23() -> None:
    for interval_s in (0.0075, 0.015, 0.030):
        rates, ok = plan_set_rates(att_mtu=247, interval_s=interval_s)
        assert ok
        assert rates == [r for _, r, _ in STANDARD_SET]
        full23 = [
            device_need(k, r, c, att_mtu=23, interval_s=interval_s) for k, r, c in STANDARD_SET
        ]
        assert air_time_share(full23) > 1.0


@pytest.mark.parametrize("interval_s", [0.0075, 0.015])
def test_fallback_rates_fit_their_link(interval_s: float) -> None:
    rates, ok = plan_set_rates(att_mtu=23, interval_s=interval_s)
    assert ok
    capacity = link_capacity(att_mtu=23, interval_s=interval_s)
    needs = [
        device_need(k, r, c, att_mtu=23, interval_s=interval_s)
        for (k, _, c), r in zip(STANDARD_SET, rates, strict=True)
    ]
    assert all(fits(n, capacity) for n in needs)
    assert air_time_share(needs) <= HEADROOM
    assert all(r < full for (_, full, _), r in zip(STANDARD_SET, rates, strict=True))


def test_device_fallback_follows_the_set_plan() -> None:
    assert fallback_rate_hz(StreamKind.IMU, 1000, 6, att_mtu=247) == 1000
    assert fallback_rate_hz(StreamKind.INSOLE, 200, 16, att_mtu=247) == 200
    imu = fallback_rate_hz(StreamKind.IMU, 1000, 6, att_mtu=23)
    insole = fallback_rate_hz(StreamKind.INSOLE, 200, 16, att_mtu=23)
    rates, _ = plan_set_rates(att_mtu=23)
    assert (insole, imu) == (rates[0], rates[2])
    assert fallback_rate_hz(StreamKind.IMU, 50, 6, att_mtu=23) <= 50
