"""The step plan and the ground truth recover what the runner was configured to do."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side
from firmware_bridge.simulator.gait import (
    LEAD_IN_S,
    FootStrike,
    RunnerConfig,
    StepPlan,
    plan_steps,
)
from firmware_bridge.simulator.truth import (
    TrueEvents,
    read_truth_csv,
    true_events,
    write_truth_csv,
)

STEADY: dict[str, Any] = {"step_time_cv_pct": 0.0, "gct_cv_pct": 0.0}


def _si(left: float, right: float) -> float:
    return 100.0 * (left - right) / (0.5 * (left + right))


def _step_times(events: TrueEvents, side: Side) -> np.ndarray:
    """Step time of ``side``: its IC minus the previous (contralateral) IC."""
    step = np.diff(events.ic_s)
    return step[events.side[1:] == int(side)]


def _plan_and_truth(
    config: RunnerConfig, duration_s: float, seed: int
) -> tuple[StepPlan, TrueEvents]:
    plan = plan_steps(config, duration_s, np.random.default_rng(seed), t0_s=100.0)
    return plan, true_events(plan)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cadence_spm", 20.0),
        ("cadence_spm", float("nan")),
        ("gct_ms", 50.0),
        ("gct_si_pct", 45.0),
        ("body_mass_kg", -3.0),
        ("peak_force_bw", 9.0),
        ("step_time_cv_pct", 25.0),
    ],
)
def test_config_rejects_bad_values_by_name(field: str, value: float) -> None:
    with pytest.raises(ConfigurationError, match=field):
        RunnerConfig(**{field: value})  # type: ignore[arg-type]


def test_config_rejects_contact_longer_than_the_stride_allows() -> None:
    with pytest.raises(ConfigurationError, match="duty factor"):
        RunnerConfig(cadence_spm=180.0, gct_ms=520.0)
    with pytest.raises(ConfigurationError, match="duty factor"):
        RunnerConfig(gct_ms=400.0, cadence_spm=150.0, cadence_schedule=((10.0, 240.0),))


def test_config_rejects_unordered_schedule() -> None:
    with pytest.raises(ConfigurationError, match="increase"):
        RunnerConfig(cadence_schedule=((20.0, 170.0), (10.0, 175.0)))


def test_walking_means_double_support() -> None:
    assert not RunnerConfig().walking
    walk = RunnerConfig(cadence_spm=110.0, gct_ms=650.0, speed_m_s=1.3, peak_force_bw=1.1)
    assert walk.walking
    _, truth = _plan_and_truth(walk, 20.0, seed=5)
    left, right = truth.for_side(Side.LEFT), truth.for_side(Side.RIGHT)
    # Each right contact starts before the preceding left contact has ended.
    ends_before = left.to_s[np.searchsorted(left.ic_s, right.ic_s) - 1]
    assert np.all(right.ic_s[1:] < ends_before[1:])
    duty = truth.gct_s.mean() / (2 * np.diff(truth.ic_s).mean())
    assert 0.5 < duty < 0.65


def test_same_seed_same_plan_and_different_seed_differs() -> None:
    a = plan_steps(RunnerConfig(), 30.0, np.random.default_rng(7))
    b = plan_steps(RunnerConfig(), 30.0, np.random.default_rng(7))
    c = plan_steps(RunnerConfig(), 30.0, np.random.default_rng(8))
    np.testing.assert_array_equal(a.on_s, b.on_s)
    np.testing.assert_array_equal(a.cop_x_knots, b.cop_x_knots)
    np.testing.assert_array_equal(a.imu_ic_offset_s, b.imu_ic_offset_s)
    assert not np.array_equal(a.on_s, c.on_s)


@pytest.mark.parametrize(("gct_si", "step_si"), [(0.0, 0.0), (6.0, -4.0), (-3.0, 2.5)])
def test_truth_recovers_configured_means_per_side(gct_si: float, step_si: float) -> None:
    config = RunnerConfig(
        cadence_spm=172.0, gct_ms=240.0, gct_si_pct=gct_si, step_time_si_pct=step_si, **STEADY
    )
    plan, truth = _plan_and_truth(config, 180.0, seed=1)
    assert len(truth) == plan.n_steps >= 500
    gct_left = truth.for_side(Side.LEFT).gct_s.mean() * 1e3
    gct_right = truth.for_side(Side.RIGHT).gct_s.mean() * 1e3
    assert gct_left == pytest.approx(240.0 * (1 + gct_si / 200), abs=1.0)
    assert gct_right == pytest.approx(240.0 * (1 - gct_si / 200), abs=1.0)
    assert _si(gct_left, gct_right) == pytest.approx(gct_si, abs=0.3)
    step_left = _step_times(truth, Side.LEFT).mean() * 1e3
    step_right = _step_times(truth, Side.RIGHT).mean() * 1e3
    nominal_ms = 60_000.0 / 172.0
    assert step_left == pytest.approx(nominal_ms * (1 + step_si / 200), abs=1.0)
    assert step_right == pytest.approx(nominal_ms * (1 - step_si / 200), abs=1.0)
    assert _si(step_left, step_right) == pytest.approx(step_si, abs=0.3)
    assert 60.0 / np.diff(truth.ic_s).mean() == pytest.approx(172.0, abs=0.1)


def test_truth_with_variability_keeps_means_and_spread() -> None:
    config = RunnerConfig(gct_si_pct=4.0, step_time_cv_pct=1.5, gct_cv_pct=2.5)
    _, truth = _plan_and_truth(config, 240.0, seed=2)
    for side, sign in ((Side.LEFT, 1), (Side.RIGHT, -1)):
        gct = truth.for_side(side).gct_s * 1e3
        assert gct.mean() == pytest.approx(250.0 * (1 + sign * 0.02), abs=1.5)
        assert 100 * gct.std() / gct.mean() == pytest.approx(2.5, rel=0.25)
        step = _step_times(truth, side)
        assert 100 * step.std() / step.mean() == pytest.approx(1.5, rel=0.25)


def test_truth_crossing_is_a_few_ms_after_force_onset_and_alternates() -> None:
    for strike in FootStrike:
        plan, truth = _plan_and_truth(RunnerConfig(foot_strike=strike), 60.0, seed=3)
        delay_ms = (truth.ic_s - plan.on_s) * 1e3
        assert np.all(delay_ms > 0.5)
        assert np.all(delay_ms < 10.0)
        assert np.all((plan.off_s - truth.to_s) * 1e3 < 15.0)
        assert np.all(truth.ic_s < truth.to_s)
        assert np.all(np.diff(truth.ic_s) > 0)
        assert np.all(truth.side[1:] != truth.side[:-1])
        assert truth.side[0] == Side.LEFT
        assert truth.ic_s[0] == pytest.approx(100.0 + LEAD_IN_S, abs=1e-5)
        # The truth comes from the force itself and lands where the plan put it.
        np.testing.assert_allclose(truth.ic_s, plan.ic_s, atol=5e-6)
        np.testing.assert_allclose(truth.to_s, plan.to_s, atol=5e-6)


def test_truth_threshold_moves_events_inward() -> None:
    plan, truth = _plan_and_truth(RunnerConfig(), 10.0, seed=4)
    higher = true_events(plan, threshold_n=200.0)
    assert np.all(higher.ic_s > truth.ic_s)
    assert np.all(higher.to_s < truth.to_s)
    assert len(true_events(plan, threshold_n=1e5)) == 0


def test_truth_rejects_coarse_grid() -> None:
    plan, _ = _plan_and_truth(RunnerConfig(), 5.0, seed=4)
    with pytest.raises(ConfigurationError, match="resolution_hz"):
        true_events(plan, resolution_hz=500.0)


def test_cadence_schedule_is_honoured() -> None:
    config = RunnerConfig(
        cadence_spm=160.0, cadence_schedule=((30.0, 176.0), (60.0, 168.0)), **STEADY
    )
    _, truth = _plan_and_truth(config, 90.0, seed=6)
    t_rel = truth.ic_s - 100.0
    cadence = 60.0 / np.diff(truth.ic_s)
    mid = t_rel[1:]
    assert np.allclose(cadence[(mid > 2) & (mid < 29)], 160.0)
    assert np.allclose(cadence[(mid > 31) & (mid < 59)], 176.0)
    assert np.allclose(cadence[mid > 61], 168.0)


def test_plan_covers_duration_and_interleaves_sides() -> None:
    plan = plan_steps(RunnerConfig(), 60.0, np.random.default_rng(9), t0_s=5.0)
    assert plan.ic_s[-1] < 65.0
    assert plan.ic_s[-1] > 65.0 - 0.5
    left = plan.for_side(Side.LEFT)
    assert np.all(left.side == Side.LEFT)
    assert np.all(left.on_s[1:] > left.off_s[:-1])  # one foot never overlaps itself
    assert abs(left.n_steps - plan.for_side(Side.RIGHT).n_steps) <= 1
    assert plan.select(slice(0, 0)).n_steps == 0


def test_strike_index_falls_in_class_band() -> None:
    bands = {
        FootStrike.REARFOOT: (0, 1 / 3),
        FootStrike.MIDFOOT: (1 / 3, 2 / 3),
        FootStrike.FOREFOOT: (2 / 3, 1),
    }
    config = RunnerConfig(foot_strike=FootStrike.REARFOOT, foot_strike_right=FootStrike.FOREFOOT)
    plan = plan_steps(config, 30.0, np.random.default_rng(10))
    codes = list(FootStrike)
    for side, strike in ((Side.LEFT, FootStrike.REARFOOT), (Side.RIGHT, FootStrike.FOREFOOT)):
        steps = plan.for_side(side)
        assert {codes[int(c)] for c in steps.strike} == {strike}
        low, high = bands[strike]
        assert np.all((steps.strike_index > low) & (steps.strike_index < high))
        assert np.all((steps.impact_peak_n > 0) == (strike is FootStrike.REARFOOT))


def test_truth_csv_round_trip(tmp_path: Path) -> None:
    _, truth = _plan_and_truth(RunnerConfig(), 10.0, seed=11)
    path = tmp_path / "truth.csv"
    write_truth_csv(truth, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "side,ic_s,to_s"
    assert lines[1].startswith("left,100.250000,")
    back = read_truth_csv(path)
    np.testing.assert_array_equal(back.side, truth.side)
    np.testing.assert_allclose(back.ic_s, truth.ic_s, atol=5e-7)
    np.testing.assert_allclose(back.to_s, truth.to_s, atol=5e-7)


def test_truth_csv_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="header"):
        read_truth_csv(path)
    path.write_text("side,ic_s,to_s\nmiddle,1.0,1.2\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="line 2"):
        read_truth_csv(path)


@settings(max_examples=12, deadline=None)
@given(
    cadence=st.floats(140.0, 200.0),
    gct_ms=st.floats(160.0, 300.0),
    gct_si=st.floats(-10.0, 10.0),
    strike=st.sampled_from(list(FootStrike)),
    mass=st.floats(45.0, 110.0),
    peak_bw=st.floats(1.8, 3.2),
)
def test_truth_gct_matches_config_over_parameter_draws(
    cadence: float, gct_ms: float, gct_si: float, strike: FootStrike, mass: float, peak_bw: float
) -> None:
    config = RunnerConfig(
        cadence_spm=cadence,
        gct_ms=gct_ms,
        gct_si_pct=gct_si,
        foot_strike=strike,
        body_mass_kg=mass,
        peak_force_bw=peak_bw,
        **STEADY,
    )
    _, truth = _plan_and_truth(config, 20.0, seed=12)
    for side, sign in ((Side.LEFT, 1), (Side.RIGHT, -1)):
        gct = truth.for_side(side).gct_s.mean() * 1e3
        assert gct == pytest.approx(gct_ms * (1 + sign * gct_si / 200), abs=0.05)


def test_for_side_keeps_every_field_aligned() -> None:
    plan = plan_steps(RunnerConfig(), 10.0, np.random.default_rng(13))
    right = plan.for_side(Side.RIGHT)
    mask = plan.side == Side.RIGHT
    np.testing.assert_array_equal(right.cop_y_knots, plan.cop_y_knots[mask])
    np.testing.assert_array_equal(right.peak_tibial_accel_g, plan.peak_tibial_accel_g[mask])
    with pytest.raises(ValueError, match="entries"):
        replace(plan, on_s=plan.on_s[:-1])
