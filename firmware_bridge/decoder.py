"""From received bytes to timestamped sample blocks, with every fault counted.

One ``LinkDecoder`` per byte stream (a serial port, a BLE notification characteristic, a
replayed recording) splits frames, checks them, and hands each packet to the
``DeviceDecoder`` of its device id. The device decoder:

* starts each sequence (at first contact and after a reboot) only once the first packets
  have had ``hold_s`` to arrive, so that a swapped first pair is not taken for a duplicate;
* puts packets back in sequence order, holding a packet that arrived after a gap for up to
  ``hold_s`` (or ``hold_packets`` packets) so that a late packet can fill the gap; after
  that the missing packets count as lost, the gap is marked on the next block, and a
  packet that still turns up later is counted ``late`` (it stays in any recording of the raw
  packets but is not inserted into the live stream behind newer samples);
* counts lost, duplicate and reordered packets; unwraps the 16-bit sequence counter (using
  the device timestamp after long silences) and the 32-bit µs timestamp;
* maps device time to host time with a ``ClockMapper`` and restarts that mapping when the
  device reboots (a new ``boot_id`` or a timestamp jump backwards); the mapper re-anchors
  by itself when the device clock steps by a few ms, counted in
  ``stats.extra["clock_steps"]``;
* tells a long outage from a reboot by the device's own time and sequence counter: if the
  counter advanced as far as the packet rate and the device time say, the boot carries on
  (a gap), however late the host read the packets around it;
* converts counts to physical units with the scales of the device's hello packet (until a
  calibration applies, its streams are marked uncalibrated) and emits ``SampleBlock``s.

Nothing here blocks or sleeps; callers own the threads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from firmware_bridge.clock import ClockMapper, TimestampUnwrapper
from firmware_bridge.cobs import Deframer, cobs_decode
from firmware_bridge.errors import ProtocolError
from firmware_bridge.protocol import IMU_COUNTS_FULL_SCALE, Hello, Packet, Status, decode_packet
from firmware_bridge.samples import (
    IMU_CHANNELS,
    IMU_UNITS,
    LinkStats,
    SampleBlock,
    SampleSink,
    StreamInfo,
    StreamKind,
)

StreamListener = Callable[[StreamInfo], None]
MappingListener = Callable[[str, npt.NDArray[np.float64], npt.NDArray[np.float64]], None]
"""Told (stream_id, device times s, host times s) of every emitted block: for diagnostics."""

_SEQ_MODULO = 1 << 16
_FORGET_AFTER = 4096
"""How many given-up sequence numbers are remembered to tell late packets from duplicates."""
_SEQ_CARRY_ON = 64
"""A sequence number at most this far past the newest one continues the same boot."""
_CLOCK_STEPS = "clock_steps"
"""``LinkStats.extra`` key: device clock steps the mapping re-anchored after."""
_PENDING_LIMIT = 1000
"""Data packets kept while waiting for a device's first hello (about 10 s at 100 packets/s)."""


_SERIAL_FLOOR_LIMIT_S = 0.0015
"""Latency floors below this (s) are USB-serial's (about 1 ms); BLE's are 2 ms or more."""


def steps_detectable(latency_floor_s: float, detect_clock_steps: bool | None) -> bool:
    """Whether the clock mapping looks for device clock steps: as asked, or by default on
    links with a USB-serial latency floor. On BLE the connection-event phase sweep moves
    the lowest latency by whole phase quanta (2.5–10 ms), which one-way timing cannot tell
    from a device clock step, so there it is off unless asked for."""
    if detect_clock_steps is not None:
        return detect_clock_steps
    return latency_floor_s < _SERIAL_FLOOR_LIMIT_S


def stream_id_for(hello: Hello, device_id: int, generation: int = 0) -> str:
    """A stable, readable stream name, e.g. ``insole-left-00c0ffee``; a device that changes
    what it streams mid-session gets ``…-00c0ffee.1``, ``.2`` for the new streams."""
    base = f"{hello.device_kind.name.lower()}-{hello.side.name.lower()}-{device_id:08x}"
    return base if generation == 0 else f"{base}.{generation}"


def stream_info_for(hello: Hello, device_id: int, generation: int = 0) -> StreamInfo:
    """The ``StreamInfo`` that a device's hello implies (uncalibrated, nominal scales)."""
    if hello.device_kind == StreamKind.IMU:
        acc, gyr = float(hello.accel_full_scale_g), float(hello.gyro_full_scale_dps)
        return StreamInfo(
            stream_id=stream_id_for(hello, device_id, generation),
            device_id=device_id,
            kind=StreamKind.IMU,
            side=hello.side,
            mount=hello.mount,
            rate_hz=float(hello.rate_hz),
            channel_names=IMU_CHANNELS,
            units=IMU_UNITS,
            calibrated=False,
            full_scale=(acc, acc, acc, gyr, gyr, gyr),
        )
    n_cells = len(hello.cell_area_cm2)
    return StreamInfo(
        stream_id=stream_id_for(hello, device_id, generation),
        device_id=device_id,
        kind=StreamKind.INSOLE,
        side=hello.side,
        mount=hello.mount,
        rate_hz=float(hello.rate_hz),
        channel_names=tuple(f"cell{i}" for i in range(n_cells)),
        units=("N",) * n_cells,
        calibrated=False,
        full_scale=(hello.newtons_per_count * 65535.0,) * n_cells,
        cell_area_cm2=hello.cell_area_cm2,
    )


def count_scales(hello: Hello) -> npt.NDArray[np.float32]:
    """Physical units per count, one per channel (g, deg/s or N per count)."""
    if hello.device_kind == StreamKind.IMU:
        acc = hello.accel_full_scale_g / IMU_COUNTS_FULL_SCALE
        gyr = hello.gyro_full_scale_dps / IMU_COUNTS_FULL_SCALE
        return np.array([acc, acc, acc, gyr, gyr, gyr], dtype=np.float32)
    return np.full(len(hello.cell_area_cm2), hello.newtons_per_count, dtype=np.float32)


@dataclass(frozen=True)
class DeviceStatus:
    """What the device panel shows for one device.

    Attributes:
        info: the stream description, None until the first hello.
        stats: a copy of the fault counters.
        battery_pct: last reported charge (%), None when unknown.
        status_flags: last ``StatusFlag`` bits.
        drift_ppm, offset_s: current clock mapping (ppm, s).
        latency_ms: mean delay from a packet's last sample to its arrival (ms).
        last_arrival_s: host time of the newest packet (s), None before any.
        clock_steps: device clock steps the mapping found and re-anchored after.
    """

    info: StreamInfo | None
    stats: LinkStats
    battery_pct: int | None
    status_flags: int
    drift_ppm: float
    offset_s: float
    latency_ms: float
    last_arrival_s: float | None
    clock_steps: int = 0


@dataclass
class _Held:
    packet: Packet
    t_arrival_s: float
    t_device_us: int


class DeviceDecoder:
    """Sequence accounting, reordering, clock mapping and unit conversion for one device."""

    def __init__(
        self,
        device_id: int,
        *,
        sink: SampleSink,
        on_stream: StreamListener | None = None,
        latency_floor_s: float = 0.001,
        hold_s: float = 0.05,
        hold_packets: int = 8,
        on_mapped: MappingListener | None = None,
        detect_clock_steps: bool | None = None,
    ) -> None:
        self.device_id = device_id
        self._on_mapped = on_mapped
        self._sink = sink
        self._on_stream = on_stream
        self._hold_s = hold_s
        self._hold_packets = hold_packets
        self.stats = LinkStats()
        self.mapper = ClockMapper(
            latency_floor_s=latency_floor_s,
            detect_steps=steps_detectable(latency_floor_s, detect_clock_steps),
        )
        self._unwrapper = TimestampUnwrapper()
        self.hello: Hello | None = None
        self.info: StreamInfo | None = None
        self._scales: npt.NDArray[np.float32] | None = None
        self._period_us = 0.0
        self._offsets_s: dict[int, npt.NDArray[np.float64]] = {}  # n → sample offsets (s)
        self._pending: deque[tuple[Packet, float]] = deque()
        self._held: dict[int, _Held] = {}
        self._expected: int | None = None
        self._top_seq: int | None = None
        self._top_t_us = 0
        self._given_up: set[int] = set()
        self._given_up_order: deque[int] = deque()
        self._gap_pending = False
        self._last_t_host_s: float | None = None
        self._next_t_device_us: float | None = None
        self._battery_pct: int | None = None
        self._status_flags = 0
        self._latency_s = 0.0
        self._last_arrival_s: float | None = None
        self._last_unwrap_s: float | None = None
        self._last_t_us: int | None = None
        self._first_seq: tuple[int, int] | None = None
        self._boot_id: int | None = None
        self._adopt_boot_id = False
        self._generation = 0
        self._clock_steps = 0

    # ------------------------------------------------------------------ input
    def handle(self, packet: Packet, t_arrival_s: float) -> None:
        """Take one decoded packet of this device that arrived at host time ``t_arrival_s``."""
        self._last_arrival_s = t_arrival_s
        if packet.status is not None:
            self._take_status(packet.status)
        if packet.hello is None and self.hello is None:
            # Units are unknown until the first hello: keep everything (control packets too,
            # so that their sequence numbers are accounted) and replay it then.
            if len(self._pending) >= _PENDING_LIMIT:
                self._pending.popleft()
                self.stats.extra["dropped_before_hello"] = (
                    self.stats.extra.get("dropped_before_hello", 0) + 1
                )
            self._pending.append((packet, t_arrival_s))
            return
        first = self.hello is None
        if packet.hello is not None:
            self._take_hello(packet.hello)
        if first and self._pending:
            pending, self._pending = self._pending, deque()
            for queued, queued_arrival_s in pending:
                self._account(queued, queued_arrival_s)
        self._account(packet, t_arrival_s)

    def poll(self, now_s: float) -> None:
        """Give up on missing packets whose hold time has passed (call every few ms)."""
        while self._held:
            oldest = min(h.t_arrival_s for h in self._held.values())
            if now_s - oldest <= self._hold_s:
                break
            self._release_held()

    def status(self) -> DeviceStatus:
        """A snapshot for the device panel."""
        return DeviceStatus(
            info=self.info,
            stats=replace(self.stats, extra=dict(self.stats.extra)),
            battery_pct=self._battery_pct,
            status_flags=self._status_flags,
            drift_ppm=self.mapper.drift_ppm,
            offset_s=self.mapper.offset_s,
            latency_ms=self._latency_s * 1e3,
            last_arrival_s=self._last_arrival_s,
            clock_steps=int(self.stats.extra.get(_CLOCK_STEPS, 0)),
        )

    # ---------------------------------------------------------- control packets
    def _take_hello(self, hello: Hello) -> None:
        self._take_boot_id(hello.boot_id)
        if self.hello is not None and replace(hello, boot_id=0) != replace(self.hello, boot_id=0):
            # The device now streams something else (another rate, range or cell count):
            # finish the old stream and start a new one under its own id.
            self._flush_held()
            self._generation += 1
            self._restart_sequence()
            self.hello = None
        if self.hello is None:
            self.hello = hello
            self.info = stream_info_for(hello, self.device_id, generation=self._generation)
            self._scales = count_scales(hello)
            self._period_us = 1e6 / hello.rate_hz
            self._offsets_s = {}
            if self._on_stream is not None:
                self._on_stream(self.info)
        else:
            self.hello = hello

    def _take_status(self, status: Status) -> None:
        self._battery_pct = None if status.battery_pct == 255 else status.battery_pct
        self._status_flags = status.flags
        if self.hello is not None:
            self._take_boot_id(status.boot_id)

    def _take_boot_id(self, boot_id: int) -> None:
        """A new boot id means a reboot, unless the timestamps already showed it."""
        if self._boot_id is not None and boot_id != self._boot_id and not self._adopt_boot_id:
            self._device_restarted()
        self._adopt_boot_id = False
        self._boot_id = boot_id

    def _device_restarted(self, *, seen_in_timestamps: bool = False) -> None:
        """The device rebooted: its clock and sequence counter started again."""
        self._flush_held()
        self.stats.resets += 1
        self._unwrapper.reset()
        self.mapper.restart(keep_drift=True)
        self._restart_sequence()
        self._adopt_boot_id = seen_in_timestamps

    def _restart_sequence(self) -> None:
        self._expected = None
        self._top_seq = None
        self._first_seq = None
        self._last_t_us = None
        self._given_up.clear()
        self._given_up_order.clear()
        self._next_t_device_us = None
        self._gap_pending = True

    # -------------------------------------------------------------- sequencing
    def _unwrap_seq(self, seq16: int, t_us: int) -> int:
        """The full sequence number: the nearest one to the prediction from the newest packet.

        After more than a second of device time the prediction uses the packet rate
        measured since the boot, so even a long outage at a high packet rate is unambiguous.
        """
        if self._top_seq is None:
            return seq16
        predicted = self._top_seq + 1
        elapsed_us = t_us - self._top_t_us
        if elapsed_us > 1e6 and self._first_seq is not None:
            first_seq, first_t_us = self._first_seq
            if self._top_seq - first_seq >= 10 and self._top_t_us > first_t_us:
                packet_us = (self._top_t_us - first_t_us) / (self._top_seq - first_seq)
                predicted = self._top_seq + round(elapsed_us / packet_us)
        delta = ((seq16 - predicted + _SEQ_MODULO // 2) % _SEQ_MODULO) - _SEQ_MODULO // 2
        return predicted + delta

    def _unwrap_time(self, packet: Packet, t_arrival_s: float) -> int:
        """Unwrap the device timestamp; restart when it shows a reboot.

        A reboot shows as a jump backwards, as device time running ahead of the host time
        that passed (a new clock near zero can look like a forward wrap of the old one), or
        as device time falling behind host time while the sequence number does not carry
        on (a host that stalled reads the next packet late, but with the next number).
        """
        elapsed = None if self._last_unwrap_s is None else t_arrival_s - self._last_unwrap_s
        self._last_unwrap_s = t_arrival_s
        if elapsed is not None and elapsed >= 60.0 and self._continues_boot(packet, elapsed):
            elapsed = None  # the device's own time and sequence agree: no host hint needed
        t_us = self._unwrapper.unwrap(packet.t_device_us, host_elapsed_s=elapsed)
        restarted = self._unwrapper.last_reset
        if not restarted and elapsed is not None and self._last_t_us is not None:
            ahead_us = (t_us - self._last_t_us) - elapsed * 1e6
            tolerance_us = 1e6 + 1e-3 * abs(elapsed) * 1e6
            if abs(ahead_us) > tolerance_us:
                carries_on = (
                    self._top_seq is not None
                    and 0 < (packet.seq - self._top_seq) % _SEQ_MODULO <= _SEQ_CARRY_ON
                )
                restarted = not self._continues_boot(packet, elapsed) and (
                    ahead_us > tolerance_us
                    or (not carries_on and not self._replays_an_old_packet(packet.seq, t_us))
                )
        if restarted:
            self._device_restarted(seen_in_timestamps=True)
            t_us = self._unwrapper.unwrap(packet.t_device_us)
        self._last_t_us = t_us if self._last_t_us is None else max(self._last_t_us, t_us)
        return t_us

    def _packet_us(self) -> float | None:
        """Device time (µs) per sequence number measured since the boot, None before ten."""
        if self._first_seq is None or self._top_seq is None:
            return None
        first_seq, first_t_us = self._first_seq
        if self._top_seq - first_seq < 10 or self._top_t_us <= first_t_us:
            return None
        return (self._top_t_us - first_t_us) / (self._top_seq - first_seq)

    def _continues_boot(self, packet: Packet, host_elapsed_s: float) -> bool:
        """Whether a packet after a silence carries on the same boot: its sequence number
        advanced as far as the packet rate and its own device time say (within 2 %), so
        device time and counter agree whatever the host's arrival times. An outage of any
        length, read by a host that is late, is then a gap, not a reboot.

        The device time step is taken forward modulo 2^32 µs, so this holds for silences
        shorter than 35 minutes (the host time must not say more than that).
        """
        packet_us = self._packet_us()
        if packet_us is None or host_elapsed_s > 2100.0:
            return False
        step_us = (packet.t_device_us - self._top_t_us) % (1 << 32)
        if step_us >= 1 << 31:
            return False
        advance = step_us / packet_us
        seq_advance = (packet.seq - self._top_seq) % _SEQ_MODULO if self._top_seq is not None else 0
        miss = ((seq_advance - advance + _SEQ_MODULO // 2) % _SEQ_MODULO) - _SEQ_MODULO // 2
        return abs(miss) <= max(2.0, 0.02 * advance)

    def _replays_an_old_packet(self, seq16: int, t_us: int) -> bool:
        """Whether a late packet is an old one arriving again (a BLE stack replaying
        notifications after a reconnect) rather than a rebooted device: its number lies a
        little behind the newest and its device time sits where that distance puts it."""
        if self._top_seq is None or self._last_t_us is None or t_us > self._last_t_us:
            return False
        behind = (self._top_seq - seq16) % _SEQ_MODULO
        if behind > _SEQ_CARRY_ON:
            return False
        if self._first_seq is None:
            return False
        first_seq, first_t_us = self._first_seq
        if self._top_seq - first_seq < 10 or self._top_t_us <= first_t_us:
            return False  # too few packets to know their spacing: take it as a reboot
        packet_us = (self._top_t_us - first_t_us) / (self._top_seq - first_seq)
        expected_us = self._top_t_us - behind * packet_us
        return abs(t_us - expected_us) <= max(50_000.0, 0.1 * behind * packet_us)

    def _account(self, packet: Packet, t_arrival_s: float) -> None:
        t_us = self._unwrap_time(packet, t_arrival_s)
        samples = packet.samples
        fits = samples is not None and self._fits_stream(packet)
        if samples is not None and not fits:
            self.stats.extra["mismatched"] = self.stats.extra.get("mismatched", 0) + 1
        elif samples is not None:
            t_last_s = (t_us + (samples.shape[0] - 1) * self._period_us) * 1e-6
            self.mapper.observe(t_last_s, t_arrival_s)
            if self.mapper.device_steps != self._clock_steps:
                self._clock_steps = self.mapper.device_steps
                self.stats.extra[_CLOCK_STEPS] = self.stats.extra.get(_CLOCK_STEPS, 0) + 1
        seq = self._unwrap_seq(packet.seq, t_us)
        top = self._top_seq
        if seq == self._expected and not self._held and top is not None and seq > top:
            # the common case: the next packet, nothing waiting
            self._top_seq, self._top_t_us = seq, t_us
            self._expected = seq + 1
            self.stats.packets += 1
            if fits:
                assert samples is not None
                self._emit(samples, t_us, t_arrival_s)
            return
        after_later = self._top_seq is not None and seq < self._top_seq
        if self._top_seq is None or seq > self._top_seq:
            self._top_seq, self._top_t_us = seq, t_us
        if self._first_seq is None:
            self._first_seq = (seq, t_us)
        if self._expected is not None and seq < self._expected:
            if seq in self._given_up:
                self._given_up.discard(seq)
                self.stats.packets += 1
                self.stats.late += 1
                self.stats.reordered += 1
                self.stats.missing -= 1
                self.stats.lost = self.stats.missing
            else:
                self.stats.duplicate += 1
            return
        if seq in self._held:
            self.stats.duplicate += 1
            return
        self.stats.packets += 1
        if after_later:
            self.stats.reordered += 1
        self._held[seq] = _Held(packet, t_arrival_s, t_us)
        self._flush_in_order()
        if len(self._held) > self._hold_packets:
            self._release_held()

    def _release_held(self) -> None:
        """Stop waiting: start the sequence (first packets) or give up on the missing ones."""
        first = min(self._held)
        if self._expected is None:
            self._expected = first
        else:
            self._give_up_to(first)
        self._flush_in_order()

    def _give_up_to(self, seq: int) -> None:
        """Count every sequence number below ``seq`` that has not arrived as missing."""
        assert self._expected is not None
        for missing in range(self._expected, seq):
            self._given_up.add(missing)
            self._given_up_order.append(missing)
        while len(self._given_up_order) > _FORGET_AFTER:
            self._given_up.discard(self._given_up_order.popleft())
        self.stats.missing += seq - self._expected
        self.stats.lost = self.stats.missing
        self._expected = seq

    def _flush_in_order(self) -> None:
        while self._expected is not None and self._expected in self._held:
            held = self._held.pop(self._expected)
            self._expected += 1
            if held.packet.samples is not None and self._fits_stream(held.packet):
                self._emit(held.packet.samples, held.t_device_us, held.t_arrival_s)

    def _fits_stream(self, packet: Packet) -> bool:
        """Whether a data packet matches the device's hello (kind and channel count)."""
        assert packet.samples is not None
        hello = self.hello
        return hello is not None and (
            packet.kind == hello.device_kind and packet.samples.shape[1] == hello.n_channels
        )

    def _flush_held(self) -> None:
        """Emit everything held, in order, accepting the gaps (used before a restart)."""
        while self._held:
            self._release_held()

    # ---------------------------------------------------------------- output
    def _emit(self, counts: npt.NDArray[np.integer], t_first_us: int, t_arrival_s: float) -> None:
        assert self._scales is not None
        assert self.info is not None
        n = counts.shape[0]
        offsets_s = self._offsets_s.get(n)
        if offsets_s is None:
            offsets_s = np.arange(n, dtype=np.float64) * (self._period_us * 1e-6)
            offsets_s.flags.writeable = False
            self._offsets_s[n] = offsets_s
        t_first_s = t_first_us * 1e-6
        t_host_s = self.mapper.to_host_block(t_first_s, offsets_s)
        first_s = float(t_host_s[0])
        gap_s = 0.0
        last_s = self._last_t_host_s
        if last_s is not None:
            period_s = self._period_us * 1e-6
            discontinuous = (
                self._next_t_device_us is not None
                and abs(t_first_us - self._next_t_device_us) > 0.5 * self._period_us
            )
            if self._gap_pending or discontinuous:
                gap_s = max(first_s - last_s - period_s, period_s)
            if first_s <= last_s:
                # The mapping moved back a little (or a reset re-learned the offset): keep
                # host time strictly increasing so readers can rely on order.
                t_host_s += last_s - first_s + 1e-6
        self._gap_pending = False
        self._next_t_device_us = t_first_us + n * self._period_us
        self._last_t_host_s = newest_s = float(t_host_s[-1])
        self._latency_s += 0.05 * ((t_arrival_s - newest_s) - self._latency_s)
        values = np.multiply(counts, self._scales, dtype=np.float32)
        self.stats.samples += n
        if self._on_mapped is not None:
            self._on_mapped(self.info.stream_id, t_first_s + offsets_s, t_host_s)
        self._sink(SampleBlock(self.info.stream_id, t_host_s, values, gap_before_s=gap_s))


class LinkDecoder:
    """Decodes one byte stream that carries packets of one or more devices.

    ``detect_clock_steps``: whether the clock mappings look for device clock steps; None
    (default) decides by the latency floor (on for USB-serial, off for BLE, see
    ``steps_detectable``).
    """

    def __init__(
        self,
        *,
        sink: SampleSink,
        on_stream: StreamListener | None = None,
        latency_floor_s: float = 0.001,
        name: str = "link",
        hold_s: float = 0.05,
        on_mapped: MappingListener | None = None,
        detect_clock_steps: bool | None = None,
    ) -> None:
        self.name = name
        self._detect_clock_steps = detect_clock_steps
        self._on_mapped = on_mapped
        self._sink = sink
        self._on_stream = on_stream
        self._latency_floor_s = latency_floor_s
        self._hold_s = hold_s
        self._deframer = Deframer()
        self._garbage_before = 0
        self._in_corrupt_run = False
        self.corrupt = 0
        """Corruption events: runs of adjacent frames that fail to decode."""
        self.bad_frames = 0
        self.devices: dict[int, DeviceDecoder] = {}

    def feed(self, data: bytes, t_arrival_s: float) -> None:
        """Take bytes as read from the transport at host time ``t_arrival_s``."""
        for encoded in self._deframer.feed(data):
            try:
                packet = decode_packet(cobs_decode(encoded))
            except ProtocolError:
                self.bad_frames += 1
                if not self._in_corrupt_run:
                    self.corrupt += 1
                    self._in_corrupt_run = True
                continue
            self._in_corrupt_run = False
            self.handle_packet(packet, t_arrival_s)

    def resync(self) -> None:
        """Forget a partial frame (after the transport reopened): wait for a delimiter."""
        self._garbage_before += self._deframer.garbage_bytes
        self._deframer = Deframer()
        self._in_corrupt_run = False

    def handle_packet(self, packet: Packet, t_arrival_s: float) -> None:
        """Route one packet that is already decoded (BLE and replay paths use this)."""
        device = self.devices.get(packet.device_id)
        if device is None:
            device = DeviceDecoder(
                packet.device_id,
                sink=self._sink,
                on_stream=self._on_stream,
                latency_floor_s=self._latency_floor_s,
                hold_s=self._hold_s,
                on_mapped=self._on_mapped,
                detect_clock_steps=self._detect_clock_steps,
            )
            # Copy, then swap: views iterate the dict from another thread.
            self.devices = {**self.devices, packet.device_id: device}
        device.handle(packet, t_arrival_s)

    def poll(self, now_s: float) -> None:
        """Let every device give up on overdue missing packets."""
        for device in self.devices.values():
            device.poll(now_s)

    def stats(self) -> LinkStats:
        """Counters summed over the link's devices; ``lost`` excludes corrupt packets."""
        total = LinkStats(
            corrupt=self.corrupt, garbage_bytes=self._garbage_before + self._deframer.garbage_bytes
        )
        for device in self.devices.values():
            s = device.stats
            total.packets += s.packets
            total.samples += s.samples
            total.missing += s.missing
            total.duplicate += s.duplicate
            total.reordered += s.reordered
            total.late += s.late
            total.resets += s.resets
            if _CLOCK_STEPS in s.extra:
                total.extra[_CLOCK_STEPS] = total.extra.get(_CLOCK_STEPS, 0) + s.extra[_CLOCK_STEPS]
        total.lost = max(0, total.missing - total.corrupt)
        return total
