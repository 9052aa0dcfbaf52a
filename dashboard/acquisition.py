"""The live pipeline's front half: transports → decoders → ring buffers, and its status.

This is the application layer that connects the bridge's sink to the realtime ring
buffers (the bridge itself never imports ``realtime``). Views (terminal or dashboard) read
``Acquisition.buffers`` and ``Acquisition.device_rows()``; neither call blocks the reader
threads.

Threads. Where the platform allows it (POSIX), every serial port is read by one
``SerialHub`` thread; elsewhere each port has its own reader thread. After each batch of
reads the readers tell the buffers (``StreamBuffers.notify``), which wakes the processing
thread once per batch instead of letting it poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from calibration.apply import CalibratedSink, CalibrationStore
from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.hostclock import HostClock
from firmware_bridge.samples import StreamInfo
from firmware_bridge.serial_hub import SerialHub
from firmware_bridge.serial_port import ReadTiming, SerialReader
from realtime.streams import StreamBuffers

STALE_AFTER_S = 2.0
"""A device with no packet for this long is shown as silent."""


@dataclass(frozen=True)
class DeviceRow:
    """One line of the device panel.

    Attributes:
        port: transport name (serial port path).
        stream_id: stream name, or ``"(waiting for hello)"``.
        state: ``connected``, ``silent`` (no packet for 2 s), ``reconnecting`` or ``closed``.
        rate_hz: nominal sample rate (Hz), 0 before the hello.
        calibrated: whether a calibration applies.
        packets, samples: received counts.
        loss_pct: missing / expected packets (%).
        corrupt, duplicate, reordered, late, resets: fault counters.
        drift_ppm: device clock drift against the host (ppm).
        latency_ms: mean arrival delay after the last sample of a packet (ms).
        battery_pct: last reported charge, None when unknown.
        clock_steps: device clock steps found and corrected (re-anchored) on this stream.
    """

    port: str
    stream_id: str
    state: str
    rate_hz: float
    calibrated: bool
    packets: int
    samples: int
    loss_pct: float
    corrupt: int
    duplicate: int
    reordered: int
    late: int
    resets: int
    drift_ppm: float
    latency_ms: float
    battery_pct: int | None
    clock_steps: int = 0


class Transport(Protocol):
    """What the acquisition needs of a transport (a serial reader, a BLE link)."""

    port: str
    state: str
    decoder: LinkDecoder

    def start(self) -> None: ...

    def stop(self) -> None: ...


StreamListener = Callable[[StreamInfo], None]
"""Told (on the transport's thread) when a stream starts, with its registered description."""


class Acquisition:
    """Transports feeding one set of ring buffers, calibrating on the way.

    Args:
        clock: host clock (s) that stamps arrivals.
        buffer_s: ring-buffer length per stream (s).
        latency_floor_s: shortest transport delay, for the clock mapping (s).
        calibration: per-device calibrations applied as the blocks pass (None: none).
        on_calibration_problem: told (one line) when a calibration does not fit its device;
            the stream then stays uncalibrated.
    """

    def __init__(
        self,
        *,
        clock: HostClock = time.monotonic,
        buffer_s: float = 60.0,
        latency_floor_s: float = 0.001,
        calibration: CalibrationStore | None = None,
        on_calibration_problem: Callable[[str], None] | None = None,
    ) -> None:
        self.clock = clock
        self.buffers = StreamBuffers(capacity_s=buffer_s)
        self.sink = CalibratedSink(
            self.buffers, calibration or CalibrationStore(), on_problem=on_calibration_problem
        )
        self.latency_floor_s = latency_floor_s
        self.readers: list[Transport] = []
        self.stream_listeners: list[StreamListener] = []
        self.hub: SerialHub | None = (
            SerialHub(clock=clock, on_batch=self.buffers.notify) if SerialHub.supported() else None
        )

    def register_stream(self, info: StreamInfo) -> None:
        """A stream started: calibrate it if its device has a calibration, give it a ring
        buffer, and tell the listeners (e.g. a session recorder)."""
        registered = self.sink.on_stream(info)
        self.buffers.add(registered)
        for listener in self.stream_listeners:
            listener(registered)

    def new_decoder(self, name: str, *, latency_floor_s: float | None = None) -> LinkDecoder:
        """A decoder for one more link, writing calibrated blocks into the ring buffers."""
        return LinkDecoder(
            sink=self.sink,
            on_stream=self.register_stream,
            latency_floor_s=self.latency_floor_s if latency_floor_s is None else latency_floor_s,
            name=name,
        )

    def add_serial(
        self, port: str, *, on_raw: Callable[[bytes, float], None] | None = None
    ) -> SerialReader:
        """Open ``port`` now (raising ``TransportError`` if it cannot) and prepare its reader.

        ``on_raw(data, t_s)`` receives every read as it arrived (e.g. for recording)."""
        reader = SerialReader(
            port,
            self.new_decoder(port),
            clock=self.clock,
            hub=self.hub,
            on_batch=self.buffers.notify,
            on_raw=on_raw,
        )
        reader.open()
        self.readers.append(reader)
        return reader

    def add_transports(self, transports: Iterable[Transport]) -> None:
        """Add already opened transports (e.g. BLE links) to start, stop and show."""
        self.readers.extend(transports)

    def start(self) -> None:
        for reader in self.readers:
            reader.start()

    def stop(self) -> None:
        for reader in self.readers:
            reader.stop()

    def read_timing(self) -> ReadTiming:
        """Gaps between reads (s) of every reader thread (the hub's once), for stall figures."""
        gaps: list[float] = []
        if self.hub is not None:
            gaps.extend(self.hub.read_timing().gaps_s)
        for reader in self.readers:
            if isinstance(reader, SerialReader) and reader.hub is None:
                gaps.extend(reader.read_timing().gaps_s)
        return ReadTiming(tuple(gaps))

    def device_rows(self) -> list[DeviceRow]:
        """The device panel's rows, one per device seen (or per silent port)."""
        now = self.clock()
        rows: list[DeviceRow] = []
        for reader in self.readers:
            link = reader.decoder
            if not link.devices:
                rows.append(
                    DeviceRow(
                        reader.port,
                        "(waiting for hello)",
                        reader.state,
                        0.0,
                        False,
                        0,
                        0,
                        0.0,
                        link.corrupt,
                        0,
                        0,
                        0,
                        0,
                        0.0,
                        0.0,
                        None,
                    )
                )
                continue
            for device in link.devices.values():
                status = device.status()
                state = reader.state
                if state == "connected" and (
                    status.last_arrival_s is None or now - status.last_arrival_s > STALE_AFTER_S
                ):
                    state = "silent"
                info = status.info
                s = status.stats
                rows.append(
                    DeviceRow(
                        port=reader.port,
                        stream_id=info.stream_id if info else f"device {device.device_id:08x}",
                        state=state,
                        rate_hz=info.rate_hz if info else 0.0,
                        calibrated=self.sink.is_calibrated(info.stream_id) if info else False,
                        packets=s.packets,
                        samples=s.samples,
                        loss_pct=100.0 * s.loss_fraction,
                        corrupt=link.corrupt,
                        duplicate=s.duplicate,
                        reordered=s.reordered,
                        late=s.late,
                        resets=s.resets,
                        drift_ppm=status.drift_ppm,
                        latency_ms=status.latency_ms,
                        battery_pct=(
                            status.battery_pct
                            if status.battery_pct is not None
                            else getattr(reader, "battery_pct", None)
                        ),
                        clock_steps=status.clock_steps,
                    )
                )
        return rows
