"""Metrics against closed-form values computed from the simulator's truth."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side
from firmware_bridge.simulator.gait import RunnerConfig, plan_steps
from firmware_bridge.simulator.truth import TrueEvents, true_events
from realtime.events import ContactEvent, EventKind, EventSource, FootStrike, Gait, Step, StepFlag
from realtime.metrics import (
    Baseline,
    CadenceAdherence,
    GaitMetrics,
    RollingMetrics,
    balance_left_pct,
    compute_metrics,
    step_beat_asynchrony_ms,
    summarise,
    symmetry_index_pct,
    target_from_baseline,
)
from realtime.steps import StepAssembler


@functools.cache
def truth_of(duration_s: float = 120.0, seed: int = 5, **config: Any) -> TrueEvents:
    """True events of a seeded run of ``RunnerConfig(**config)``."""
    plan = plan_steps(RunnerConfig(**config), duration_s, np.random.default_rng(seed))
    return true_events(plan)


def steps_from(truth: TrueEvents, *, peak_force_n: float = math.nan) -> list[Step]:
    """Exact insole events of the truth through the step assembler, in IC order."""
    events: list[ContactEvent] = []
    for k in range(len(truth)):
        side = Side(int(truth.side[k]))
        ic, to = float(truth.ic_s[k]), float(truth.to_s[k])
        events += [
            ContactEvent(EventKind.INITIAL_CONTACT, side, ic, EventSource.INSOLE, ic, 2 * k, 2 * k),
            ContactEvent(
                EventKind.TOE_OFF,
                side,
                to,
                EventSource.INSOLE,
                to,
                2 * k + 1,
                2 * k,
                peak_force_n=peak_force_n,
            ),
        ]
    events.sort(key=lambda e: e.detected_s)
    steps = StepAssembler().update(events).flush().pop_steps()
    assert len(steps) == len(truth)
    return sorted(steps, key=lambda s: s.ic_s)


def true_step_ms(truth: TrueEvents) -> np.ndarray:
    """IC minus previous contralateral IC (ms), NaN for the first step (truth alternates)."""
    assert np.all(np.diff(truth.side.astype(int)) != 0)
    return np.concatenate(([np.nan], 1e3 * np.diff(truth.ic_s)))


def side_mean(truth: TrueEvents, values: np.ndarray, side: Side) -> float:
    mask = (truth.side == int(side)) & np.isfinite(values)
    return float(values[mask].mean())


# --------------------------------------------------------------------------- cadence
def test_rolling_cadence_equals_the_truth_window_by_window() -> None:
    truth = truth_of()
    steps = steps_from(truth)
    step_ms = true_step_ms(truth)
    rolling = RollingMetrics(window_steps=20)
    for k, step in enumerate(steps):
        snap = rolling.update([step]).snapshot()
        window = step_ms[max(0, k - 19) : k + 1]
        window = window[np.isfinite(window)]
        if window.size == 0:
            assert math.isnan(snap.cadence_spm)
            continue
        assert snap.cadence_spm == pytest.approx(60_000.0 / window.mean(), abs=1e-9)
        assert snap.n_steps == min(k + 1, 20)


def test_cadence_of_a_170_spm_plan() -> None:
    exact = compute_metrics(steps_from(truth_of(step_time_cv_pct=0.0)))
    assert exact.cadence_spm == pytest.approx(170.0, abs=1e-3)
    varied = compute_metrics(steps_from(truth_of()))  # 1.5 % step-time CV
    assert varied.cadence_spm == pytest.approx(170.0, abs=0.5)


def test_gct_asymmetry_of_ten_percent() -> None:
    truth = truth_of(gct_si_pct=10.0, gct_cv_pct=0.5)
    m = compute_metrics(steps_from(truth))
    # nominal: L = 1.05 · 250 ms, R = 0.95 · 250 ms
    assert m.gct_si_pct == pytest.approx(10.0, abs=0.3)
    assert m.gct_balance_left_pct == pytest.approx(52.5, abs=0.3)
    assert m.gct_balance_right_pct == pytest.approx(47.5, abs=0.3)
    # closed form from the truth's own per-side means
    gct = 1e3 * truth.gct_s
    left, right = side_mean(truth, gct, Side.LEFT), side_mean(truth, gct, Side.RIGHT)
    assert m.left.gct_ms_mean == pytest.approx(left, abs=1e-9)
    assert m.gct_si_pct == pytest.approx(100 * (left - right) / (0.5 * (left + right)), abs=1e-9)
    assert m.gct_balance_left_pct == pytest.approx(100 * left / (left + right), abs=1e-9)


def test_step_time_asymmetry_and_lengths() -> None:
    truth = truth_of(step_time_si_pct=6.0, step_time_cv_pct=0.0, gct_cv_pct=0.0, speed_m_s=3.5)
    m = compute_metrics(steps_from(truth), speed_m_s=3.5)
    # the truth is located on a 10 kHz grid: microsecond agreement with the plan's values
    assert m.step_time_si_pct == pytest.approx(6.0, abs=1e-4)
    assert m.step_time_balance_left_pct == pytest.approx(51.5, abs=1e-4)
    step_s = 60.0 / 170.0
    assert m.left.step_time_ms_mean == pytest.approx(1e3 * step_s * 1.03, abs=1e-3)
    assert m.left.step_length_m == pytest.approx(3.5 * step_s * 1.03, abs=1e-5)
    assert m.step_length_m == pytest.approx(3.5e-3 * np.nanmean(true_step_ms(truth)), abs=1e-9)
    assert m.left.stride_length_m == pytest.approx(3.5 * 2 * step_s, abs=1e-5)
    assert m.cadence_spm == pytest.approx(60_000 / np.nanmean(true_step_ms(truth)), abs=1e-9)
    assert m.cadence_spm == pytest.approx(170.0, abs=0.5)


def test_per_side_timing_duty_factor_and_variability() -> None:
    truth = truth_of()
    m = compute_metrics(steps_from(truth))
    gct = 1e3 * truth.gct_s
    step = true_step_ms(truth)
    previous_to = np.concatenate(([np.nan], truth.to_s[:-1]))
    flight = 1e3 * (truth.ic_s - previous_to)
    for side, s in ((Side.LEFT, m.left), (Side.RIGHT, m.right)):
        mask = truth.side == int(side)
        ics = truth.ic_s[mask]
        stride = 1e3 * np.diff(ics)
        assert s.n_steps == int(mask.sum())
        assert s.gct_ms_mean == pytest.approx(gct[mask].mean(), abs=1e-9)
        assert s.gct_ms_sd == pytest.approx(gct[mask].std(ddof=1), abs=1e-9)
        assert s.flight_ms_mean == pytest.approx(np.nanmean(flight[mask]), abs=1e-9)
        assert s.step_time_ms_mean == pytest.approx(np.nanmean(step[mask]), abs=1e-9)
        assert s.stride_time_ms_mean == pytest.approx(stride.mean(), abs=1e-9)
        assert s.duty_factor_pct == pytest.approx(100 * gct[mask].mean() / stride.mean(), abs=1e-9)
        cv = 100 * np.nanstd(step[mask], ddof=1) / np.nanmean(step[mask])
        assert s.step_time_cv_pct == pytest.approx(cv, abs=1e-9)
        assert math.isnan(s.double_support_ms_mean)
    # the plan's CVs (1.5 % step time, 2.5 % GCT) come back within sampling error
    assert m.step_time_cv_pct == pytest.approx(1.5, abs=0.3)
    assert m.gct_cv_pct == pytest.approx(2.5, abs=0.4)
    assert m.gait is Gait.RUNNING
    assert m.walking_pct == 0.0


def test_walking_label() -> None:
    truth = truth_of(duration_s=30.0, cadence_spm=110.0, gct_ms=650.0, speed_m_s=1.3)
    m = compute_metrics(steps_from(truth))
    assert m.gait is Gait.WALKING
    assert m.left.double_support_ms_mean > 0
    assert math.isnan(m.left.flight_ms_mean)


# --------------------------------------------------------------------------- unknowns
def test_unknown_values_are_nan_never_zero() -> None:
    empty = compute_metrics([])
    assert empty.n_steps == 0
    assert math.isnan(empty.cadence_spm)
    assert empty.gait is None
    assert math.isnan(empty.left.gct_ms_mean)
    one_side = steps_from(truth_of(duration_s=10.0).for_side(Side.LEFT))
    m = compute_metrics(one_side)
    assert math.isnan(m.gct_si_pct)
    assert math.isnan(m.gct_balance_left_pct)
    assert math.isnan(m.right.gct_ms_mean)
    assert math.isnan(m.left.peak_accel_g_mean)  # insole only
    assert math.isnan(m.step_length_m)  # no speed
    assert math.isnan(m.cadence_spm)  # no contralateral IC, no step time
    assert m.left.foot_strike_pct is None  # all UNKNOWN


def test_symmetry_helpers() -> None:
    assert symmetry_index_pct(105.0, 95.0) == pytest.approx(10.0)
    assert balance_left_pct(105.0, 95.0) == pytest.approx(52.5)
    assert math.isnan(symmetry_index_pct(math.nan, 1.0))
    assert math.isnan(balance_left_pct(0.0, 0.0))


def test_peak_force_asymmetry_foot_strike_and_flags() -> None:
    steps = steps_from(truth_of(duration_s=20.0))
    strikes = [FootStrike.REARFOOT, FootStrike.REARFOOT, FootStrike.MIDFOOT, FootStrike.FOREFOOT]
    edited = []
    for k, s in enumerate(steps):
        force = 1800.0 if s.side == Side.LEFT else 1600.0
        flags = StepFlag.CLIPPED if k % 10 == 0 else StepFlag.NONE
        strike = strikes[(k // 2) % 4] if s.side == Side.LEFT else FootStrike.REARFOOT
        edited.append(replace(s, peak_force_n=force, flags=flags, foot_strike=strike))
    m = compute_metrics(edited)
    assert m.peak_force_si_pct == pytest.approx(100 * 200 / 1700)
    assert m.peak_force_balance_left_pct == pytest.approx(100 * 1800 / 3400)
    assert m.n_flagged == sum(1 for k in range(len(edited)) if k % 10 == 0)
    assert m.flagged_pct == pytest.approx(100 * m.n_flagged / len(edited))
    left = [strikes[(k // 2) % 4] for k in range(len(edited)) if edited[k].side == Side.LEFT]
    assert m.left.foot_strike_pct is not None
    for cls in (FootStrike.REARFOOT, FootStrike.MIDFOOT, FootStrike.FOREFOOT):
        assert m.left.foot_strike_pct[cls] == pytest.approx(100 * left.count(cls) / len(left))
    assert m.right.foot_strike_pct == {FootStrike.REARFOOT: 100.0}


# --------------------------------------------------------------------------- rolling
def test_time_window_and_retraction() -> None:
    steps = steps_from(truth_of(duration_s=30.0, step_time_cv_pct=0.0))
    rolling = RollingMetrics(window_steps=None, window_s=5.0).update(steps)
    window = rolling.window()
    newest = steps[-1].ic_s
    assert all(s.ic_s > newest - 5.0 for s in window)
    assert len(window) == sum(1 for s in steps if s.ic_s > newest - 5.0)
    # a retracted newest step lets the window end one step earlier
    rolling.retract([steps[-1]])
    assert rolling.window()[-1] is steps[-2]
    both = RollingMetrics(window_steps=8, window_s=60.0).update(steps[::-1])
    assert both.window() == steps[-8:]
    both.retract([steps[-3]])
    assert both.window() == [*steps[-9:-3], *steps[-2:]]


def test_rolling_checks_its_parameters() -> None:
    with pytest.raises(ConfigurationError, match="window_steps, window_s or both"):
        RollingMetrics(window_steps=None)
    with pytest.raises(ConfigurationError, match="window_s"):
        RollingMetrics(window_s=-1.0)
    with pytest.raises(ConfigurationError, match="speed_m_s"):
        RollingMetrics(speed_m_s=-3.0)


# --------------------------------------------------------------------------- adherence
def test_cadence_adherence_in_and_out_of_band() -> None:
    steps = steps_from(truth_of(duration_s=60.0, step_time_cv_pct=0.0))
    on = CadenceAdherence(target_spm=170.0).update(steps).snapshot()
    assert on.time_in_band_pct == pytest.approx(100.0)
    assert on.mean_abs_deviation_spm == pytest.approx(0.0, abs=1e-3)
    off = CadenceAdherence(target_spm=175.0, band_spm=2.0).update(steps).snapshot()
    assert off.time_in_band_pct == 0.0
    assert off.mean_abs_deviation_spm == pytest.approx(5.0, abs=1e-3)


def test_cadence_adherence_follows_a_cadence_change() -> None:
    truth = truth_of(duration_s=60.0, step_time_cv_pct=0.0, cadence_schedule=((30.0, 180.0),))
    steps = steps_from(truth)
    summary = CadenceAdherence(target_spm=180.0, window_steps=4).update(steps).snapshot()
    # half the time at 170 (10 spm off), half at 180; the 4-step window blurs the change
    assert summary.time_in_band_pct == pytest.approx(50.0, abs=2.0)
    assert summary.mean_abs_deviation_spm == pytest.approx(5.0, abs=0.3)
    # a target that changes with the runner: always in band once it follows
    follow = CadenceAdherence(target_spm=170.0, window_steps=1)
    follow.update([s for s in steps if s.ic_s < 30.0])
    follow.set_target(target_spm=180.0)
    follow.update([s for s in steps if s.ic_s >= 30.0])
    assert follow.snapshot().time_in_band_pct > 99.0


def test_step_to_beat_asynchrony() -> None:
    steps = steps_from(truth_of(duration_s=30.0, step_time_cv_pct=0.0))
    period = 60.0 / 170.0
    beats = steps[0].ic_s - 0.015 + period * np.arange(len(steps) + 2)  # the feet land 15 ms late
    summary = CadenceAdherence(target_spm=170.0).update(steps, beat_times_s=beats).snapshot()
    assert summary.asynchrony_ms_mean == pytest.approx(15.0, abs=1e-2)
    assert summary.asynchrony_ms_sd == pytest.approx(0.0, abs=1e-2)
    assert summary.n_beats_matched == len(steps)
    lag = step_beat_asynchrony_ms([beats[3] - 0.02, beats[-1] + 5.0, beats[0] - 5.0], beats)
    assert lag[0] == pytest.approx(-20.0)
    assert np.isnan(lag[1:]).all()  # outside the schedule


# --------------------------------------------------------------------------- baseline
def test_baseline_then_plus_five_percent() -> None:
    truth = truth_of(duration_s=80.0, step_time_cv_pct=0.0, cadence_schedule=((40.0, 178.5),))
    steps = steps_from(truth)
    baseline = Baseline(duration_s=30.0)
    rolling = RollingMetrics(window_steps=20)
    for step in steps:
        baseline.update([step])
        rolling.update([step])
    assert baseline.complete
    assert baseline.metrics is not None
    assert baseline.metrics.cadence_spm == pytest.approx(170.0, abs=1e-3)
    assert baseline.metrics.t_last_ic_s - baseline.metrics.t_first_ic_s < 30.0
    assert baseline.target_cadence_spm(percent=5.0) == pytest.approx(178.5, abs=1e-3)
    change = baseline.compare(rolling.snapshot())
    assert change["cadence_spm"].change_pct == pytest.approx(5.0, abs=1e-4)
    assert change["cadence_spm"].change == pytest.approx(8.5, abs=1e-3)
    assert change["left_step_time_ms_mean"].change_pct == pytest.approx(
        100 * (170 / 178.5 - 1), abs=1e-4
    )
    assert "gct_si_pct" in change


def test_target_from_baseline() -> None:
    assert target_from_baseline(170.0, 5.0) == pytest.approx(178.5)
    assert target_from_baseline(170.0, 10.0) == pytest.approx(187.0)
    with pytest.raises(ConfigurationError, match="baseline cadence"):
        target_from_baseline(math.nan, 5.0)
    with pytest.raises(ConfigurationError, match="still being captured"):
        Baseline(duration_s=10.0).target_cadence_spm(percent=5.0)


# --------------------------------------------------------------------------- summary
def test_summary_is_json_with_units_in_keys() -> None:
    truth = truth_of(duration_s=60.0, gct_si_pct=10.0)
    summary = summarise(steps_from(truth, peak_force_n=1700.0))
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text) == summary
    assert summary["n_steps"] == len(truth)
    assert summary["cadence_spm"] == pytest.approx(170.0, abs=0.5)
    assert summary["gait"] == "running"
    gct = 1e3 * truth.gct_s
    assert summary["left"]["gct_ms_mean"] == pytest.approx(side_mean(truth, gct, Side.LEFT))
    assert summary["right"]["gct_ms_sd"] == pytest.approx(
        float(gct[truth.side == int(Side.RIGHT)].std(ddof=1))
    )
    assert summary["gct_balance_left_pct"] + summary["gct_balance_right_pct"] == pytest.approx(100)
    assert summary["peak_force_si_pct"] == pytest.approx(0.0)
    assert summary["left"]["peak_accel_g_mean"] is None  # unknown, not 0
    assert summary["left"]["double_support_ms_mean"] is None
    for key in ("gct_ms_mean", "step_time_ms_sd", "flight_ms_mean", "flight_ms_sd"):
        assert isinstance(summary["right"][key], float)
    empty = summarise([])
    assert empty["cadence_spm"] is None
    assert json.dumps(empty, allow_nan=False)


def test_scalars_flatten_both_sides() -> None:
    m: GaitMetrics = compute_metrics(steps_from(truth_of(duration_s=10.0)))
    flat = m.scalars()
    assert flat["left_gct_ms_mean"] == m.left.gct_ms_mean
    assert flat["right_n_steps"] == m.right.n_steps
    assert flat["cadence_spm"] == m.cadence_spm
