"""Standard footpods: the Bluetooth SIG Running Speed and Cadence service (0x1814).

RSC Measurement (0x2A53), little-endian::

    flags                      uint8   bit 0 stride length present
                                       bit 1 total distance present
                                       bit 2 walking (0) or running (1)
    instantaneous speed        uint16  1/256 m/s
    instantaneous cadence      uint8   1/min
    instantaneous stride length uint16 1/100 m   (if bit 0)
    total distance             uint32  1/10 m    (if bit 1)

RSC Feature (0x2A54) is a uint16 bit field: bit 0 stride length, bit 1 total distance,
bit 2 walking/running status, bit 3 calibration procedure, bit 4 multiple sensor locations.

Footpods disagree about cadence: most report steps per minute (both feet), some report one
foot's rate (strides per minute, half the step rate). ``FootpodSettings.cadence_multiplier``
says which, per device; ``"auto"`` decides from the first running measurements. A cadence
outside the plausible band for the reported gait is kept but flagged.

``FootpodDecoder`` turns measurements into ``StreamKind.FOOTPOD`` sample blocks (columns
``FOOTPOD_CHANNELS``) for the same sink as every other stream.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from firmware_bridge.decoder import DeviceDecoder, DeviceStatus, StreamListener
from firmware_bridge.errors import ConfigurationError, ProtocolError
from firmware_bridge.samples import (
    FOOTPOD_CHANNELS,
    FOOTPOD_UNITS,
    LinkStats,
    Mount,
    SampleBlock,
    SampleSink,
    Side,
    StreamInfo,
    StreamKind,
)

RSC_SERVICE_UUID = "00001814-0000-1000-8000-00805f9b34fb"
RSC_MEASUREMENT_UUID = "00002a53-0000-1000-8000-00805f9b34fb"
RSC_FEATURE_UUID = "00002a54-0000-1000-8000-00805f9b34fb"

FLAG_STRIDE_LENGTH = 0x01
FLAG_TOTAL_DISTANCE = 0x02
FLAG_RUNNING = 0x04

FEATURE_STRIDE_LENGTH = 0x01
FEATURE_TOTAL_DISTANCE = 0x02
FEATURE_WALK_RUN_STATUS = 0x04

SPEED_UNIT_M_S = 1.0 / 256.0
STRIDE_UNIT_M = 0.01
DISTANCE_UNIT_M = 0.1

FOOTPOD_RATE_HZ = 4.0
"""Nominal rate of a footpod stream, for buffer sizing: footpods notify about once a second,
a few up to four times; rows are irregular in time."""

_BASE = struct.Struct("<BHB")
_STRIDE = struct.Struct("<H")
_DISTANCE = struct.Struct("<I")

RUNNING_CADENCE_SPM = (120.0, 240.0)
"""Plausible step rates when running (steps/min)."""
WALKING_CADENCE_SPM = (60.0, 150.0)
"""Plausible step rates when walking (steps/min)."""
_AUTO_ONE_FOOT_SPM = (50.0, 118.0)
"""A running footpod reporting a rate in this band counts one foot."""
_AUTO_RUNNING_SPEED_M_S = 2.0
_AUTO_MEASUREMENTS = 3


@dataclass(frozen=True)
class RscMeasurement:
    """One decoded RSC Measurement.

    Attributes:
        speed_m_s: instantaneous speed (m/s).
        cadence_raw: instantaneous cadence as sent (1/min), before any ×2.
        stride_m: instantaneous stride length (m), None when absent.
        distance_m: total distance (m), None when absent.
        running: the walking/running status bit.
        flags: the flags byte as sent.
    """

    speed_m_s: float
    cadence_raw: int
    stride_m: float | None
    distance_m: float | None
    running: bool
    flags: int


def parse_rsc_measurement(data: bytes) -> RscMeasurement:
    """Decode an RSC Measurement value.

    Raises:
        ProtocolError: shorter than its flags say, or longer with bytes left over.
    """
    if len(data) < _BASE.size:
        raise ProtocolError(f"RSC measurement of {len(data)} bytes is shorter than 4")
    flags, speed, cadence = _BASE.unpack_from(data)
    offset = _BASE.size
    expected = (
        _BASE.size
        + (_STRIDE.size if flags & FLAG_STRIDE_LENGTH else 0)
        + (_DISTANCE.size if flags & FLAG_TOTAL_DISTANCE else 0)
    )
    if len(data) != expected:
        raise ProtocolError(
            f"RSC measurement with flags 0x{flags:02x} needs {expected} bytes, got {len(data)}"
        )
    stride_m = None
    distance_m = None
    if flags & FLAG_STRIDE_LENGTH:
        stride_m = _STRIDE.unpack_from(data, offset)[0] * STRIDE_UNIT_M
        offset += _STRIDE.size
    if flags & FLAG_TOTAL_DISTANCE:
        distance_m = _DISTANCE.unpack_from(data, offset)[0] * DISTANCE_UNIT_M
    return RscMeasurement(
        speed_m_s=speed * SPEED_UNIT_M_S,
        cadence_raw=cadence,
        stride_m=stride_m,
        distance_m=distance_m,
        running=bool(flags & FLAG_RUNNING),
        flags=flags,
    )


def encode_rsc_measurement(
    speed_m_s: float,
    cadence_spm: float,
    *,
    stride_m: float | None = None,
    distance_m: float | None = None,
    running: bool = True,
) -> bytes:
    """The RSC Measurement bytes an emulated footpod sends (values rounded to the units)."""
    flags = (FLAG_RUNNING if running else 0) | (0 if stride_m is None else FLAG_STRIDE_LENGTH)
    flags |= 0 if distance_m is None else FLAG_TOTAL_DISTANCE
    out = _BASE.pack(
        flags,
        min(0xFFFF, max(0, round(speed_m_s / SPEED_UNIT_M_S))),
        min(0xFF, max(0, round(cadence_spm))),
    )
    if stride_m is not None:
        out += _STRIDE.pack(min(0xFFFF, max(0, round(stride_m / STRIDE_UNIT_M))))
    if distance_m is not None:
        out += _DISTANCE.pack(min(0xFFFFFFFF, max(0, round(distance_m / DISTANCE_UNIT_M))))
    return out


def parse_rsc_feature(data: bytes) -> int:
    """The RSC Feature bit field."""
    if len(data) < 2:
        raise ProtocolError(f"RSC feature of {len(data)} bytes is shorter than 2")
    return int.from_bytes(bytes(data[:2]), "little")


CadenceMultiplier = Literal["auto", 1, 2]


@dataclass(frozen=True)
class FootpodSettings:
    """Per-device footpod handling.

    Attributes:
        cadence_multiplier: 1 (the pod reports steps/min), 2 (it reports one foot's rate)
            or ``"auto"``: ×2 when its first running measurements (running bit set or speed
            ≥ 2 m/s) read 50–118/min, which no runner's step rate is.
        side: the leg the pod is on, if known (RSC does not say).
    """

    cadence_multiplier: CadenceMultiplier = "auto"
    side: Side = Side.UNKNOWN

    def __post_init__(self) -> None:
        if self.cadence_multiplier not in ("auto", 1, 2):
            raise ConfigurationError(
                f"footpod cadence multiplier must be auto, 1 or 2, not {self.cadence_multiplier!r}"
            )


def cadence_plausible(cadence_spm: float, speed_m_s: float, running: bool | None) -> bool:
    """Whether a step rate (steps/min) is believable for the reported gait.

    Standing still (speed below 0.3 m/s and cadence 0) is plausible; otherwise the cadence
    must lie within the running band when running, the walking band when walking, and
    within either when the pod does not say.
    """
    if cadence_spm == 0 and speed_m_s < 0.3:
        return True
    if running is None:
        lo, hi = WALKING_CADENCE_SPM[0], RUNNING_CADENCE_SPM[1]
    else:
        lo, hi = RUNNING_CADENCE_SPM if running else WALKING_CADENCE_SPM
    return lo <= cadence_spm <= hi


def footpod_device_id(address: str) -> int:
    """A stable 32-bit id for a footpod, from its address (RSC carries none)."""
    return zlib.crc32(address.lower().encode()) & 0xFFFFFFFF


def footpod_stream_info(device_id: int, side: Side = Side.UNKNOWN) -> StreamInfo:
    """The description of a footpod stream (values already physical)."""
    return StreamInfo(
        stream_id=f"footpod-{side.name.lower()}-{device_id:08x}",
        device_id=device_id,
        kind=StreamKind.FOOTPOD,
        side=side,
        mount=Mount.FOOT,
        rate_hz=FOOTPOD_RATE_HZ,
        channel_names=FOOTPOD_CHANNELS,
        units=FOOTPOD_UNITS,
        calibrated=True,
        full_scale=(255.0, 0xFFFF * SPEED_UNIT_M_S, 0xFFFF * STRIDE_UNIT_M, math.inf, 1.0, 1.0),
    )


@dataclass
class _Auto:
    votes: list[bool] = field(default_factory=list)
    decided: int | None = None


class FootpodDecoder(DeviceDecoder):
    """RSC measurements of one footpod → ``StreamKind.FOOTPOD`` sample blocks.

    It sits in its link's ``LinkDecoder.devices`` beside the gaitcue devices, so the device
    panel lists it the same way (``status()``); it never sees protocol packets.

    Args:
        address: the pod's address (or name), which fixes its stream id.
        sink, on_stream: as for every decoder.
        settings: the ×2 setting and side.
        features: the RSC Feature bits, when the pod has the characteristic.
        latency_floor_s: subtracted from the arrival time to stamp a row (s).
    """

    def __init__(
        self,
        address: str,
        *,
        sink: SampleSink,
        on_stream: StreamListener | None = None,
        settings: FootpodSettings | None = None,
        features: int | None = None,
        latency_floor_s: float = 0.002,
    ) -> None:
        device_id = footpod_device_id(address)
        super().__init__(device_id, sink=sink, on_stream=on_stream)
        self.settings = settings or FootpodSettings()
        self.features = features
        self._floor_s = latency_floor_s
        self._footpod_sink = sink
        self.stream_info = footpod_stream_info(device_id, self.settings.side)
        self.info = self.stream_info
        self.stats = LinkStats()
        self.battery_pct: int | None = None
        self.last_arrival_s: float | None = None
        self.implausible = 0
        self._auto = _Auto()
        self._last_t_s: float | None = None
        self._pod_gap_pending = False
        if on_stream is not None:
            on_stream(self.stream_info)

    @property
    def multiplier(self) -> int | None:
        """The ×1/×2 in use; None while ``auto`` has not decided yet (rows use ×1 then)."""
        if self.settings.cadence_multiplier != "auto":
            return int(self.settings.cadence_multiplier)
        return self._auto.decided

    def handle_measurement(self, data: bytes, t_arrival_s: float) -> None:
        """Take one RSC Measurement notification that arrived at ``t_arrival_s``."""
        self.last_arrival_s = t_arrival_s
        try:
            m = parse_rsc_measurement(data)
        except ProtocolError:
            self.stats.extra["malformed"] = self.stats.extra.get("malformed", 0) + 1
            return
        self._vote(m)
        cadence = m.cadence_raw * (self.multiplier or 1)
        has_status = self.features is None or bool(self.features & FEATURE_WALK_RUN_STATUS)
        running: bool | None = m.running if has_status else None
        plausible = cadence_plausible(cadence, m.speed_m_s, running)
        if not plausible:
            self.implausible += 1
        row = np.array(
            [
                [
                    cadence,
                    m.speed_m_s,
                    math.nan if m.stride_m is None else m.stride_m,
                    math.nan if m.distance_m is None else m.distance_m,
                    math.nan if running is None else float(running),
                    1.0 if plausible else 0.0,
                ]
            ],
            dtype=np.float32,
        )
        t_s = t_arrival_s - self._floor_s
        gap_s = 0.0
        if self._last_t_s is not None:
            if t_s <= self._last_t_s:
                t_s = self._last_t_s + 1e-6
            if self._pod_gap_pending:
                gap_s = t_s - self._last_t_s
        self._pod_gap_pending = False
        self._last_t_s = t_s
        self.stats.packets += 1
        self.stats.samples += 1
        self._footpod_sink(
            SampleBlock(
                self.stream_info.stream_id,
                np.array([t_s], dtype=np.float64),
                row,
                gap_before_s=gap_s,
            )
        )

    def mark_gap(self) -> None:
        """The link dropped: the next row carries the silence as ``gap_before_s``."""
        self._pod_gap_pending = True

    def _vote(self, m: RscMeasurement) -> None:
        auto = self._auto
        if self.settings.cadence_multiplier != "auto" or auto.decided is not None:
            return
        if not (m.running or m.speed_m_s >= _AUTO_RUNNING_SPEED_M_S) or m.cadence_raw == 0:
            return
        auto.votes.append(_AUTO_ONE_FOOT_SPM[0] <= m.cadence_raw <= _AUTO_ONE_FOOT_SPM[1])
        if len(auto.votes) >= _AUTO_MEASUREMENTS:
            auto.decided = 2 if sum(auto.votes) * 2 > len(auto.votes) else 1

    def poll(self, now_s: float) -> None:
        """Footpods hold nothing back."""

    def status(self) -> DeviceStatus:
        return DeviceStatus(
            info=self.stream_info,
            stats=LinkStats(
                packets=self.stats.packets,
                samples=self.stats.samples,
                extra={**self.stats.extra, "implausible": float(self.implausible)},
            ),
            battery_pct=self.battery_pct,
            status_flags=0,
            drift_ppm=0.0,
            offset_s=0.0,
            latency_ms=self._floor_s * 1e3,
            last_arrival_s=self.last_arrival_s,
        )
