"""IMU calibration: gyroscope bias, accelerometer offset and scale, mounting alignment.

The sensor model these routines invert (per axis, in the sensor's own axes)::

    acc_measured = acc_true / accel_scale + accel_offset_g
    gyr_measured = gyr_true + gyro_bias_dps

and the calibrated values in the segment frame of DESIGN.md (x anterior, y left, z up) are
``R · (accel_scale · (acc − accel_offset_g))`` and ``R · (gyr − gyro_bias_dps)``, where ``R``
(``alignment``) turns sensor axes into segment axes.

* ``GyroBias``: the mean gyroscope reading over still periods (found automatically).
* ``SixFaceAccel``: the sensor rests on each of its six faces in turn; offset and per-axis
  scale are the least-squares solution that makes the magnitude of every still reading 1 g.
* ``MountingAlignment``: with the sensor strapped on, quiet standing gives gravity (→ +z) and
  a few steps give the sagittal rotation axis (the dominant axis of rotation, → +y, signed so
  that the swing peak of the pitch rate is negative as in DESIGN.md); x = y × z.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares

from calibration.still import StillDetector
from firmware_bridge.errors import ConfigurationError

if TYPE_CHECKING:
    from typing import Self

__all__ = ["GyroBias", "MountingAlignment", "SixFaceAccel", "rotation_angle_deg"]

FloatArray = npt.NDArray[np.float64]


def _split(values: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 6:
        raise ConfigurationError(
            f"IMU calibration needs six columns (ax, ay, az, gx, gy, gz), got shape {v.shape}."
        )
    return v[:, :3], v[:, 3:]


def rotation_angle_deg(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Angle (deg) of the rotation that turns rotation matrix ``b`` into ``a``."""
    m = np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64).T
    cos = np.clip((np.trace(m) - 1.0) / 2.0, -1.0, 1.0)
    return float(np.degrees(np.arccos(cos)))


class GyroBias:
    """Gyroscope bias from the still periods of a recording.

    Parameters:
        still: the still-period detector (default settings when None).
        min_still_s: least total still time needed (s).

    Results (after ``estimate``):
        bias_dps_: ``(3,)`` mean gyroscope reading while still (deg/s).
        noise_dps_: ``(3,)`` standard deviation while still (deg/s).
        accel_noise_g_: ``(3,)`` accelerometer standard deviation while still (g).
        still_s_: total still time used (s).
    """

    def __init__(self, *, still: StillDetector | None = None, min_still_s: float = 1.0) -> None:
        self.still = still
        self.min_still_s = min_still_s

    def estimate(self, t_s: npt.ArrayLike, values: npt.ArrayLike) -> Self:
        """Estimate from samples at ``t_s`` ``(n,)`` with IMU values ``(n, 6)``."""
        t = np.asarray(t_s, dtype=np.float64)
        acc, gyr = _split(values)
        detector = (self.still or StillDetector()).detect(t, acc, gyr)
        rate_hz = 1.0 / float(np.median(np.diff(t)))
        mask = detector.still_
        # Leave out the edges of each still period, where motion may start or stop.
        trimmed = np.zeros_like(mask)
        margin = round(0.1 * rate_hz)
        for a, b in detector.segments_:
            if b - a > 2 * margin:
                trimmed[a + margin : b - margin] = True
        self.still_s_ = float(trimmed.sum()) / rate_hz
        if self.still_s_ < self.min_still_s:
            raise ConfigurationError(
                f"The recording holds {self.still_s_:.1f} s of stillness; hold the sensor "
                f"still for at least {self.min_still_s:g} s."
            )
        self.bias_dps_ = gyr[trimmed].mean(axis=0)
        self.noise_dps_ = gyr[trimmed].std(axis=0)
        self.accel_noise_g_ = acc[trimmed].std(axis=0)
        return self


class SixFaceAccel:
    """Accelerometer offset and per-axis scale from a six-face routine.

    Parameters:
        still: the still-period detector (default settings when None).
        same_face_g: still periods whose mean readings differ by less than this (g) are
            the same face, held twice.
        min_face_s: shortest still period that counts as a face (s).

    Results (after ``fit``):
        offset_g_: ``(3,)`` accelerometer offset (g).
        scale_: ``(3,)`` per-axis scale (dimensionless, ~1).
        faces_: ``(k, 3)`` mean reading of each face (g).
        face_samples_: ``(k,)`` samples averaged per face.
        residual_g_: RMS of ``|calibrated reading| − 1`` over the faces (g).
        gyro_bias_dps_: ``(3,)`` gyroscope bias over the faces (deg/s).
        still_noise_g_: ``(3,)`` accelerometer noise while still (g, mean SD over faces).
    """

    def __init__(
        self,
        *,
        still: StillDetector | None = None,
        same_face_g: float = 0.25,
        min_face_s: float = 1.0,
    ) -> None:
        self.still = still
        self.same_face_g = same_face_g
        self.min_face_s = min_face_s

    def faces(self, t_s: npt.ArrayLike, values: npt.ArrayLike) -> list[tuple[int, int]]:
        """Still periods (start, stop sample index) long enough to be faces."""
        t = np.asarray(t_s, dtype=np.float64)
        acc, gyr = _split(values)
        detector = (self.still or StillDetector(min_still_s=self.min_face_s)).detect(t, acc, gyr)
        return [(int(a), int(b)) for a, b in detector.segments_]

    def fit(self, t_s: npt.ArrayLike, values: npt.ArrayLike) -> Self:
        """Fit from a recording ``t_s`` ``(n,)``, ``values`` ``(n, 6)`` of the six-face routine.

        Raises:
            ConfigurationError: fewer than six distinct faces, or a face with some axis
                pointing up or down is missing.
        """
        t = np.asarray(t_s, dtype=np.float64)
        acc, gyr = _split(values)
        rate_hz = 1.0 / float(np.median(np.diff(t)))
        margin = round(0.1 * rate_hz)
        groups: list[list[tuple[int, int]]] = []
        means: list[FloatArray] = []
        for a, b in self.faces(t, values):
            a2, b2 = (a + margin, b - margin) if b - a > 3 * margin else (a, b)
            m = acc[a2:b2].mean(axis=0)
            for g, previous in zip(groups, means, strict=True):
                if np.linalg.norm(previous - m) < self.same_face_g:
                    g.append((a2, b2))
                    break
            else:
                groups.append([(a2, b2)])
                means.append(m)
        rows = [np.concatenate([np.arange(a, b) for a, b in g]) for g in groups]
        faces = np.array([acc[r].mean(axis=0) for r in rows]) if rows else np.empty((0, 3))
        if faces.shape[0] < 6:
            raise ConfigurationError(
                f"The six-face routine shows {faces.shape[0]} still faces; rest the sensor "
                f"still for 2–3 s on each of its six faces."
            )
        for axis, name in enumerate("xyz"):
            if not (faces[:, axis].max() > 0.5 and faces[:, axis].min() < -0.5):
                raise ConfigurationError(
                    f"The six-face routine misses a face with the sensor's {name} axis pointing "
                    f"up or down; rest it on all six faces."
                )
        lo, hi = faces.min(axis=0), faces.max(axis=0)
        start = np.concatenate([(hi + lo) / 2.0, 2.0 / (hi - lo)])

        def residual(p: FloatArray) -> FloatArray:
            out: FloatArray = np.linalg.norm(p[3:] * (faces - p[:3]), axis=1) - 1.0
            return out

        solution = least_squares(residual, start, method="lm")
        self.offset_g_ = solution.x[:3].copy()
        self.scale_ = solution.x[3:].copy()
        self.faces_ = faces
        self.face_samples_ = np.array([r.size for r in rows])
        self.residual_g_ = float(np.sqrt(np.mean(residual(solution.x) ** 2)))
        all_rows = np.concatenate(rows)
        self.gyro_bias_dps_ = gyr[all_rows].mean(axis=0)
        self.still_noise_g_ = np.mean([acc[r].std(axis=0) for r in rows], axis=0)
        return self


class MountingAlignment:
    """Rotation from the sensor's axes to the segment frame, from quiet standing and steps.

    The input must already be corrected for accelerometer offset and scale and for the
    gyroscope bias.

    Parameters:
        still: the still-period detector for quiet standing (default settings when None).
        min_rate_dps: gyroscope samples slower than this are left out of the axis search.
        min_moving_s: least time above ``min_rate_dps`` needed (s).

    Results (after ``fit``):
        rotation_: ``(3, 3)`` segment-from-sensor rotation (rows: the segment's x, y, z
            axes in sensor coordinates).
        gravity_: ``(3,)`` unit gravity direction while standing, in sensor axes.
        pitch_axis_: ``(3,)`` unit sagittal rotation axis, in sensor axes.
        tilt_deg_: angle between the sensor's z axis and vertical while standing (deg).
        off_axis_pct_: rotation outside the sagittal axis during the steps, as a percentage
            of the rotation about it (RMS ratio; small when the axis is well defined).
        standing_s_: quiet standing time used (s).
        gravity_norm_g_: magnitude of the mean acceleration while standing (g; 1 when the
            accelerometer is calibrated).
    """

    def __init__(
        self,
        *,
        still: StillDetector | None = None,
        min_rate_dps: float = 50.0,
        min_moving_s: float = 0.5,
    ) -> None:
        self.still = still
        self.min_rate_dps = min_rate_dps
        self.min_moving_s = min_moving_s

    def fit(self, t_s: npt.ArrayLike, values: npt.ArrayLike) -> Self:
        """Fit from a recording ``t_s`` ``(n,)``, ``values`` ``(n, 6)`` of quiet standing
        followed by a few steps.

        Raises:
            ConfigurationError: no quiet standing, or too little stepping.
        """
        t = np.asarray(t_s, dtype=np.float64)
        acc, gyr = _split(values)
        rate_hz = 1.0 / float(np.median(np.diff(t)))
        detector = (self.still or StillDetector()).detect(t, acc, gyr)
        if detector.segments_.shape[0] == 0:
            raise ConfigurationError(
                "The mounting routine shows no quiet standing; stand still for 3 s before walking."
            )
        lengths = detector.segments_[:, 1] - detector.segments_[:, 0]
        a, b = detector.segments_[int(np.argmax(lengths))]
        self.standing_s_ = float(b - a) / rate_hz
        gravity = acc[a:b].mean(axis=0)
        self.gravity_norm_g_ = float(np.linalg.norm(gravity))
        z = gravity / np.linalg.norm(gravity)
        moving = np.linalg.norm(gyr, axis=1) > self.min_rate_dps
        if moving.sum() < self.min_moving_s * rate_hz:
            raise ConfigurationError(
                "The mounting routine shows too little movement; walk or jog a few steps "
                "after standing still."
            )
        w = gyr[moving]
        w = w - np.outer(w @ z, z)  # rotation in the horizontal plane of the standing pose
        scatter = w.T @ w
        eigenvalues, vectors = np.linalg.eigh(scatter)
        y = vectors[:, -1]
        y = y - (y @ z) * z
        y /= np.linalg.norm(y)
        pitch = w @ y
        # In the segment frame the swing peak of the pitch rate is negative.
        if abs(np.percentile(pitch, 0.5)) < abs(np.percentile(pitch, 99.5)):
            y = -y
        x = np.cross(y, z)
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        self.rotation_ = np.vstack([x, y, z])
        self.gravity_ = z
        self.pitch_axis_ = y
        self.tilt_deg_ = float(np.degrees(np.arccos(np.clip(z[2], -1.0, 1.0))))
        self.off_axis_pct_ = float(100.0 * np.sqrt(eigenvalues[-2] / max(eigenvalues[-1], 1e-12)))
        return self
