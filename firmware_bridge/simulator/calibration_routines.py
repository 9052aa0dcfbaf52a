"""Simulated calibration routines with known true sensor errors.

Each function returns what a device streams during one routine (times in host seconds,
values in the units the bridge delivers before calibration) together with the truth that a
calibration should recover. The sensor models are those of the running simulation
(``ImuSensorModel``, ``InsoleSensorModel``), with their noise, creep, hysteresis, floor and
drift.

* ``six_face_routine``: the bare IMU rests on each of its six faces (each slightly off
  level), turned by hand between faces.
* ``mounting_routine``: the IMU strapped on at an angle; quiet standing, then walking.
* ``body_weight_routine``: both insoles unloaded (sitting, feet off the floor), quiet
  bilateral stance, single-leg stance on each side, sitting again between poses.
* ``known_load_routine``: each cell of one insole pressed with a ladder of known loads.
* ``jump_routine``: a two-footed jump whose landing is one shared event for every stream,
  each stream's timestamps off by a known clock error.

``write_routine_csv`` writes a routine's stream in the CSV import format of
``gaitcue analyze``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from calibration.insole import DEFAULT_LOADS_N
from firmware_bridge.csv_streams import write_csv_stream
from firmware_bridge.samples import IMU_CHANNELS, IMU_UNITS, Mount, Side, StreamInfo, StreamKind
from firmware_bridge.simulator.gait import RunnerConfig, plan_steps
from firmware_bridge.simulator.imu_model import ImuSensorModel, imu_signals
from firmware_bridge.simulator.insole_model import InsoleLayout, InsoleSensorModel, _shares_at

__all__ = [
    "DEFAULT_LOADS_N",
    "ImuTruth",
    "InsoleTruth",
    "Routine",
    "body_weight_routine",
    "jump_routine",
    "known_load_routine",
    "mounting_routine",
    "rotation_from_euler_deg",
    "six_face_routine",
    "write_routine_csv",
]

FloatArray = npt.NDArray[np.float64]
STANDARD_GRAVITY_M_S2 = 9.80665


def rotation_from_euler_deg(roll_deg: float, pitch_deg: float, yaw_deg: float) -> FloatArray:
    """Rotation matrix ``Rz(yaw) · Ry(pitch) · Rx(roll)`` (angles in degrees)."""
    r, p, y = np.radians([roll_deg, pitch_deg, yaw_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(r), -np.sin(r)], [0, np.sin(r), np.cos(r)]])
    ry = np.array([[np.cos(p), 0, np.sin(p)], [0, 1, 0], [-np.sin(p), 0, np.cos(p)]])
    rz = np.array([[np.cos(y), -np.sin(y), 0], [np.sin(y), np.cos(y), 0], [0, 0, 1]])
    out: FloatArray = rz @ ry @ rx
    return out


def _axis_rotation(axis: FloatArray, angle_rad: float) -> FloatArray:
    k = axis / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    out: FloatArray = np.eye(3) + np.sin(angle_rad) * kx + (1 - np.cos(angle_rad)) * (kx @ kx)
    return out


@dataclass(frozen=True)
class ImuTruth:
    """True errors of a simulated IMU, in the calibration's terms.

    Attributes:
        accel_offset_g: ``(3,)`` offset added to every accelerometer reading (g).
        accel_sensitivity: ``(3,)`` per-axis sensitivity; the calibration's scale is its
            inverse.
        gyro_bias_dps: ``(3,)`` gyroscope bias (deg/s).
        mount_rotation: ``(3, 3)`` segment-to-sensor rotation; the calibration's alignment
            is its transpose.
    """

    accel_offset_g: FloatArray
    accel_sensitivity: FloatArray
    gyro_bias_dps: FloatArray
    mount_rotation: FloatArray = field(default_factory=lambda: np.eye(3))

    @property
    def accel_scale(self) -> FloatArray:
        """The scale a calibration should find (inverse sensitivity)."""
        out: FloatArray = 1.0 / self.accel_sensitivity
        return out

    @property
    def alignment(self) -> FloatArray:
        """The segment-from-sensor rotation a calibration should find."""
        out: FloatArray = self.mount_rotation.T
        return out

    @classmethod
    def draw(cls, rng: np.random.Generator, *, tilt_deg: float = 0.0) -> ImuTruth:
        """Typical MEMS errors: offsets ~0.05 g, sensitivity ±3 %, bias ~3 deg/s; a mount
        tilted by up to ``tilt_deg`` about each axis."""
        angles = rng.uniform(-tilt_deg, tilt_deg, 3) if tilt_deg else np.zeros(3)
        return cls(
            accel_offset_g=rng.normal(0.0, 0.05, 3),
            accel_sensitivity=1.0 + rng.uniform(-0.03, 0.03, 3),
            gyro_bias_dps=rng.normal(0.0, 3.0, 3),
            mount_rotation=rotation_from_euler_deg(*angles),
        )

    def sensor_model(
        self, rng: np.random.Generator, *, mounted: bool, drift_dps_per_min: float = 0.5
    ) -> ImuSensorModel:
        """The simulator's IMU model with these errors (``mounted``: with the tilt)."""
        return ImuSensorModel(
            rng=rng,
            acc_bias_g=self.accel_offset_g,
            gyr_bias_dps=self.gyro_bias_dps,
            acc_scale=self.accel_sensitivity,
            mount_rotation=self.mount_rotation if mounted else None,
            gyr_bias_drift_dps_per_min=drift_dps_per_min,
        )


@dataclass(frozen=True)
class InsoleTruth:
    """True errors of a simulated insole.

    Attributes:
        cell_gain: ``(n_cells,)`` sensitivity of each cell.
        zero_offset_n: ``(n_cells,)`` zero offset of each cell (N).
        response_exponent: static nonlinearity (1 = linear).
        response_ref_n: force at which the nonlinear response equals gain · force (N).
    """

    cell_gain: FloatArray
    zero_offset_n: FloatArray
    response_exponent: float = 1.0
    response_ref_n: float = 400.0

    def sensor_model(self, rng: np.random.Generator) -> InsoleSensorModel:
        return InsoleSensorModel(
            rng=rng,
            cell_gain=self.cell_gain,
            zero_offset_n=self.zero_offset_n,
            response_exponent=self.response_exponent,
            response_ref_n=self.response_ref_n,
        )

    def true_force_n(self, reading_n: FloatArray) -> FloatArray:
        """Force (N) that produces static readings ``(…, n_cells)`` (without the zero)."""
        r = np.maximum(np.asarray(reading_n, dtype=np.float64), 0.0) / self.cell_gain
        ref = self.response_ref_n
        out: FloatArray = ref * np.power(r / ref, 1.0 / self.response_exponent)
        return out


@dataclass(frozen=True)
class Routine:
    """One routine's streams and truth.

    Attributes:
        t_s: stream name → ``(n,)`` host times (s).
        values: stream name → ``(n, ch)`` values (g and deg/s, or N).
        info: stream name → its description (uncalibrated).
        truth: what a calibration should recover (routine-specific keys).
    """

    t_s: dict[str, FloatArray]
    values: dict[str, FloatArray]
    info: dict[str, StreamInfo]
    truth: dict[str, object]


def _imu_info(side: Side, rate_hz: float, mount: Mount = Mount.FOOT) -> StreamInfo:
    return StreamInfo(
        f"imu-{side.name.lower()}-sim",
        0,
        StreamKind.IMU,
        side,
        mount,
        rate_hz,
        IMU_CHANNELS,
        IMU_UNITS,
        full_scale=(16.0,) * 3 + (2000.0,) * 3,
    )


def _insole_info(side: Side, rate_hz: float, layout: InsoleLayout) -> StreamInfo:
    n = layout.n_cells
    return StreamInfo(
        f"insole-{side.name.lower()}-sim",
        0,
        StreamKind.INSOLE,
        side,
        Mount.INSOLE,
        rate_hz,
        tuple(f"cell{i}" for i in range(n)),
        ("N",) * n,
        full_scale=(0.25 * 65535.0,) * n,
        cell_area_cm2=tuple(float(a) for a in layout.area_cm2),
    )


def _apply_imu(
    model: ImuSensorModel, t: FloatArray, acc: FloatArray, gyr: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Measured ``(n, 6)`` values and the true gyroscope bias at each sample ``(n, 3)``
    (constant bias plus random walk), from a noise-free twin of the model."""
    twin = copy.deepcopy(model)
    twin.acc_noise_g = 0.0
    twin.gyr_noise_dps = 0.0
    _, bias = twin.apply(t, np.zeros_like(acc), np.zeros_like(gyr))
    a, g = model.apply(t, acc, gyr)
    return np.column_stack([a, g]), bias


def _quantise(values: FloatArray, step: float) -> FloatArray:
    out: FloatArray = np.rint(values / step) * step
    return out


def _smoothstep(u: FloatArray) -> FloatArray:
    v = np.clip(u, 0.0, 1.0)
    out: FloatArray = 0.5 - 0.5 * np.cos(np.pi * v)
    return out


# ------------------------------------------------------------------------------ IMU
_FACES = np.array(
    [[0, 0, 1], [0, 0, -1], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=np.float64
)


def six_face_routine(
    truth: ImuTruth,
    rng: np.random.Generator,
    *,
    rate_hz: float = 1000.0,
    hold_s: float = 3.0,
    turn_s: float = 1.5,
    level_error_deg: float = 3.0,
) -> Routine:
    """The bare sensor resting on each face for ``hold_s``, turned by hand in ``turn_s``.

    Gravity in sensor axes points along each face's axis, off by up to ``level_error_deg``
    (a table is not level, a housing is not square). Truth keys: ``imu`` (``ImuTruth``) and
    ``gyro_bias_dps_series`` (``(n, 3)`` true bias including its random walk).
    """
    targets = []
    for face in _FACES:
        tilt_axis = np.cross(face, rng.normal(size=3))
        angle = np.radians(rng.uniform(0.0, level_error_deg))
        targets.append(_axis_rotation(tilt_axis, angle) @ face)
    n_hold = round(hold_s * rate_hz)
    n_turn = round(turn_s * rate_hz)
    acc_parts: list[FloatArray] = []
    gyr_parts: list[FloatArray] = []
    for i, up in enumerate(targets):
        # Gravity reads +1 g along the axis pointing up.
        acc_parts.append(np.tile(up, (n_hold, 1)))
        gyr_parts.append(np.zeros((n_hold, 3)))
        if i + 1 < len(targets):
            nxt = targets[i + 1]
            axis = np.cross(up, nxt)
            if np.linalg.norm(axis) < 1e-6:
                axis = np.cross(up, rng.normal(size=3))
            axis /= np.linalg.norm(axis)
            total = float(np.arccos(np.clip(up @ nxt, -1.0, 1.0)))
            u = (np.arange(n_turn) + 1) / n_turn
            angle = total * _smoothstep(u)
            rate = total * 0.5 * np.pi * np.sin(np.pi * u) / turn_s
            acc = np.array([_axis_rotation(axis, a) @ up for a in angle])
            acc_parts.append(acc)
            # The gravity vector turns by +angle about axis in sensor axes, so the sensor
            # turns by −angle about it.
            gyr_parts.append(-np.degrees(rate)[:, None] * axis[None, :])
    acc_true = np.vstack(acc_parts)
    gyr_true = np.vstack(gyr_parts)
    t = np.arange(acc_true.shape[0], dtype=np.float64) / rate_hz
    model = truth.sensor_model(rng, mounted=False)
    values, bias = _apply_imu(model, t, acc_true, gyr_true)
    info = _imu_info(Side.LEFT, rate_hz)
    return Routine(
        {"imu": t}, {"imu": values}, {"imu": info}, {"imu": truth, "gyro_bias_dps_series": bias}
    )


def mounting_routine(
    truth: ImuTruth,
    rng: np.random.Generator,
    *,
    side: Side = Side.LEFT,
    mount: Mount = Mount.FOOT,
    rate_hz: float = 1000.0,
    stand_s: float = 4.0,
    walk_s: float = 8.0,
    walking: bool = True,
) -> Routine:
    """The strapped-on sensor during quiet standing, then walking (or jogging) steps.

    The segment signals are the running model's (``imu_signals``), turned into the sensor's
    tilted axes and through its errors. Truth keys: ``imu`` (``ImuTruth``),
    ``gyro_bias_dps_series`` (``(n, 3)`` true bias including its random walk) and
    ``standing_s`` (start and end of the quiet standing, s).
    """
    runner = (
        RunnerConfig(
            cadence_spm=110.0, gct_ms=650.0, peak_force_bw=1.1, speed_m_s=1.3, gct_cv_pct=2.0
        )
        if walking
        else RunnerConfig(cadence_spm=160.0, gct_ms=280.0, speed_m_s=2.5)
    )
    plan = plan_steps(runner, walk_s, rng, t0_s=stand_s)
    t = np.arange(round((stand_s + walk_s) * rate_hz)) / rate_hz
    acc_true, gyr_true = imu_signals(plan, side, t, mount)
    # Before its first stride the model holds the first strike's pose; the foot stands
    # upright and flat instead until it swings into its first step.
    first_ic = float(plan.ic_s[plan.side == int(side)][0]) if plan.n_steps else np.inf
    standing = t < max(stand_s, first_ic - 0.35)
    acc_true[standing] = (0.0, 0.0, 1.0)
    gyr_true[standing] = 0.0
    model = truth.sensor_model(rng, mounted=True)
    values, bias = _apply_imu(model, t, acc_true, gyr_true)
    info = _imu_info(side, rate_hz, mount)
    return Routine(
        {"imu": t},
        {"imu": values},
        {"imu": info},
        {"imu": truth, "gyro_bias_dps_series": bias, "standing_s": (0.0, stand_s)},
    )


# ---------------------------------------------------------------------------- insoles
STANDING_COP = (0.42, 0.50)
"""Centre of pressure of quiet standing (foot fractions): a little behind mid-foot."""


def _standing_shares(
    layout: InsoleLayout, n: int, rng: np.random.Generator, rate_hz: float
) -> FloatArray:
    """Load shares ``(n, n_cells)`` of a slowly swaying standing centre of pressure."""
    t = np.arange(n) / rate_hz
    phase = rng.uniform(0, 2 * np.pi, 2)
    x = STANDING_COP[0] + 0.03 * np.sin(2 * np.pi * 0.3 * t + phase[0])
    y = STANDING_COP[1] + 0.05 * np.sin(2 * np.pi * 0.2 * t + phase[1])
    return _shares_at(layout, np.column_stack([x, y]))


def body_weight_routine(
    truths: dict[Side, InsoleTruth],
    rng: np.random.Generator,
    *,
    body_mass_kg: float = 70.0,
    n_cells: int = 16,
    rate_hz: float = 200.0,
    rest_s: float = 3.0,
    pose_s: float = 5.0,
    ramp_s: float = 0.5,
    newtons_per_count: float = 0.25,
) -> Routine:
    """Sitting (feet off the floor), quiet bilateral stance, sitting, left single-leg stance,
    sitting, right single-leg stance, sitting.

    Truth keys: ``body_weight_n``, ``left`` and ``right`` (``InsoleTruth``), ``layout``.
    """
    layout = InsoleLayout.default(n_cells)
    weight = body_mass_kg * STANDARD_GRAVITY_M_S2
    poses = ((0.5, 0.5), (1.0, 0.0), (0.0, 1.0))
    n_rest, n_pose, n_ramp = (round(s * rate_hz) for s in (rest_s, pose_s, ramp_s))
    share_l: list[FloatArray] = [np.zeros(n_rest)]
    share_r: list[FloatArray] = [np.zeros(n_rest)]
    ramp = _smoothstep((np.arange(n_ramp) + 1) / n_ramp)
    for left, right in poses:
        envelope = np.concatenate([ramp, np.ones(n_pose - 2 * n_ramp), ramp[::-1]])
        sway = 0.03 * np.sin(2 * np.pi * 0.25 * np.arange(n_pose) / rate_hz + rng.uniform(0, 6))
        if left and right:
            share_l.append(envelope * (left + sway))
            share_r.append(envelope * (right - sway))
        else:
            share_l.append(envelope * left)
            share_r.append(envelope * right)
        share_l.append(np.zeros(n_rest))
        share_r.append(np.zeros(n_rest))
    totals = {Side.LEFT: np.concatenate(share_l) * weight, Side.RIGHT: np.concatenate(share_r)}
    totals[Side.RIGHT] = totals[Side.RIGHT] * weight
    n = totals[Side.LEFT].shape[0]
    t = np.arange(n) / rate_hz
    out_t: dict[str, FloatArray] = {}
    out_v: dict[str, FloatArray] = {}
    out_i: dict[str, StreamInfo] = {}
    for side, truth in truths.items():
        forces = totals[side][:, None] * _standing_shares(layout, n, rng, rate_hz)
        measured = truth.sensor_model(rng).apply(t, forces)
        name = f"{side.name.lower()}_insole"
        out_t[name] = t
        out_v[name] = _quantise(measured, newtons_per_count)
        out_i[name] = _insole_info(side, rate_hz, layout)
    return Routine(
        out_t,
        out_v,
        out_i,
        {
            "body_weight_n": weight,
            "left": truths.get(Side.LEFT),
            "right": truths.get(Side.RIGHT),
            "layout": layout,
        },
    )


def known_load_routine(
    truth: InsoleTruth,
    rng: np.random.Generator,
    *,
    loads_n: Sequence[float] = DEFAULT_LOADS_N,
    n_cells: int = 16,
    rate_hz: float = 200.0,
    rest_s: float = 0.6,
    ramp_s: float = 0.15,
    hold_s: float = 0.8,
    newtons_per_count: float = 0.25,
    dead_cells: Sequence[int] = (),
) -> Routine:
    """Every cell, in order, pressed once with each load of ``loads_n`` (ascending): ramp up
    in ``ramp_s``, hold ``hold_s``, release in ``ramp_s``, rest ``rest_s``.

    ``dead_cells`` never respond (a broken trace). Truth keys: ``insole`` (``InsoleTruth``),
    ``loads_n``, ``dead_cells``.
    """
    layout = InsoleLayout.default(n_cells)
    n_rest, n_ramp, n_hold = (round(s * rate_hz) for s in (rest_s, ramp_s, hold_s))
    ramp = _smoothstep((np.arange(n_ramp) + 1) / n_ramp)
    press = np.concatenate([ramp, np.ones(n_hold), ramp[::-1], np.zeros(n_rest)])
    per_cell = len(loads_n) * press.size
    n = n_rest + n_cells * per_cell
    forces = np.zeros((n, n_cells))
    for cell in range(n_cells):
        if cell in dead_cells:
            continue
        for k, load in enumerate(loads_n):
            start = n_rest + cell * per_cell + k * press.size
            forces[start : start + press.size, cell] = load * press
    t = np.arange(n) / rate_hz
    measured = truth.sensor_model(rng).apply(t, forces)
    return Routine(
        {"insole": t},
        {"insole": _quantise(measured, newtons_per_count)},
        {"insole": _insole_info(Side.LEFT, rate_hz, layout)},
        {"insole": truth, "loads_n": tuple(loads_n), "dead_cells": tuple(dead_cells)},
    )


# ------------------------------------------------------------------------------ clocks
def jump_routine(
    clock_error_s: dict[str, float],
    rng: np.random.Generator,
    *,
    body_mass_kg: float = 70.0,
    insole_rate_hz: float = 200.0,
    imu_rate_hz: float = 1000.0,
    landing_s: float = 3.0,
    n_cells: int = 16,
) -> Routine:
    """Standing, a two-footed jump (0.35 s of flight) and the landing at ``landing_s``.

    ``clock_error_s`` maps stream names (``left_insole``, ``right_insole``, ``left_imu``,
    ``right_imu``) to the error of each stream's timestamps (s; positive: stamped late);
    streams not named are left out. Both feet land at the same instant; the insole force and
    the IMU impact rise in the same 20 ms. Truth keys: ``landing_s``, ``clock_error_s``.
    """
    layout = InsoleLayout.default(n_cells)
    weight = body_mass_kg * STANDARD_GRAVITY_M_S2
    duration = landing_s + 2.0
    flight = 0.35
    out_t: dict[str, FloatArray] = {}
    out_v: dict[str, FloatArray] = {}
    out_i: dict[str, StreamInfo] = {}
    for name, error in clock_error_s.items():
        side = Side.LEFT if name.startswith("left") else Side.RIGHT
        if name.endswith("insole"):
            t = np.arange(round(duration * insole_rate_hz)) / insole_rate_hz
            take_off = _smoothstep((landing_s - flight - t) / 0.2)  # unloads before flight
            landing = _smoothstep((t - landing_s) / 0.02)
            settle = 1.0 + 1.2 * np.exp(-np.maximum(t - landing_s - 0.02, 0.0) / 0.08)
            total = 0.5 * weight * np.where(t < landing_s, take_off, landing * settle)
            shares = _standing_shares(layout, t.size, rng, insole_rate_hz)
            insole = InsoleSensorModel(rng=rng)
            values = _quantise(insole.apply(t, total[:, None] * shares), 0.25)
            out_i[name] = _insole_info(side, insole_rate_hz, layout)
        else:
            t = np.arange(round(duration * imu_rate_hz)) / imu_rate_hz
            acc = np.zeros((t.size, 3))
            lift = _smoothstep((landing_s - flight - t) / 0.05)  # 1 g standing, 0 in flight
            impact = _smoothstep((t - landing_s) / 0.02) * (
                1.0 + 6.0 * np.exp(-np.maximum(t - landing_s - 0.02, 0.0) / 0.015)
            )
            acc[:, 2] = np.where(t < landing_s, lift, impact)
            imu = ImuSensorModel(rng=rng, acc_bias_g=np.zeros(3), gyr_bias_dps=np.zeros(3))
            a, g = imu.apply(t, acc, np.zeros((t.size, 3)))
            values = np.column_stack([a, g])
            out_i[name] = _imu_info(side, imu_rate_hz)
        out_t[name] = t + error
        out_v[name] = values
    return Routine(
        out_t, out_v, out_i, {"landing_s": landing_s, "clock_error_s": dict(clock_error_s)}
    )


def write_routine_csv(routine: Routine, name: str, path: Path) -> None:
    """Write stream ``name`` of ``routine`` in the CSV import format of ``gaitcue analyze``."""
    write_csv_stream(path, routine.info[name], routine.t_s[name], routine.values[name])
