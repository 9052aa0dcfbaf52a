"""A whole simulated session: the runner, four devices with their own clocks, and the links.

``SimulatedSession`` owns the step plan (and so the ground truth), one ``VirtualDevice`` per
sensor, each device's link timing and faults, and advances them all to a given host time,
returning the bytes each device's link delivers and when. The same object feeds an
in-process decoder (tests, offline benchmarks) or pseudo-terminals (``gaitcue simulate``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Mount, Side, StreamKind
from firmware_bridge.simulator.devices import DeviceSpec, SensorErrors, VirtualDevice
from firmware_bridge.simulator.faults import FaultSpec, InjectedFaults, apply_faults
from firmware_bridge.simulator.gait import RunnerConfig, StepPlan, plan_steps
from firmware_bridge.simulator.link_timing import (
    BleTiming,
    LinkModel,
    SerialTiming,
    latency_floor_s,
)
from firmware_bridge.simulator.truth import TrueEvents, true_events

_U32_S = (1 << 32) * 1e-6


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate.

    Attributes:
        runner: the runner model's settings.
        duration_s: length of the step plan (s); streaming stops after it.
        seed: seeds every random draw, so a session is reproducible.
        insoles, imus: which device pairs exist.
        insole_rate_hz: 100 or 200; n_cells: 8 or 16.
        imu_rate_hz: 500 or 1000; imu_mount: foot or shank.
        link: ``"serial"`` (USB jitter) or ``"ble"`` (connection-interval bursts, stalls).
        ble_interval_s: BLE connection interval (s).
        max_clock_ppm: device crystals err uniformly within ±this (ppm).
        faults: link faults, the same spec on every device.
        start_s: host time (s) at which the session starts.
        first_seq: sequence number of every device's first packet after a boot.
        sensor_errors: deliberate sensor errors (offsets, gains, a tilted mount) of
            chosen devices; empty keeps every device's default model.
    """

    runner: RunnerConfig = field(default_factory=RunnerConfig)
    duration_s: float = 600.0
    seed: int = 0
    insoles: bool = True
    imus: bool = True
    insole_rate_hz: int = 200
    n_cells: int = 16
    imu_rate_hz: int = 1000
    imu_mount: Mount = Mount.FOOT
    link: str = "serial"
    ble_interval_s: float = 0.015
    max_clock_ppm: float = 100.0
    faults: FaultSpec = field(default_factory=FaultSpec)
    start_s: float = 0.0
    first_seq: int = 0
    sensor_errors: tuple[SensorErrors, ...] = ()

    def __post_init__(self) -> None:
        if self.link not in ("serial", "ble"):
            raise ConfigurationError(f"link must be 'serial' or 'ble', not '{self.link}'")
        if self.insole_rate_hz not in (100, 200):
            raise ConfigurationError(
                f"insole rate must be 100 or 200 Hz, not {self.insole_rate_hz}"
            )
        if self.imu_rate_hz not in (500, 1000):
            raise ConfigurationError(f"IMU rate must be 500 or 1000 Hz, not {self.imu_rate_hz}")
        if self.n_cells not in (8, 16):
            raise ConfigurationError(f"an insole has 8 or 16 cells, not {self.n_cells}")
        if not (self.insoles or self.imus):
            raise ConfigurationError("simulate at least the insoles or the IMUs")
        if self.duration_s <= 0:
            raise ConfigurationError(f"duration must be positive, got {self.duration_s} s")


@dataclass(frozen=True)
class LinkDelivery:
    """Bytes one device's link delivered during an ``advance`` call.

    Attributes:
        device_index: index into ``SimulatedSession.devices``.
        arrival_s: ``(n,)`` host arrival time of each chunk of bytes (s), non-decreasing.
        payloads: the bytes arriving at each of those times.
    """

    device_index: int
    arrival_s: npt.NDArray[np.float64]
    payloads: list[bytes]


@dataclass
class _Feed:
    device: VirtualDevice
    injected: InjectedFaults
    rng: np.random.Generator
    link: LinkModel
    next_outage_s: float
    offline_until_s: float | None = None
    needs_delimiter: bool = True
    boot: int = 0
    next_jump_s: float = np.inf


class SimulatedSession:
    """The simulated runner and devices, advanced in host time."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        root = np.random.default_rng(config.seed)
        self.plan: StepPlan = plan_steps(
            config.runner,
            config.duration_s,
            np.random.default_rng(root.integers(2**63)),
            t0_s=config.start_s,
        )
        self.timing: SerialTiming | BleTiming = (
            SerialTiming()
            if config.link == "serial"
            else BleTiming(interval_s=config.ble_interval_s)
        )
        self.latency_floor_s = latency_floor_s(self.timing)
        self.devices: list[VirtualDevice] = []
        self._feeds: list[_Feed] = []
        max_packet = 244
        specs: list[DeviceSpec] = []
        for side in (Side.LEFT, Side.RIGHT):
            if config.insoles:
                specs.append(
                    DeviceSpec(
                        0,
                        StreamKind.INSOLE,
                        side,
                        Mount.INSOLE,
                        config.insole_rate_hz,
                        n_cells=config.n_cells,
                        max_packet_bytes=max_packet,
                    )
                )
            if config.imus:
                specs.append(
                    DeviceSpec(
                        0,
                        StreamKind.IMU,
                        side,
                        config.imu_mount,
                        config.imu_rate_hz,
                        max_packet_bytes=max_packet,
                    )
                )
        for index, spec in enumerate(specs):
            rng = np.random.default_rng(root.integers(2**63))
            ppm = float(rng.uniform(-config.max_clock_ppm, config.max_clock_ppm))
            offset = float(rng.uniform(0.0, _U32_S))
            device_id = 0x6A000000 | (index << 16) | int(rng.integers(0, 0xFFFF))
            spec = DeviceSpec(
                **{
                    **spec.__dict__,
                    "device_id": device_id,
                    "clock_ppm": ppm,
                    "clock_offset_s": offset - config.start_s * (1 + ppm * 1e-6),
                    "first_seq": config.first_seq,
                }
            )
            errors = next(
                (e for e in config.sensor_errors if e.kind == spec.kind and e.side == spec.side),
                None,
            )
            imu_model = insole_model = None
            if errors is not None and spec.kind == StreamKind.IMU:
                imu_model = errors.imu_model(rng, spec)
            elif errors is not None:
                insole_model = errors.insole_model(rng)
            device = VirtualDevice(
                spec,
                self.plan,
                rng,
                insole_model=insole_model,
                imu_model=imu_model,
                start_s=config.start_s,
                errors=errors,
            )
            self.devices.append(device)
            first_outage = self._outage_after(config.start_s, rng)
            link = LinkModel(self.timing, rng, t0_s=config.start_s)
            feed = _Feed(device, InjectedFaults(), rng, link, first_outage)
            feed.next_jump_s = self._jump_after(config.start_s, rng)
            self._feeds.append(feed)
        self._now_s = config.start_s

    @functools.cached_property
    def truth(self) -> TrueEvents:
        """The true initial contacts and toe-offs of the whole plan (host s), computed on
        first use (seconds of work for hours of plan)."""
        return true_events(self.plan)

    @property
    def end_s(self) -> float:
        """Host time (s) at which the plan ends."""
        return self.config.start_s + self.config.duration_s

    @property
    def now_s(self) -> float:
        """Host time (s) up to which devices have been advanced."""
        return self._now_s

    def injected(self, device_index: int) -> InjectedFaults:
        """Exact counts of what was injected on that device's link so far."""
        return self._feeds[device_index].injected

    def truth_until(self, t_s: float) -> TrueEvents:
        """True events whose toe-off happened by host time ``t_s``."""
        keep = self.truth.to_s <= t_s
        return TrueEvents(self.truth.side[keep], self.truth.ic_s[keep], self.truth.to_s[keep])

    def _outage_after(self, t_s: float, rng: np.random.Generator) -> float:
        every = self.config.faults.disconnect_every_s
        if every <= 0:
            return np.inf
        return t_s + every * float(rng.uniform(0.8, 1.2))

    def _jump_after(self, t_s: float, rng: np.random.Generator) -> float:
        faults = self.config.faults
        if faults.clock_jump_ms <= 0:
            return np.inf
        return t_s + faults.clock_jump_every_s * float(rng.uniform(0.8, 1.2))

    def advance(self, until_s: float) -> list[LinkDelivery]:
        """Run every device up to host time ``until_s``; return what each link delivered."""
        until_s = min(until_s, self.end_s)
        deliveries = [self._advance_feed(i, feed, until_s) for i, feed in enumerate(self._feeds)]
        self._now_s = max(self._now_s, until_s)
        return deliveries

    def _advance_feed(self, index: int, feed: _Feed, until_s: float) -> LinkDelivery:
        faults = self.config.faults
        arrivals: list[npt.NDArray[np.float64]] = []
        payloads: list[bytes] = []
        t = self._now_s
        while t < until_s:
            if feed.offline_until_s is not None:
                if until_s < feed.offline_until_s:
                    break
                t = feed.offline_until_s
                feed.offline_until_s = None
                self._reconnect(feed, t)
                continue
            segment_end = min(until_s, feed.next_outage_s, feed.next_jump_s)
            packets = feed.device.produce(segment_end)
            if packets:
                wire = apply_faults(
                    [(p.ready_s, p.data, p.ordinal) for p in packets],
                    faults,
                    feed.rng,
                    feed.injected,
                    boot=feed.boot,
                )
                if wire.frames:
                    if feed.needs_delimiter:
                        wire.frames[0] = b"\x00" + wire.frames[0]
                        feed.needs_delimiter = False
                    arrivals.append(feed.link.arrivals(wire.ready_s))
                    payloads.extend(wire.frames)
            t = segment_end
            if segment_end >= feed.next_jump_s:
                step_s = faults.clock_jump_ms * 1e-3 * (1.0 if feed.rng.random() < 0.5 else -1.0)
                feed.device.step_clock(segment_end, step_s)
                feed.injected.clock_jumps.append((segment_end, step_s))
                feed.next_jump_s = self._jump_after(segment_end, feed.rng)
            if segment_end >= feed.next_outage_s:
                feed.offline_until_s = segment_end + faults.disconnect_s
                feed.injected.disconnects += 1
                feed.injected.outages_s.append((segment_end, feed.offline_until_s))
                feed.next_outage_s = self._outage_after(feed.offline_until_s, feed.rng)
        merged = np.concatenate(arrivals) if arrivals else np.empty(0)
        return LinkDelivery(index, merged, payloads)

    def _reconnect(self, feed: _Feed, t_s: float) -> None:
        if self.config.faults.reset_on_reconnect:
            feed.device.reboot(t_s)
            feed.boot += 1
        else:
            before = feed.device.next_ordinal
            feed.device.resume(t_s)
            feed.injected.lost_in_outages += feed.device.next_ordinal - before
        feed.needs_delimiter = True
