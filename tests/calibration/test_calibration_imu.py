"""IMU calibration recovers the simulator's true errors within the issue's tolerances:
accelerometer offset 0.005 g, scale 0.5 %, gyroscope bias 0.1 deg/s, mounting 2°."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.files import ImuCalibration
from calibration.imu import GyroBias, MountingAlignment, SixFaceAccel, rotation_angle_deg
from calibration.procedures import Recording, calibrate_imu
from calibration.still import StillDetector
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Mount, Side
from firmware_bridge.simulator.calibration_routines import (
    ImuTruth,
    mounting_routine,
    rotation_from_euler_deg,
    six_face_routine,
)

SEEDS = (11, 12, 13)


def _truth(seed: int, tilt_deg: float = 25.0) -> tuple[ImuTruth, np.random.Generator]:
    rng = np.random.default_rng(seed)
    return ImuTruth.draw(rng, tilt_deg=tilt_deg), rng


@pytest.mark.parametrize("seed", SEEDS)
def test_six_face_recovers_offset_and_scale(seed: int) -> None:
    truth, rng = _truth(seed)
    routine = six_face_routine(truth, rng)
    fit = SixFaceAccel().fit(routine.t_s["imu"], routine.values["imu"])
    assert fit.faces_.shape[0] == 6
    np.testing.assert_allclose(fit.offset_g_, truth.accel_offset_g, atol=0.005)
    np.testing.assert_allclose(fit.scale_ / truth.accel_scale, 1.0, atol=0.005)


def test_still_periods_are_the_faces() -> None:
    truth, rng = _truth(3)
    routine = six_face_routine(truth, rng, hold_s=3.0, turn_s=1.5)
    values = routine.values["imu"]
    still = StillDetector().detect(routine.t_s["imu"], values[:, :3], values[:, 3:])
    assert still.segments_.shape[0] == 6
    # Each still period starts at a hold (every 4.5 s), give or take the end of a turn.
    starts = routine.t_s["imu"][still.segments_[:, 0]]
    assert np.all(np.mod(starts + 0.5, 4.5) < 1.0)


@pytest.mark.parametrize(
    ("seed", "side", "mount", "walking"),
    [
        (21, Side.LEFT, Mount.FOOT, True),
        (22, Side.RIGHT, Mount.FOOT, True),
        (23, Side.LEFT, Mount.FOOT, False),
        (24, Side.RIGHT, Mount.SHANK, True),
    ],
)
def test_gyro_bias_and_mounting_from_standing_and_steps(
    seed: int, side: Side, mount: Mount, walking: bool
) -> None:
    truth, rng = _truth(seed)
    routine = mounting_routine(truth, rng, side=side, mount=mount, walking=walking)
    t, values = routine.t_s["imu"], routine.values["imu"].copy()
    values[:, :3] = truth.accel_scale * (values[:, :3] - truth.accel_offset_g)
    gyro = GyroBias().estimate(t, values)
    start, stop = routine.truth["standing_s"]  # type: ignore[misc]
    standing = (t >= start) & (t < stop)
    true_bias = routine.truth["gyro_bias_dps_series"][standing].mean(axis=0)  # type: ignore[index]
    np.testing.assert_allclose(gyro.bias_dps_, true_bias, atol=0.1)
    values[:, 3:] -= gyro.bias_dps_
    align = MountingAlignment().fit(t, values)
    assert rotation_angle_deg(align.rotation_, truth.alignment) < 2.0


@pytest.mark.parametrize("seed", [31, 32])
def test_whole_imu_calibration_from_both_routines(seed: int) -> None:
    truth, rng = _truth(seed, tilt_deg=30.0)
    six = six_face_routine(truth, rng)
    mount = mounting_routine(truth, rng, side=Side.LEFT)
    cal = calibrate_imu(
        device_id=0x6A000001,
        six_face=Recording(six.t_s["imu"], six.values["imu"]),
        mounting=Recording(mount.t_s["imu"], mount.values["imu"]),
    )
    np.testing.assert_allclose(cal.accel_offset_g, truth.accel_offset_g, atol=0.005)
    np.testing.assert_allclose(cal.accel_scale / truth.accel_scale, 1.0, atol=0.005)
    t = mount.t_s["imu"]
    standing = t < mount.truth["standing_s"][1]  # type: ignore[index]
    true_bias = mount.truth["gyro_bias_dps_series"][standing].mean(axis=0)  # type: ignore[index]
    np.testing.assert_allclose(cal.gyro_bias_dps, true_bias, atol=0.1)
    assert rotation_angle_deg(cal.alignment, truth.alignment) < 2.0
    assert abs(cal.quality["standing_gravity_g"] - 1.0) < 0.005


def test_missing_face_is_named() -> None:
    truth, rng = _truth(41)
    routine = six_face_routine(truth, rng)
    t, values = routine.t_s["imu"], routine.values["imu"]
    keep = t < 4.5 * 5  # the sixth face (−y up) is never held
    with pytest.raises(ConfigurationError, match=r"six faces|six-face"):
        SixFaceAccel().fit(t[keep], values[keep])


def test_mounting_without_standing_is_refused() -> None:
    truth, rng = _truth(42)
    routine = mounting_routine(truth, rng, stand_s=0.3)
    t, values = routine.t_s["imu"], routine.values["imu"]
    moving = t > 1.0
    with pytest.raises(ConfigurationError, match="stand"):
        MountingAlignment().fit(t[moving], values[moving])


@pytest.mark.parametrize(
    "angles_deg", [(0.0, 0.0, 180.0), (0.0, 0.0, 90.0), (180.0, 0.0, 0.0), (90.0, 0.0, -90.0)]
)
def test_mounting_backwards_sideways_or_upside_down(angles_deg: tuple[float, float, float]) -> None:
    rng = np.random.default_rng(61)
    drawn = ImuTruth.draw(rng)
    truth = ImuTruth(
        accel_offset_g=drawn.accel_offset_g,
        accel_sensitivity=drawn.accel_sensitivity,
        gyro_bias_dps=drawn.gyro_bias_dps,
        mount_rotation=rotation_from_euler_deg(*angles_deg),
    )
    routine = mounting_routine(truth, rng, side=Side.RIGHT)
    cal = calibrate_imu(
        device_id=1,
        mounting=Recording(routine.t_s["imu"], routine.values["imu"]),
        base=ImuCalibration(
            device_id=1,
            accel_offset_g=truth.accel_offset_g,
            accel_scale=truth.accel_scale,
            gyro_bias_dps=np.zeros(3),
        ),
    )
    assert rotation_angle_deg(cal.alignment, truth.alignment) < 2.0
