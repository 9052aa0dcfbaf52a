"""Sensor pathologies found in the live streams, each reported once until it clears.

``SensorHealthMonitor`` watches every stream's blocks as they pass (cheap: a few vectorised
numpy reductions per block, no per-sample Python) and says what is wrong with a sensor:

* ``SATURATED``: a channel held at (or beyond) 98 % of its full scale for ``saturated_s``
  (an insole cell pressed past its range, an accelerometer range too small for the impact);
* ``DEAD_CELL``: an insole cell that never rose above ``dead_cell_n`` while the insole
  carried load for ``dead_after_s`` seconds (a broken trace, a cell taped over);
* ``STUCK_AXIS``: an IMU channel whose reading did not change at all for ``stuck_s`` while
  another channel of the same sensor moved (a failed axis repeats its last register value);
* ``WRONG_SIDE``: a second device of the same kind reporting the same side, or a device that
  reports no side: one of them is worn on the other foot or mislabelled;
* ``RATE_MISMATCH``: the sample spacing over ``rate_window_s`` of data (losses left out)
  differs from the rate the device announced by more than ``rate_tolerance`` (2 %).

Each issue is returned once by the ``add_stream``/``update`` call that finds it, kept in
``issues_`` while it lasts, and returned again only after it has cleared and come back.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from firmware_bridge.samples import SampleBlock, Side, StreamInfo, StreamKind

__all__ = ["IssueKind", "SensorHealthMonitor", "SensorIssue"]


class IssueKind(enum.Enum):
    """What is wrong with a sensor."""

    SATURATED = "saturated"
    DEAD_CELL = "dead cell"
    STUCK_AXIS = "stuck axis"
    WRONG_SIDE = "wrong side"
    RATE_MISMATCH = "rate mismatch"


@dataclass(frozen=True)
class SensorIssue:
    """One problem with one stream.

    Attributes:
        stream_id: the stream it concerns.
        kind: what is wrong.
        message: one line for the device panel.
        channels: the channels concerned (indices into the stream's columns), may be empty.
        t_s: host time (s) at which it was found.
    """

    stream_id: str
    kind: IssueKind
    message: str
    channels: tuple[int, ...] = ()
    t_s: float = float("nan")


@dataclass
class _Stream:
    info: StreamInfo
    saturation_level: npt.NDArray[np.float64]
    saturated_run: npt.NDArray[np.int64]
    peak: npt.NDArray[np.float64]
    loaded_s: float = 0.0
    window_min: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    window_max: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    window_start_s: float | None = None
    rate_first_s: float | None = None
    rate_last_s: float = 0.0
    rate_samples: int = 0
    rate_span_s: float = 0.0


class SensorHealthMonitor:
    """Streaming checks of every stream for sensor pathologies.

    Args:
        saturated_s: how long a channel must sit at full scale to count (s).
        dead_cell_n: an insole cell that never exceeds this force (N) is dead...
        dead_after_s: ...once its insole has carried ``loaded_n`` for this long (s).
        loaded_n: total insole force that counts as carrying load (N).
        stuck_s: how long an IMU channel must repeat one value while another moves (s).
        moving_fraction: a channel "moves" when its range over ``stuck_s`` exceeds this
            fraction of its full scale.
        rate_window_s: data (losses left out) over which the sample rate is measured (s).
        rate_tolerance: largest relative difference from the announced rate.

    Attributes:
        issues_: the issues in force, by (stream id, kind).
    """

    def __init__(
        self,
        *,
        saturated_s: float = 0.5,
        dead_cell_n: float = 1.0,
        dead_after_s: float = 5.0,
        loaded_n: float = 200.0,
        stuck_s: float = 2.0,
        moving_fraction: float = 0.01,
        rate_window_s: float = 10.0,
        rate_tolerance: float = 0.02,
    ) -> None:
        self.saturated_s = saturated_s
        self.dead_cell_n = dead_cell_n
        self.dead_after_s = dead_after_s
        self.loaded_n = loaded_n
        self.stuck_s = stuck_s
        self.moving_fraction = moving_fraction
        self.rate_window_s = rate_window_s
        self.rate_tolerance = rate_tolerance
        self.issues_: dict[tuple[str, IssueKind], SensorIssue] = {}
        self._streams: dict[str, _Stream] = {}

    # --------------------------------------------------------------------- streams
    def add_stream(self, info: StreamInfo, *, t_s: float = float("nan")) -> list[SensorIssue]:
        """Start watching a stream; returns a wrong-side issue if its side clashes."""
        n = info.n_channels
        full = np.asarray(info.full_scale, dtype=np.float64)
        level = 0.98 * full if full.size == n else np.full(n, np.inf)
        self._streams[info.stream_id] = _Stream(
            info,
            saturation_level=level,
            saturated_run=np.zeros(n, dtype=np.int64),
            peak=np.zeros(n),
        )
        return self._check_sides(t_s)

    def remove_stream(self, stream_id: str) -> None:
        """Stop watching a stream (its device left) and forget its issues."""
        self._streams.pop(stream_id, None)
        for key in [k for k in self.issues_ if k[0] == stream_id]:
            del self.issues_[key]
        self._check_sides(float("nan"))

    def _check_sides(self, t_s: float) -> list[SensorIssue]:
        found: list[SensorIssue] = []
        seen: dict[tuple[StreamKind, Side], str] = {}
        clashing: dict[str, str] = {}
        for sid, stream in self._streams.items():
            info = stream.info
            if info.kind not in (StreamKind.IMU, StreamKind.INSOLE):
                continue
            if info.side == Side.UNKNOWN:
                clashing[sid] = f"{info.kind.name.lower()} reports no side: say which foot"
                continue
            other = seen.get((info.kind, info.side))
            if other is not None:
                side = info.side.name.lower()
                text = f"{other} and {sid} both report the {side} side: one is on the other foot"
                clashing[sid] = text
                clashing.setdefault(other, text)
            else:
                seen[(info.kind, info.side)] = sid
        for sid in self._streams:
            key = (sid, IssueKind.WRONG_SIDE)
            if sid in clashing and key not in self.issues_:
                issue = SensorIssue(sid, IssueKind.WRONG_SIDE, clashing[sid], (), t_s)
                self.issues_[key] = issue
                found.append(issue)
            elif sid not in clashing:
                self.issues_.pop(key, None)
        return found

    # ----------------------------------------------------------------------- blocks
    def update(self, block: SampleBlock) -> list[SensorIssue]:
        """Check one block of a watched stream; returns the issues new with it."""
        stream = self._streams.get(block.stream_id)
        n = block.n_samples
        if stream is None or n == 0:
            return []
        values = np.asarray(block.values, dtype=np.float64)
        t = block.t_host_s
        period_s = 1.0 / stream.info.rate_hz
        found: list[SensorIssue] = []
        found += self._saturation(stream, values, period_s, float(t[-1]))
        if stream.info.kind == StreamKind.INSOLE:
            found += self._dead_cells(stream, values, period_s, float(t[-1]))
        elif stream.info.kind == StreamKind.IMU:
            found += self._stuck_axes(stream, values, t, block.gap_before_s > 0)
        found += self._rate(stream, t)
        return found

    def _raise(
        self,
        stream: _Stream,
        kind: IssueKind,
        active: bool,
        channels: tuple[int, ...],
        message: str,
        t_s: float,
    ) -> list[SensorIssue]:
        key = (stream.info.stream_id, kind)
        if not active:
            self.issues_.pop(key, None)
            return []
        previous = self.issues_.get(key)
        if previous is not None and set(channels) <= set(previous.channels):
            return []
        if previous is not None:
            channels = tuple(sorted(set(channels) | set(previous.channels)))
        issue = SensorIssue(stream.info.stream_id, kind, message, channels, t_s)
        self.issues_[key] = issue
        return [issue]

    def _names(self, stream: _Stream, channels: npt.NDArray[np.intp]) -> str:
        names = stream.info.channel_names
        return ", ".join(names[i] if i < len(names) else str(i) for i in channels)

    def _saturation(
        self, stream: _Stream, values: npt.NDArray[np.float64], period_s: float, t_s: float
    ) -> list[SensorIssue]:
        at = np.abs(values) >= stream.saturation_level
        if not at.any() and not stream.saturated_run.any():  # the usual case: clear
            self.issues_.pop((stream.info.stream_id, IssueKind.SATURATED), None)
            return []
        n = at.shape[0]
        rows = np.arange(n)[:, None]
        last_free = np.maximum.accumulate(np.where(at, -1, rows), axis=0)
        run = rows - last_free  # samples at full scale ending at each row (this block)
        carried = np.where(last_free < 0, stream.saturated_run, 0)
        longest = (run + carried).max(axis=0)
        stream.saturated_run = run[-1] + carried[-1]
        long_enough = longest * period_s >= self.saturated_s
        still = stream.saturated_run > 0
        channels = np.flatnonzero(long_enough | (still & self._has(stream, IssueKind.SATURATED)))
        active = bool(np.any(long_enough)) or (
            self._has(stream, IssueKind.SATURATED) and bool(np.any(still))
        )
        return self._raise(
            stream,
            IssueKind.SATURATED,
            active,
            tuple(int(c) for c in np.flatnonzero(long_enough)),
            f"{self._names(stream, channels)} at full scale for "
            f"{self.saturated_s:g} s or more: readings are clipped",
            t_s,
        )

    def _has(self, stream: _Stream, kind: IssueKind) -> bool:
        return (stream.info.stream_id, kind) in self.issues_

    def _dead_cells(
        self, stream: _Stream, values: npt.NDArray[np.float64], period_s: float, t_s: float
    ) -> list[SensorIssue]:
        loaded = values.sum(axis=1) >= self.loaded_n
        if loaded.any():
            stream.loaded_s += float(loaded.sum()) * period_s
            np.maximum(stream.peak, values[loaded].max(axis=0), out=stream.peak)
        if stream.loaded_s < self.dead_after_s:
            return []
        dead = np.flatnonzero(stream.peak <= self.dead_cell_n)
        return self._raise(
            stream,
            IssueKind.DEAD_CELL,
            dead.size > 0,
            tuple(int(c) for c in dead),
            f"{self._names(stream, dead)} never loaded while the insole carried weight: "
            "check the cell's connection",
            t_s,
        )

    def _stuck_axes(
        self,
        stream: _Stream,
        values: npt.NDArray[np.float64],
        t: npt.NDArray[np.float64],
        after_gap: bool,
    ) -> list[SensorIssue]:
        if stream.window_start_s is None or after_gap:
            stream.window_start_s = float(t[0])
            stream.window_min = values.min(axis=0)
            stream.window_max = values.max(axis=0)
        else:
            np.minimum(stream.window_min, values.min(axis=0), out=stream.window_min)
            np.maximum(stream.window_max, values.max(axis=0), out=stream.window_max)
        if float(t[-1]) - stream.window_start_s < self.stuck_s:
            return []
        span = stream.window_max - stream.window_min
        full = np.asarray(stream.info.full_scale, dtype=np.float64)
        moving = span > self.moving_fraction * full if full.size == span.size else span > 0
        stuck = np.flatnonzero((span == 0) & moving.any())
        stream.window_start_s = None
        return self._raise(
            stream,
            IssueKind.STUCK_AXIS,
            stuck.size > 0,
            tuple(int(c) for c in stuck),
            f"{self._names(stream, stuck)} repeats one value while the other axes move: "
            "the axis has failed",
            float(t[-1]),
        )

    def _rate(self, stream: _Stream, t: npt.NDArray[np.float64]) -> list[SensorIssue]:
        # Sample intervals and the time they span, leaving out losses: a step longer than
        # two nominal periods between blocks is missing data, not timing. (The decoder's gap
        # marks are not used: a device whose rate is off makes every packet look
        # discontinuous to it.)
        period_s = 1.0 / stream.info.rate_hz
        n = t.shape[0]
        intervals, span = n - 1, float(t[-1] - t[0])
        if stream.rate_first_s is not None:
            step = float(t[0]) - stream.rate_last_s
            if 0.0 < step <= 2.0 * period_s:
                intervals, span = intervals + 1, span + step
        else:
            stream.rate_first_s = float(t[0])
        stream.rate_samples += intervals
        stream.rate_span_s += span
        stream.rate_last_s = float(t[-1])
        if stream.rate_span_s < self.rate_window_s:
            return []
        measured = stream.rate_samples / stream.rate_span_s
        nominal = stream.info.rate_hz
        stream.rate_samples, stream.rate_span_s = 0, 0.0
        off = abs(measured / nominal - 1.0) > self.rate_tolerance
        return self._raise(
            stream,
            IssueKind.RATE_MISMATCH,
            off,
            (),
            f"samples arrive at {measured:.1f} Hz, the device announced {nominal:g} Hz: "
            "its timing is wrong",
            stream.rate_last_s,
        )
