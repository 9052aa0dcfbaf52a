"""Insole calibration: zero offsets, body-weight scale, per-cell curves, cell health.

Force-sensing resistors read zero only approximately (a shoe preloads them), differ in
sensitivity from cell to cell, respond nonlinearly, creep upward under a sustained load and
read higher while unloading than while loading (hysteresis). The routines here measure:

* ``InsoleZero``: each cell's reading with the foot unloaded (offset), its noise, and the
  floor below which a calibrated cell reads 0.
* ``BodyWeightScale``: one scale per insole such that quiet bilateral stance reads body
  weight over both insoles and single-leg stance reads body weight on the standing side.
  Creep is removed by extrapolating each pose's reading back to the moment the foot was
  loaded, because running contacts last a quarter of a second, not seconds.
* ``CellCurveFit``: from a press applying known loads to each cell, a monotone curve per
  cell from reading to force. Each load is read on its plateau (where the load equals its
  peak, so hysteresis does not enter) and extrapolated to the start of the press (creep);
  the curve is the loading curve.
* ``CellHealth``: dead cells (no response) and saturation (a flat top at the largest
  reading).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares

from firmware_bridge.errors import ConfigurationError

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "DEFAULT_LOADS_N",
    "STANDARD_GRAVITY_M_S2",
    "BodyWeightScale",
    "CellCurve",
    "CellCurveFit",
    "CellHealth",
    "InsoleZero",
    "loaded_runs",
]

FloatArray = npt.NDArray[np.float64]
STANDARD_GRAVITY_M_S2 = 9.80665
DEFAULT_LOADS_N: tuple[float, ...] = (30.0, 60.0, 100.0, 150.0, 225.0, 300.0, 450.0, 600.0)
"""The default known-load ladder (N): each cell pressed once with each, in this order."""


def _table(values: npt.ArrayLike) -> FloatArray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] < 1:
        raise ConfigurationError(f"Insole values must be (samples, cells), got shape {v.shape}.")
    return v


def _rate_hz(t: FloatArray) -> float:
    if t.shape[0] < 3:
        raise ConfigurationError("An insole routine needs more than a few samples.")
    return 1.0 / float(np.median(np.diff(t)))


def loaded_runs(
    mask: npt.NDArray[np.bool_], min_samples: int, *, max_gap: int = 0
) -> npt.NDArray[np.intp]:
    """Start and stop (exclusive) index ``(k, 2)`` of each run of True at least
    ``min_samples`` long; runs separated by at most ``max_gap`` False samples are joined."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    begin = np.flatnonzero(edges == 1)
    end = np.flatnonzero(edges == -1)
    if max_gap > 0 and begin.size > 1:
        join = (begin[1:] - end[:-1]) <= max_gap
        begin = np.concatenate([begin[:1], begin[1:][~join]])
        end = np.concatenate([end[:-1][~join], end[-1:]])
    keep = (end - begin) >= min_samples
    return np.column_stack([begin[keep], end[keep]]).astype(np.intp)


class InsoleZero:
    """Zero offset, noise and floor of each cell, from the insole unloaded.

    The unloaded samples are found automatically: the periods in which the insole's total
    reading stays near its lowest level.

    Parameters:
        min_unloaded_s: least unloaded time needed (s).
        margin_n: a sample is unloaded when its total lies within this (N) of the lowest
            totals, or within 10 % of the recording's range if that is less.
        floor_sigmas: the calibrated floor lies this many noise SDs above the zero: high
            enough that noise on unloaded cells rarely passes it, low enough that a lightly
            loaded cell at contact still counts (2.5 SD keeps the contact times of a
            calibrated insole as good as those of a perfect one in ``bench/accuracy.py``).
        min_floor_n: smallest floor above the zero (N).

    Results (after ``fit``):
        zero_n_: ``(n_cells,)`` median unloaded reading (N).
        noise_n_: ``(n_cells,)`` unloaded standard deviation (N).
        floor_n_: ``(n_cells,)`` readings below ``zero + floor`` become 0 (N above zero).
        unloaded_s_: unloaded time used (s).
    """

    def __init__(
        self,
        *,
        min_unloaded_s: float = 1.0,
        margin_n: float = 40.0,
        floor_sigmas: float = 2.5,
        min_floor_n: float = 1.0,
    ) -> None:
        self.min_unloaded_s = min_unloaded_s
        self.margin_n = margin_n
        self.floor_sigmas = floor_sigmas
        self.min_floor_n = min_floor_n

    def fit(self, t_s: npt.ArrayLike, values: npt.ArrayLike) -> Self:
        """Fit from samples at ``t_s`` ``(n,)`` of readings ``(n, n_cells)`` (N).

        Raises:
            ConfigurationError: too little unloaded time in the recording.
        """
        t = np.asarray(t_s, dtype=np.float64)
        v = _table(values)
        rate = _rate_hz(t)
        total = v.sum(axis=1)
        low, high = np.percentile(total, [1.0, 99.0])
        margin = min(self.margin_n, max(0.1 * (high - low), 5.0))
        unloaded = total <= low + margin
        runs = loaded_runs(unloaded, max(1, round(0.5 * rate)))
        mask = np.zeros_like(unloaded)
        trim = round(0.2 * rate)
        for a, b in runs:
            mask[a + trim : b - trim] = True
        self.unloaded_s_ = float(mask.sum()) / rate
        if self.unloaded_s_ < self.min_unloaded_s:
            raise ConfigurationError(
                f"The insole routine holds {self.unloaded_s_:.1f} s with the foot unloaded; "
                f"lift the foot off the floor for at least {self.min_unloaded_s + 0.5:g} s."
            )
        self.zero_n_ = np.median(v[mask], axis=0)
        self.noise_n_ = v[mask].std(axis=0)
        self.floor_n_ = np.maximum(self.floor_sigmas * self.noise_n_, self.min_floor_n)
        return self


def _onset_level(t: FloatArray, x: FloatArray, onset: int, stop: int, rate: float) -> float:
    """Level of ``x`` at sample ``onset``, extrapolated from a line fitted to the settled
    part of the run ``onset … stop`` (removes creep)."""
    duration = (stop - onset) / rate
    a = onset + round(min(0.5, 0.25 * duration) * rate)
    b = onset + round(min(2.5, 0.9 * duration) * rate)
    if b - a < 5:
        return float(np.median(x[onset:stop]))
    _slope, intercept = np.polyfit(t[a:b] - t[onset], x[a:b], 1)
    return float(intercept)


class BodyWeightScale:
    """One scale per insole from quiet bilateral stance and single-leg stance.

    The input is each insole's total force after zero (and per-cell curves, when there are
    any). Poses are found from which insoles are loaded: both (bilateral), the left only,
    the right only. Each pose must start from an unloaded foot (sit with the feet off the
    floor between poses), so that creep can be extrapolated back to the loading instant.

    Parameters:
        body_mass_kg: the person's body mass (kg).
        loaded_fraction: an insole is loaded above this fraction of its largest total.

    With one insole only, its single-leg stance (the pose that loads it most) sets the
    scale.
        min_pose_s: shortest pose kept (s).

    Results (after ``fit``):
        scale_: ``{"left": s, "right": s}`` multiplying each insole's force.
        poses_: list of ``(pose, start_s, stop_s)`` found (``bilateral``, ``left``,
            ``right``).
        residual_pct_: RMS relative error of the poses' body weight after scaling (%).
        body_weight_n_: body weight (N).
    """

    def __init__(
        self,
        *,
        body_mass_kg: float,
        loaded_fraction: float = 0.2,
        min_pose_s: float = 1.5,
    ) -> None:
        self.body_mass_kg = body_mass_kg
        self.loaded_fraction = loaded_fraction
        self.min_pose_s = min_pose_s

    def fit(
        self,
        t_s: npt.ArrayLike,
        left_total_n: npt.ArrayLike | None,
        right_total_n: npt.ArrayLike | None,
    ) -> Self:
        """Fit from the totals (N) of the left and/or right insole at times ``t_s``.

        Raises:
            ConfigurationError: no usable pose, or a body mass outside 20–250 kg.
        """
        if not (np.isfinite(self.body_mass_kg) and 20.0 <= self.body_mass_kg <= 250.0):
            raise ConfigurationError(
                f"The body mass must be 20–250 kg, got {self.body_mass_kg!r}; give --body-mass KG."
            )
        t = np.asarray(t_s, dtype=np.float64)
        rate = _rate_hz(t)
        weight = self.body_mass_kg * STANDARD_GRAVITY_M_S2
        self.body_weight_n_ = weight
        totals = {
            name: np.asarray(x, dtype=np.float64)
            for name, x in (("left", left_total_n), ("right", right_total_n))
            if x is not None
        }
        if not totals:
            raise ConfigurationError("Body-weight calibration needs at least one insole.")
        loaded = {n: x > self.loaded_fraction * max(float(x.max()), 1.0) for n, x in totals.items()}
        runs = {n: loaded_runs(m, 1) for n, m in loaded.items()}

        def onset_of(name: str, index: int) -> int:
            r = runs[name]
            k = int(np.searchsorted(r[:, 0], index, side="right")) - 1
            return int(r[k, 0])

        names = list(totals)
        pattern = np.zeros(t.shape[0], dtype=np.int8)
        for bit, name in enumerate(names):
            pattern |= loaded[name].astype(np.int8) << bit
        rows: list[FloatArray] = []
        self.poses_: list[tuple[str, float, float]] = []
        change = np.flatnonzero(np.diff(pattern)) + 1
        bounds = np.concatenate([[0], change, [t.shape[0]]])
        for a, b in itertools.pairwise(bounds):
            if pattern[a] == 0 or (b - a) < self.min_pose_s * rate:
                continue
            on = [n for bit, n in enumerate(names) if pattern[a] >> bit & 1]
            if len(totals) == 2 and len(on) == 2:
                pose = "bilateral"
            elif len(on) == 1:
                pose = on[0]
            else:
                continue
            row = np.zeros(len(names))
            for name in on:
                start = onset_of(name, int(a))
                row[names.index(name)] = _onset_level(t, totals[name], start, int(b), rate)
            rows.append(row)
            self.poses_.append((pose, float(t[a]), float(t[b - 1])))
        if not rows:
            raise ConfigurationError(
                "The insole routine shows no quiet stance of 1.5 s or more; stand still on "
                "both feet, then on each foot alone, sitting with the feet lifted in between."
            )
        if len(names) == 1:
            # One insole: its single-leg stance is the pose that loads it most (quiet
            # bilateral stance, if recorded too, loads it about half as much).
            levels = np.array([r[0] for r in rows])
            keep = levels >= 0.75 * levels.max()
            rows = [r for r, k in zip(rows, keep, strict=True) if k]
            self.poses_ = [
                (names[0], a, b) for (_, a, b), k in zip(self.poses_, keep, strict=True) if k
            ]
        a_matrix = np.vstack(rows)
        if np.linalg.matrix_rank(a_matrix) < len(names):
            missing = [n for i, n in enumerate(names) if not np.any(a_matrix[:, i])]
            raise ConfigurationError(
                "The insole routine does not load every insole on its own: "
                f"add single-leg stance on the {' and '.join(missing) or 'each'} side."
            )
        scale, *_ = np.linalg.lstsq(a_matrix, np.full(len(rows), weight), rcond=None)
        if np.any(scale <= 0.0):
            raise ConfigurationError(
                "The insole routine gives a non-positive body-weight scale; check that the "
                "insoles are worn on the sides they report."
            )
        self.scale_ = {name: float(s) for name, s in zip(names, scale, strict=True)}
        self.residual_pct_ = float(100.0 * np.sqrt(np.mean((a_matrix @ scale / weight - 1) ** 2)))
        return self


@dataclass(frozen=True)
class CellCurve:
    """A cell's monotone curve from reading (N above zero) to force (N).

    Piecewise linear through the knots, starting at (0, 0); beyond the last knot the last
    segment continues.

    Attributes:
        reading_n: ``(k,)`` increasing knot readings (N above zero).
        force_n: ``(k,)`` increasing forces at the knots (N).
    """

    reading_n: FloatArray
    force_n: FloatArray

    def __call__(self, reading_n: npt.ArrayLike) -> FloatArray:
        r = np.asarray(reading_n, dtype=np.float64)
        xp = np.concatenate([[0.0], self.reading_n])
        fp = np.concatenate([[0.0], self.force_n])
        out = np.interp(r, xp, fp)
        slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
        beyond = r > xp[-1]
        out = np.where(beyond, fp[-1] + slope * (r - xp[-1]), out)
        result: FloatArray = np.where(r > 0.0, out, 0.0)
        return result


def _press_levels(t: FloatArray, x: FloatArray, presses: npt.NDArray[np.intp]) -> FloatArray:
    """Plateau level of each press, taken back to the start of the press (removes creep).

    Creep grows in proportion to the load, so one relative creep rate (per second) is
    fitted over all presses of the cell, dominated by the large loads where it is measured
    well; each press's level is then the mean over the middle of its plateau divided by
    ``1 + rate · elapsed``. This keeps the small loads as precise as a plain mean.
    """
    means, elapsed, slopes, intercepts = [], [], [], []
    for a, b in presses:
        n = int(b - a)
        lo, hi = int(a) + round(0.25 * n), int(a) + round(0.8 * n)
        if hi - lo < 4:
            lo, hi = int(a), int(b)
        tt = t[lo:hi] - t[a]
        means.append(float(x[lo:hi].mean()))
        elapsed.append(float(tt.mean()))
        if hi - lo >= 4:
            slope, intercept = np.polyfit(tt, x[lo:hi], 1)
        else:
            slope, intercept = 0.0, float(x[lo:hi].mean())
        slopes.append(float(slope))
        intercepts.append(float(intercept))
    rate = sum(slopes) / sum(intercepts) if sum(intercepts) > 0 else 0.0
    out: FloatArray = np.asarray(means) / (1.0 + rate * np.asarray(elapsed))
    return out


class CellCurveFit:
    """Per-cell curves from a known-load routine.

    Every cell, in streaming order, is pressed once with each load of ``loads_n`` in
    ascending order (ramp, hold ≥ 0.5 s, release, rest). Readings are zero-corrected first.

    Parameters:
        loads_n: the known loads (N), ascending.
        min_press_s: shortest press counted (s).
        detect_n: a cell is pressed while it reads more than this above zero (N); default
            6 N or 30 % of the smallest load, whichever is less.
        n_knots: knots of each tabulated curve.

    Results (after ``fit``):
        curves_: one ``CellCurve`` per cell (None for a dead cell).
        readings_n_: ``(n_cells, n_loads)`` plateau reading of each press (NaN if missing).
        residual_pct_: ``(n_cells,)`` RMS relative error of the curve at the loads (%).
        dead_cells_: cells that never responded.
        saturated_cells_: cells whose plateau was clipped.
    """

    def __init__(
        self,
        *,
        loads_n: Sequence[float],
        min_press_s: float = 0.3,
        detect_n: float | None = None,
        n_knots: int = 40,
    ) -> None:
        self.loads_n = loads_n
        self.min_press_s = min_press_s
        self.detect_n = detect_n
        self.n_knots = n_knots

    def fit(
        self,
        t_s: npt.ArrayLike,
        values: npt.ArrayLike,
        *,
        zero_n: npt.ArrayLike | None = None,
        saturation_n: float | None = None,
    ) -> Self:
        """Fit from readings ``(n, n_cells)`` (N) at times ``t_s``; ``zero_n`` per cell is
        subtracted first (default: the median of the first 0.3 s). ``saturation_n`` is the
        largest reading the device reports, when known.

        Raises:
            ConfigurationError: loads not ascending, or a cell pressed a different number
                of times than there are loads.
        """
        loads = np.asarray(self.loads_n, dtype=np.float64)
        if loads.ndim != 1 or loads.size < 3 or np.any(np.diff(loads) <= 0) or loads[0] <= 0:
            raise ConfigurationError(
                "The known loads must be at least three positive values in ascending order "
                f"(N), got {list(self.loads_n)}."
            )
        t = np.asarray(t_s, dtype=np.float64)
        v = _table(values)
        rate = _rate_hz(t)
        zero = (
            np.median(v[: max(3, round(0.3 * rate))], axis=0)
            if zero_n is None
            else np.asarray(zero_n, dtype=np.float64)
        )
        x = v - zero
        detect = min(6.0, 0.3 * loads[0]) if self.detect_n is None else self.detect_n
        n_cells = v.shape[1]
        self.readings_n_ = np.full((n_cells, loads.size), np.nan)
        self.curves_: list[CellCurve | None] = []
        self.residual_pct_ = np.full(n_cells, np.nan)
        self.dead_cells_: list[int] = []
        self.saturated_cells_: list[int] = []
        top = float(np.max(v)) if saturation_n is None else saturation_n
        for cell in range(n_cells):
            col = x[:, cell]
            presses = loaded_runs(
                col > detect, max(3, round(self.min_press_s * rate)), max_gap=round(0.1 * rate)
            )
            if presses.shape[0] == 0:
                self.dead_cells_.append(cell)
                self.curves_.append(None)
                continue
            if presses.shape[0] != loads.size:
                raise ConfigurationError(
                    f"Cell {cell} was pressed {presses.shape[0]} times in the known-load "
                    f"routine, expected {loads.size} (one per load: "
                    f"{', '.join(f'{w:g}' for w in loads)} N)."
                )
            levels = _press_levels(t, col, presses)
            raw_max = np.array([v[a:b, cell].max() for a, b in presses])
            clipped = raw_max >= 0.995 * top
            if np.any(clipped):
                self.saturated_cells_.append(cell)
            self.readings_n_[cell] = levels
            good = ~clipped
            curve, residual = _fit_curve(levels[good], loads[good], self.n_knots)
            self.curves_.append(curve)
            self.residual_pct_[cell] = residual
        return self


def _hidden_offset_n(reading: FloatArray, load: FloatArray, *, limit_n: float = 5.0) -> float:
    """A constant offset (N) hidden in the plateau readings.

    An FSR reads exactly 0 below its activation floor, so a zero drift smaller than the
    floor is invisible while the cell rests but adds to every loaded reading; it shows as
    readings that fall off a power law at the smallest loads. The offset is fitted with a
    power law, ``reading = a · load^p + offset``, by least squares on the readings
    themselves (every plateau is about equally noisy in newtons), within ±``limit_n``.
    """
    if reading.size < 4:
        return 0.0
    lf, lr = np.log(load), np.log(reading)
    p0, la0 = np.polyfit(lf, lr, 1)
    scale = float(reading.max())

    def residual(x: FloatArray) -> FloatArray:
        out: FloatArray = (np.exp(x[0]) * load ** x[1] + x[2] - reading) / scale
        return out

    upper = min(limit_n, 0.9 * float(reading.min()))
    solution = least_squares(
        residual,
        np.array([la0, p0, 0.0]),
        bounds=([-np.inf, 0.2, -limit_n], [np.inf, 5.0, max(upper, 1e-6)]),
    )
    return float(solution.x[2])


def _fit_curve(reading: FloatArray, load: FloatArray, n_knots: int) -> tuple[CellCurve, float]:
    """A smooth monotone curve through (reading, load): after removing a hidden offset
    (``_hidden_offset_n``), ``log F`` quadratic in ``log r`` (a power law with a slowly
    changing exponent), tabulated on geometric knots."""
    if reading.size < 3 or np.any(reading <= 0):
        raise ConfigurationError(
            "A cell responds to fewer than three of the known loads; check the press and the cell."
        )
    reading = reading - _hidden_offset_n(reading, load)
    if np.any(reading <= 0):
        raise ConfigurationError(
            "A cell's readings do not grow with the known loads; check the press and the cell."
        )
    lr, lf = np.log(reading), np.log(load)
    degree = 2 if reading.size >= 5 else 1
    coef = np.polyfit(lr, lf, degree)
    slope = np.polyval(np.polyder(coef), lr)
    if np.any(slope <= 0):
        coef = np.polyfit(lr, lf, 1)
    knots = np.geomspace(0.5 * reading.min(), 1.2 * reading.max(), n_knots)
    lk = np.clip(np.log(knots), lr.min() - 0.7, lr.max() + 0.2)
    if degree == 2 and coef.size == 3:
        # Outside the measured loads the curve continues as a power law.
        inside = np.clip(lk, lr.min(), lr.max())
        edge_slope = np.polyval(np.polyder(coef), inside)
        forces = np.exp(np.polyval(coef, inside) + edge_slope * (lk - inside))
    else:
        forces = np.exp(np.polyval(coef, lk))
    forces = np.maximum.accumulate(forces)
    curve = CellCurve(reading_n=knots, force_n=forces)
    residual = float(100.0 * np.sqrt(np.mean((curve(reading) / load - 1.0) ** 2)))
    return curve, residual


class CellHealth:
    """Dead and saturated cells in any insole recording.

    Parameters:
        min_response_n: a cell that never reads more than this above its lowest reading
            while the insole carries load has not responded (N).
        flat_samples: this many consecutive samples at the recording's largest reading, or
            at ``saturation_n``, mark saturation.

    Results (after ``check``):
        dead_cells_: cells that never responded while others were loaded.
        saturated_cells_: cells that reached their largest reading and stayed there.
    """

    def __init__(self, *, min_response_n: float = 5.0, flat_samples: int = 5) -> None:
        self.min_response_n = min_response_n
        self.flat_samples = flat_samples

    def check(self, values: npt.ArrayLike, *, saturation_n: float | None = None) -> Self:
        v = _table(values)
        total = v.sum(axis=1)
        loaded = total > np.percentile(total, 10) + 50.0
        self.dead_cells_: list[int] = []
        self.saturated_cells_: list[int] = []
        for cell in range(v.shape[1]):
            col = v[:, cell]
            if np.any(loaded) and float(np.ptp(col[loaded])) <= self.min_response_n:
                self.dead_cells_.append(cell)
            top = float(col.max()) if saturation_n is None else saturation_n
            at_top = col >= top - 1e-6
            if top > 0 and loaded_runs(at_top, self.flat_samples).shape[0] > 0:
                self.saturated_cells_.append(cell)
        return self
