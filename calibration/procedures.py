"""Whole calibrations from recorded routines: the steps the command line and the benches run.

* ``calibrate_imu``: six-face routine (accelerometer offset and scale, a first gyroscope
  bias) and/or mounting routine (gyroscope bias from its quiet standing, then alignment),
  optionally starting from an earlier calibration of the same device (re-strapping the
  sensor only needs the mounting routine).
* ``calibrate_insoles``: zero, floor and health of each insole, the body-weight scale from
  the stance poses, and per-cell curves from a known-load routine when one is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from calibration.files import ImuCalibration, InsoleCalibration
from calibration.imu import GyroBias, MountingAlignment, SixFaceAccel
from calibration.insole import BodyWeightScale, CellCurve, CellCurveFit, CellHealth, InsoleZero
from calibration.insole_layout import InsoleLayout
from firmware_bridge.errors import ConfigurationError

__all__ = ["Recording", "calibrate_imu", "calibrate_insoles", "forces_after"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Recording:
    """Samples of one stream: ``t_s`` ``(n,)`` host seconds, ``values`` ``(n, ch)``."""

    t_s: FloatArray
    values: FloatArray


def _corrected(
    values: FloatArray, offset: FloatArray, scale: FloatArray, bias: FloatArray
) -> FloatArray:
    out = np.array(values, dtype=np.float64)
    out[:, :3] = scale * (out[:, :3] - offset)
    out[:, 3:] -= bias
    return out


def calibrate_imu(
    *,
    device_id: int,
    six_face: Recording | None = None,
    mounting: Recording | None = None,
    base: ImuCalibration | None = None,
) -> ImuCalibration:
    """An IMU calibration from its routines.

    Without a six-face routine the accelerometer values come from ``base`` (or stay
    nominal); without a mounting routine the alignment comes from ``base`` (or is the
    identity).

    Raises:
        ConfigurationError: no routine, or a routine that does not show what it should.
    """
    if six_face is None and mounting is None:
        raise ConfigurationError(
            "Give the six-face routine, the mounting routine (standing, then steps), or both."
        )
    quality: dict[str, float] = {}
    routine: list[str] = []
    if six_face is not None:
        fit = SixFaceAccel().fit(six_face.t_s, six_face.values)
        offset, scale, bias = fit.offset_g_, fit.scale_, fit.gyro_bias_dps_
        quality.update(
            faces=float(fit.faces_.shape[0]),
            accel_residual_g=fit.residual_g_,
            accel_still_noise_g=float(np.max(fit.still_noise_g_)),
        )
        routine.append("six-face")
    elif base is not None:
        offset, scale, bias = base.accel_offset_g, base.accel_scale, base.gyro_bias_dps
        routine.append(f"accelerometer of the calibration of {base.created_utc}")
    else:
        offset, scale, bias = np.zeros(3), np.ones(3), np.zeros(3)
        routine.append("accelerometer nominal")
    alignment = np.eye(3) if base is None else np.asarray(base.alignment)
    if mounting is not None:
        partly = _corrected(mounting.values, offset, scale, np.zeros(3))
        gyro = GyroBias().estimate(mounting.t_s, partly)
        bias = gyro.bias_dps_
        corrected = _corrected(mounting.values, offset, scale, bias)
        align = MountingAlignment().fit(mounting.t_s, corrected)
        alignment = align.rotation_
        quality.update(
            gyro_still_s=gyro.still_s_,
            gyro_still_noise_dps=float(np.max(gyro.noise_dps_)),
            standing_gravity_g=align.gravity_norm_g_,
            tilt_deg=align.tilt_deg_,
            off_axis_pct=align.off_axis_pct_,
        )
        routine.append("standing and steps")
    return ImuCalibration(
        device_id=device_id,
        accel_offset_g=offset,
        accel_scale=scale,
        gyro_bias_dps=bias,
        alignment=alignment,
        quality=quality,
        routine=" + ".join(routine),
    )


def forces_after(
    values: FloatArray,
    zero_n: FloatArray,
    floor_n: FloatArray,
    curves: Sequence[CellCurve | None] | None,
) -> FloatArray:
    """Per-cell forces ``(n, n_cells)`` (N) from readings: zero, floor and curves, no scale."""
    above = np.asarray(values, dtype=np.float64) - zero_n
    out = np.where(above >= floor_n, above, 0.0)
    if curves is not None:
        for cell, curve in enumerate(curves):
            if curve is not None:
                out[:, cell] = np.where(out[:, cell] > 0.0, curve(out[:, cell]), 0.0)
    result: FloatArray = out
    return result


def calibrate_insoles(
    stance: Mapping[str, Recording],
    *,
    device_ids: Mapping[str, int],
    body_mass_kg: float | None,
    known_load: Mapping[str, Recording] | None = None,
    loads_n: Sequence[float] = (),
    layouts: Mapping[str, InsoleLayout] | None = None,
) -> dict[str, InsoleCalibration]:
    """Insole calibrations from the stance routine of each insole (``"left"``/``"right"``,
    recorded on the same clock), and optionally a known-load routine per insole.

    Without ``body_mass_kg`` only the zero, floor, curves and health are measured
    (scale 1).

    Raises:
        ConfigurationError: a routine that does not show what it should.
    """
    if not stance:
        raise ConfigurationError("Give the stance routine of at least one insole.")
    zeros: dict[str, InsoleZero] = {}
    curves: dict[str, tuple[CellCurve | None, ...] | None] = {}
    quality: dict[str, dict[str, float]] = {}
    dead: dict[str, set[int]] = {}
    saturated: dict[str, set[int]] = {}
    totals: dict[str, FloatArray] = {}
    for side, rec in stance.items():
        zero = InsoleZero().fit(rec.t_s, rec.values)
        zeros[side] = zero
        quality[side] = {
            "unloaded_s": zero.unloaded_s_,
            "still_noise_n": float(np.max(zero.noise_n_)),
        }
        health = CellHealth().check(rec.values)
        dead[side] = set(health.dead_cells_)
        saturated[side] = set(health.saturated_cells_)
        curves[side] = None
        if known_load is not None and side in known_load:
            load_rec = known_load[side]
            fit = CellCurveFit(loads_n=loads_n).fit(load_rec.t_s, load_rec.values)
            curves[side] = tuple(fit.curves_)
            dead[side] |= set(fit.dead_cells_)
            saturated[side] |= set(fit.saturated_cells_)
            quality[side]["curve_residual_pct"] = float(np.nanmax(fit.residual_pct_))
        forces = forces_after(rec.values, zero.zero_n_, zero.floor_n_, curves[side])
        totals[side] = forces.sum(axis=1)
    scales = {side: 1.0 for side in stance}
    if body_mass_kg is not None:
        times = [rec.t_s for rec in stance.values()]
        t = times[0]
        if any(x.shape != t.shape or not np.allclose(x, t, atol=0.02) for x in times[1:]):
            t, totals = _common_grid(stance, totals)
        bw = BodyWeightScale(body_mass_kg=body_mass_kg).fit(
            t, totals.get("left"), totals.get("right")
        )
        scales = bw.scale_
        for side in stance:
            quality[side]["body_weight_residual_pct"] = bw.residual_pct_
            quality[side]["poses"] = float(len(bw.poses_))
    out: dict[str, InsoleCalibration] = {}
    for side in stance:
        layout = None if layouts is None else layouts.get(side)
        out[side] = InsoleCalibration(
            device_id=device_ids[side],
            zero_n=zeros[side].zero_n_,
            floor_n=zeros[side].floor_n_,
            scale=scales[side],
            curves=curves[side],
            dead_cells=tuple(sorted(dead[side])),
            saturated_cells=tuple(sorted(saturated[side])),
            layout=layout,
            quality=quality[side],
            routine=" + ".join(
                ["unloaded"]
                + (["stance poses"] if body_mass_kg is not None else [])
                + (["known loads"] if curves[side] is not None else [])
            ),
        )
    return out


def _common_grid(
    stance: Mapping[str, Recording], totals: dict[str, FloatArray]
) -> tuple[FloatArray, dict[str, FloatArray]]:
    """Totals of insoles sampled at different times, interpolated on the first one's times
    (within the span both cover)."""
    start = max(float(r.t_s[0]) for r in stance.values())
    stop = min(float(r.t_s[-1]) for r in stance.values())
    if stop - start < 5.0:
        raise ConfigurationError(
            "The insole recordings do not overlap in time; record both insoles together."
        )
    first = next(iter(stance.values())).t_s
    t = first[(first >= start) & (first <= stop)]
    return t, {side: np.interp(t, stance[side].t_s, totals[side]) for side in stance}
