"""The live pipeline's front half: transports → decoders → ring buffers, and its status.

This is the application layer that connects the bridge's sink to the realtime ring
buffers (the bridge itself never imports ``realtime``). Views (terminal or dashboard) read
``Acquisition.buffers`` and ``Acquisition.device_rows()``; neither call blocks the reader
threads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.hostclock import HostClock
from firmware_bridge.samples import StreamInfo
from firmware_bridge.serial_port import SerialReader
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


class Acquisition:
    """Serial readers feeding one set of ring buffers."""

    def __init__(
        self,
        *,
        clock: HostClock = time.monotonic,
        buffer_s: float = 60.0,
        latency_floor_s: float = 0.001,
    ) -> None:
        self.clock = clock
        self.buffers = StreamBuffers(capacity_s=buffer_s)
        self._latency_floor_s = latency_floor_s
        self.readers: list[SerialReader] = []

    def _on_stream(self, info: StreamInfo) -> None:
        self.buffers.add(info)

    def add_serial(self, port: str) -> SerialReader:
        """Open ``port`` now (raising ``TransportError`` if it cannot) and prepare its reader."""
        decoder = LinkDecoder(
            sink=self.buffers,
            on_stream=self._on_stream,
            latency_floor_s=self._latency_floor_s,
            name=port,
        )
        reader = SerialReader(port, decoder, clock=self.clock)
        reader.open()
        self.readers.append(reader)
        return reader

    def start(self) -> None:
        for reader in self.readers:
            reader.start()

    def stop(self) -> None:
        for reader in self.readers:
            reader.stop()

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
                        calibrated=info.calibrated if info else False,
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
                        battery_pct=status.battery_pct,
                    )
                )
        return rows
