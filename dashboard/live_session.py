"""The PT's live choices and what follows from them, with no GUI in it.

``LiveSession`` holds the target cadence (absolute, or a percentage over a captured
baseline), the baseline capture, the treadmill settings and the PT's markers as timed
events, the session trends (cadence and contact-time balance per step), and the cadence
adherence. The dashboard calls :meth:`LiveSession.ingest` with each analysis snapshot and
reads the results; tests drive it without Qt.

Memory stays bounded over a session of hours: the trends are :class:`TrendSeries` of at most
``TREND_POINTS`` points (decimated as the session grows) and the adherence keeps a few
minutes of steps (older ones in running totals); every step goes to the recorder, not here.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from firmware_bridge.errors import ConfigurationError
from realtime.events import Step
from realtime.metrics import (
    AdherenceSummary,
    Baseline,
    CadenceAdherence,
    GaitMetrics,
    MetricChange,
    target_from_baseline,
)
from realtime.processing import AnalysisView

KMH_PER_MPH = 1.609344
CADENCE_WINDOW_STEPS = 8
"""Steps in the rolling cadence that decides whether the runner is in the target band."""


class SpeedUnit(enum.Enum):
    """Treadmill speed unit shown and entered."""

    KMH = "km/h"
    MPH = "mph"


class EventKind(enum.Enum):
    """Kinds of timed session events."""

    TREADMILL = "treadmill"
    MARKER = "marker"
    TARGET = "target"
    BASELINE = "baseline"
    METRONOME = "metronome"
    SENSOR = "sensor"


@dataclass(frozen=True)
class TimedEvent:
    """Something the PT did or set, at a host time.

    Attributes:
        t_s: host time (s).
        kind: what kind of event.
        text: human-readable description (units included).
        value: the numeric setting where there is one (target spm, speed km/h), else NaN.
    """

    t_s: float
    kind: EventKind
    text: str
    value: float = math.nan


class SessionRecorder(Protocol):
    """Where a live session's steps, beats and events are recorded (a session writer)."""

    def add_steps(self, steps: Iterable[Step]) -> None: ...

    def add_beats(
        self, t_s: Iterable[float], *, accented: bool = False, cued: bool = True
    ) -> None: ...

    def add_event(
        self,
        kind: str,
        text: str = "",
        value: float | None = None,
        *,
        t_s: float | None = None,
        **extra: Any,
    ) -> None: ...


TREND_POINTS = 2048
"""Most points a session trend keeps, whatever the session's length: about one point per
0.1–7 s of a 4-hour session."""


class TrendSeries:
    """A session trend in bounded memory: time (s) and value pairs in one preallocated
    ``(capacity, 2)`` float64 array.

    Each stored point is the mean of ``stride`` consecutive appended points (time and the
    finite values; NaN when none is finite). When the array fills, neighbouring pairs are
    merged and ``stride`` doubles, so a session of any length keeps between ``capacity / 2``
    and ``capacity`` points, evenly decimated.

    Args:
        capacity: most points kept, an even number ≥ 2.
    """

    def __init__(self, capacity: int = TREND_POINTS) -> None:
        if not (isinstance(capacity, int) and capacity >= 2 and capacity % 2 == 0):
            raise ConfigurationError(
                f"a trend's capacity must be an even number of at least 2, got {capacity!r}"
            )
        self._data = np.full((capacity, 2), np.nan)
        self._n = 0
        self.stride = 1
        """Appended points per stored point."""
        self.revision = 0
        """Points appended so far (views redraw when it changes)."""
        self._pending_n = 0
        self._pending_t = 0.0
        self._pending_sum = 0.0
        self._pending_finite = 0

    def append(self, t_s: float, value: float) -> None:
        """Add one point: host time (s) and value (NaN when unknown)."""
        self.revision += 1
        self._pending_n += 1
        self._pending_t += t_s
        if math.isfinite(value):
            self._pending_sum += value
            self._pending_finite += 1
        if self._pending_n < self.stride:
            return
        if self._n == len(self._data):
            self._halve()
            if self._pending_n < self.stride:
                return  # the pending point now gathers the doubled stride
        mean = self._pending_sum / self._pending_finite if self._pending_finite else math.nan
        self._data[self._n] = (self._pending_t / self._pending_n, mean)
        self._n += 1
        self._pending_n, self._pending_t, self._pending_sum, self._pending_finite = 0, 0.0, 0.0, 0

    def _halve(self) -> None:
        """Merge neighbouring pairs of the full array (NaN-aware means); double the stride."""
        pairs = self._data.reshape(-1, 2, 2)
        finite = np.isfinite(pairs[:, :, 1])
        counts = finite.sum(axis=1)
        sums = np.where(finite, pairs[:, :, 1], 0.0).sum(axis=1)
        half = len(pairs)
        self._data[:half, 0] = pairs[:, :, 0].mean(axis=1)
        self._data[:half, 1] = np.divide(sums, counts, out=np.full(half, np.nan), where=counts > 0)
        self._data[half:] = np.nan
        self._n = half
        self.stride *= 2

    def __len__(self) -> int:
        return self._n

    @property
    def capacity(self) -> int:
        """Most points kept."""
        return len(self._data)

    @property
    def t_s(self) -> npt.NDArray[np.float64]:
        """Times of the stored points (host s), shape ``(len,)``; a view, no copy."""
        return self._data[: self._n, 0]

    @property
    def values(self) -> npt.NDArray[np.float64]:
        """Values of the stored points, shape ``(len,)``; a view, no copy."""
        return self._data[: self._n, 1]


def rolling_cadence_spm(steps: tuple[Step, ...], n: int = CADENCE_WINDOW_STEPS) -> float:
    """``60000 / mean step time`` of the newest ``n`` steps with a known step time (spm);
    NaN when none has one."""
    times = [s.step_time_ms for s in steps[-n:] if math.isfinite(s.step_time_ms)]
    if not times:
        return math.nan
    mean = sum(times) / len(times)
    return 60_000.0 / mean if mean > 0.0 else math.nan


def _steps_after(recent: tuple[Step, ...], last_seen: Step | None) -> list[Step]:
    """The steps of ``recent`` (oldest first) after ``last_seen`` (the same object); all of
    them when it is no longer among them (more steps than the view keeps arrived since: the
    oldest of those are missed) or None."""
    if last_seen is not None:
        for i in range(len(recent) - 1, -1, -1):
            if recent[i] is last_seen:
                return list(recent[i + 1 :])
    return list(recent)


class LiveSession:
    """Targets, baseline, timed events and trends of one live session.

    Args:
        clock: host clock (s), the same one the pipeline uses.
        band_spm: half-width of the cadence target band (spm).
        baseline_s: length of a baseline capture (s).
        recorder: records steps, beats and events as they come (None: not recorded).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        band_spm: float = 2.0,
        baseline_s: float = 60.0,
        recorder: SessionRecorder | None = None,
    ) -> None:
        self.clock = clock
        self.recorder = recorder
        self.started_s = clock()
        self.band_spm = band_spm
        self.baseline_s = baseline_s
        self.events: list[TimedEvent] = []
        self.cadence_trend = TrendSeries()
        self.balance_trend = TrendSeries()
        self.rolling_cadence_spm = math.nan
        self._target_spm: float | None = None
        self._target_percent: float | None = None
        self._baseline: Baseline | None = None
        self._adherence: CadenceAdherence | None = None
        self._last_seen: Step | None = None
        self._speed_kmh: float | None = None
        self._incline_pct = 0.0
        self._latest_metrics = GaitMetrics()
        self._issues_logged: set[tuple[str, str]] = set()

    # ---------------------------------------------------------------- target
    @property
    def target_spm(self) -> float | None:
        """The target cadence in force (spm), None before one is set."""
        return self._target_spm

    @property
    def target_percent(self) -> float | None:
        """The percentage over baseline the target follows, None for an absolute target."""
        return self._target_percent

    def set_target_spm(self, target_spm: float) -> None:
        """An absolute target cadence (spm)."""
        if not (math.isfinite(target_spm) and 60.0 <= target_spm <= 260.0):
            raise ConfigurationError(
                f"the target cadence must be between 60 and 260 spm, got {target_spm}"
            )
        self._target_percent = None
        self._apply_target(target_spm, f"target {target_spm:.0f} spm")

    def set_target_percent(self, percent: float) -> None:
        """A target ``percent`` % over the captured baseline's cadence."""
        base = self.baseline_metrics
        if base is None:
            raise ConfigurationError(
                "capture a baseline first (press B), then set the target as a percentage of it"
            )
        target = target_from_baseline(base.cadence_spm, percent)
        self._target_percent = percent
        self._apply_target(
            target, f"target {target:.0f} spm ({percent:+g} % over baseline {base.cadence_spm:.0f})"
        )

    def _apply_target(self, target_spm: float, text: str) -> None:
        self._target_spm = target_spm
        if self._adherence is None:
            self._adherence = CadenceAdherence(target_spm=target_spm, band_spm=self.band_spm)
        else:
            self._adherence.set_target(target_spm=target_spm)
        self.log(EventKind.TARGET, text, target_spm)

    def in_band(self) -> bool | None:
        """Whether the rolling 8-step cadence is within the target band; None when there is
        no target or no cadence yet."""
        if self._target_spm is None or not math.isfinite(self.rolling_cadence_spm):
            return None
        return abs(self.rolling_cadence_spm - self._target_spm) <= self.band_spm

    # ---------------------------------------------------------------- baseline
    def start_baseline(self) -> None:
        """Start capturing a baseline of ``baseline_s`` seconds from the next step."""
        self._baseline = Baseline(
            duration_s=self.baseline_s,
            speed_m_s=None if self._speed_kmh is None else self._speed_kmh / 3.6,
        )
        self.log(EventKind.BASELINE, f"baseline capture started ({self.baseline_s:g} s)")

    @property
    def baseline_capturing(self) -> bool:
        return self._baseline is not None and not self._baseline.complete

    def baseline_progress(self, now_s: float) -> float:
        """Share of the capture done (0–1); 0 when none runs, 1 when complete."""
        b = self._baseline
        if b is None:
            return 0.0
        if b.complete:
            return 1.0
        start = b.start_s
        if math.isnan(start):
            return 0.0
        return min(1.0, max(0.0, (now_s - start) / b.duration_s))

    @property
    def baseline_metrics(self) -> GaitMetrics | None:
        """The completed baseline's metrics, None before."""
        b = self._baseline
        return None if b is None else b.metrics

    def compare_to_baseline(self) -> dict[str, MetricChange]:
        """Every metric now against the baseline; empty before a baseline exists."""
        b = self._baseline
        if b is None or b.metrics is None:
            return {}
        return b.compare(self._latest_metrics)

    # ---------------------------------------------------------------- events
    def log(self, kind: EventKind, text: str, value: float = math.nan) -> TimedEvent:
        """Record a timed event now."""
        event = TimedEvent(self.clock(), kind, text, value)
        self.events.append(event)
        if self.recorder is not None:
            extra = {"incline_pct": self._incline_pct} if kind is EventKind.TREADMILL else {}
            self.recorder.add_event(
                kind.value, text, None if math.isnan(value) else value, t_s=event.t_s, **extra
            )
        return event

    def mark(self, note: str) -> TimedEvent:
        """The PT marks the moment with a note."""
        note = note.strip() or "marker"
        return self.log(EventKind.MARKER, note)

    def set_treadmill(self, *, speed: float, unit: SpeedUnit, incline_pct: float) -> None:
        """Treadmill speed (in ``unit``) and incline (%), logged as a timed event."""
        if not (math.isfinite(speed) and 0.0 <= speed <= 40.0):
            raise ConfigurationError(f"treadmill speed must be 0–40 {unit.value}, got {speed}")
        if not (math.isfinite(incline_pct) and -15.0 <= incline_pct <= 40.0):
            raise ConfigurationError(f"incline must be −15 to 40 %, got {incline_pct}")
        kmh = speed * KMH_PER_MPH if unit is SpeedUnit.MPH else speed
        self._speed_kmh = kmh if kmh > 0.0 else None
        self._incline_pct = incline_pct
        self.log(
            EventKind.TREADMILL,
            f"treadmill {speed:.1f} {unit.value} ({kmh:.1f} km/h), incline {incline_pct:.1f} %",
            kmh,
        )

    @property
    def speed_m_s(self) -> float | None:
        """Treadmill speed (m/s), None when not entered or zero."""
        return None if self._speed_kmh is None else self._speed_kmh / 3.6

    # ---------------------------------------------------------------- analysis
    def ingest(self, view: AnalysisView, *, beat_times_s: tuple[float, ...] = ()) -> list[Step]:
        """Take the steps new since the last call from ``view`` (and beats played since),
        update baseline, trends and adherence; return the new steps."""
        self._latest_metrics = view.metrics
        for issue in view.sensor_issues:
            key = (issue.stream_id, issue.kind.value)
            if key not in self._issues_logged:
                self._issues_logged.add(key)
                self.log(EventKind.SENSOR, f"{issue.stream_id}: {issue.message}")
        new = _steps_after(view.recent_steps, self._last_seen)
        if new:
            self._last_seen = new[-1]
        self.rolling_cadence_spm = rolling_cadence_spm(view.recent_steps)
        if self._baseline is not None and not self._baseline.complete:
            self._baseline.update(new)
            if self._baseline.complete and self._baseline.metrics is not None:
                cadence = self._baseline.metrics.cadence_spm
                self.log(
                    EventKind.BASELINE,
                    f"baseline captured: {cadence:.0f} spm, {self._baseline.metrics.n_steps} steps",
                    cadence,
                )
        if self._adherence is not None:
            self._adherence.update(new, beat_times_s=beat_times_s)
        if self.recorder is not None:
            if new:
                self.recorder.add_steps(new)
            if beat_times_s:
                self.recorder.add_beats(beat_times_s)
        if new:
            m = view.metrics
            t = new[-1].ic_s
            self.cadence_trend.append(t, m.cadence_spm)
            self.balance_trend.append(t, m.gct_balance_left_pct)
        return new

    def adherence(self) -> AdherenceSummary | None:
        """Adherence to the target since it was first set; None without a target."""
        return None if self._adherence is None else self._adherence.snapshot()
