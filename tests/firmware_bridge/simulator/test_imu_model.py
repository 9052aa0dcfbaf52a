"""IMU model: stance stillness, strike-dependent IC feature, feature timing, mirroring,
purity under chunking, and the sensor's noise, drift and saturation."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Mount, Side
from firmware_bridge.simulator.gait import FootStrike, RunnerConfig, StepPlan, plan_steps
from firmware_bridge.simulator.imu_model import ImuSensorModel, imu_signals


def _plan(strike: FootStrike = FootStrike.REARFOOT, seed: int = 0, **kw: float) -> StepPlan:
    config = RunnerConfig(foot_strike=strike, **kw)  # type: ignore[arg-type]
    return plan_steps(config, 20.0, np.random.default_rng(seed), t0_s=10.0)


def _around(centres: np.ndarray, before_s: float, after_s: float, dt_s: float = 1e-4) -> np.ndarray:
    offsets = np.arange(-before_s, after_s + dt_s / 2, dt_s)
    out: np.ndarray = centres[:, None] + offsets[None, :]
    return out


def _gy(plan: StepPlan, side: Side, t: np.ndarray, mount: Mount = Mount.FOOT) -> np.ndarray:
    return imu_signals(plan, side, t.ravel(), mount)[1][:, 1].reshape(t.shape)


@pytest.mark.parametrize("strike", list(FootStrike))
def test_foot_is_flat_and_still_in_mid_stance(strike: FootStrike) -> None:
    plan = _plan(strike)
    for side in (Side.LEFT, Side.RIGHT):
        steps = plan.for_side(side)
        ic = steps.ic_s + steps.imu_ic_offset_s
        to = steps.to_s + steps.imu_to_offset_s
        t = (ic[:, None] + np.linspace(0.3, 0.5, 21)[None, :] * (to - ic)[:, None]).ravel()
        acc, gyr = imu_signals(plan, side, t, Mount.FOOT)
        np.testing.assert_allclose(acc, np.tile([0.0, 0.0, 1.0], (t.size, 1)), atol=1e-9)
        np.testing.assert_allclose(gyr, 0.0, atol=1e-9)


def test_pitch_rate_sign_after_contact_depends_on_strike() -> None:
    signs = {}
    for strike in FootStrike:
        plan = _plan(strike, seed=1)
        steps = plan.for_side(Side.LEFT)
        gy = _gy(plan, Side.LEFT, steps.ic_s + steps.imu_ic_offset_s + 0.003)
        signs[strike] = np.sign(gy)
        assert np.all(np.abs(gy) > 25.0)
    assert np.all(signs[FootStrike.REARFOOT] > 0)
    assert np.all(signs[FootStrike.MIDFOOT] < 0)
    assert np.all(signs[FootStrike.FOREFOOT] < 0)


@pytest.mark.parametrize("strike", [FootStrike.REARFOOT, FootStrike.FOREFOOT])
def test_ic_and_to_features_sit_at_true_events_plus_offsets(strike: FootStrike) -> None:
    plan = _plan(strike, seed=2)
    steps = plan.for_side(Side.RIGHT)
    t = _around(steps.ic_s, 0.012, 0.030)
    gy = _gy(plan, Side.RIGHT, t)
    extremum = np.argmax(gy, axis=1) if strike is FootStrike.REARFOOT else np.argmin(gy, axis=1)
    found = t[np.arange(t.shape[0]), extremum]
    np.testing.assert_allclose(found, steps.ic_s + steps.imu_ic_offset_s, atol=2e-4)
    assert np.std(found - steps.ic_s) > 5e-4  # not exactly on the truth
    t = _around(steps.to_s, 0.040, 0.030)
    gy = _gy(plan, Side.RIGHT, t)
    found = t[np.arange(t.shape[0]), np.argmax(gy, axis=1)]
    np.testing.assert_allclose(found, steps.to_s + steps.imu_to_offset_s, atol=2e-4)


def test_offset_distribution_is_as_documented_and_speed_dependent() -> None:
    slow = plan_steps(RunnerConfig(speed_m_s=2.0), 300.0, np.random.default_rng(3))
    fast = plan_steps(RunnerConfig(speed_m_s=5.0), 300.0, np.random.default_rng(3))
    assert slow.imu_ic_offset_s.mean() * 1e3 == pytest.approx(3.5, abs=0.3)
    assert slow.imu_ic_offset_s.std() * 1e3 == pytest.approx(2.0, rel=0.15)
    assert slow.imu_to_offset_s.mean() * 1e3 == pytest.approx(-6.5, abs=0.5)
    assert slow.imu_to_offset_s.std() * 1e3 == pytest.approx(4.0, rel=0.15)
    assert fast.imu_ic_offset_s.mean() * 1e3 == pytest.approx(2.0, abs=0.3)
    assert fast.imu_to_offset_s.mean() * 1e3 == pytest.approx(-2.0, abs=0.5)
    gct_bias = lambda p: (p.imu_to_offset_s - p.imu_ic_offset_s).mean() * 1e3  # noqa: E731
    assert -12.0 < gct_bias(slow) < gct_bias(fast) < 0.0


def test_swing_peak_is_the_largest_pitch_rate() -> None:
    plan = _plan(seed=4)
    t = np.arange(11.0, 19.0, 1e-3)
    gy = imu_signals(plan, Side.LEFT, t, Mount.FOOT)[1][:, 1]
    assert gy.min() < -600.0
    assert -gy.min() > gy.max()
    assert np.abs(gy).max() < 2000.0


@pytest.mark.parametrize(
    ("mount", "field"), [(Mount.FOOT, "peak_accel_g"), (Mount.SHANK, "peak_tibial_accel_g")]
)
def test_impact_spike_reaches_the_planned_peak(mount: Mount, field: str) -> None:
    plan = _plan(seed=5)
    steps = plan.for_side(Side.LEFT)
    offset = steps.imu_ic_offset_s if mount == Mount.FOOT else steps.shank_ic_offset_s
    t = _around(steps.ic_s + offset, 0.02, 0.02)
    acc = imu_signals(plan, Side.LEFT, t.ravel(), mount)[0].reshape(*t.shape, 3)
    np.testing.assert_allclose(acc[..., 2].max(axis=1), getattr(steps, field), rtol=1e-3)
    assert np.all(acc[..., 0].min(axis=1) < -0.2 * getattr(steps, field))  # braking, x


def test_impact_is_harder_for_rearfoot_and_faster_running() -> None:
    def mean_peak(strike: FootStrike, speed: float) -> float:
        plan = plan_steps(
            RunnerConfig(foot_strike=strike, speed_m_s=speed), 60.0, np.random.default_rng(6)
        )
        return float(plan.peak_accel_g.mean())

    assert mean_peak(FootStrike.REARFOOT, 3.0) > mean_peak(FootStrike.FOREFOOT, 3.0)
    assert mean_peak(FootStrike.REARFOOT, 4.5) > mean_peak(FootStrike.REARFOOT, 3.0)
    assert 8.0 < mean_peak(FootStrike.REARFOOT, 3.0) < 25.0
    tibial = plan_steps(RunnerConfig(), 60.0, np.random.default_rng(6)).peak_tibial_accel_g
    assert 4.0 < tibial.mean() < 12.0


def test_pitch_angle_returns_every_stride() -> None:
    plan = _plan(seed=7)
    steps = plan.for_side(Side.LEFT)
    dt = 1e-4
    # Foot: flat in mid-stance, so the pitch rate integrates to 0 between mid-stances.
    mid = steps.ic_s + 0.4 * (steps.to_s - steps.ic_s)
    t = np.arange(mid[2], mid[4], dt)
    gy = imu_signals(plan, Side.LEFT, t, Mount.FOOT)[1][:, 1]
    assert abs(gy.sum() * dt) < 0.3  # deg over two strides
    # Shank: from contact to contact it turns from one strike angle to the next.
    start = steps.ic_s + steps.shank_ic_offset_s
    t = np.arange(start[2], start[4], dt)
    gy = imu_signals(plan, Side.LEFT, t, Mount.SHANK)[1][:, 1]
    turned = steps.shank_strike_angle_deg[4] - steps.shank_strike_angle_deg[2]
    assert gy.sum() * dt == pytest.approx(turned, abs=0.3)


def test_left_and_right_are_mirror_images() -> None:
    plan = _plan(seed=8)
    swapped = replace(plan, side=(1 - plan.side).astype(np.int8))
    t = np.arange(11.0, 15.0, 1e-3)
    for mount in (Mount.FOOT, Mount.SHANK):
        acc_r, gyr_r = imu_signals(plan, Side.RIGHT, t, mount)
        acc_l, gyr_l = imu_signals(swapped, Side.LEFT, t, mount)
        np.testing.assert_array_equal(acc_r * [1, -1, 1], acc_l)
        np.testing.assert_array_equal(gyr_r * [-1, 1, -1], gyr_l)
        assert np.abs(gyr_l[:, 0]).max() > 10.0  # there is something to mirror
        assert np.abs(gyr_l[:, 2]).max() > 10.0


@pytest.mark.parametrize("mount", [Mount.FOOT, Mount.SHANK])
def test_chunked_evaluation_equals_one_call(mount: Mount) -> None:
    plan = _plan(FootStrike.MIDFOOT, seed=9)
    t = np.arange(9.0, 31.0, 1e-3)  # before the first and after the last step too
    acc, gyr = imu_signals(plan, Side.RIGHT, t, mount)
    edges = [0, 1, 2, 333, 1000, 4567, 4568, 15000, t.size]
    parts = [imu_signals(plan, Side.RIGHT, t[a:b], mount) for a, b in pairwise(edges)]
    np.testing.assert_array_equal(np.vstack([p[0] for p in parts]), acc)
    np.testing.assert_array_equal(np.vstack([p[1] for p in parts]), gyr)
    assert np.all(np.isfinite(acc))
    np.testing.assert_allclose(acc[-1], [0.0, 0.0, 1.0], atol=1e-9)  # still after the run


def test_shank_signals_are_smoother_than_foot_signals() -> None:
    plan = _plan(seed=10)
    t = np.arange(11.0, 19.0, 1e-3)
    foot = imu_signals(plan, Side.LEFT, t, Mount.FOOT)[1][:, 1]
    shank = imu_signals(plan, Side.LEFT, t, Mount.SHANK)[1][:, 1]
    assert np.abs(np.diff(shank)).max() < 0.5 * np.abs(np.diff(foot)).max()
    assert shank.min() < -300.0
    assert shank.max() > 150.0


def test_signal_arguments_are_checked() -> None:
    plan = _plan()
    with pytest.raises(ValueError, match="Side"):
        imu_signals(plan, Side.UNKNOWN, np.zeros(3), Mount.FOOT)
    with pytest.raises(ValueError, match="Mount"):
        imu_signals(plan, Side.LEFT, np.zeros(3), Mount.INSOLE)


# ------------------------------------------------------------------------- sensor model
def _sensor(seed: int = 0, **kw: object) -> ImuSensorModel:
    return ImuSensorModel(rng=np.random.default_rng(seed), **kw)  # type: ignore[arg-type]


def test_sensor_clips_at_full_scale() -> None:
    plan = _plan(seed=11, speed_m_s=6.0, cadence_spm=190.0, gct_ms=170.0)
    t = np.arange(11.0, 15.0, 1e-3)
    acc, gyr = imu_signals(plan, Side.LEFT, t, Mount.FOOT)
    assert acc[:, 2].max() > 16.0  # a fast rearfoot impact exceeds ±16 g
    out_acc, out_gyr = _sensor(acc_full_scale_g=16.0, gyr_full_scale_dps=1000.0).apply(t, acc, gyr)
    assert out_acc.max() == 16.0
    assert out_gyr.min() == -1000.0
    assert np.all(np.abs(out_acc) <= 16.0)
    assert np.all(np.abs(out_gyr) <= 1000.0)


def test_sensor_noise_and_bias() -> None:
    t = np.arange(0.0, 20.0, 1e-3)
    still_acc = np.tile([0.0, 0.0, 1.0], (t.size, 1))
    model = _sensor(
        acc_noise_g=0.02,
        gyr_noise_dps=0.5,
        acc_bias_g=np.array([0.01, -0.02, 0.03]),
        gyr_bias_dps=np.array([1.0, -2.0, 0.5]),
        gyr_bias_drift_dps_per_min=0.0,
    )
    acc, gyr = model.apply(t, still_acc, np.zeros((t.size, 3)))
    np.testing.assert_allclose(acc.mean(axis=0), [0.01, -0.02, 1.03], atol=1e-3)
    np.testing.assert_allclose(gyr.mean(axis=0), [1.0, -2.0, 0.5], atol=0.02)
    np.testing.assert_allclose(acc.std(axis=0), 0.02, rtol=0.05)
    np.testing.assert_allclose(gyr.std(axis=0), 0.5, rtol=0.05)


def test_sensor_bias_drift_grows_like_a_random_walk() -> None:
    t = np.arange(0.0, 60.0, 1e-2)
    ends = []
    for seed in range(40):
        model = _sensor(
            seed,
            acc_noise_g=0.0,
            gyr_noise_dps=0.0,
            gyr_bias_dps=np.zeros(3),
            gyr_bias_drift_dps_per_min=0.5,
        )
        _, gyr = model.apply(t, np.zeros((t.size, 3)), np.zeros((t.size, 3)))
        ends.append(gyr[-1])
        assert np.abs(np.diff(gyr, axis=0)).max() < 0.1  # continuous, no jumps
    assert np.std(ends) == pytest.approx(0.5, rel=0.3)


def test_sensor_chunks_equal_one_call_and_stay_continuous() -> None:
    plan = _plan(seed=12)
    t = np.arange(11.0, 17.0, 1e-3)
    acc, gyr = imu_signals(plan, Side.LEFT, t, Mount.FOOT)
    whole = _sensor(seed=5, gyr_bias_drift_dps_per_min=3.0).apply(t, acc, gyr)
    chunked = _sensor(seed=5, gyr_bias_drift_dps_per_min=3.0)
    edges = [0, 1, 500, 501, 2000, 5999, t.size]
    parts = [chunked.apply(t[a:b], acc[a:b], gyr[a:b]) for a, b in pairwise(edges)]
    np.testing.assert_array_equal(np.vstack([p[0] for p in parts]), whole[0])
    np.testing.assert_array_equal(np.vstack([p[1] for p in parts]), whole[1])


def test_sensor_rejects_bad_settings() -> None:
    with pytest.raises(ConfigurationError, match="acc_noise_g"):
        _sensor(acc_noise_g=-1.0)
    with pytest.raises(ConfigurationError, match="gyr_bias_dps"):
        _sensor(gyr_bias_dps=np.zeros(2))
