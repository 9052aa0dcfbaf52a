"""IMU of the simulated runner: noise-free foot and shank signals and sensor imperfections.

Frame (``firmware_bridge.samples``): x anterior, y left, z up for the runner standing; the
gyroscope is positive by the right-hand rule about those axes (deg/s), the accelerometer
reads +1 g on z at rest. Positive pitch rate (``gy``) therefore turns the toes down.

Every segment rotation is built from smooth pulses of pitch rate whose areas are the angles
the segment turns through, so the pitch angle (needed to project gravity) has a closed form
and returns to the same value every stride: a foot is flat (pitch 0) in mid-stance. A
pulse is a raised-cosine rise of ``rise`` seconds to its peak followed by a raised-cosine
fall of ``fall`` seconds; its area is ``peak · (rise + fall) / 2``. ``MODEL.md`` documents the
features and their literature.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Mount, Side
from firmware_bridge.simulator.gait import STANDARD_GRAVITY_M_S2, FootStrike, StepPlan

FloatArray = npt.NDArray[np.float64]
IntpArray = npt.NDArray[np.intp]

IC_RISE_S: float = 0.015
"""Rise time (s) of the foot's IC pitch-rate feature up to its extremum."""
FOOT_SPIKE_HALF_WIDTH_S: float = 0.005
"""Half width (s) of the foot's impact acceleration spike."""
SHANK_SPIKE_HALF_WIDTH_S: float = 0.010
"""Half width (s) of the shank's impact acceleration spike (soft tissue smooths it)."""
SHANK_RADIUS_M: float = 0.20
"""Distance (m) from the knee to a shank-mounted IMU; sets the rotational accelerations."""
FOOT_ROLL_DEG: float = 6.0
"""Eversion of the foot in early stance, undone at push-off (deg)."""

_DEG = np.pi / 180.0
_BLOCK_SAMPLES = 65_536
_REARFOOT_CODE = list(FootStrike).index(FootStrike.REARFOOT)


def _pulses(
    t: FloatArray,
    peak_s: FloatArray,
    rise_s: FloatArray,
    fall_s: FloatArray,
    *,
    n_with_integral: int = 0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Unit pulses at times ``t`` (n,) for per-sample pulse parameters ``(n, P)`` (s).

    Each value rises as a raised cosine from 0 at ``peak_s − rise_s`` to 1 at ``peak_s`` and
    falls back to 0 at ``peak_s + fall_s``. Returns the values ``(n, P)`` and, for the first
    ``n_with_integral`` pulses, the running integral (s, reaching ``(rise_s + fall_s)/2``)
    and the time derivative (1/s), each ``(n, n_with_integral)``.
    """
    dt = t[:, None] - peak_s
    width = np.maximum(np.where(dt < 0.0, rise_s, fall_s), 1e-4)
    s = np.minimum(np.maximum(dt / width, -1.0), 1.0)
    value = 0.5 + 0.5 * np.cos(np.pi * s)
    j = n_with_integral
    sin_full = np.sin(np.pi * s[:, :j])
    integral = 0.5 * np.maximum(rise_s[:, :j], 1e-4) + width[:, :j] * (
        0.5 * s[:, :j] + sin_full / (2.0 * np.pi)
    )
    derivative = -(0.5 * np.pi / width[:, :j]) * sin_full
    return value, integral, derivative


def _sym(start_s: FloatArray, length_s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(peak, rise, fall) of a symmetric pulse spanning ``start_s`` .. ``start_s + length_s``."""
    half = 0.5 * length_s
    return start_s + half, half, half


def _next_same_side(values: FloatArray, last: FloatArray) -> FloatArray:
    """``values`` shifted one step earlier, with ``last`` for the final step."""
    out = np.empty_like(values)
    out[:-1] = values[1:]
    out[-1:] = last
    return out


def _stride_estimate_s(ic_s: FloatArray) -> float:
    return float(ic_s[-1] - ic_s[-2]) if ic_s.shape[0] >= 2 else 0.7


# Channels of the stride models.
_GY, _GX, _GZ, _FWD, _UP, _LAT, _SPIKE, _BRAKE = range(8)
_N_CHANNELS = 8

_Term = tuple[int, int, FloatArray]  # (channel, pulse, per-stride amplitude)


@dataclass(frozen=True)
class _StrideModel:
    """Per-stride pulse table of one segment.

    Each stride k has ``P`` pulses (``peak_s``, ``rise_s``, ``fall_s``, all ``(m, P)``) and
    ``T`` terms: term j adds ``amplitude[k, j]`` times pulse ``term_pulse[j]`` to its channel.
    Terms are sorted by channel (channel c's terms start at ``channel_start[c]``), every
    channel has at least one, and the first ``n_pitch`` terms are the pitch-rate pulses
    0..n_pitch−1.
    """

    start_s: FloatArray  # (m,) stride starts: every pulse of stride k lies after start k
    peak_s: FloatArray
    rise_s: FloatArray
    fall_s: FloatArray
    amplitude: FloatArray  # (m, T)
    term_pulse: IntpArray  # (T,)
    channel_start: IntpArray  # (C,) first term of each channel
    angle0_deg: FloatArray  # (m,) pitch before the stride's first pulse
    n_pitch: int

    @classmethod
    def build(
        cls,
        *,
        start_s: FloatArray,
        pulses: list[tuple[FloatArray, FloatArray, FloatArray]],
        terms: list[_Term],
        angle0_deg: FloatArray,
        n_pitch: int,
    ) -> _StrideModel:
        zero = np.zeros_like(start_s)
        present = {c for c, _, _ in terms}
        terms = terms + [(c, 0, zero) for c in range(_N_CHANNELS) if c not in present]
        terms = sorted(terms, key=lambda term: term[0])  # stable: pitch terms stay first
        channels = np.asarray([c for c, _, _ in terms])
        return cls(
            start_s=start_s,
            peak_s=np.column_stack([p[0] for p in pulses]),
            rise_s=np.column_stack([p[1] for p in pulses]),
            fall_s=np.column_stack([p[2] for p in pulses]),
            amplitude=np.column_stack([a for _, _, a in terms]),
            term_pulse=np.asarray([p for _, p, _ in terms], dtype=np.intp),
            channel_start=np.searchsorted(channels, np.arange(_N_CHANNELS)).astype(np.intp),
            angle0_deg=angle0_deg,
            n_pitch=n_pitch,
        )

    def evaluate(self, t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Channels ``(n, C)``, pitch angle (rad) and pitch-rate derivative (deg/s²) at
        times ``t`` (s). Before the first stride every pulse is idle."""
        raw = np.searchsorted(self.start_s, t, side="right") - 1
        k = np.maximum(raw, 0)
        tt = np.where(raw < 0, self.start_s[0] - 1.0, t)
        value, integral, derivative = _pulses(
            tt, self.peak_s[k], self.rise_s[k], self.fall_s[k], n_with_integral=self.n_pitch
        )
        weighted = self.amplitude[k] * value[:, self.term_pulse]
        channels: FloatArray = np.add.reduceat(weighted, self.channel_start, axis=1)
        pitch_amp = self.amplitude[k, : self.n_pitch]
        angle = (self.angle0_deg[k] + (pitch_amp * integral).sum(axis=1)) * _DEG
        rate_change = (pitch_amp * derivative).sum(axis=1)
        return channels, angle, rate_change


def _foot_model(sp: StepPlan) -> _StrideModel:
    """Pulse table of a foot (left-side signs) for the steps ``sp`` of one side."""
    ic = sp.ic_s + sp.imu_ic_offset_s
    to = sp.to_s + sp.imu_to_offset_s
    fsa = sp.strike_angle_deg
    swing_max = sp.swing_pitch_deg
    next_ic = _next_same_side(ic, ic[-1:] + _stride_estimate_s(ic))
    next_fsa = _next_same_side(fsa, np.zeros(1))  # after the last step the foot ends flat
    gct = to - ic
    swing = next_ic - to
    ic_fall = 0.2 * gct
    po_rise = 0.4 * gct
    po_fall = 0.35 * swing
    sw_start = to + po_fall
    sw_len = np.maximum(next_ic - IC_RISE_S - 0.12 * swing - sw_start, 0.02)
    lin = np.maximum(sw_start + sw_len - to, 0.04)  # swing accelerations: TO to swing end
    pulses = [
        (ic, np.full_like(ic, IC_RISE_S), ic_fall),  # 0 pitch: foot slap or heel drop
        (to, po_rise, po_fall),  # 1 pitch: push-off and early swing
        (sw_start + 0.45 * sw_len, 0.45 * sw_len, 0.55 * sw_len),  # 2 pitch: swing
        _sym(ic, ic_fall),  # 3 eversion
        _sym(to - po_rise, po_rise),  # 4 inversion at push-off
        _sym(to, 0.5 * lin),  # 5 forward acceleration, yaw one way
        _sym(to + 0.5 * lin, 0.5 * lin),  # 6 forward deceleration, yaw back
        _sym(to, 0.3 * lin),  # 7 lift
        _sym(to + 0.3 * lin, 0.3 * lin),  # 8 lowering
        _sym(to + 0.2 * lin, 0.3 * lin),  # 9 lateral one way
        _sym(to + 0.5 * lin, 0.3 * lin),  # 10 lateral back
        _sym(ic - FOOT_SPIKE_HALF_WIDTH_S, np.full_like(ic, 2 * FOOT_SPIKE_HALF_WIDTH_S)),  # 11
    ]
    slap = fsa / (0.5 * (IC_RISE_S + ic_fall))
    dv_fwd = 2.0 * sp.speed_m_s / STANDARD_GRAVITY_M_S2 / (0.25 * lin)  # g
    dv_up = (0.3 * sp.speed_m_s + 0.3) / STANDARD_GRAVITY_M_S2 / (0.15 * lin)
    dv_lat = 0.3 / STANDARD_GRAVITY_M_S2 / (0.15 * lin)
    theta_at_ic_deg = -fsa + slap * 0.5 * IC_RISE_S
    spike = sp.peak_accel_g - np.cos(theta_at_ic_deg * _DEG)
    terms: list[_Term] = [
        (_GY, 0, slap),
        (_GY, 1, swing_max / (0.5 * (po_rise + po_fall))),
        (_GY, 2, (-next_fsa - swing_max) / (0.5 * sw_len)),
        (_GX, 3, FOOT_ROLL_DEG / (0.5 * ic_fall)),
        (_GX, 4, -FOOT_ROLL_DEG / (0.5 * po_rise)),
        (_GZ, 5, 8.0 / (0.25 * lin)),
        (_GZ, 6, -8.0 / (0.25 * lin)),
        (_FWD, 5, dv_fwd),
        (_FWD, 6, -dv_fwd),
        (_UP, 7, dv_up),
        (_UP, 8, -dv_up),
        (_LAT, 9, dv_lat),
        (_LAT, 10, -dv_lat),
        (_LAT, 11, 0.1 * spike),
        (_SPIKE, 11, spike),
        (_BRAKE, 11, np.where(sp.strike == _REARFOOT_CODE, -0.4, -0.25) * spike),
    ]
    return _StrideModel.build(
        start_s=ic - IC_RISE_S, pulses=pulses, terms=terms, angle0_deg=-fsa, n_pitch=3
    )


def _foot_signals(sp: StepPlan, t: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Left-foot signals (before mirroring) for the steps ``sp`` of one side."""
    ch, theta, _ = _foot_model(sp).evaluate(t)
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    fwd, f_z = ch[:, _FWD], 1.0 + ch[:, _UP]
    acc = np.empty((t.shape[0], 3))
    acc[:, 0] = fwd * cos_t - f_z * sin_t + ch[:, _BRAKE]
    acc[:, 1] = ch[:, _LAT]
    acc[:, 2] = fwd * sin_t + f_z * cos_t + ch[:, _SPIKE]
    gyr = np.column_stack([ch[:, _GX], ch[:, _GY], ch[:, _GZ]])
    return acc, gyr


def _shank_model(sp: StepPlan) -> _StrideModel:
    """Pulse table of a shank (left-side signs) for the steps ``sp`` of one side."""
    ic = sp.ic_s + sp.shank_ic_offset_s
    to = sp.to_s + sp.shank_to_offset_s
    phi_pre = sp.shank_strike_angle_deg
    phi_max = sp.shank_swing_angle_deg
    next_ic = _next_same_side(ic, ic[-1:] + _stride_estimate_s(ic))
    next_phi = _next_same_side(phi_pre, np.zeros(1))
    stance = np.maximum(to - ic, 0.05)
    swing = next_ic - to
    st_fall = 0.3 * swing
    sw_start = to + st_fall
    sw_len = np.maximum(next_ic - SHANK_SPIKE_HALF_WIDTH_S - 0.05 * swing - sw_start, 0.02)
    spike_w = np.full_like(ic, 2 * SHANK_SPIKE_HALF_WIDTH_S)
    pulses = [
        (ic + stance, stance, st_fall),  # 0 pitch: forward rotation through stance
        (sw_start + 0.55 * sw_len, 0.55 * sw_len, 0.45 * sw_len),  # 1 pitch: swing
        _sym(ic, stance),  # 2 internal rotation in stance
        _sym(to, 0.5 * swing),  # 3 external rotation in swing
        _sym(ic, 0.5 * stance),  # 4 roll one way
        _sym(ic + 0.5 * stance, 0.5 * stance),  # 5 roll back
        _sym(ic - SHANK_SPIKE_HALF_WIDTH_S, spike_w),  # 6 tibial shock
    ]
    spike = sp.peak_tibial_accel_g - np.cos(phi_pre * _DEG)
    terms: list[_Term] = [
        (_GY, 0, (phi_max - phi_pre) / (0.5 * (stance + st_fall))),
        (_GY, 1, (next_phi - phi_max) / (0.5 * sw_len)),
        (_GZ, 2, -8.0 / (0.5 * stance)),
        (_GZ, 3, 8.0 / (0.25 * swing)),
        (_GX, 4, 3.0 / (0.25 * stance)),
        (_GX, 5, -3.0 / (0.25 * stance)),
        (_LAT, 6, 0.05 * spike),
        (_SPIKE, 6, spike),
        (_BRAKE, 6, -0.3 * spike),
    ]
    return _StrideModel.build(
        start_s=ic - SHANK_SPIKE_HALF_WIDTH_S,
        pulses=pulses,
        terms=terms,
        angle0_deg=phi_pre,
        n_pitch=2,
    )


def _shank_signals(sp: StepPlan, t: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Left-shank signals (before mirroring) for the steps ``sp`` of one side: gravity
    through the shank pitch plus the tangential and centripetal accelerations of a point
    ``SHANK_RADIUS_M`` below the knee."""
    ch, phi, rate_change = _shank_model(sp).evaluate(t)
    omega = ch[:, _GY] * _DEG  # rad/s
    alpha = rate_change * _DEG  # rad/s²
    acc = np.empty((t.shape[0], 3))
    acc[:, 0] = -np.sin(phi) - SHANK_RADIUS_M * alpha / STANDARD_GRAVITY_M_S2 + ch[:, _BRAKE]
    acc[:, 1] = ch[:, _LAT]
    acc[:, 2] = np.cos(phi) + SHANK_RADIUS_M * omega**2 / STANDARD_GRAVITY_M_S2 + ch[:, _SPIKE]
    gyr = np.column_stack([ch[:, _GX], ch[:, _GY], ch[:, _GZ]])
    return acc, gyr


def imu_signals(
    plan: StepPlan, side: Side, t_s: FloatArray, mount: Mount
) -> tuple[FloatArray, FloatArray]:
    """Noise-free IMU signals of one leg at host times ``t_s`` (s).

    Returns ``acc_g`` ``(n, 3)`` (g) and ``gyr_dps`` ``(n, 3)`` (deg/s) in the sensor frame
    (x anterior, y left, z up). A pure function of (plan, t). The right leg is the mirror
    image of the left: ``gx``, ``gz`` and ``ay`` change sign, pitch does not.

    Foot mount (``Mount.FOOT``): the pitch rate carries an IC feature at
    ``ic_s + imu_ic_offset_s`` (maximum for a rearfoot strike, the foot slapping down;
    minimum for mid- and forefoot strikes, the heel dropping), a push-off maximum at
    ``to_s + imu_to_offset_s``, and a large negative swing peak; the impact spike (z up to
    ``peak_accel_g``, x braking) sits at the IC feature; in mid-stance (20–60 % of the
    feature-to-feature stance) the foot is flat and still: gyro 0, accel (0, 0, 1) g.

    Shank mount (``Mount.SHANK``): smoother signals — forward rotation through stance
    peaking at ``to_s + shank_to_offset_s``, a negative swing peak, a tibial impact spike
    (axial peak ``peak_tibial_accel_g``) at ``ic_s + shank_ic_offset_s``, and the
    rotational accelerations of a point ``SHANK_RADIUS_M`` below the knee.
    """
    if side not in (Side.LEFT, Side.RIGHT):
        raise ValueError(f"imu_signals needs Side.LEFT or Side.RIGHT, got {side!r}")
    if mount not in (Mount.FOOT, Mount.SHANK):
        raise ValueError(f"imu_signals needs Mount.FOOT or Mount.SHANK, got {mount!r}")
    t = np.asarray(t_s, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"imu_signals wants t_s of shape (n,), got {t.shape}")
    acc = np.zeros((t.shape[0], 3))
    acc[:, 2] = 1.0
    gyr = np.zeros((t.shape[0], 3))
    signals = _foot_signals if mount == Mount.FOOT else _shank_signals
    # Long grids are evaluated in blocks to bound memory; the result does not depend on it.
    for start in range(0, t.shape[0], _BLOCK_SAMPLES):
        block = t[start : start + _BLOCK_SAMPLES]
        near = plan.steps_near(float(block.min()), float(block.max()), side=side)
        if near.n_steps:
            acc[start : start + block.size], gyr[start : start + block.size] = signals(near, block)
    if side == Side.RIGHT:
        acc[:, 1] = -acc[:, 1]
        gyr[:, 0] = -gyr[:, 0]
        gyr[:, 2] = -gyr[:, 2]
    return acc, gyr


# ------------------------------------------------------------------ sensor imperfections
@dataclass(kw_only=True)
class ImuSensorModel:
    """What a MEMS IMU makes of the true signals; stateful, so it runs chunk by chunk.

    Per axis: a constant bias, a gyroscope bias random walk, white noise, then clipping at
    the full scale (saturation). Noise and random-walk increments come from one
    ``(n, 9)`` standard-normal draw per call, so calls over consecutive chunks reproduce a
    single call over the whole grid exactly.

    Attributes:
        rng: source of noise, random walk and (when not given) the biases.
        acc_noise_g: accelerometer white noise SD per sample (g).
        gyr_noise_dps: gyroscope white noise SD per sample (deg/s).
        acc_bias_g: ``(3,)`` accelerometer bias (g); None draws N(0, 0.02 g) per axis.
        gyr_bias_dps: ``(3,)`` gyroscope bias (deg/s); None draws N(0, 1 deg/s) per axis.
        gyr_bias_drift_dps_per_min: RMS change of the gyroscope bias over one minute
            (random walk, deg/s).
        acc_full_scale_g: accelerometer range (±g).
        gyr_full_scale_dps: gyroscope range (±deg/s).
        acc_scale: ``(3,)`` accelerometer sensitivity per axis (1 = exact); None is exact.
        mount_rotation: ``(3, 3)`` rotation from the segment frame (DESIGN.md) into the
            sensor's own axes, for a sensor strapped on at an angle: the sensor sees
            ``mount_rotation @ v`` for a segment-frame vector ``v``. None: aligned.

    A miscalibrated sensor therefore reads ``acc_scale · (R·a) + acc_bias_g`` and
    ``R·g + gyr_bias_dps`` (plus noise and the random walk), which is the model that
    ``calibration`` inverts.
    """

    rng: np.random.Generator
    acc_noise_g: float = 0.01
    gyr_noise_dps: float = 0.3
    acc_bias_g: FloatArray | None = None
    gyr_bias_dps: FloatArray | None = None
    gyr_bias_drift_dps_per_min: float = 0.5
    acc_full_scale_g: float = 16.0
    gyr_full_scale_dps: float = 2000.0
    acc_scale: FloatArray | None = None
    mount_rotation: FloatArray | None = None
    _walk_dps: FloatArray = field(default_factory=lambda: np.zeros(3), init=False, repr=False)
    _last_t_s: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        for name in (
            "acc_noise_g",
            "gyr_noise_dps",
            "gyr_bias_drift_dps_per_min",
            "acc_full_scale_g",
            "gyr_full_scale_dps",
        ):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0.0):
                raise ConfigurationError(
                    f"The IMU sensor model's {name} must be a non-negative number, got {value!r}."
                )
        if self.acc_full_scale_g <= 0.0 or self.gyr_full_scale_dps <= 0.0:
            raise ConfigurationError("The IMU sensor model's full-scale ranges must be positive.")
        if self.acc_bias_g is None:
            self.acc_bias_g = 0.02 * self.rng.standard_normal(3)
        if self.gyr_bias_dps is None:
            self.gyr_bias_dps = 1.0 * self.rng.standard_normal(3)
        for name in ("acc_bias_g", "gyr_bias_dps"):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != (3,) or not np.all(np.isfinite(value)):
                raise ConfigurationError(
                    f"The IMU sensor model's {name} must hold three finite numbers, got {value!r}."
                )
            setattr(self, name, value)
        if self.acc_scale is not None:
            scale = np.asarray(self.acc_scale, dtype=np.float64)
            if scale.shape != (3,) or not np.all(np.isfinite(scale)) or np.any(scale <= 0.0):
                raise ConfigurationError(
                    f"The IMU sensor model's acc_scale must hold three positive numbers, "
                    f"got {self.acc_scale!r}."
                )
            self.acc_scale = scale
        if self.mount_rotation is not None:
            rot = np.asarray(self.mount_rotation, dtype=np.float64)
            if (
                rot.shape != (3, 3)
                or not np.all(np.isfinite(rot))
                or not np.allclose(rot @ rot.T, np.eye(3), atol=1e-6)
                or np.linalg.det(rot) <= 0.0
            ):
                raise ConfigurationError(
                    "The IMU sensor model's mount_rotation must be a 3×3 rotation matrix."
                )
            self.mount_rotation = rot

    def reset(self) -> None:
        """Restart the bias random walk (as after a power cycle)."""
        self._walk_dps = np.zeros(3)
        self._last_t_s = None

    def apply(
        self, t_s: FloatArray, acc_g: FloatArray, gyr_dps: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Measured ``(acc_g, gyr_dps)``, each ``(n, 3)``, for true signals at times ``t_s``.

        ``t_s`` (s) increases from call to call; the bias random walk continues across
        calls.
        """
        t = np.asarray(t_s, dtype=np.float64)
        acc = np.asarray(acc_g, dtype=np.float64)
        gyr = np.asarray(gyr_dps, dtype=np.float64)
        n = t.shape[0]
        if acc.shape != (n, 3) or gyr.shape != (n, 3):
            raise ValueError(
                f"apply wants t_s (n,), acc_g (n, 3) and gyr_dps (n, 3), got {t.shape}, "
                f"{acc.shape} and {gyr.shape}"
            )
        if n == 0:
            return acc.copy(), gyr.copy()
        assert self.acc_bias_g is not None
        assert self.gyr_bias_dps is not None
        z = self.rng.standard_normal((n, 9))
        previous = t[0] if self._last_t_s is None else self._last_t_s
        dt = np.diff(t, prepend=previous)
        step_sd = self.gyr_bias_drift_dps_per_min / np.sqrt(60.0) * np.sqrt(np.maximum(dt, 0.0))
        increments = z[:, 6:9] * step_sd[:, None]
        walk = np.cumsum(np.vstack([self._walk_dps[None, :], increments]), axis=0)[1:]
        self._walk_dps = walk[-1].copy()
        self._last_t_s = float(t[-1])
        if self.mount_rotation is not None:
            acc = acc @ self.mount_rotation.T
            gyr = gyr @ self.mount_rotation.T
        if self.acc_scale is not None:
            acc = acc * self.acc_scale
        acc_out = acc + self.acc_bias_g + self.acc_noise_g * z[:, 0:3]
        gyr_out = gyr + self.gyr_bias_dps + walk + self.gyr_noise_dps * z[:, 3:6]
        fs_a, fs_g = self.acc_full_scale_g, self.gyr_full_scale_dps
        return np.clip(acc_out, -fs_a, fs_a), np.clip(gyr_out, -fs_g, fs_g)
