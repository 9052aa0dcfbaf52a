"""Pressure insole of the simulated runner: cell layout, noise-free cell forces and the
imperfections of force-sensing-resistor (FSR) cells.

Foot coordinates: ``x`` is the fraction of foot length from the heel (0) to the toe tip (1),
``y`` the fraction of foot width from the medial edge (0) to the lateral edge (1). Both
insoles use the same coordinates, so a left and a right insole with the same layout list
their cells in the same anatomical order. Forces are newtons, times host seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
from scipy.spatial import ConvexHull

from calibration.insole_layout import InsoleLayout as StandardLayout
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side
from firmware_bridge.simulator.gait import COP_KNOTS_U, StepPlan, step_force_n

FloatArray = npt.NDArray[np.float64]

KERNEL_SIGMA_X: float = 0.08
"""Spread of the load around the centre of pressure along the foot (fraction of length)."""
KERNEL_SIGMA_Y: float = 0.30
"""Spread of the load across the foot (fraction of width)."""
_TILT_ITERATIONS = 40
_TABLE_STEP_X = 0.02  # share table spacing along the foot (fraction of length)
_TABLE_STEP_Y = 0.05  # and across it (fraction of width)


@dataclass(frozen=True)
class InsoleLayout:
    """Where the cells of an insole sit.

    Attributes:
        x: ``(n_cells,)`` cell centre, fraction of foot length from the heel (0–1).
        y: ``(n_cells,)`` cell centre, fraction of foot width from the medial edge (0–1).
        area_cm2: ``(n_cells,)`` sensing area of each cell (cm²).
    """

    x: FloatArray
    y: FloatArray
    area_cm2: FloatArray

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        if self.x.ndim != 1 or self.y.shape != (n,) or self.area_cm2.shape != (n,) or n < 3:
            raise ConfigurationError(
                f"An insole layout needs at least 3 cells with one x, y and area each, got "
                f"shapes {self.x.shape}, {self.y.shape} and {self.area_cm2.shape}."
            )
        if np.any(self.area_cm2 <= 0):
            raise ConfigurationError("Every insole cell needs a positive area in cm².")

    @property
    def n_cells(self) -> int:
        return int(self.x.shape[0])

    @cached_property
    def share_table(self) -> FloatArray:
        """Load share of each cell for a centre of pressure on a regular grid over the
        foot, ``(nx, ny, n_cells)``: node (i, j) is at x = i·0.02, y = j·0.05. Computed
        once per layout; ``cell_forces_n`` interpolates it bilinearly, which keeps the
        share-weighted cell position equal to the centre of pressure (bilinear
        interpolation reproduces a linear function exactly)."""
        gx = np.linspace(0.0, 1.0, round(1.0 / _TABLE_STEP_X) + 1)
        gy = np.linspace(0.0, 1.0, round(1.0 / _TABLE_STEP_Y) + 1)
        nodes = np.stack(np.meshgrid(gx, gy, indexing="ij"), axis=-1).reshape(-1, 2)
        table = _load_shares(self, nodes).reshape(gx.size, gy.size, self.n_cells)
        table.flags.writeable = False
        return table

    @classmethod
    def default(cls, n_cells: int) -> InsoleLayout:
        """The standard 8- or 16-cell layout of ``calibration.insole_layout`` (heel, lateral
        midfoot, metatarsal heads, hallux and lesser toes), so the simulated insoles and the
        analysis agree on where each cell sits."""
        standard = StandardLayout.default(n_cells)
        return cls(x=standard.x.copy(), y=standard.y.copy(), area_cm2=standard.area_cm2.copy())


# ------------------------------------------------------------------ noise-free signals
@dataclass(frozen=True)
class _Located:
    plan: StepPlan  # the side's steps near the samples
    index: npt.NDArray[np.intp]  # step of each sample (clipped to 0..n-1)
    u: FloatArray  # normalised support time of that step
    force_n: FloatArray  # vertical force (N)


def _locate(plan: StepPlan, side: Side, t_s: FloatArray) -> _Located:
    t = np.asarray(t_s, dtype=np.float64)
    if t.size == 0:
        near = plan.select(slice(0, 0))
    else:
        near = plan.steps_near(float(t.min()), float(t.max()), side=side)
    if near.n_steps == 0:
        zeros = np.zeros(t.shape)
        return _Located(near, np.zeros(t.shape, dtype=np.intp), zeros, zeros)
    raw = np.searchsorted(near.on_s, t, side="right") - 1
    index = np.clip(raw, 0, near.n_steps - 1)
    on = near.on_s[index]
    u = (t - on) / (near.off_s[index] - on)
    force = np.where(raw >= 0, step_force_n(near, index, t), 0.0)
    return _Located(near, index, u, force)


def vertical_force_n(plan: StepPlan, side: Side, t_s: FloatArray) -> FloatArray:
    """Noise-free total vertical force (N) under one foot at host times ``t_s``, shape (n,).

    A pure function of (plan, t): exactly 0 outside each step's support.
    """
    return _locate(plan, side, t_s).force_n


def _cop_from(located: _Located) -> FloatArray:
    knots_u = np.asarray(COP_KNOTS_U)
    seg = np.clip(np.searchsorted(knots_u, located.u, side="right") - 1, 0, knots_u.size - 2)
    frac = np.clip((located.u - knots_u[seg]) / (knots_u[seg + 1] - knots_u[seg]), 0.0, 1.0)
    out = np.empty((located.u.shape[0], 2))
    if located.plan.n_steps == 0:
        out.fill(np.nan)
        return out
    for col, knots in enumerate((located.plan.cop_x_knots, located.plan.cop_y_knots)):
        a = knots[located.index, seg]
        b = knots[located.index, seg + 1]
        out[:, col] = a + frac * (b - a)
    out[located.force_n <= 0.0] = np.nan
    return out


def centre_of_pressure(plan: StepPlan, side: Side, t_s: FloatArray) -> FloatArray:
    """True centre of pressure ``(n, 2)``: (x, y) in foot fractions; NaN while unloaded.

    The path runs through the step's knots (``StepPlan.cop_x_knots``/``cop_y_knots``) with
    linear interpolation in normalised support time.
    """
    return _cop_from(_locate(plan, side, t_s))


def _into_hull(layout: InsoleLayout, cop: FloatArray, *, margin: float = 0.005) -> FloatArray:
    """``cop`` ``(m, 2)`` with points outside the cells' convex hull (less ``margin``)
    moved radially toward the area-weighted centre of the cells until they are inside."""
    points = np.column_stack([layout.x, layout.y])
    hull = ConvexHull(points)
    normal, offset = hull.equations[:, :2], hull.equations[:, 2]
    centre = (points * layout.area_cm2[:, None]).sum(axis=0) / layout.area_cm2.sum()
    away = (cop - centre) @ normal.T  # (m, n_facets): outward travel per unit of scale
    room = -margin - offset - normal @ centre  # (n_facets,) > 0: centre is inside
    with np.errstate(divide="ignore", invalid="ignore"):
        limits = np.where(away > 0.0, room / away, np.inf)
    scale = np.clip(limits.min(axis=1), 0.0, 1.0)
    out: FloatArray = centre + scale[:, None] * (cop - centre)
    return out


def _load_shares(layout: InsoleLayout, cop: FloatArray) -> FloatArray:
    """Share of the load on each cell ``(m, n_cells)`` (rows sum to 1) for centres of
    pressure ``cop`` ``(m, 2)``.

    The load spreads around a kernel centre with a Gaussian fall-off (``KERNEL_SIGMA_X``,
    ``KERNEL_SIGMA_Y``) weighted by cell area. The kernel centre is then moved until the
    share-weighted mean position of the cells equals the centre of pressure, so a CoP
    computed from the cells reads the true CoP wherever the cells surround it; outside their
    hull the target is first pulled toward the layout's centre until it lies just inside the
    hull, and the cells read that point. Moving a Gaussian kernel is an exponential
    tilt, so the centre solves a convex problem (minimise ``log Σ wᵢ − η·c``); damped Newton
    steps with a few trial lengths find it; rows stop iterating once they are settled.
    """
    cx = layout.x / KERNEL_SIGMA_X
    cy = layout.y / KERNEL_SIGMA_Y
    base = np.log(layout.area_cm2) - 0.5 * (cx * cx + cy * cy)
    target = _into_hull(layout, cop)
    tx = target[:, 0] / KERNEL_SIGMA_X
    ty = target[:, 1] / KERNEL_SIGMA_Y
    trial = np.array([1.0, 0.5, 0.25, 0.1, 0.03, 0.01, 0.0])

    def logits(ex: FloatArray, ey: FloatArray) -> FloatArray:
        # log of the unnormalised shares with the kernel centred at (ex, ey), scaled units
        out: FloatArray = base + ex[..., None] * cx + ey[..., None] * cy
        return out

    def objective(ex: FloatArray, ey: FloatArray, tx: FloatArray, ty: FloatArray) -> FloatArray:
        # ex, ey: (m, n_trials) candidate centres; tx, ty: (m,) targets
        z = logits(ex, ey)
        top = z.max(axis=-1)
        lse = top + np.log(np.exp(z - top[..., None]).sum(axis=-1))
        out: FloatArray = lse - ex * tx[:, None] - ey * ty[:, None]
        return out

    def shares(ex: FloatArray, ey: FloatArray) -> FloatArray:
        z = logits(ex, ey)
        w = np.exp(z - z.max(axis=-1, keepdims=True))
        out: FloatArray = w / w.sum(axis=-1, keepdims=True)
        return out

    ex, ey = tx.copy(), ty.copy()
    active = np.arange(ex.shape[0])
    for _ in range(_TILT_ITERATIONS):
        ax, ay, atx, aty = ex[active], ey[active], tx[active], ty[active]
        w = shares(ax, ay)
        mx = (w * cx).sum(axis=1)
        my = (w * cy).sum(axis=1)
        rx, ry = atx - mx, aty - my
        unsettled = np.hypot(rx, ry) > 1e-7
        if not np.any(unsettled):
            break
        active, ax, ay, atx, aty = (a[unsettled] for a in (active, ax, ay, atx, aty))
        w, mx, my, rx, ry = w[unsettled], mx[unsettled], my[unsettled], rx[unsettled], ry[unsettled]
        dx = cx - mx[:, None]
        dy = cy - my[:, None]
        sxx = (w * dx * dx).sum(axis=1) + 1e-9
        syy = (w * dy * dy).sum(axis=1) + 1e-9
        sxy = (w * dx * dy).sum(axis=1)
        det = sxx * syy - sxy * sxy
        step_x = (syy * rx - sxy * ry) / det
        step_y = (sxx * ry - sxy * rx) / det
        scale = np.minimum(1.0, 50.0 / np.maximum(np.hypot(step_x, step_y), 1e-12))
        # Try the Newton step; rows where it does not lower the objective choose among
        # shorter Newton steps and plain gradient steps (the latter rescue rows whose shares
        # collapsed onto one cell, where the Hessian is nearly singular).
        nx, ny = ax + scale * step_x, ay + scale * step_y
        pair = objective(np.column_stack([ax, nx]), np.column_stack([ay, ny]), atx, aty)
        hard = pair[:, 1] >= pair[:, 0]
        if np.any(hard):
            h = np.flatnonzero(hard)
            cand_x = ax[h, None] + np.hstack(
                [trial * (scale * step_x)[h, None], trial * rx[h, None]]
            )
            cand_y = ay[h, None] + np.hstack(
                [trial * (scale * step_y)[h, None], trial * ry[h, None]]
            )
            best = np.argmin(objective(cand_x, cand_y, atx[h], aty[h]), axis=1)
            rows = np.arange(h.shape[0])
            nx[h], ny[h] = cand_x[rows, best], cand_y[rows, best]
        ex[active] = np.clip(nx, atx - 500.0, atx + 500.0)
        ey[active] = np.clip(ny, aty - 500.0, aty + 500.0)
    return shares(ex, ey)


def _shares_at(layout: InsoleLayout, cop: FloatArray) -> FloatArray:
    """Bilinear interpolation of ``layout.share_table`` at ``cop`` ``(m, 2)`` → ``(m, n_cells)``."""
    table = layout.share_table
    fx = np.clip(cop[:, 0], 0.0, 1.0) / _TABLE_STEP_X
    fy = np.clip(cop[:, 1], 0.0, 1.0) / _TABLE_STEP_Y
    i = np.clip(np.floor(fx).astype(np.intp), 0, table.shape[0] - 2)
    j = np.clip(np.floor(fy).astype(np.intp), 0, table.shape[1] - 2)
    ax = (fx - i)[:, None]
    ay = (fy - j)[:, None]
    out: FloatArray = (1.0 - ax) * ((1.0 - ay) * table[i, j] + ay * table[i, j + 1]) + ax * (
        (1.0 - ay) * table[i + 1, j] + ay * table[i + 1, j + 1]
    )
    return out


def cell_forces_n(plan: StepPlan, side: Side, t_s: FloatArray, layout: InsoleLayout) -> FloatArray:
    """Noise-free force on each insole cell (N), shape ``(n, n_cells)``.

    Each row sums to ``vertical_force_n`` (up to rounding): the total force is shared among
    the cells around the true centre of pressure, which travels heel → toes for a rearfoot
    strike, starts at the midfoot for a midfoot strike, and starts at the metatarsal heads
    (dropping back toward the heel for a moment) for a forefoot strike.
    """
    located = _locate(plan, side, t_s)
    out = np.zeros((located.force_n.shape[0], layout.n_cells))
    loaded = located.force_n > 0.0
    if np.any(loaded):
        cop = _cop_from(located)[loaded]
        out[loaded] = located.force_n[loaded, None] * _shares_at(layout, cop)
    return out


# ------------------------------------------------------------------ sensor imperfections
@dataclass
class _InsoleState:
    t_first_s: float
    drift_n_per_s: FloatArray  # (n_cells,)
    loaded: npt.NDArray[np.bool_]  # (n_cells,) loaded at the last sample
    episode_start_s: FloatArray  # (n_cells,) start of the current loading episode
    episode_peak_n: FloatArray  # (n_cells,) largest force of the current episode


_EPISODE_STRIDE_N = 2.0**15  # larger than any cell force; separates loading episodes


@dataclass(kw_only=True)
class InsoleSensorModel:
    """What an FSR insole makes of the true cell forces; stateful, so it runs chunk by chunk.

    Per cell and sample, in this order:

    1. creep: while a cell stays loaded above ``floor_n``, its reading grows by
       ``creep_per_s`` of the force per second, saturating with time constant
       ``creep_tau_s`` (so at most ``creep_per_s · creep_tau_s``); it resets when unloaded;
    2. hysteresis: once the force falls below the peak ``P`` of the current loading
       episode, the reading lies above the loading curve by ``4·h·F·(P−F)/P`` (``h`` =
       ``hysteresis_frac``), i.e. by up to ``h·P`` at half the peak and by nothing at 0 and
       at the peak;
    3. baseline drift: each cell's zero drifts linearly at a rate drawn once, uniformly
       within ±``baseline_drift_n_per_min``;
    4. floor: a cell whose reading is below ``floor_n`` reads exactly 0 (the FSR does not
       conduct), so unloaded cells are silent until their drift exceeds the floor;
    5. noise: Gaussian, SD ``noise_n``, on cells above the floor;
    6. saturation: readings are clipped to ``[0, saturation_n]``.

    Attributes:
        rng: source of the drift rates (drawn at the first call) and of the noise.
        noise_n: noise SD (N).
        floor_n: activation floor (N).
        saturation_n: largest reading of a cell (N).
        creep_per_s: creep rate (fraction of the force per second).
        creep_tau_s: creep saturation time constant (s).
        hysteresis_frac: largest unloading excess as a fraction of the episode peak.
        baseline_drift_n_per_min: bound of the per-cell zero drift rate (N/min).
        cell_gain: ``(n_cells,)`` sensitivity of each cell (1 = exact); None is exact.
        response_exponent: nonlinearity of the static response: a cell under force ``F``
            responds ``gain · ref · (F/ref)^exponent`` with ``ref = response_ref_n``
            before creep and hysteresis (1 = linear, today's model).
        response_ref_n: force (N) at which the nonlinear response equals ``gain · F``.
        zero_offset_n: ``(n_cells,)`` constant zero offset added with the drift (N), e.g. a
            preload from the shoe; None is no offset.

    ``static_response_n`` gives the noise-free static response, the truth that a known-load
    calibration recovers.
    """

    rng: np.random.Generator
    noise_n: float = 2.0
    floor_n: float = 3.0
    saturation_n: float = 1500.0
    creep_per_s: float = 0.02
    creep_tau_s: float = 5.0
    hysteresis_frac: float = 0.05
    baseline_drift_n_per_min: float = 0.3
    cell_gain: FloatArray | None = None
    response_exponent: float = 1.0
    response_ref_n: float = 400.0
    zero_offset_n: FloatArray | None = None
    _state: _InsoleState | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        checks: dict[str, tuple[float, float]] = {
            "noise_n": (0.0, 1e3),
            "floor_n": (0.0, 1e3),
            "creep_per_s": (0.0, 1.0),
            "creep_tau_s": (1e-3, 1e4),
            "hysteresis_frac": (0.0, 0.5),
            "baseline_drift_n_per_min": (0.0, 1e3),
        }
        for name, (low, high) in checks.items():
            value = getattr(self, name)
            if not (np.isfinite(value) and low <= value <= high):
                raise ConfigurationError(
                    f"The insole sensor model's {name} must be between {low:g} and {high:g}, "
                    f"got {value!r}."
                )
        if not (np.isfinite(self.saturation_n) and self.saturation_n > self.floor_n):
            raise ConfigurationError(
                f"The insole sensor model's saturation_n must exceed floor_n "
                f"({self.floor_n:g} N), got {self.saturation_n!r}."
            )
        if not (np.isfinite(self.response_exponent) and 0.3 <= self.response_exponent <= 3.0):
            raise ConfigurationError(
                f"The insole sensor model's response_exponent must be between 0.3 and 3, "
                f"got {self.response_exponent!r}."
            )
        if not (np.isfinite(self.response_ref_n) and self.response_ref_n > 0.0):
            raise ConfigurationError(
                f"The insole sensor model's response_ref_n must be positive, "
                f"got {self.response_ref_n!r}."
            )
        for name in ("cell_gain", "zero_offset_n"):
            value = getattr(self, name)
            if value is None:
                continue
            array = np.asarray(value, dtype=np.float64)
            if array.ndim != 1 or not np.all(np.isfinite(array)):
                raise ConfigurationError(
                    f"The insole sensor model's {name} must be one finite number per cell."
                )
            if name == "cell_gain" and np.any(array <= 0.0):
                raise ConfigurationError("The insole sensor model's cell_gain must be positive.")
            setattr(self, name, array)

    def static_response_n(self, cell_forces_n: FloatArray) -> FloatArray:
        """Noise-free static response (N) of the cells to forces ``(n, n_cells)`` (N): the
        gain and nonlinearity only, without creep, hysteresis, drift, offset or floor."""
        force = np.asarray(cell_forces_n, dtype=np.float64)
        out = force
        if self.response_exponent != 1.0:
            ref = self.response_ref_n
            out = ref * np.power(np.maximum(force, 0.0) / ref, self.response_exponent)
        if self.cell_gain is not None:
            out = out * self.cell_gain
        result: FloatArray = out
        return result

    def reset(self) -> None:
        """Forget the loading history and the drift (as after a power cycle)."""
        self._state = None

    def apply(self, t_s: FloatArray, cell_forces_n: FloatArray) -> FloatArray:
        """Measured cell forces (N), same shape ``(n, n_cells)`` as ``cell_forces_n``.

        ``t_s`` (n,) are the sample times (s), increasing from call to call. Successive
        chunks continue the state of the previous call, so chunked calls reproduce one call
        over the whole grid (up to rounding in the last bits).
        """
        t = np.asarray(t_s, dtype=np.float64)
        force = np.asarray(cell_forces_n, dtype=np.float64)
        if force.ndim != 2 or force.shape[0] != t.shape[0]:
            raise ValueError(
                f"apply wants t_s (n,) and cell_forces_n (n, n_cells), got {t.shape} and "
                f"{force.shape}"
            )
        n, n_cells = force.shape
        if n == 0:
            return force.copy()
        for name in ("cell_gain", "zero_offset_n"):
            value = getattr(self, name)
            if value is not None and value.shape != (n_cells,):
                raise ValueError(f"{name} has {value.shape[0]} values for {n_cells} cells")
        force = self.static_response_n(force)
        state = self._state
        if state is None or state.drift_n_per_s.shape[0] != n_cells:
            unit = np.asarray(self.rng.uniform(-1.0, 1.0, n_cells), dtype=np.float64)
            rates = self.baseline_drift_n_per_min / 60.0 * unit
            state = _InsoleState(
                t_first_s=float(t[0]),
                drift_n_per_s=rates,
                loaded=np.zeros(n_cells, dtype=bool),
                episode_start_s=np.full(n_cells, -np.inf),
                episode_peak_n=np.zeros(n_cells),
            )

        loaded = force > self.floor_n
        was_loaded = np.vstack([state.loaded[None, :], loaded[:-1]])
        onset = loaded & ~was_loaded
        starts = np.where(onset, t[:, None], -np.inf)
        starts = np.maximum.accumulate(np.vstack([state.episode_start_s[None, :], starts]), axis=0)[
            1:
        ]
        time_loaded_s = np.where(loaded, t[:, None] - starts, 0.0)

        # Running peak within each loading episode: episodes are numbered and offset by a
        # stride larger than any force, so one cumulative maximum restarts at each onset.
        episode = np.cumsum(onset, axis=0).astype(np.float64)
        capped = np.where(loaded, np.minimum(force, _EPISODE_STRIDE_N - 1.0), 0.0)
        stacked = np.vstack([state.episode_peak_n[None, :], capped + episode * _EPISODE_STRIDE_N])
        peak = np.maximum.accumulate(stacked, axis=0)[1:] - episode * _EPISODE_STRIDE_N
        peak = np.maximum(peak, capped)

        creep = 1.0 + self.creep_per_s * self.creep_tau_s * (
            1.0 - np.exp(-time_loaded_s / self.creep_tau_s)
        )
        safe_peak = np.where(peak > 0.0, peak, 1.0)
        hysteresis = 4.0 * self.hysteresis_frac * capped * (peak - capped) / safe_peak
        reading = np.where(loaded, force * creep + hysteresis, force)
        reading = reading + state.drift_n_per_s * (t[:, None] - state.t_first_s)
        if self.zero_offset_n is not None:
            reading = reading + self.zero_offset_n
        active = reading > self.floor_n
        noise = self.rng.standard_normal((n, n_cells)) * self.noise_n
        measured = np.where(active, np.clip(reading + noise, 0.0, self.saturation_n), 0.0)

        state.loaded = loaded[-1].copy()
        state.episode_start_s = starts[-1].copy()
        state.episode_peak_n = np.where(loaded[-1], peak[-1], 0.0)
        self._state = state
        out: FloatArray = measured
        return out
