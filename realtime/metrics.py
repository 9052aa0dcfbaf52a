"""Metrics over steps: per-window snapshots, cadence adherence, baseline and session summary.

Definitions (all computed over the steps of a window, both sides unless "per side"):

- cadence (steps/min) = ``60000 / mean(step_time_ms)`` over every step of both sides with a
  known step time. Steps with an unknown (NaN) step time, e.g. after a gap, do not count.
- per side: mean and SD (sample SD, ``ddof=1``) of GCT, flight time, step time and stride
  time (ms); double support (walking) mean (ms).
- duty factor (per side, %) = ``100 · mean(GCT) / mean(stride time)``.
- variability: coefficient of variation ``CV = 100 · SD / mean`` (%) of step time and of GCT,
  per side; the bilateral figure is the mean of the two sides' CVs (pooling both sides would
  count an asymmetry as variability).
- asymmetry, from the per-side means L and R: symmetry index
  ``SI = 100·(L−R)/(0.5·(L+R))`` (%; positive = left larger) and balance
  ``L% = 100·L/(L+R)``, ``R% = 100 − L%`` (as running watches show GCT balance), for GCT,
  step time and peak force.
- foot strike: per side, share (%) of the steps with a known class, by class.
- peak acceleration (g), peak force (N) and loading rate (BW/s): per-side means of the steps
  that have them.
- flagged share (%) = steps with any quality flag / steps.
- gait label: walking when more than half of the window's steps are walking steps.
- with a treadmill speed v (m/s): step length = v × step time, stride length = v × stride
  time (m), from the means.

Unavailable values are NaN (or None for the gait label), never 0.

Retractions. :class:`RollingMetrics` consumes what ``StepAssembler.pop_steps`` returns; the
assembler never emits a withdrawn contact, so retractions are honoured upstream. The rare
step withdrawn after it was popped (``StepAssembler.pop_retracted``) is removed with
:meth:`RollingMetrics.retract` (and :meth:`CadenceAdherence.retract`,
:meth:`Baseline.retract`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side
from realtime.events import FootStrike, Gait, Step, StepFlag

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "AdherenceSummary",
    "Baseline",
    "CadenceAdherence",
    "GaitMetrics",
    "MetricChange",
    "RollingMetrics",
    "SideMetrics",
    "balance_left_pct",
    "compute_metrics",
    "step_beat_asynchrony_ms",
    "summarise",
    "symmetry_index_pct",
    "target_from_baseline",
]

FloatArray = npt.NDArray[np.float64]
_NAN = math.nan
_STRIKES = (FootStrike.REARFOOT, FootStrike.MIDFOOT, FootStrike.FOREFOOT, FootStrike.NOT_REARFOOT)


# ----------------------------------------------------------------------------- helpers
def symmetry_index_pct(left: float, right: float) -> float:
    """``SI = 100·(L−R)/(0.5·(L+R))`` (%); NaN when either is unknown or the sum is 0."""
    total = left + right
    if not (math.isfinite(total) and total != 0.0):
        return _NAN
    return 100.0 * (left - right) / (0.5 * total)


def balance_left_pct(left: float, right: float) -> float:
    """Left share ``L% = 100·L/(L+R)`` (%); the right share is ``100 − L%``. NaN when either
    is unknown or the sum is 0."""
    total = left + right
    if not (math.isfinite(total) and total != 0.0):
        return _NAN
    return 100.0 * left / total


def _mean(x: FloatArray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else _NAN


def _sd(x: FloatArray) -> float:
    x = x[np.isfinite(x)]
    return float(x.std(ddof=1)) if x.size >= 2 else _NAN


def _cv_pct(x: FloatArray) -> float:
    mean = _mean(x)
    return 100.0 * _sd(x) / mean if mean > 0.0 else _NAN


def _nanmean2(a: float, b: float) -> float:
    values = [v for v in (a, b) if math.isfinite(v)]
    return sum(values) / len(values) if values else _NAN


def _speed_or_nan(speed_m_s: float | None) -> float:
    if speed_m_s is None:
        return _NAN
    if not (math.isfinite(speed_m_s) and speed_m_s >= 0.0):
        raise ConfigurationError(
            f"The treadmill speed_m_s must be zero or more, got {speed_m_s!r}."
        )
    return float(speed_m_s)


_GAP_FLAGS = StepFlag.NEAR_GAP | StepFlag.SETTLING


@dataclass(frozen=True)
class _Columns:
    """Steps as arrays, shape ``(n,)`` each."""

    side: npt.NDArray[np.int8]
    ic_s: FloatArray
    gct_ms: FloatArray
    step_ms: FloatArray
    stride_ms: FloatArray
    flight_ms: FloatArray
    double_support_ms: FloatArray
    walking: npt.NDArray[np.bool_]
    flagged: npt.NDArray[np.bool_]
    gap_flagged: npt.NDArray[np.bool_]
    strike: tuple[FootStrike, ...]
    peak_force_n: FloatArray
    loading_rate_bw_s: FloatArray
    peak_accel_g: FloatArray

    @classmethod
    def of(cls, steps: Sequence[Step]) -> _Columns:
        def col(name: str) -> FloatArray:
            return np.fromiter((getattr(s, name) for s in steps), np.float64, len(steps))

        return cls(
            side=np.fromiter((int(s.side) for s in steps), np.int8, len(steps)),
            ic_s=col("ic_s"),
            gct_ms=col("gct_ms"),
            step_ms=col("step_time_ms"),
            stride_ms=col("stride_time_ms"),
            flight_ms=col("flight_ms"),
            double_support_ms=col("double_support_ms"),
            walking=np.fromiter((s.gait is Gait.WALKING for s in steps), np.bool_, len(steps)),
            flagged=np.fromiter((s.flags != StepFlag.NONE for s in steps), np.bool_, len(steps)),
            gap_flagged=np.fromiter(
                (bool(s.flags & _GAP_FLAGS) for s in steps), np.bool_, len(steps)
            ),
            strike=tuple(s.foot_strike for s in steps),
            peak_force_n=col("peak_force_n"),
            loading_rate_bw_s=col("loading_rate_bw_s"),
            peak_accel_g=col("peak_accel_g"),
        )


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True)
class SideMetrics:
    """Metrics of one side over a window (see the module docstring for definitions).

    Attributes:
        n_steps: steps of this side in the window.
        n_gap_flagged: of those, steps touching missing data (near a gap or in a filter's
            settling time after one).
        gct_ms_mean, gct_ms_sd: ground contact time (ms).
        flight_ms_mean, flight_ms_sd: flight time before the contact (ms), running steps.
        double_support_ms_mean: double support at the contact (ms), walking steps.
        step_time_ms_mean, step_time_ms_sd: IC minus previous contralateral IC (ms).
        stride_time_ms_mean, stride_time_ms_sd: IC minus previous ipsilateral IC (ms).
        duty_factor_pct: ``100 · mean GCT / mean stride time`` (%).
        gct_cv_pct, step_time_cv_pct: coefficients of variation (%).
        peak_force_n_mean: insole peak vertical force (N).
        peak_accel_g_mean: IMU peak acceleration (g).
        loading_rate_bw_s_mean: vertical loading rate (body weights/s).
        foot_strike_pct: share (%) of the steps with a known class, per class.
        step_length_m, stride_length_m: speed × mean step / stride time (m); NaN without speed.
    """

    n_steps: int = 0
    n_gap_flagged: int = 0
    gct_ms_mean: float = _NAN
    gct_ms_sd: float = _NAN
    flight_ms_mean: float = _NAN
    flight_ms_sd: float = _NAN
    double_support_ms_mean: float = _NAN
    step_time_ms_mean: float = _NAN
    step_time_ms_sd: float = _NAN
    stride_time_ms_mean: float = _NAN
    stride_time_ms_sd: float = _NAN
    duty_factor_pct: float = _NAN
    gct_cv_pct: float = _NAN
    step_time_cv_pct: float = _NAN
    peak_force_n_mean: float = _NAN
    peak_accel_g_mean: float = _NAN
    loading_rate_bw_s_mean: float = _NAN
    foot_strike_pct: Mapping[FootStrike, float] | None = None
    step_length_m: float = _NAN
    stride_length_m: float = _NAN


@dataclass(frozen=True)
class GaitMetrics:
    """A snapshot of gait metrics over a window of steps (definitions: module docstring).

    Attributes:
        n_steps: steps in the window (both sides).
        n_flagged: steps carrying any quality flag; flagged_pct their share (%).
        t_first_ic_s, t_last_ic_s: IC of the first and last step of the window (host s).
        cadence_spm: ``60000 / mean step time`` over both sides (steps/min).
        left, right: per-side metrics.
        gct_si_pct, gct_balance_left_pct, gct_balance_right_pct: GCT asymmetry (%).
        step_time_si_pct, step_time_balance_left_pct, step_time_balance_right_pct: step-time
            asymmetry (%).
        peak_force_si_pct, peak_force_balance_left_pct, peak_force_balance_right_pct: peak
            force asymmetry (%).
        step_time_cv_pct, gct_cv_pct: mean of the two sides' CVs (%).
        walking_pct: share of walking steps (%); gait: the majority label, None without steps.
        speed_m_s: treadmill speed used for lengths (m/s), NaN if not given.
        step_length_m, stride_length_m: speed × mean step / stride time over both sides (m).
    """

    n_steps: int = 0
    n_flagged: int = 0
    flagged_pct: float = _NAN
    t_first_ic_s: float = _NAN
    t_last_ic_s: float = _NAN
    cadence_spm: float = _NAN
    left: SideMetrics = SideMetrics()
    right: SideMetrics = SideMetrics()
    gct_si_pct: float = _NAN
    gct_balance_left_pct: float = _NAN
    gct_balance_right_pct: float = _NAN
    step_time_si_pct: float = _NAN
    step_time_balance_left_pct: float = _NAN
    step_time_balance_right_pct: float = _NAN
    peak_force_si_pct: float = _NAN
    peak_force_balance_left_pct: float = _NAN
    peak_force_balance_right_pct: float = _NAN
    step_time_cv_pct: float = _NAN
    gct_cv_pct: float = _NAN
    walking_pct: float = _NAN
    gait: Gait | None = None
    speed_m_s: float = _NAN
    step_length_m: float = _NAN
    stride_length_m: float = _NAN

    def side(self, side: Side) -> SideMetrics:
        """The metrics of ``side``."""
        if side == Side.LEFT:
            return self.left
        if side == Side.RIGHT:
            return self.right
        raise ValueError(f"GaitMetrics has no metrics for side {side!r}")

    def scalars(self) -> dict[str, float]:
        """Every numeric metric as a flat ``name → value`` map; per-side names are prefixed
        ``left_`` / ``right_`` (e.g. ``left_gct_ms_mean``). Counts are floats here."""
        out: dict[str, float] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, SideMetrics):
                for g in fields(value):
                    inner = getattr(value, g.name)
                    if isinstance(inner, int | float):
                        out[f"{f.name}_{g.name}"] = float(inner)
            elif isinstance(value, int | float):
                out[f.name] = float(value)
        return out


def _side_metrics(c: _Columns, mask: npt.NDArray[np.bool_], speed_m_s: float) -> SideMetrics:
    n = int(mask.sum())
    if n == 0:
        return SideMetrics()
    gct, step, stride = c.gct_ms[mask], c.step_ms[mask], c.stride_ms[mask]
    gct_mean, stride_mean, step_mean = _mean(gct), _mean(stride), _mean(step)
    strikes = [s for s, m in zip(c.strike, mask.tolist(), strict=True) if m]
    known = [s for s in strikes if s is not FootStrike.UNKNOWN]
    strike_pct: dict[FootStrike, float] | None = None
    if known:
        strike_pct = {
            cls: 100.0 * sum(1 for s in known if s is cls) / len(known)
            for cls in _STRIKES
            if any(s is cls for s in known)
        }
    return SideMetrics(
        n_steps=n,
        n_gap_flagged=int(c.gap_flagged[mask].sum()),
        gct_ms_mean=gct_mean,
        gct_ms_sd=_sd(gct),
        flight_ms_mean=_mean(c.flight_ms[mask]),
        flight_ms_sd=_sd(c.flight_ms[mask]),
        double_support_ms_mean=_mean(c.double_support_ms[mask]),
        step_time_ms_mean=step_mean,
        step_time_ms_sd=_sd(step),
        stride_time_ms_mean=stride_mean,
        stride_time_ms_sd=_sd(stride),
        duty_factor_pct=100.0 * gct_mean / stride_mean if stride_mean > 0.0 else _NAN,
        gct_cv_pct=_cv_pct(gct),
        step_time_cv_pct=_cv_pct(step),
        peak_force_n_mean=_mean(c.peak_force_n[mask]),
        peak_accel_g_mean=_mean(c.peak_accel_g[mask]),
        loading_rate_bw_s_mean=_mean(c.loading_rate_bw_s[mask]),
        foot_strike_pct=strike_pct,
        step_length_m=speed_m_s * step_mean * 1e-3,
        stride_length_m=speed_m_s * stride_mean * 1e-3,
    )


def compute_metrics(steps: Sequence[Step], *, speed_m_s: float | None = None) -> GaitMetrics:
    """Metrics of ``steps`` taken as one window (definitions: module docstring).

    Args:
        steps: the window's steps, any order.
        speed_m_s: treadmill speed (m/s) for step and stride lengths; None: lengths NaN.
    """
    speed = _speed_or_nan(speed_m_s)
    if not steps:
        return GaitMetrics(speed_m_s=speed)
    c = _Columns.of(steps)
    left = _side_metrics(c, c.side == int(Side.LEFT), speed)
    right = _side_metrics(c, c.side == int(Side.RIGHT), speed)
    step_mean = _mean(c.step_ms)
    gct_balance = balance_left_pct(left.gct_ms_mean, right.gct_ms_mean)
    step_balance = balance_left_pct(left.step_time_ms_mean, right.step_time_ms_mean)
    force_balance = balance_left_pct(left.peak_force_n_mean, right.peak_force_n_mean)
    n = len(steps)
    walking_pct = 100.0 * float(c.walking.mean())
    return GaitMetrics(
        n_steps=n,
        n_flagged=int(c.flagged.sum()),
        flagged_pct=100.0 * float(c.flagged.mean()),
        t_first_ic_s=float(c.ic_s.min()),
        t_last_ic_s=float(c.ic_s.max()),
        cadence_spm=60_000.0 / step_mean if step_mean > 0.0 else _NAN,
        left=left,
        right=right,
        gct_si_pct=symmetry_index_pct(left.gct_ms_mean, right.gct_ms_mean),
        gct_balance_left_pct=gct_balance,
        gct_balance_right_pct=100.0 - gct_balance,
        step_time_si_pct=symmetry_index_pct(left.step_time_ms_mean, right.step_time_ms_mean),
        step_time_balance_left_pct=step_balance,
        step_time_balance_right_pct=100.0 - step_balance,
        peak_force_si_pct=symmetry_index_pct(left.peak_force_n_mean, right.peak_force_n_mean),
        peak_force_balance_left_pct=force_balance,
        peak_force_balance_right_pct=100.0 - force_balance,
        step_time_cv_pct=_nanmean2(left.step_time_cv_pct, right.step_time_cv_pct),
        gct_cv_pct=_nanmean2(left.gct_cv_pct, right.gct_cv_pct),
        walking_pct=walking_pct,
        gait=Gait.WALKING if walking_pct > 50.0 else Gait.RUNNING,
        speed_m_s=speed,
        step_length_m=speed * step_mean * 1e-3,
        stride_length_m=speed * _mean(c.stride_ms) * 1e-3,
    )


# ----------------------------------------------------------------------------- rolling
class _StepStore:
    """Steps kept sorted by IC, with removal by (side, IC)."""

    def __init__(self) -> None:
        self.keys: list[tuple[float, int]] = []
        self.steps: list[Step] = []

    def add(self, step: Step) -> None:
        key = (step.ic_s, int(step.side))
        i = bisect.bisect_right(self.keys, key)
        self.keys.insert(i, key)
        self.steps.insert(i, step)

    def remove(self, step: Step) -> bool:
        key = (step.ic_s, int(step.side))
        i = bisect.bisect_left(self.keys, key)
        if i < len(self.keys) and self.keys[i] == key:
            del self.keys[i]
            del self.steps[i]
            return True
        return False

    def drop_oldest(self, n: int) -> None:
        if n > 0:
            del self.keys[:n]
            del self.steps[:n]

    def __len__(self) -> int:
        return len(self.steps)


class RollingMetrics:
    """Gait metrics over the newest steps, updated as steps arrive.

    The window holds the newest ``window_steps`` steps (both sides, by IC) and, when
    ``window_s`` is set, only those whose IC lies within ``window_s`` of the newest IC; with
    both set both limits apply. Retractions are honoured upstream (the assembler never
    emits a withdrawn contact); steps withdrawn after being popped go to :meth:`retract`.

    Args:
        window_steps: number of steps in the window (None: no step limit).
        window_s: length of the window in seconds of IC time (None: no time limit).
        speed_m_s: treadmill speed (m/s) for step lengths; change it with :meth:`set_speed`.

    Results:
        :meth:`snapshot`: a :class:`GaitMetrics` of the current window.

    Raises:
        ConfigurationError: neither limit set, or a limit not positive.
    """

    def __init__(
        self,
        *,
        window_steps: int | None = 20,
        window_s: float | None = None,
        speed_m_s: float | None = None,
    ) -> None:
        if window_steps is None and window_s is None:
            raise ConfigurationError("RollingMetrics needs window_steps, window_s or both.")
        if window_steps is not None and not (isinstance(window_steps, int) and window_steps > 0):
            raise ConfigurationError(
                f"RollingMetrics' window_steps must be a positive integer, got {window_steps!r}."
            )
        if window_s is not None and not (math.isfinite(window_s) and window_s > 0.0):
            raise ConfigurationError(
                f"RollingMetrics' window_s must be a positive number of seconds, got {window_s!r}."
            )
        self.window_steps = window_steps
        self.window_s = window_s
        self.speed_m_s = speed_m_s
        _speed_or_nan(speed_m_s)
        self._store = _StepStore()

    def set_speed(self, *, speed_m_s: float | None) -> None:
        """Treadmill speed (m/s) used by later snapshots; None removes it."""
        _speed_or_nan(speed_m_s)
        self.speed_m_s = speed_m_s

    def update(self, steps: Iterable[Step]) -> Self:
        """Add new steps (any order)."""
        for step in steps:
            self._store.add(step)
        self._trim()
        return self

    def retract(self, steps: Iterable[Step]) -> Self:
        """Remove steps withdrawn after they were added (matched by side and IC)."""
        for step in steps:
            self._store.remove(step)
        return self

    def window(self) -> list[Step]:
        """The steps of the current window, by IC."""
        steps = self._store.steps
        if self.window_steps is not None:
            steps = steps[-self.window_steps :]
        if self.window_s is not None and steps:
            newest = steps[-1].ic_s
            steps = [s for s in steps if s.ic_s > newest - self.window_s]
        return list(steps)

    def snapshot(self) -> GaitMetrics:
        """Metrics of the current window."""
        return compute_metrics(self.window(), speed_m_s=self.speed_m_s)

    def _trim(self) -> None:
        """Keep twice the window, so that retractions can let older steps back in."""
        store = self._store
        if self.window_steps is not None:
            store.drop_oldest(len(store) - 2 * self.window_steps)
        if self.window_s is not None and len(store):
            horizon = store.steps[-1].ic_s - 2.0 * self.window_s
            store.drop_oldest(bisect.bisect_left(store.keys, (horizon, -1)))


# ----------------------------------------------------------------------------- cadence
def step_beat_asynchrony_ms(ic_s: npt.ArrayLike, beat_s: npt.ArrayLike) -> FloatArray:
    """Asynchrony of each IC to its nearest metronome beat, ``IC − beat`` (ms; negative: the
    foot lands before the beat), shape ``(n_ic,)``.

    ICs outside the beat schedule (before the first or after the last beat by more than half
    the adjacent beat interval) and all ICs when fewer than two beats exist get NaN.
    """
    ic = np.asarray(ic_s, dtype=np.float64)
    beats = np.sort(np.asarray(beat_s, dtype=np.float64))
    out = np.full(ic.shape, np.nan)
    if beats.size < 2 or ic.size == 0:
        return out
    j = np.clip(np.searchsorted(beats, ic), 1, beats.size - 1)
    before, after = beats[j - 1], beats[j]
    nearest = np.where(ic - before <= after - ic, before, after)
    interval = after - before
    lag = ic - nearest
    inside = np.abs(lag) <= 0.5 * interval + 1e-12
    out[inside] = 1e3 * lag[inside]
    return out


@dataclass(frozen=True)
class AdherenceSummary:
    """How well the runner follows the target cadence.

    Attributes:
        target_spm: the target in force for the newest step (steps/min).
        band_spm: half-width of the target band (steps/min).
        n_steps: steps with a known step time.
        time_in_band_pct: share of running time (sum of step times) during which the rolling
            cadence was within ``target ± band`` (%).
        mean_abs_deviation_spm: time-weighted mean |rolling cadence − target| (steps/min).
        n_beats_matched: ICs matched to a beat.
        asynchrony_ms_mean, asynchrony_ms_sd, asynchrony_ms_mean_abs: IC − nearest beat
            (ms; negative = early).
    """

    target_spm: float
    band_spm: float
    n_steps: int = 0
    time_in_band_pct: float = _NAN
    mean_abs_deviation_spm: float = _NAN
    n_beats_matched: int = 0
    asynchrony_ms_mean: float = _NAN
    asynchrony_ms_sd: float = _NAN
    asynchrony_ms_mean_abs: float = _NAN


ADHERENCE_KEEP_STEPS = 512
"""Steps :class:`CadenceAdherence` keeps one by one (about 3 minutes of running); older steps
and the beats around them are folded into running totals, so a session of hours keeps
``ADHERENCE_KEEP_STEPS`` to twice that many steps and the beats of the same time."""


@dataclass
class _AdherenceTotals:
    """Running sums over the steps folded out of :class:`CadenceAdherence`'s recent store.

    Attributes:
        n_steps: steps with a known step time.
        time_ms: their summed step times (ms).
        in_band_ms: of that, time with the rolling cadence in the band (ms).
        deviation_ms: sum of |rolling cadence − target| (spm) × step time (ms).
        n_lags, lag_sum_ms, lag_sq_ms2, lag_abs_ms: IC − nearest beat: count, sum (ms), sum
            of squares (ms²) and sum of absolute values (ms).
        context_ms: step times (ms) of the last known folded steps, shape ``(≤ window,)``,
            oldest first: the rolling cadence of the next steps needs them.
    """

    n_steps: int = 0
    time_ms: float = 0.0
    in_band_ms: float = 0.0
    deviation_ms: float = 0.0
    n_lags: int = 0
    lag_sum_ms: float = 0.0
    lag_sq_ms2: float = 0.0
    lag_abs_ms: float = 0.0
    context_ms: FloatArray = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True)
class _Rolling:
    """Per known step (by IC): its step time (ms), the rolling cadence (spm) and |deviation|
    from its target (spm), shape ``(n,)`` each, and whether it was in the band."""

    step_ms: FloatArray
    deviation_spm: FloatArray
    in_band: npt.NDArray[np.bool_]


class CadenceAdherence:
    """Time in the target cadence band, deviation from the target and step-to-beat
    asynchrony, accumulated over a session (call :meth:`reset` to start over).

    The rolling cadence at a step is ``60000 / mean step time`` of the last ``window_steps``
    steps with a known step time (fewer at the start); the step counts for its own step time
    (ms) of running time. The target may change (:meth:`set_target`); each step is judged
    against the target in force when it was added.

    Memory stays bounded over any session: the newest ``keep_steps`` to ``2 · keep_steps``
    steps (by IC) are kept one by one, older ones are folded into running totals once the
    beats around them have been added; steps then no longer arrive out of order or get
    retracted that far back (the assembler withdraws steps within seconds).

    Args:
        target_spm: target cadence (steps/min), > 0.
        band_spm: half-width of the band (steps/min), ≥ 0.
        window_steps: steps in the rolling cadence, ≥ 1.
        keep_steps: steps kept one by one before older ones are folded in, ≥ 1.
    """

    def __init__(
        self,
        *,
        target_spm: float,
        band_spm: float = 2.0,
        window_steps: int = 4,
        keep_steps: int = ADHERENCE_KEEP_STEPS,
    ) -> None:
        _check_target(target_spm)
        if not (math.isfinite(band_spm) and band_spm >= 0.0):
            raise ConfigurationError(
                f"The cadence band_spm must be zero or more, got {band_spm!r}."
            )
        if not (isinstance(window_steps, int) and window_steps >= 1):
            raise ConfigurationError(
                f"The cadence window_steps must be a positive integer, got {window_steps!r}."
            )
        if not (isinstance(keep_steps, int) and keep_steps >= 1):
            raise ConfigurationError(
                f"The adherence keep_steps must be a positive integer, got {keep_steps!r}."
            )
        self.target_spm = target_spm
        self.band_spm = band_spm
        self.window_steps = window_steps
        self.keep_steps = keep_steps
        self.reset()

    def set_target(self, *, target_spm: float) -> None:
        """New target cadence (steps/min) for the steps added from now on."""
        _check_target(target_spm)
        self.target_spm = target_spm

    def reset(self) -> None:
        """Forget steps and beats."""
        self._ic: list[float] = []
        self._step_ms: list[float] = []
        self._target: list[float] = []
        self._beats: list[float] = []
        self._totals = _AdherenceTotals()

    @property
    def n_kept(self) -> int:
        """Steps kept one by one (the rest are in the running totals)."""
        return len(self._ic)

    @property
    def n_beats_kept(self) -> int:
        """Beats kept (older ones are no longer needed)."""
        return len(self._beats)

    def update(self, steps: Iterable[Step], *, beat_times_s: Iterable[float] = ()) -> Self:
        """Add steps, and metronome beats (host s) played so far or scheduled."""
        for step in steps:
            self._ic.append(step.ic_s)
            self._step_ms.append(step.step_time_ms)
            self._target.append(self.target_spm)
        self._beats.extend(float(b) for b in beat_times_s)
        if len(self._ic) > 2 * self.keep_steps:
            self._fold(len(self._ic) - self.keep_steps)
        return self

    def retract(self, steps: Iterable[Step]) -> Self:
        """Remove withdrawn steps (matched by IC time) that are still kept one by one."""
        for step in steps:
            if step.ic_s in self._ic:
                i = self._ic.index(step.ic_s)
                del self._ic[i], self._step_ms[i], self._target[i]
        return self

    def _sorted(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The kept steps' IC (host s), step time (ms) and target (spm), by IC, ``(n,)``."""
        ic = np.asarray(self._ic, dtype=np.float64)
        order = np.argsort(ic, kind="stable")
        step_ms = np.asarray(self._step_ms, dtype=np.float64)[order]
        return ic[order], step_ms, np.asarray(self._target, dtype=np.float64)[order]

    def _rolling(self, step_ms: FloatArray, target: FloatArray) -> _Rolling:
        """The rolling cadence of the known steps among ``step_ms`` (by IC), after the
        folded steps' context."""
        known = np.isfinite(step_ms) & (step_ms > 0.0)
        step_ms, target = step_ms[known], target[known]
        context = self._totals.context_ms
        joined = np.concatenate((context, step_ms))
        cs = np.concatenate(([0.0], np.cumsum(joined)))
        hi = np.arange(context.size + 1, joined.size + 1)
        lo = np.maximum(hi - self.window_steps, 0)
        cadence = 60_000.0 * (hi - lo) / (cs[hi] - cs[lo])
        deviation = np.abs(cadence - target)
        return _Rolling(step_ms, deviation, deviation <= self.band_spm + 1e-9)

    def _fold(self, n: int) -> None:
        """Fold the oldest ``n`` kept steps (by IC), and the beats only they needed, into the
        running totals."""
        ic, step_ms, target = self._sorted()
        beats = np.sort(np.asarray(self._beats, dtype=np.float64))
        old = self._rolling(step_ms[:n], target[:n])
        lag = step_beat_asynchrony_ms(ic[:n], beats)
        lag = lag[np.isfinite(lag)]
        t = self._totals
        t.n_steps += int(old.step_ms.size)
        t.time_ms += float(old.step_ms.sum())
        t.in_band_ms += float(old.step_ms[old.in_band].sum())
        t.deviation_ms += float((old.step_ms * old.deviation_spm).sum())
        t.n_lags += int(lag.size)
        t.lag_sum_ms += float(lag.sum())
        t.lag_sq_ms2 += float((lag * lag).sum())
        t.lag_abs_ms += float(np.abs(lag).sum())
        t.context_ms = np.concatenate((t.context_ms, old.step_ms))[-self.window_steps :]
        self._ic, self._step_ms, self._target = (
            ic[n:].tolist(),
            step_ms[n:].tolist(),
            target[n:].tolist(),
        )
        # The nearest beat of the next IC lies after the beat just before it.
        first_kept = max(int(np.searchsorted(beats, ic[n], side="right")) - 2, 0)
        self._beats = beats[first_kept:].tolist()

    def snapshot(self) -> AdherenceSummary:
        """The adherence figures over everything added since the start or :meth:`reset`."""
        ic, step_ms, target = self._sorted()
        recent = self._rolling(step_ms, target)
        t = self._totals
        n = t.n_steps + int(recent.step_ms.size)
        summary: dict[str, Any] = {"n_steps": n}
        if n:
            time_ms = t.time_ms + float(recent.step_ms.sum())
            in_band_ms = t.in_band_ms + float(recent.step_ms[recent.in_band].sum())
            deviation_ms = t.deviation_ms + float((recent.step_ms * recent.deviation_spm).sum())
            summary["time_in_band_pct"] = 100.0 * in_band_ms / time_ms
            summary["mean_abs_deviation_spm"] = deviation_ms / time_ms
        lag = step_beat_asynchrony_ms(ic, self._beats)
        lag = lag[np.isfinite(lag)]
        n_lags = t.n_lags + int(lag.size)
        if n_lags:
            lag_sum = t.lag_sum_ms + float(lag.sum())
            lag_sq = t.lag_sq_ms2 + float((lag * lag).sum())
            mean = lag_sum / n_lags
            summary["n_beats_matched"] = n_lags
            summary["asynchrony_ms_mean"] = mean
            summary["asynchrony_ms_sd"] = (
                math.sqrt(max(lag_sq - n_lags * mean * mean, 0.0) / (n_lags - 1))
                if n_lags >= 2
                else _NAN
            )
            summary["asynchrony_ms_mean_abs"] = (t.lag_abs_ms + float(np.abs(lag).sum())) / n_lags
        return AdherenceSummary(target_spm=self.target_spm, band_spm=self.band_spm, **summary)


def _check_target(target_spm: float) -> None:
    if not (math.isfinite(target_spm) and target_spm > 0.0):
        raise ConfigurationError(
            f"The target cadence must be positive steps/min, got {target_spm!r}."
        )


def target_from_baseline(baseline_cadence_spm: float, percent: float) -> float:
    """Target cadence (steps/min) ``percent`` % over a baseline cadence: e.g. +5 % or +10 %
    over the preferred step rate, ``baseline · (1 + percent/100)``."""
    if not (math.isfinite(baseline_cadence_spm) and baseline_cadence_spm > 0.0):
        raise ConfigurationError(
            f"A target needs a measured baseline cadence; got {baseline_cadence_spm!r} steps/min."
        )
    if not (math.isfinite(percent) and percent > -100.0):
        raise ConfigurationError(f"The change over baseline must exceed −100 %, got {percent!r}.")
    return baseline_cadence_spm * (1.0 + percent / 100.0)


# ----------------------------------------------------------------------------- baseline
@dataclass(frozen=True)
class MetricChange:
    """One metric now against the baseline.

    Attributes:
        name: the metric (a key of ``GaitMetrics.scalars()``; its unit is in the name).
        baseline, current: values in the metric's unit.
        change: ``current − baseline`` in the metric's unit (percentage points for ``_pct``
            metrics such as SI and balance).
        change_pct: ``100 · change / |baseline|`` (%), NaN when the baseline is 0 or unknown.
    """

    name: str
    baseline: float
    current: float
    change: float
    change_pct: float


class Baseline:
    """Capture the metrics of the first ``duration_s`` seconds of steps, then compare.

    Capture starts at the first step's IC and ends with the first step whose IC is
    ``duration_s`` or more later (that step is not part of the baseline), or at
    :meth:`finish`. The baseline metrics are the metrics of all captured steps as one window.

    Args:
        duration_s: capture length (s of IC time), > 0.
        speed_m_s: treadmill speed during the capture (m/s) for lengths.
    """

    def __init__(self, *, duration_s: float = 60.0, speed_m_s: float | None = None) -> None:
        if not (math.isfinite(duration_s) and duration_s > 0.0):
            raise ConfigurationError(
                f"The baseline duration_s must be a positive number of seconds, got {duration_s!r}."
            )
        _speed_or_nan(speed_m_s)
        self.duration_s = duration_s
        self.speed_m_s = speed_m_s
        self._store = _StepStore()
        self._start_s = _NAN
        self._complete = False
        self._metrics: GaitMetrics | None = None

    @property
    def complete(self) -> bool:
        """True once capture has ended."""
        return self._complete

    @property
    def start_s(self) -> float:
        """IC (host s) of the first captured step; NaN before it."""
        return self._start_s

    @property
    def metrics(self) -> GaitMetrics | None:
        """The baseline metrics once complete, else None."""
        return self._metrics

    def update(self, steps: Iterable[Step]) -> Self:
        """Add steps while capturing; later steps are ignored."""
        for step in steps:
            if self._complete:
                break
            if math.isnan(self._start_s):
                self._start_s = step.ic_s
            if step.ic_s - self._start_s >= self.duration_s:
                self.finish()
                break
            self._store.add(step)
        return self

    def retract(self, steps: Iterable[Step]) -> Self:
        """Remove withdrawn steps while capturing."""
        if not self._complete:
            for step in steps:
                self._store.remove(step)
        return self

    def finish(self) -> Self:
        """End capture now."""
        if not self._complete:
            self._complete = True
            self._metrics = compute_metrics(self._store.steps, speed_m_s=self.speed_m_s)
        return self

    def target_cadence_spm(self, *, percent: float) -> float:
        """Target cadence ``percent`` % over the baseline cadence (steps/min)."""
        if self._metrics is None:
            raise ConfigurationError("The baseline is still being captured; wait until it ends.")
        return target_from_baseline(self._metrics.cadence_spm, percent)

    def compare(self, current: GaitMetrics) -> dict[str, MetricChange]:
        """Every numeric metric of ``current`` against the baseline, by name."""
        if self._metrics is None:
            raise ConfigurationError("The baseline is still being captured; wait until it ends.")
        base = self._metrics.scalars()
        out: dict[str, MetricChange] = {}
        for name, value in current.scalars().items():
            ref = base.get(name, _NAN)
            change = value - ref
            change_pct = 100.0 * change / abs(ref) if (math.isfinite(ref) and ref != 0.0) else _NAN
            out[name] = MetricChange(name, ref, value, change, change_pct)
        return out


# ----------------------------------------------------------------------------- summary
def _json_number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def summarise(steps: Sequence[Step], *, speed_m_s: float | None = None) -> dict[str, Any]:
    """Session summary for ``summary.json``: plain JSON types, NaN written as null.

    Keys (units in the names):

    - ``n_steps``, ``n_flagged`` (int), ``flagged_pct``, ``duration_s`` (last − first IC),
      ``cadence_spm`` (60000 / mean step time, both sides), ``gait`` (``"running"`` /
      ``"walking"`` / null), ``speed_m_s``;
    - ``left`` and ``right``: ``n_steps``, ``gct_ms_mean``, ``gct_ms_sd``,
      ``step_time_ms_mean``, ``step_time_ms_sd``, ``stride_time_ms_mean``,
      ``stride_time_ms_sd``, ``flight_ms_mean``, ``flight_ms_sd``,
      ``double_support_ms_mean``, ``duty_factor_pct``, ``gct_cv_pct``, ``step_time_cv_pct``,
      ``peak_force_n_mean``, ``peak_accel_g_mean``, ``loading_rate_bw_s_mean``,
      ``step_length_m``, ``stride_length_m``, ``foot_strike_pct`` (class name → %, or null);
    - asymmetry: ``gct_si_pct``, ``gct_balance_left_pct``, ``gct_balance_right_pct``,
      ``step_time_si_pct``, ``step_time_balance_left_pct``, ``step_time_balance_right_pct``,
      ``peak_force_si_pct``, ``peak_force_balance_left_pct``, ``peak_force_balance_right_pct``
      (SI = 100·(L−R)/(0.5·(L+R)), balance L% = 100·L/(L+R));
    - variability: ``step_time_cv_pct``, ``gct_cv_pct`` (mean of the sides' CVs).
    """
    m = compute_metrics(steps, speed_m_s=speed_m_s)

    def side_dict(s: SideMetrics) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(s):
            value = getattr(s, f.name)
            if f.name == "n_steps":
                out[f.name] = int(value)
            elif f.name == "foot_strike_pct":
                out[f.name] = (
                    None if value is None else {k.value: float(v) for k, v in value.items()}
                )
            else:
                out[f.name] = _json_number(value)
        return out

    summary: dict[str, Any] = {
        "n_steps": m.n_steps,
        "n_flagged": m.n_flagged,
        "flagged_pct": _json_number(m.flagged_pct),
        "duration_s": _json_number(m.t_last_ic_s - m.t_first_ic_s),
        "cadence_spm": _json_number(m.cadence_spm),
        "gait": None if m.gait is None else m.gait.value,
        "speed_m_s": _json_number(m.speed_m_s),
        "left": side_dict(m.left),
        "right": side_dict(m.right),
    }
    for name in (
        "gct_si_pct",
        "gct_balance_left_pct",
        "gct_balance_right_pct",
        "step_time_si_pct",
        "step_time_balance_left_pct",
        "step_time_balance_right_pct",
        "peak_force_si_pct",
        "peak_force_balance_left_pct",
        "peak_force_balance_right_pct",
        "step_time_cv_pct",
        "gct_cv_pct",
    ):
        summary[name] = _json_number(getattr(m, name))
    return summary
