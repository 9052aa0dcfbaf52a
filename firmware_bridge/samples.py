"""Records that leave the bridge: stream descriptions and timestamped sample blocks.

Frames: IMU axes follow the runner standing upright: x anterior, y left, z up. Gyroscope
rates are positive by the right-hand rule about those axes (deg/s); the accelerometer reads
+1 g on z at rest. Insole cells are forces in newtons, ordered as the device's layout.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


class Side(enum.IntEnum):
    """Which leg a device is worn on."""

    LEFT = 0
    RIGHT = 1
    UNKNOWN = 2


class StreamKind(enum.IntEnum):
    """What a device streams; the values are the protocol's packet kinds."""

    HELLO = 1
    IMU = 2
    INSOLE = 3
    STATUS = 4
    FOOTPOD = 0x80
    """Host-side only, never a packet kind on the wire: a standard BLE Running Speed and
    Cadence sensor's measurements (``FOOTPOD_CHANNELS``), irregularly spaced."""


class Mount(enum.IntEnum):
    """Where a device sits on the body."""

    FOOT = 0
    SHANK = 1
    INSOLE = 2


IMU_CHANNELS: tuple[str, ...] = ("ax", "ay", "az", "gx", "gy", "gz")
IMU_UNITS: tuple[str, ...] = ("g", "g", "g", "deg/s", "deg/s", "deg/s")
FOOTPOD_CHANNELS: tuple[str, ...] = (
    "cadence_spm",
    "speed_m_s",
    "stride_m",
    "distance_m",
    "running",
    "plausible",
)
"""Columns of a ``StreamKind.FOOTPOD`` stream, one row per RSC measurement: cadence in steps
per minute (both feet, after the per-device ×2 setting), instantaneous speed (m/s), stride
length (m) and total distance (m), NaN when the sensor does not report them; ``running``
1/0 (NaN when the sensor has no walking/running status); ``plausible`` 1 when the cadence
passes the plausibility check, else 0."""
FOOTPOD_UNITS: tuple[str, ...] = ("1/min", "m/s", "m", "m", "", "")


@dataclass(frozen=True)
class StreamInfo:
    """Everything a consumer needs to interpret one device's samples.

    Attributes:
        stream_id: stable name, e.g. ``"insole-left-00a1b2c3"``.
        device_id: the device's 32-bit id from the wire.
        kind: ``StreamKind.IMU`` or ``StreamKind.INSOLE``.
        side: the leg the device reports.
        mount: foot, shank or insole.
        rate_hz: nominal sample rate on the device clock (Hz).
        channel_names: one name per column of ``SampleBlock.values``.
        units: one unit per column (``"g"``, ``"deg/s"``, ``"N"``).
        calibrated: False while only the device's nominal scales apply.
        full_scale: per channel, the largest magnitude the sensor reports (same units).
        cell_area_cm2: insole cell areas (cm²), empty for IMUs.
    """

    stream_id: str
    device_id: int
    kind: StreamKind
    side: Side
    mount: Mount
    rate_hz: float
    channel_names: tuple[str, ...]
    units: tuple[str, ...]
    calibrated: bool = False
    full_scale: tuple[float, ...] = ()
    cell_area_cm2: tuple[float, ...] = ()

    @property
    def n_channels(self) -> int:
        return len(self.channel_names)


@dataclass(frozen=True)
class SampleBlock:
    """Consecutive samples of one stream, in host time and physical units.

    Attributes:
        stream_id: the ``StreamInfo.stream_id`` these samples belong to.
        t_host_s: shape ``(n,)`` float64, host monotonic seconds of each sample.
        values: shape ``(n, n_channels)`` float32, in the stream's units.
        gap_before_s: duration of missing data just before the first sample (s); 0 when the
            block follows the previous one without loss. Gaps are marked, never filled.
    """

    stream_id: str
    t_host_s: npt.NDArray[np.float64]
    values: npt.NDArray[np.float32]
    gap_before_s: float = 0.0

    def __post_init__(self) -> None:
        if self.t_host_s.ndim != 1 or self.values.ndim != 2:
            raise ValueError(
                f"SampleBlock wants t_host_s (n,) and values (n, ch), got "
                f"{self.t_host_s.shape} and {self.values.shape}"
            )
        if self.t_host_s.shape[0] != self.values.shape[0]:
            raise ValueError(
                f"SampleBlock has {self.t_host_s.shape[0]} times for {self.values.shape[0]} samples"
            )

    @property
    def n_samples(self) -> int:
        return int(self.t_host_s.shape[0])


@dataclass
class LinkStats:
    """Fault counters of one device link, as the decoder saw them.

    ``lost`` counts packets that never arrived (missing sequence numbers, less the ones
    explained by corrupt frames); ``corrupt`` counts corruption events (runs of frames that
    fail COBS, length or CRC checks); ``duplicate`` counts repeated sequence numbers;
    ``reordered`` counts packets that arrived after a later one; ``late`` counts packets that
    arrived too late to be put back in order (kept in the recording, marked as a gap live).
    """

    packets: int = 0
    samples: int = 0
    lost: int = 0
    missing: int = 0
    corrupt: int = 0
    duplicate: int = 0
    reordered: int = 0
    late: int = 0
    resets: int = 0
    garbage_bytes: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def loss_fraction(self) -> float:
        """Share of expected packets that were lost or corrupt (0–1)."""
        expected = self.packets + self.missing
        return self.missing / expected if expected else 0.0


SampleSink = Callable[[SampleBlock], None]
"""Where the bridge hands decoded blocks; a ring buffer set implements it."""
