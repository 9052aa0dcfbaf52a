"""Runner configuration and the step plan of the simulated runner.

A ``StepPlan`` fixes every random choice of a run before any signal exists: when each foot
lands and leaves, how hard it loads, how it strikes, how the centre of pressure travels, and
where the IMU features sit relative to the true events. Every signal of the simulator is then
a pure function of (plan, time), so a time grid evaluated in one call or in many chunks gives
the same values.

Timing is built backwards from the ground truth. The plan first draws the true initial
contact (IC) and toe-off (TO) of each step, that is the instants at which the noise-free
vertical force crosses ``TRUTH_THRESHOLD_N``; it then stretches the force pulse of each step
so that its threshold crossings fall exactly on those instants. The force support
(``on_s`` .. ``off_s``) therefore starts a few milliseconds before the true IC and ends a few
milliseconds after the true TO. ``MODEL.md`` next to this file documents the model.
"""

from __future__ import annotations

import bisect
import enum
import math
import numbers
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side

FloatArray = npt.NDArray[np.float64]
Int8Array = npt.NDArray[np.int8]

TRUTH_THRESHOLD_N: float = 20.0
"""Force (N) whose crossing defines the true IC and TO; the plan is built around it."""

STANDARD_GRAVITY_M_S2: float = 9.80665

LEAD_IN_S: float = 0.25
"""Time (s) from the start of a plan to its first true initial contact."""

COP_KNOTS_U: tuple[float, ...] = (0.0, 0.08, 0.2, 0.35, 0.55, 0.75, 0.9, 1.0)
"""Normalised stance times (0 at ``on_s``, 1 at ``off_s``) of the centre-of-pressure knots."""

# Shape constants of the vertical force (see MODEL.md). Exponents (a, b) of the normalised
# beta-like pulse v**a * (1 - v)**b, whose maximum sits at v = a / (a + b).
_ACTIVE_REARFOOT = (2.2, 2.1)  # active peak at 51.2 % of the support
_ACTIVE_OTHER = (1.4, 1.6)  # active peak at 46.7 % of the support
_IMPACT_SUPPORT_U = 0.26  # the impact transient lives in the first 26 % of the support
_IMPACT_EXP = (3.0, 4.0)  # its maximum sits at 3/7 * 0.26 = 11.1 % of the support
_WALK_SUPPORT_U = 0.65  # each walking hump spans 65 % of the support
_WALK_EXP = (1.1, 1.76)  # humps peak at 25 % and 75 % of the support

_IMPACT_PEAK_U = _IMPACT_SUPPORT_U * _IMPACT_EXP[0] / sum(_IMPACT_EXP)
_REAR_PEAK_U = _ACTIVE_REARFOOT[0] / sum(_ACTIVE_REARFOOT)
# Active (rearfoot) pulse at the impact peak time, as a fraction of the active peak.
_ACTIVE_AT_IMPACT = math.exp(
    _ACTIVE_REARFOOT[0] * math.log(_IMPACT_PEAK_U / _REAR_PEAK_U)
    + _ACTIVE_REARFOOT[1] * math.log((1.0 - _IMPACT_PEAK_U) / (1.0 - _REAR_PEAK_U))
)

_CADENCE_RANGE_SPM = (60.0, 250.0)
_MAX_DUTY_FACTOR = 0.75
_MAX_SI_PCT = 30.0


class FootStrike(enum.Enum):
    """Foot-strike class by strike index (Cavanagh & Lafortune 1980)."""

    REARFOOT = "rearfoot"
    MIDFOOT = "midfoot"
    FOREFOOT = "forefoot"


STRIKE_INDEX_BANDS: dict[FootStrike, tuple[float, float]] = {
    FootStrike.REARFOOT: (0.0, 1.0 / 3.0),
    FootStrike.MIDFOOT: (1.0 / 3.0, 2.0 / 3.0),
    FootStrike.FOREFOOT: (2.0 / 3.0, 1.0),
}
"""Strike-index band of each class, as fractions of foot length from the heel."""

# Where the simulated runner's own strike index is drawn: well inside each band, so that a
# class read from the centre of pressure is not a coin toss at a band edge.
_STRIKE_INDEX_DRAW: dict[FootStrike, tuple[float, float]] = {
    FootStrike.REARFOOT: (0.10, 0.25),
    FootStrike.MIDFOOT: (0.40, 0.60),
    FootStrike.FOREFOOT: (0.72, 0.86),
}


class ForceShape(enum.IntEnum):
    """Shape family of one step's vertical force."""

    RUNNING_IMPACT = 0  # running, rearfoot: impact transient then active peak
    RUNNING = 1  # running, mid- or forefoot: one smooth active peak
    WALKING = 2  # walking: two humps (loading response, push-off)


def _check_range(name: str, value: float, low: float, high: float, unit: str) -> None:
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (is_number and math.isfinite(value) and low <= value <= high):
        raise ConfigurationError(
            f"The runner's {name} must be between {low:g} and {high:g} {unit}, got {value!r}."
        )


@dataclass(frozen=True)
class RunnerConfig:
    """Settings of the simulated runner.

    Attributes:
        cadence_spm: steps per minute, both legs together (running 140–200, walking 90–130).
        gct_ms: mean ground contact time over both sides (ms).
        gct_si_pct: GCT symmetry index ``100·(L−R)/(0.5·(L+R))`` (%).
        step_time_si_pct: step-time symmetry index (%); the step time of a side is its IC
            minus the previous contralateral IC.
        foot_strike: strike class of the left foot (and of the right one unless set).
        foot_strike_right: strike class of the right foot; None means the same as the left.
        body_mass_kg: body mass (kg).
        speed_m_s: running or walking speed (m/s); shapes the IMU signals and offsets.
        step_time_cv_pct: step-to-step coefficient of variation of step time (%).
        gct_cv_pct: step-to-step coefficient of variation of GCT (%).
        peak_force_bw: active peak of the vertical force in body weights (walking ~1.1).
        cadence_schedule: ``(t_s, cadence_spm)`` pairs, ``t_s`` counted from the start of the
            plan; the target cadence is piecewise constant and changes at each ``t_s``. Empty:
            constant ``cadence_spm``.
    """

    cadence_spm: float = 170.0
    gct_ms: float = 250.0
    gct_si_pct: float = 0.0
    step_time_si_pct: float = 0.0
    foot_strike: FootStrike = FootStrike.REARFOOT
    foot_strike_right: FootStrike | None = None
    body_mass_kg: float = 70.0
    speed_m_s: float = 3.0
    step_time_cv_pct: float = 1.5
    gct_cv_pct: float = 2.5
    peak_force_bw: float = 2.5
    cadence_schedule: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        _check_range("cadence_spm", self.cadence_spm, *_CADENCE_RANGE_SPM, "steps/min")
        _check_range("gct_ms", self.gct_ms, 100.0, 1500.0, "ms")
        _check_range("gct_si_pct", self.gct_si_pct, -_MAX_SI_PCT, _MAX_SI_PCT, "%")
        _check_range("step_time_si_pct", self.step_time_si_pct, -_MAX_SI_PCT, _MAX_SI_PCT, "%")
        _check_range("body_mass_kg", self.body_mass_kg, 20.0, 250.0, "kg")
        _check_range("speed_m_s", self.speed_m_s, 0.3, 10.0, "m/s")
        _check_range("step_time_cv_pct", self.step_time_cv_pct, 0.0, 10.0, "%")
        _check_range("gct_cv_pct", self.gct_cv_pct, 0.0, 10.0, "%")
        _check_range("peak_force_bw", self.peak_force_bw, 0.8, 5.0, "body weights")
        for name, strike in (
            ("foot_strike", self.foot_strike),
            ("foot_strike_right", self.foot_strike_right),
        ):
            if not (isinstance(strike, FootStrike) or (strike is None and name != "foot_strike")):
                raise ConfigurationError(
                    f"The runner's {name} must be a FootStrike (rearfoot, midfoot or "
                    f"forefoot), got {strike!r}."
                )
        previous_t = -math.inf
        for entry in self.cadence_schedule:
            if len(entry) != 2:
                raise ConfigurationError(
                    f"Each cadence_schedule entry must be a (t_s, cadence_spm) pair, got {entry!r}."
                )
            t_s, cadence = entry
            _check_range("scheduled time", t_s, 0.0, 1e7, "s")
            _check_range("scheduled cadence", cadence, *_CADENCE_RANGE_SPM, "steps/min")
            if t_s <= previous_t:
                raise ConfigurationError(
                    f"The cadence_schedule times must increase, but {t_s!r} s follows "
                    f"{previous_t!r} s."
                )
            previous_t = t_s
        longest_gct_ms = self.gct_ms * (1.0 + abs(self.gct_si_pct) / 200.0)
        for cadence in (self.cadence_spm, *(c for _, c in self.cadence_schedule)):
            stride_ms = 2.0 * 60_000.0 / cadence
            if longest_gct_ms > _MAX_DUTY_FACTOR * stride_ms:
                raise ConfigurationError(
                    f"A ground contact of {longest_gct_ms:.0f} ms does not fit a stride of "
                    f"{stride_ms:.0f} ms at {cadence:g} steps/min (duty factor above "
                    f"{_MAX_DUTY_FACTOR:.0%}); lower gct_ms or the cadence."
                )

    @property
    def walking(self) -> bool:
        """True when the duty factor exceeds 50 % (double support), i.e. GCT > step time."""
        return self.gct_ms > 60_000.0 / self.cadence_spm

    @property
    def strike_right(self) -> FootStrike:
        """Strike class of the right foot."""
        return self.foot_strike if self.foot_strike_right is None else self.foot_strike_right

    @property
    def body_weight_n(self) -> float:
        """Body weight (N)."""
        return self.body_mass_kg * STANDARD_GRAVITY_M_S2

    def cadence_at(self, t_from_start_s: float) -> float:
        """Target cadence (steps/min) at ``t_from_start_s`` seconds after the plan starts."""
        times = [t for t, _ in self.cadence_schedule]
        i = bisect.bisect_right(times, t_from_start_s)
        return self.cadence_spm if i == 0 else float(self.cadence_schedule[i - 1][1])


@dataclass(frozen=True)
class StepPlan:
    """Every step of a simulated run and its random parameters.

    All arrays have one entry per step (first axis), sorted by contact start, both sides
    interleaved. Times are host seconds.

    Attributes:
        side: int8, ``Side.LEFT`` / ``Side.RIGHT`` values.
        on_s: start of the force support (s); the vertical force is exactly 0 before.
        off_s: end of the force support (s); the vertical force is exactly 0 after.
        ic_s: the true initial contact the plan was built for (s): the noise-free force
            crosses ``TRUTH_THRESHOLD_N`` upwards here. ``truth.true_events`` recovers it from
            the force itself.
        to_s: the true toe-off the plan was built for (s), the downward crossing.
        strike: int8 index into ``list(FootStrike)``.
        strike_index: centre of pressure at contact, fraction of foot length from the heel.
        force_shape: int8 ``ForceShape`` of the step.
        peak_force_n: active peak of the vertical force (N); for walking the height of both
            humps.
        impact_peak_n: force at the impact transient's peak (N), 11 % into the support (the
            local maximum of the force is 1–2 % higher); 0 for mid- and forefoot strikes and
            for walking.
        cop_x_knots: ``(n_steps, len(COP_KNOTS_U))`` centre-of-pressure path along the foot
            (fraction of foot length from the heel) at the knots ``COP_KNOTS_U``.
        cop_y_knots: same shape, across the foot (fraction of width from the medial edge).
        imu_ic_offset_s: foot-IMU IC features (pitch-rate extremum, impact spike) sit at
            ``ic_s + imu_ic_offset_s`` (s).
        imu_to_offset_s: the foot-IMU push-off peak sits at ``to_s + imu_to_offset_s`` (s).
        shank_ic_offset_s: shank-IMU impact spike and start of stance rotation relative to
            ``ic_s`` (s).
        shank_to_offset_s: shank-IMU stance pitch-rate peak relative to ``to_s`` (s).
        peak_accel_g: foot-IMU impact peak of the z (vertical) acceleration, gravity
            included (g).
        peak_tibial_accel_g: shank-IMU impact peak of the axial (z) acceleration, gravity
            included (g): the peak tibial acceleration.
        strike_angle_deg: foot pitch relative to the ground just before contact (deg),
            positive toe up (dorsiflexed: rearfoot), negative toe down (mid-, forefoot).
        swing_pitch_deg: largest toe-down pitch of the foot early in the following swing
            (deg).
        shank_strike_angle_deg: shank pitch at contact (deg), positive with the knee ahead
            of the ankle; negative when the ankle lands ahead of the knee.
        shank_swing_angle_deg: largest shank pitch early in the following swing (deg).
        speed_m_s: running speed during the step (m/s).
        body_weight_n: the runner's body weight (N), one value for the plan.
    """

    side: Int8Array
    on_s: FloatArray
    off_s: FloatArray
    ic_s: FloatArray
    to_s: FloatArray
    strike: Int8Array
    strike_index: FloatArray
    force_shape: Int8Array
    peak_force_n: FloatArray
    impact_peak_n: FloatArray
    cop_x_knots: FloatArray
    cop_y_knots: FloatArray
    imu_ic_offset_s: FloatArray
    imu_to_offset_s: FloatArray
    shank_ic_offset_s: FloatArray
    shank_to_offset_s: FloatArray
    peak_accel_g: FloatArray
    peak_tibial_accel_g: FloatArray
    strike_angle_deg: FloatArray
    swing_pitch_deg: FloatArray
    shank_strike_angle_deg: FloatArray
    shank_swing_angle_deg: FloatArray
    speed_m_s: FloatArray
    body_weight_n: float

    def __post_init__(self) -> None:
        n = self.side.shape[0]
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray) and value.shape[0] != n:
                raise ValueError(f"StepPlan.{f.name} has {value.shape[0]} entries for {n} steps")

    @property
    def n_steps(self) -> int:
        """Number of steps, both sides together."""
        return int(self.side.shape[0])

    def __len__(self) -> int:
        return self.n_steps

    def select(self, index: npt.NDArray[Any] | slice) -> StepPlan:
        """The plan restricted to ``index`` (boolean mask, integer indices or a slice)."""
        values: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            values[f.name] = value[index] if isinstance(value, np.ndarray) else value
        return StepPlan(**values)

    def for_side(self, side: Side) -> StepPlan:
        """The steps of one side, still sorted by contact start."""
        return self.select(self.side == int(side))

    def steps_near(
        self,
        t_start_s: float,
        t_end_s: float,
        *,
        side: Side | None = None,
        pad_steps: int = 6,
    ) -> StepPlan:
        """The steps whose contact starts within [t_start_s, t_end_s] (s), plus ``pad_steps``
        steps either side (counted over both sides), optionally of one ``side`` only: the
        cheap subset that chunked signal evaluation needs."""
        lo = max(int(np.searchsorted(self.on_s, t_start_s, side="left")) - pad_steps, 0)
        hi = min(int(np.searchsorted(self.on_s, t_end_s, side="right")) + pad_steps, self.n_steps)
        if side is None:
            return self.select(slice(lo, hi))
        return self.select(lo + np.flatnonzero(self.side[lo:hi] == int(side)))


# --------------------------------------------------------------------------- force shape
def _beta_pulse(v: FloatArray, a: FloatArray | float, b: FloatArray | float) -> FloatArray:
    """``v**a * (1-v)**b`` scaled to a maximum of 1 at ``v = a/(a+b)``; 0 outside (0, 1)."""
    peak_v = np.asarray(a) / (np.asarray(a) + np.asarray(b))
    inside = (v > 0.0) & (v < 1.0)
    vc = np.clip(v, 1e-12, 1.0 - 1e-12)
    log_value = a * np.log(vc / peak_v) + b * np.log((1.0 - vc) / (1.0 - peak_v))
    return np.where(inside, np.exp(log_value), 0.0)


def force_profile_n(
    shape: npt.NDArray[np.integer[Any]],
    peak_force_n: FloatArray,
    impact_peak_n: FloatArray,
    u: FloatArray,
) -> FloatArray:
    """Noise-free vertical force (N) at normalised support time ``u`` (0 at on, 1 at off).

    All arguments broadcast elementwise. Outside 0 < u < 1 the force is exactly 0.

    - ``RUNNING_IMPACT``: a beta-like active pulse peaking at 51.2 % of the support plus an
      impact transient peaking at 11.1 %, scaled so that the total force there equals
      ``impact_peak_n`` (the local maximum of the sum lies 1–2 % higher, 1–2 % later).
    - ``RUNNING``: the active pulse alone, peaking at 46.7 %.
    - ``WALKING``: two equal humps at 25 % and 75 % with a valley of about 0.76 of the peak
      at mid-support.
    """
    is_impact = shape == ForceShape.RUNNING_IMPACT
    a = np.where(is_impact, _ACTIVE_REARFOOT[0], _ACTIVE_OTHER[0])
    b = np.where(is_impact, _ACTIVE_REARFOOT[1], _ACTIVE_OTHER[1])
    running: FloatArray = peak_force_n * _beta_pulse(u, a, b)
    if np.any(is_impact):  # branches absent from the input are skipped; values are unchanged
        active_at_impact = peak_force_n * _ACTIVE_AT_IMPACT
        impact_amp = np.where(is_impact, np.maximum(impact_peak_n - active_at_impact, 0.0), 0.0)
        running = running + impact_amp * _beta_pulse(u / _IMPACT_SUPPORT_U, *_IMPACT_EXP)
    is_walking = shape == ForceShape.WALKING
    if not np.any(is_walking):
        return running
    walking = peak_force_n * (
        _beta_pulse(u / _WALK_SUPPORT_U, *_WALK_EXP)
        + _beta_pulse((1.0 - u) / _WALK_SUPPORT_U, *_WALK_EXP)
    )
    out: FloatArray = np.where(is_walking, walking, running)
    return out


def _first_and_last_peak_u(shape: npt.NDArray[np.integer[Any]]) -> tuple[FloatArray, FloatArray]:
    """Normalised times of the first and last force maximum of each shape; the force rises
    monotonically before the first and falls monotonically after the last."""
    impact_u = _IMPACT_SUPPORT_U * _IMPACT_EXP[0] / sum(_IMPACT_EXP)
    walk_u = _WALK_SUPPORT_U * _WALK_EXP[0] / sum(_WALK_EXP)
    first = np.select(
        [shape == ForceShape.RUNNING_IMPACT, shape == ForceShape.RUNNING],
        [impact_u, _ACTIVE_OTHER[0] / sum(_ACTIVE_OTHER)],
        walk_u,
    )
    last = np.select(
        [shape == ForceShape.RUNNING_IMPACT, shape == ForceShape.RUNNING],
        [_ACTIVE_REARFOOT[0] / sum(_ACTIVE_REARFOOT), _ACTIVE_OTHER[0] / sum(_ACTIVE_OTHER)],
        1.0 - walk_u,
    )
    return first.astype(np.float64), last.astype(np.float64)


def _crossing_u(
    shape: npt.NDArray[np.integer[Any]],
    peak_force_n: FloatArray,
    impact_peak_n: FloatArray,
    *,
    low_u: FloatArray,
    high_u: FloatArray,
    rising: bool,
    threshold_n: float,
) -> FloatArray:
    """Normalised time where the force crosses ``threshold_n`` inside a monotonic bracket,
    by bisection to machine precision (vectorised over steps)."""
    lo, hi = low_u.copy(), high_u.copy()
    for _ in range(54):
        mid = 0.5 * (lo + hi)
        above = force_profile_n(shape, peak_force_n, impact_peak_n, mid) >= threshold_n
        if rising:
            hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
        else:
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return 0.5 * (lo + hi)


def step_force_n(plan: StepPlan, index: npt.NDArray[np.intp], t_s: FloatArray) -> FloatArray:
    """Vertical force (N) of step ``index[i]`` at time ``t_s[i]``; 0 outside its support."""
    on = plan.on_s[index]
    u = (t_s - on) / (plan.off_s[index] - on)
    return force_profile_n(
        plan.force_shape[index], plan.peak_force_n[index], plan.impact_peak_n[index], u
    )


# ------------------------------------------------------------------------------- plan
def _truncated_normal(rng: np.random.Generator, size: int) -> FloatArray:
    return np.clip(rng.standard_normal(size), -3.0, 3.0)


def _cop_knots(
    strike: Int8Array, strike_index: FloatArray, y_shift: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Centre-of-pressure knots (x along, y across the foot) for each step, ``(n, K)``.

    Rearfoot: heel contact, a short stay on the heel, a fast roll through the midfoot, a
    long stay under the metatarsal heads and the hallux at toe-off. Midfoot: flat landing on
    the lateral midfoot, a brief settle toward the heel, then forward. Forefoot: landing on
    the lateral metatarsal heads; the heel lowering moves the centre of pressure back for a
    moment, then it travels forward to the hallux.
    """
    si = strike_index[:, None]
    one = np.ones_like(si)
    rear_x = np.hstack(
        [si, si + 0.01, si + 0.07, 0.45 * one, 0.66 * one, 0.74 * one, 0.81 * one, 0.87 * one]
    )
    mid_x = np.hstack(
        [
            si,
            si - 0.02,
            si + 0.01,
            np.maximum(si + 0.05, 0.60),
            np.maximum(si + 0.09, 0.68),
            0.74 * one,
            0.81 * one,
            0.87 * one,
        ]
    )
    fore_x = np.hstack(
        [
            si,
            si - 0.05,
            si - 0.09,
            si - 0.06,
            np.maximum(si - 0.02, 0.70),
            np.maximum(si, 0.75),
            np.maximum(si + 0.01, 0.81),
            0.87 * one,
        ]
    )
    rear_y = np.array([0.50, 0.52, 0.58, 0.62, 0.52, 0.42, 0.35, 0.30])
    mid_y = np.array([0.62, 0.62, 0.62, 0.58, 0.50, 0.42, 0.35, 0.30])
    fore_y = np.array([0.62, 0.62, 0.60, 0.56, 0.50, 0.42, 0.35, 0.30])
    code = strike[:, None]
    rear, mid = (
        list(FootStrike).index(FootStrike.REARFOOT),
        list(FootStrike).index(FootStrike.MIDFOOT),
    )
    x = np.where(code == rear, rear_x, np.where(code == mid, mid_x, fore_x))
    y = np.where(code == rear, rear_y, np.where(code == mid, mid_y, fore_y))
    y = np.clip(y + y_shift[:, None], 0.05, 0.95)
    return x, y


def plan_steps(
    config: RunnerConfig,
    duration_s: float,
    rng: np.random.Generator,
    *,
    t0_s: float = 0.0,
) -> StepPlan:
    """Draw the steps of ``duration_s`` seconds of running, starting at host time ``t0_s``.

    The first true IC (left foot) is ``LEAD_IN_S`` after ``t0_s``; steps alternate sides and
    every step whose true IC falls before ``t0_s + duration_s`` is planned. Step time of
    step k (its IC minus the previous, contralateral IC) is ``60/cadence`` at the target
    cadence in force at the previous IC, scaled by ``1 ± step_time_si_pct/200`` for the left
    (+) and right (−) side and by ``1 + step_time_cv_pct/100 · z`` with z a standard normal
    truncated at ±3. GCT (true TO minus true IC) is ``gct_ms · (1 ± gct_si_pct/200)`` per
    side, times ``1 + gct_cv_pct/100 · z``. With both CVs at 0 the per-side means are exact.

    Args:
        config: the runner.
        duration_s: length of the run (s).
        rng: the only source of randomness; the same seed gives the same plan.
        t0_s: host time at which the run starts (s).
    """
    if not (math.isfinite(duration_s) and duration_s > 0.0):
        raise ConfigurationError(f"The run's duration_s must be positive, got {duration_s!r}.")
    end_s = t0_s + duration_s
    step_factor = {
        Side.LEFT: 1.0 + config.step_time_si_pct / 200.0,
        Side.RIGHT: 1.0 - config.step_time_si_pct / 200.0,
    }
    gct_side_s = {
        Side.LEFT: config.gct_ms * 1e-3 * (1.0 + config.gct_si_pct / 200.0),
        Side.RIGHT: config.gct_ms * 1e-3 * (1.0 - config.gct_si_pct / 200.0),
    }
    strike_side = {Side.LEFT: config.foot_strike, Side.RIGHT: config.strike_right}

    # True ICs, sequentially (the cadence schedule depends on time). Two extra steps past the
    # end give the last planned steps a following same-side contact.
    schedule_t = [t0_s + t for t, _ in config.cadence_schedule]
    step_s = [60.0 / config.cadence_spm] + [60.0 / c for _, c in config.cadence_schedule]
    factor = (step_factor[Side.LEFT], step_factor[Side.RIGHT])
    cv = config.step_time_cv_pct / 100.0
    ic_list = [t0_s + LEAD_IN_S]
    z_pool: list[float] = []
    n_past_end = 0
    while n_past_end < 2:
        if not z_pool:
            z_pool = _truncated_normal(rng, 1024).tolist()[::-1]
        previous = ic_list[-1]
        nominal_s = step_s[bisect.bisect_right(schedule_t, previous)]
        side_factor = factor[len(ic_list) % 2]  # step 0 is left, so odd steps are right
        ic_list.append(previous + nominal_s * side_factor * (1.0 + cv * z_pool.pop()))
        if ic_list[-1] >= end_s:
            n_past_end += 1
    ic_all = np.asarray(ic_list)
    n = int(np.count_nonzero(ic_all < end_s))
    side_arr = (np.arange(n) % 2).astype(np.int8)  # Side.LEFT = 0, Side.RIGHT = 1
    ic_s = ic_all[:n]

    is_left = side_arr == int(Side.LEFT)

    def per_side(left: float, right: float) -> FloatArray:
        out: FloatArray = np.where(is_left, left, right)
        return out

    gct_nominal = per_side(gct_side_s[Side.LEFT], gct_side_s[Side.RIGHT])
    gct_s = gct_nominal * (1.0 + config.gct_cv_pct / 100.0 * _truncated_normal(rng, n))
    same_side_stride_s = ic_all[2 : n + 2] - ic_s
    gct_s = np.minimum(gct_s, 0.9 * same_side_stride_s)
    to_s = ic_s + gct_s

    # Strike, forces and their shapes.
    left_strike, right_strike = strike_side[Side.LEFT], strike_side[Side.RIGHT]
    strike_codes = list(FootStrike)
    strike_arr = per_side(strike_codes.index(left_strike), strike_codes.index(right_strike)).astype(
        np.int8
    )
    runner_index = {
        s: rng.uniform(*_STRIKE_INDEX_DRAW[strike_side[s]]) for s in (Side.LEFT, Side.RIGHT)
    }
    index_jitter = 0.015 * _truncated_normal(rng, n)
    index_low = per_side(_STRIKE_INDEX_DRAW[left_strike][0], _STRIKE_INDEX_DRAW[right_strike][0])
    index_high = per_side(_STRIKE_INDEX_DRAW[left_strike][1], _STRIKE_INDEX_DRAW[right_strike][1])
    strike_index = np.clip(
        per_side(runner_index[Side.LEFT], runner_index[Side.RIGHT]) + index_jitter,
        index_low,
        index_high,
    )
    is_rear = strike_arr == strike_codes.index(FootStrike.REARFOOT)
    is_mid = strike_arr == strike_codes.index(FootStrike.MIDFOOT)
    if config.walking:
        shape = np.full(n, ForceShape.WALKING, dtype=np.int8)
    else:
        shape = np.where(is_rear, ForceShape.RUNNING_IMPACT, ForceShape.RUNNING).astype(np.int8)
    body_weight_n = config.body_weight_n
    peak_force_n = config.peak_force_bw * body_weight_n * (1.0 + 0.03 * _truncated_normal(rng, n))
    impact_ratio = np.clip(0.70 + 0.05 * _truncated_normal(rng, n), 0.55, 0.85)
    impact_peak_n = np.where(shape == ForceShape.RUNNING_IMPACT, impact_ratio * peak_force_n, 0.0)

    first_u, last_u = _first_and_last_peak_u(shape)
    u_up = _crossing_u(
        shape,
        peak_force_n,
        impact_peak_n,
        low_u=np.zeros(n),
        high_u=first_u,
        rising=True,
        threshold_n=TRUTH_THRESHOLD_N,
    )
    u_down = _crossing_u(
        shape,
        peak_force_n,
        impact_peak_n,
        low_u=last_u,
        high_u=np.ones(n),
        rising=False,
        threshold_n=TRUTH_THRESHOLD_N,
    )
    support_s = gct_s / (u_down - u_up)
    on_s = ic_s - u_up * support_s
    off_s = on_s + support_s

    # Centre of pressure.
    runner_y = {
        s: 0.02 * float(np.clip(rng.standard_normal(), -2.5, 2.5)) for s in (Side.LEFT, Side.RIGHT)
    }
    y_shift = per_side(runner_y[Side.LEFT], runner_y[Side.RIGHT]) + 0.01 * _truncated_normal(rng, n)
    cop_x, cop_y = _cop_knots(strike_arr, strike_index, y_shift)

    # IMU: feature offsets (speed-dependent), impact peaks and segment angles.
    v = config.speed_m_s
    imu_ic_offset_s = 1e-3 * ((3.0 - 0.5 * (v - 3.0)) + 2.0 * _truncated_normal(rng, n))
    imu_to_offset_s = 1e-3 * ((-5.0 + 1.5 * (v - 3.0)) + 4.0 * _truncated_normal(rng, n))
    shank_ic_offset_s = 1e-3 * (6.0 + 6.0 * _truncated_normal(rng, n))
    shank_to_offset_s = 1e-3 * ((-25.0 + 3.0 * (v - 3.0)) + 12.0 * _truncated_normal(rng, n))
    foot_peak = np.select(
        [is_rear, is_mid], [13.0 + 3.0 * (v - 3.0), 10.5 + 2.5 * (v - 3.0)], 9.5 + 2.0 * (v - 3.0)
    )
    tib_peak = np.select(
        [is_rear, is_mid], [7.0 + 1.5 * (v - 3.0), 5.5 + 1.2 * (v - 3.0)], 5.0 + 1.0 * (v - 3.0)
    )
    peak_accel_g = np.clip(foot_peak * np.exp(0.10 * _truncated_normal(rng, n)), 2.0, 40.0)
    peak_tibial_accel_g = np.clip(tib_peak * np.exp(0.10 * _truncated_normal(rng, n)), 1.5, 25.0)
    # Per strike class: runner's mean foot-strike angle, its bounds, shank angle at contact.
    runner_angle = {
        FootStrike.REARFOOT: (rng.uniform(10.0, 18.0), 5.0, 25.0, -8.0),
        FootStrike.MIDFOOT: (rng.uniform(-6.0, -3.0), -10.0, -2.0, -5.0),
        FootStrike.FOREFOOT: (rng.uniform(-14.0, -8.0), -20.0, -4.0, -3.0),
    }
    angle = [
        per_side(runner_angle[left_strike][i], runner_angle[right_strike][i]) for i in range(4)
    ]
    strike_angle_deg = np.clip(angle[0] + 1.5 * _truncated_normal(rng, n), angle[1], angle[2])
    swing_pitch_deg = np.clip(
        (60.0 + 10.0 * v) * (1.0 + 0.05 * _truncated_normal(rng, n)), 40.0, 130.0
    )
    shank_strike_angle_deg = angle[3] + 2.0 * _truncated_normal(rng, n)
    shank_swing_angle_deg = np.clip(
        (45.0 + 10.0 * v) * (1.0 + 0.05 * _truncated_normal(rng, n)), 30.0, 120.0
    )

    return StepPlan(
        side=side_arr,
        on_s=on_s,
        off_s=off_s,
        ic_s=ic_s,
        to_s=to_s,
        strike=strike_arr,
        strike_index=strike_index,
        force_shape=shape,
        peak_force_n=peak_force_n,
        impact_peak_n=impact_peak_n,
        cop_x_knots=cop_x,
        cop_y_knots=cop_y,
        imu_ic_offset_s=imu_ic_offset_s,
        imu_to_offset_s=imu_to_offset_s,
        shank_ic_offset_s=shank_ic_offset_s,
        shank_to_offset_s=shank_to_offset_s,
        peak_accel_g=peak_accel_g,
        peak_tibial_accel_g=peak_tibial_accel_g,
        strike_angle_deg=strike_angle_deg,
        swing_pitch_deg=swing_pitch_deg,
        shank_strike_angle_deg=shank_strike_angle_deg,
        shank_swing_angle_deg=shank_swing_angle_deg,
        speed_m_s=np.full(n, float(v)),
        body_weight_n=float(body_weight_n),
    )
