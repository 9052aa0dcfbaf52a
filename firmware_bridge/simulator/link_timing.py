"""When packets reach the host: arrival-time models of the USB-serial and BLE links.

A device hands each packet to its link when the packet's last sample has been taken (its
*ready* time, in true host seconds). The models below say when the host reads it. Both keep
the two properties the clock mapping relies on and the tests check:

* **floor**: every packet arrives at least ``latency_floor_s(timing)`` after it was ready;
* **FIFO**: arrivals on one link never overtake each other (the output is non-decreasing).

USB-serial (``SerialTiming``)
    Each packet's latency is uniform between ``min_latency_s`` and ``max_latency_s``
    (USB frame polling, the adapter's latency timer, the OS waking the reader thread), then
    FIFO order is enforced, so a late packet holds back the ones behind it and they arrive
    together, as a reader sees a chunk of bytes.

Bluetooth LE (``BleTiming``)
    Packets queue on the device and leave only at connection events, which the central's
    controller schedules every ``interval_s`` on its own crystal (``event_clock_ppm`` against
    host time). An event carries at most ``packets_per_event`` packets; the host receives
    them together ``min_latency_s`` plus a per-event delay uniform in ``[0, jitter_s]``
    after the event. Stalls (lost connection events, radio retries) begin at random with a
    mean spacing of ``stall_every_s``; no event gets through for ``stall_s``, and the first
    event after a stall delivers everything queued in one burst.

    Because connection events are periodic, a packet's wait for the next event depends on
    the phase between the device's packet period and the event grid. That phase only moves
    as fast as the two crystals differ; when they run at nearly the same rate and the two
    periods are commensurate (10 ms packets, 15 ms events) the shortest latency seen for
    minutes can stay well above the floor. This is a property of real BLE links, and the
    model keeps it rather than hiding it; see ``firmware_bridge.clock`` for what it means
    for the clock mapping.

``LinkModel`` keeps a link's state (event grid, stall schedule, backlog, last arrival) so a
caller that produces packets chunk by chunk gets the same timing as one call with all of
them. ``arrival_times`` is the one-shot form. Host-side stalls (the reading process not
scheduled) are a separate, composable step: ``host_stalls``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from firmware_bridge.errors import ConfigurationError

FloatArray = npt.NDArray[np.float64]

_BLE_MIN_INTERVAL_S = 0.0075
_BLE_MAX_INTERVAL_S = 4.0


@dataclass(frozen=True)
class SerialTiming:
    """USB-serial latency model.

    Attributes:
        min_latency_s: shortest latency from ready to host read (s); the link's floor.
        max_latency_s: longest latency before FIFO ordering (s); 16 ms is a typical USB
            adapter latency timer.
    """

    min_latency_s: float = 0.001
    max_latency_s: float = 0.016

    def __post_init__(self) -> None:
        if not (0.0 <= self.min_latency_s <= self.max_latency_s):
            raise ConfigurationError(
                f"serial latency wants 0 <= min <= max, got min {self.min_latency_s} s and "
                f"max {self.max_latency_s} s"
            )


@dataclass(frozen=True)
class BleTiming:
    """Bluetooth LE notification timing model.

    Attributes:
        interval_s: connection interval (s), 7.5 ms to 4 s; gaitcue asks for 7.5–50 ms.
        packets_per_event: most packets one connection event carries.
        stall_every_s: mean time between stalls (s); 0 or ``inf`` disables stalls.
        stall_s: how long a stall blocks the link (s).
        jitter_s: extra host-side delay per connection event, uniform in ``[0, jitter_s]``.
        min_latency_s: shortest delay from a connection event to the host read (s): air
            time, controller, HCI transport and OS; the link's floor.
        event_clock_ppm: rate error of the central's controller clock against host time
            (ppm); positive means events come slightly early.
    """

    interval_s: float = 0.015
    packets_per_event: int = 6
    stall_every_s: float = 30.0
    stall_s: float = 0.2
    jitter_s: float = 0.0005
    min_latency_s: float = 0.002
    event_clock_ppm: float = 0.0

    def __post_init__(self) -> None:
        if not (_BLE_MIN_INTERVAL_S - 1e-12 <= self.interval_s <= _BLE_MAX_INTERVAL_S):
            raise ConfigurationError(
                f"a BLE connection interval is 7.5 ms to 4 s, got {self.interval_s * 1e3:g} ms"
            )
        if self.packets_per_event < 1:
            raise ConfigurationError(
                f"a connection event carries at least one packet, got {self.packets_per_event}"
            )
        if self.stall_s < 0 or self.jitter_s < 0 or self.min_latency_s < 0:
            raise ConfigurationError(
                f"BLE stall ({self.stall_s} s), jitter ({self.jitter_s} s) and minimum "
                f"latency ({self.min_latency_s} s) must not be negative"
            )
        if self.stall_every_s < 0:
            raise ConfigurationError(
                f"BLE stall spacing must not be negative, got {self.stall_every_s} s"
            )

    @property
    def stalls_enabled(self) -> bool:
        """True when the model injects stalls."""
        return self.stall_s > 0 and 0 < self.stall_every_s < math.inf


LinkTiming = SerialTiming | BleTiming


def latency_floor_s(timing: LinkTiming) -> float:
    """The latency floor (s) to give ``ClockMapper`` for a link with this timing.

    It is the shortest possible delay from a packet being ready to the host reading it, so
    the lower envelope of (arrival − device time) sits exactly that far above the true
    mapping. One-way timing cannot observe it; it is a property of the transport.
    """
    return float(timing.min_latency_s)


class LinkModel:
    """Arrival times of one link's packets, stateful across calls.

    Args:
        timing: the link's timing model.
        rng: source of every random draw (latencies, jitter, stalls).
        t0_s: host time (s) of connection event 0 for BLE (the event grid's phase), and
            the earliest time a stall may begin.

    Feed the packets in ready order, chunk by chunk, with ``arrivals``. The backlog, the
    connection event in progress and the stall schedule carry over between calls.
    """

    def __init__(self, timing: LinkTiming, rng: np.random.Generator, *, t0_s: float = 0.0):
        self.timing = timing
        self.rng = rng
        self.t0_s = float(t0_s)
        self._last_arrival_s = -math.inf
        # BLE state: the last connection event used, how full it is, its host delay.
        self._last_event = -(1 << 62)
        self._last_event_used = 0
        self._last_event_delay_s = 0.0
        # stall intervals not yet in the past, as (start_s, end_s), in time order
        self._stalls: list[tuple[float, float]] = []
        self._stall_horizon_s = self.t0_s

    @property
    def last_arrival_s(self) -> float:
        """Arrival time (s) of the newest packet so far, ``-inf`` before any."""
        return self._last_arrival_s

    def arrivals(self, ready_s: npt.ArrayLike) -> FloatArray:
        """Host arrival time (s) of each packet, shape ``(n,)``, non-decreasing.

        Args:
            ready_s: shape ``(n,)``, host time (s) each packet became ready, in the order
                the packets were handed to the link (a packet cannot leave before the ones
                handed over earlier, even if its own ready time is earlier).
        """
        ready = np.asarray(ready_s, dtype=np.float64).reshape(-1)
        if ready.size == 0:
            return np.empty(0, dtype=np.float64)
        if not np.all(np.isfinite(ready)):
            raise ValueError("ready times must be finite")
        ready = np.maximum.accumulate(ready)
        if isinstance(self.timing, SerialTiming):
            arrival = self._serial(ready, self.timing)
        else:
            arrival = self._ble(ready, self.timing)
        arrival = np.maximum.accumulate(np.maximum(arrival, self._last_arrival_s))
        self._last_arrival_s = float(arrival[-1])
        return arrival

    # ------------------------------------------------------------------ serial
    def _serial(self, ready: FloatArray, timing: SerialTiming) -> FloatArray:
        latency = self.rng.uniform(timing.min_latency_s, timing.max_latency_s, ready.size)
        return np.asarray(ready + latency, dtype=np.float64)

    # --------------------------------------------------------------------- BLE
    def _ble(self, ready: FloatArray, timing: BleTiming) -> FloatArray:
        period_s = timing.interval_s / (1.0 + timing.event_clock_ppm * 1e-6)
        cap = timing.packets_per_event
        n = ready.size
        # first connection event each packet can catch
        first = np.ceil((ready - self.t0_s) / period_s - 1e-9).astype(np.int64)
        carried = self._last_event_used if self._last_event >= first[0] else 0
        k_start = int(first[0]) if carried == 0 else self._last_event
        first = np.maximum(first, k_start)
        total = n + carried
        # enough events to drain the queue at full capacity, extended if stalls intervene
        n_events = int(first[-1] - k_start) + 2 + math.ceil(total / cap)
        while True:
            k = np.arange(k_start, k_start + n_events, dtype=np.int64)
            event_s: FloatArray = (self.t0_s + k * period_s).astype(np.float64)
            capacity = self._capacities(event_s, cap, timing, total)
            # packets eligible by each event (the carried ones are eligible at k_start)
            eligible = carried + np.searchsorted(first, k, side="right")
            # served_k = min(eligible_k, served_{k-1} + capacity_k), solved in closed form
            cum = np.cumsum(capacity)
            served = cum + np.minimum(np.minimum.accumulate(eligible - cum), 0)
            if served[-1] >= total:
                break
            n_events *= 2
        # event index (into k) that carried each packet
        slot = np.searchsorted(served, np.arange(carried, total), side="right")
        delay = timing.min_latency_s + self.rng.uniform(0.0, timing.jitter_s, k.size)
        if carried:
            delay[0] = self._last_event_delay_s
        arrival = event_s[slot] + delay[slot]
        last = int(slot[-1])
        used_in_last = int(served[last] - (served[last - 1] if last > 0 else 0))
        self._last_event = int(k[last])
        self._last_event_used = used_in_last if capacity[last] <= cap else cap
        self._last_event_delay_s = float(delay[last])
        return np.asarray(arrival, dtype=np.float64)

    def _capacities(
        self, event_s: FloatArray, cap: int, timing: BleTiming, total: int
    ) -> npt.NDArray[np.int64]:
        """Packets each event may carry: ``cap``, 0 inside a stall, all after a stall."""
        capacity = np.full(event_s.size, cap, dtype=np.int64)
        if not timing.stalls_enabled:
            return capacity
        self._extend_stalls(float(event_s[0]), float(event_s[-1]), timing)
        # drop stalls that ended before these events (they can never matter again)
        while self._stalls and self._stalls[0][1] < event_s[0] - timing.interval_s:
            self._stalls.pop(0)
        flush = total + 1  # larger than any backlog: the event empties the queue
        for start_s, end_s in self._stalls:
            if start_s > event_s[-1]:
                break
            lo = int(np.searchsorted(event_s, start_s, side="left"))
            hi = int(np.searchsorted(event_s, end_s, side="left"))
            capacity[lo:hi] = 0
            if hi < event_s.size:
                capacity[hi] = flush
        return capacity

    def _extend_stalls(self, from_s: float, until_s: float, timing: BleTiming) -> None:
        if not self._stalls and self._stall_horizon_s < from_s:
            # stall starts are memoryless: skip the idle stretch instead of drawing it
            self._stall_horizon_s = from_s
        while self._stall_horizon_s <= until_s:
            start = self._stall_horizon_s + float(self.rng.exponential(timing.stall_every_s))
            self._stalls.append((start, start + timing.stall_s))
            self._stall_horizon_s = start + timing.stall_s


def arrival_times(
    ready_s: npt.ArrayLike,
    timing: LinkTiming,
    rng: np.random.Generator,
    *,
    t0_s: float = 0.0,
) -> FloatArray:
    """Host arrival time (s) of each packet, given when each packet was ready to send.

    Args:
        ready_s: shape ``(n,)``, host time (s) of each packet's last sample, in send order.
        timing: ``SerialTiming`` or ``BleTiming``.
        rng: source of the random draws.
        t0_s: host time (s) of BLE connection event 0 (the event grid's phase).

    Returns:
        shape ``(n,)`` float64, non-decreasing (FIFO), each at least
        ``ready + latency_floor_s(timing)``.

    One call models one uninterrupted stretch of the link. A caller that hands packets over
    in chunks should keep a ``LinkModel`` instead, so the BLE backlog and stalls carry over.
    Cost: vectorised; BLE works on arrays over the connection events the packets span
    (an hour of 200 packets/s at a 7.5 ms interval is well under a second).
    """
    return LinkModel(timing, rng, t0_s=t0_s).arrivals(ready_s)


def host_stalls(
    arrival_s: npt.ArrayLike,
    rng: np.random.Generator,
    *,
    every_s: float,
    stall_s: float,
) -> FloatArray:
    """Delay arrivals by host-side stalls: the reading process is not scheduled.

    Stalls begin at random (exponential spacing, mean ``every_s`` seconds) within the span
    of the arrivals and last ``stall_s`` seconds; a packet that arrives during one is read
    at its end. Returns a new non-decreasing array (s), shape ``(n,)``.
    """
    arrival = np.asarray(arrival_s, dtype=np.float64).reshape(-1).copy()
    if arrival.size == 0 or stall_s <= 0 or not (0 < every_s < math.inf):
        return arrival
    t = float(arrival[0])
    end = float(arrival[-1])
    while True:
        t += float(rng.exponential(every_s))
        if t > end:
            break
        inside = (arrival >= t) & (arrival < t + stall_s)
        arrival[inside] = t + stall_s
        t += stall_s
    return np.asarray(np.maximum.accumulate(arrival), dtype=np.float64)
