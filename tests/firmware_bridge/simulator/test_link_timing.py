"""Arrival-time models of the simulated links: floor, FIFO, connection events, stalls, cost."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.simulator.link_timing import (
    BleTiming,
    LinkModel,
    SerialTiming,
    arrival_times,
    host_stalls,
    latency_floor_s,
)


def packet_ready_times(
    rng: np.random.Generator, *, rate_hz: float, duration_s: float
) -> npt.NDArray[np.float64]:
    """Ready times (s) of packets at a nominal rate with a little device-side jitter."""
    n = int(rate_hz * duration_s)
    return 10.0 + np.arange(n) / rate_hz + rng.uniform(0.0, 0.2 / rate_hz, n)


def event_residual_s(
    arrival_s: npt.NDArray[np.float64], timing: BleTiming, t0_s: float
) -> npt.NDArray[np.float64]:
    """How far each arrival is past its connection event plus the floor (s)."""
    period_s = timing.interval_s / (1.0 + timing.event_clock_ppm * 1e-6)
    since = arrival_s - timing.min_latency_s - t0_s
    k = np.floor(since / period_s + 1e-9)
    return since - k * period_s


def burst_sizes(arrival_s: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    return np.unique(arrival_s, return_counts=True)[1]


# --------------------------------------------------------------------------- serial
def test_serial_latency_is_between_its_bounds_and_fifo() -> None:
    rng = np.random.default_rng(1)
    ready = packet_ready_times(rng, rate_hz=100.0, duration_s=120.0)
    timing = SerialTiming()
    arrival = arrival_times(ready, timing, rng)
    latency = arrival - ready
    assert np.all(np.diff(arrival) >= 0.0)
    assert latency.min() >= timing.min_latency_s
    assert latency.max() <= timing.max_latency_s + 1e-12
    # the floor is reached closely and often enough for a lower envelope to find it
    per_half_second = latency.reshape(-1, 50).min(axis=1)
    assert np.median(per_half_second) - latency_floor_s(timing) < 0.5e-3


def test_packets_handed_over_out_of_order_still_leave_in_order() -> None:
    rng = np.random.default_rng(2)
    ready = packet_ready_times(rng, rate_hz=100.0, duration_s=10.0)
    ready[::7] -= 0.05  # handed over late relative to their ready time
    arrival = arrival_times(ready, SerialTiming(), rng)
    assert np.all(np.diff(arrival) >= 0.0)
    assert np.all(arrival >= np.maximum.accumulate(ready) + 0.001)


# ------------------------------------------------------------------------------ BLE
def test_ble_packets_arrive_in_bursts_at_connection_events() -> None:
    rng = np.random.default_rng(3)
    timing = BleTiming(interval_s=0.03, stall_every_s=0.0)
    ready = packet_ready_times(rng, rate_hz=100.0, duration_s=60.0)
    arrival = arrival_times(ready, timing, rng, t0_s=0.37)
    latency = arrival - ready
    residual = event_residual_s(arrival, timing, 0.37)
    assert np.all(np.diff(arrival) >= 0.0)
    assert latency.min() >= latency_floor_s(timing)
    assert latency.max() <= timing.interval_s + timing.min_latency_s + timing.jitter_s + 1e-9
    assert residual.min() >= -1e-9
    assert residual.max() <= timing.jitter_s + 1e-9
    sizes = burst_sizes(arrival)
    assert sizes.max() <= timing.packets_per_event
    assert np.mean(sizes) > 2.0  # several packets per event at 100 packets/s and 30 ms


def test_ble_event_carries_at_most_its_share_and_the_rest_waits() -> None:
    rng = np.random.default_rng(4)
    timing = BleTiming(interval_s=0.015, packets_per_event=4, stall_every_s=0.0)
    ready = 5.0 + np.arange(500) * 0.001  # 1000 packets/s for 0.5 s: four times too many
    arrival = arrival_times(ready, timing, rng)
    assert burst_sizes(arrival).max() == 4
    events_needed = 500 / 4
    assert arrival[-1] - ready[0] == pytest.approx(events_needed * 0.015, rel=0.05)


def test_ble_stall_holds_everything_then_delivers_it_at_once() -> None:
    rng = np.random.default_rng(5)
    timing = BleTiming(interval_s=0.0075, stall_every_s=3.0, stall_s=0.2)
    ready = packet_ready_times(rng, rate_hz=100.0, duration_s=120.0)
    arrival = arrival_times(ready, timing, rng)
    latency = arrival - ready
    stalled = latency > 0.1
    assert latency.max() == pytest.approx(0.2, abs=timing.interval_s + 0.005)
    # each stall releases its backlog in one burst, larger than an event may carry
    released = np.unique(arrival[stalled])
    assert 10 <= released.size <= 100  # ~40 stalls expected in 120 s
    big = burst_sizes(arrival)
    assert big.max() > timing.packets_per_event
    assert np.all(np.diff(arrival) >= 0.0)


def test_event_clock_rate_moves_the_event_grid() -> None:
    rng = np.random.default_rng(6)
    timing = BleTiming(interval_s=0.015, event_clock_ppm=80.0, stall_every_s=0.0)
    ready = packet_ready_times(rng, rate_hz=100.0, duration_s=300.0)
    arrival = arrival_times(ready, timing, rng)
    assert event_residual_s(arrival, timing, 0.0).max() <= timing.jitter_s + 1e-9
    nominal = BleTiming(interval_s=0.015, stall_every_s=0.0)
    assert event_residual_s(arrival, nominal, 0.0).max() > 0.01  # 80 ppm drifts off it


@given(
    interval_ms=st.floats(min_value=7.5, max_value=50.0),
    cap=st.integers(min_value=1, max_value=8),
    rate_hz=st.floats(min_value=20.0, max_value=400.0),
    chunks=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_chunked_feeding_keeps_fifo_floor_grid_and_share(
    interval_ms: float, cap: int, rate_hz: float, chunks: list[int], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    timing = BleTiming(interval_s=interval_ms * 1e-3, packets_per_event=cap, stall_every_s=0.5)
    ready = 1.0 + np.cumsum(rng.exponential(1.0 / rate_hz, sum(chunks)))
    link = LinkModel(timing, rng, t0_s=0.1)
    edges = np.cumsum([0, *chunks])
    arrival = np.concatenate([link.arrivals(ready[a:b]) for a, b in itertools.pairwise(edges)])
    assert arrival.shape == ready.shape
    assert np.all(np.diff(arrival) >= 0.0)
    assert np.all(arrival - ready >= timing.min_latency_s - 1e-12)
    assert event_residual_s(arrival, timing, 0.1).max() <= timing.jitter_s + 1e-9
    assert link.last_arrival_s == arrival[-1]
    # more than the share per event happens only when a stall releases its backlog, so
    # such a burst follows a silence of at least the stall
    bursts, sizes = np.unique(arrival, return_counts=True)
    oversize = np.flatnonzero(sizes[1:] > cap) + 1
    silence = bursts[oversize] - bursts[oversize - 1]
    assert np.all(silence >= timing.stall_s - timing.jitter_s - 1e-9)


# ------------------------------------------------------------------ shared helpers, cost
def test_floors() -> None:
    assert latency_floor_s(SerialTiming()) == 0.001
    assert latency_floor_s(SerialTiming(min_latency_s=0.002, max_latency_s=0.004)) == 0.002
    assert latency_floor_s(BleTiming(min_latency_s=0.0025)) == 0.0025


@pytest.mark.parametrize("timing", [SerialTiming(), BleTiming(interval_s=0.0075), BleTiming()])
def test_an_hour_at_200_packets_per_second_arrives_in_order_after_it_is_ready(
    timing: SerialTiming | BleTiming,
) -> None:
    # How fast this runs is a benchmark figure (bench/bridge.py), not a test.
    rng = np.random.default_rng(7)
    ready = 3.0 + np.arange(3600 * 200) * 0.005
    arrival = arrival_times(ready, timing, rng)
    assert arrival.size == ready.size
    assert np.all(arrival >= ready)


def test_host_stalls_move_arrivals_to_the_stall_end() -> None:
    rng = np.random.default_rng(8)
    arrival = 1.0 + np.arange(60_000) * 0.001
    stalled = host_stalls(arrival, rng, every_s=5.0, stall_s=0.2)
    delay = stalled - arrival
    assert np.all(np.diff(stalled) >= 0.0)
    assert delay.min() == 0.0
    assert 0.19 < delay.max() <= 0.2 + 1e-9
    assert 3 <= np.unique(stalled[delay > 0]).size <= 40  # ~12 stalls in 60 s
    assert np.array_equal(host_stalls(arrival, rng, every_s=0.0, stall_s=0.2), arrival)


def test_empty_input_gives_empty_output() -> None:
    rng = np.random.default_rng(9)
    assert arrival_times(np.empty(0), BleTiming(), rng).size == 0
    assert arrival_times([], SerialTiming(), rng).size == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: SerialTiming(min_latency_s=0.02, max_latency_s=0.01),
        lambda: BleTiming(interval_s=0.005),
        lambda: BleTiming(packets_per_event=0),
        lambda: BleTiming(stall_s=-1.0),
        lambda: BleTiming(stall_every_s=-1.0),
    ],
)
def test_impossible_timings_are_configuration_errors(make: object) -> None:
    with pytest.raises(ConfigurationError):
        make()  # type: ignore[operator]
