"""Clock alignment check: one shared event (a two-footed jump, or a stomp) in every stream.

The bridge maps each device's clock to host time. Whether the mapped streams agree is
checked with an event that every sensor sees at the same instant: the landing of a jump
(both feet at once) or a stomp (one foot: its insole and its IMU). In each stream the
landing is the onset of the sharp rise after the quietest moment before the largest peak —
the flight of a jump, when the insoles read nothing and the IMU reads free fall: the line
through the points where the rise crosses 25 % and 50 % of its height, taken back to the
level before it. The same construction on both kinds of sensor cancels most of the shape
difference; what remains between an IMU and an insole (the foot decelerates while the
force builds) is a few milliseconds, so IMU-versus-insole figures are a check, not a
correction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import StreamKind

if TYPE_CHECKING:
    from typing import Self

__all__ = ["ClockCheck", "LandingOnset", "StreamEvent"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class StreamEvent:
    """One stream of the check: its name, kind and samples (host s; g and deg/s, or N)."""

    name: str
    kind: StreamKind
    t_s: FloatArray
    values: FloatArray


def _signal(event: StreamEvent) -> FloatArray:
    v = np.asarray(event.values, dtype=np.float64)
    if event.kind == StreamKind.IMU:
        out: FloatArray = np.linalg.norm(v[:, :3], axis=1)
        return out
    total: FloatArray = v.sum(axis=1)
    return total


class LandingOnset:
    """Onset time of the landing in one stream.

    Parameters:
        before_s: how far before the peak the quiet moment (flight) is searched (s).

    Results (after ``detect``):
        onset_s_: host time of the landing onset (s).
        peak_s_: host time of the landing peak (s).
        rise_ms_: time from 25 % to 50 % of the rise (ms); a slow rise times poorly.
    """

    def __init__(self, *, before_s: float = 0.6) -> None:
        self.before_s = before_s

    def detect(self, t_s: npt.ArrayLike, signal: npt.ArrayLike) -> Self:
        """Find the landing in ``signal`` ``(n,)`` sampled at ``t_s`` ``(n,)``.

        Raises:
            ConfigurationError: no clear landing.
        """
        t = np.asarray(t_s, dtype=np.float64)
        x = np.asarray(signal, dtype=np.float64)
        peak = int(np.argmax(x))
        start = int(np.searchsorted(t, t[peak] - self.before_s))
        if peak - start < 3:
            raise ConfigurationError(
                "No landing found: record a second of quiet standing before the jump or stomp."
            )
        window = x[start:peak]
        quiet = start + int(np.argmin(window))
        base = float(x[quiet])
        height = float(x[peak]) - base
        if height <= 0:
            raise ConfigurationError("No landing found: the jump or stomp shows no impact.")
        rise = x[quiet : peak + 1]
        times = t[quiet : peak + 1]
        # The last crossing of each level before the peak belongs to the landing's rise.
        t25 = _last_crossing(times, rise, base + 0.25 * height)
        t50 = _last_crossing(times, rise, base + 0.50 * height)
        slope = 0.25 * height / max(t50 - t25, 1e-6)
        self.onset_s_ = t25 - 0.25 * height / slope
        self.peak_s_ = float(t[peak])
        self.rise_ms_ = (t50 - t25) * 1e3
        return self


def _last_crossing(t: FloatArray, x: FloatArray, level: float) -> float:
    below = np.flatnonzero(x[:-1] < level)
    if below.size == 0:
        return float(t[0])
    i = int(below[-1])
    frac = (level - x[i]) / (x[i + 1] - x[i])
    return float(t[i] + frac * (t[i + 1] - t[i]))


class ClockCheck:
    """Offsets between streams at a shared event, in milliseconds.

    Parameters:
        reference: name of the stream the others are compared with (default: the first
            insole, else the first stream).

    Results (after ``check``):
        onsets_s_: stream name → landing onset (host s).
        offsets_ms_: stream name → its onset minus the reference's (ms; positive: the
            stream's timestamps run late).
        pairs_ms_: readable pairs (``left vs right insole``, ``left IMU vs insole``, …) →
            offset (ms), for the pairs present.
        reference_: the reference stream's name.
    """

    def __init__(self, *, reference: str | None = None) -> None:
        self.reference = reference

    def check(self, streams: list[StreamEvent]) -> Self:
        if len(streams) < 2:
            raise ConfigurationError("A clock check needs at least two streams.")
        self.onsets_s_ = {
            s.name: LandingOnset().detect(s.t_s, _signal(s)).onset_s_ for s in streams
        }
        reference = self.reference
        if reference is None:
            insoles = [s.name for s in streams if s.kind == StreamKind.INSOLE]
            reference = insoles[0] if insoles else streams[0].name
        if reference not in self.onsets_s_:
            raise ConfigurationError(f"The clock check has no stream named {reference}.")
        self.reference_ = reference
        ref = self.onsets_s_[reference]
        self.offsets_ms_ = {name: (t - ref) * 1e3 for name, t in self.onsets_s_.items()}
        pairs = {
            "right vs left insole": ("right_insole", "left_insole"),
            "right vs left imu": ("right_imu", "left_imu"),
            "left imu vs insole": ("left_imu", "left_insole"),
            "right imu vs insole": ("right_imu", "right_insole"),
        }
        self.pairs_ms_ = {
            label: (self.onsets_s_[a] - self.onsets_s_[b]) * 1e3
            for label, (a, b) in pairs.items()
            if a in self.onsets_s_ and b in self.onsets_s_
        }
        return self
