"""Truth matching and step scoring, on the simulator's true events with known errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware_bridge.simulator.gait import RunnerConfig, plan_steps
from firmware_bridge.simulator.truth import TrueEvents, true_events
from realtime.events import EventSource, FootStrike, Gait, Side, Step, StepFlag
from realtime.scoring import match_events, score_steps, true_step_time_s


@pytest.fixture(scope="module")
def truth() -> TrueEvents:
    plan = plan_steps(
        RunnerConfig(cadence_spm=170.0, gct_si_pct=6.0), 60.0, np.random.default_rng(3)
    )
    return true_events(plan)


def steps_from(
    truth: TrueEvents,
    *,
    ic_shift_s: float = 0.0,
    to_shift_s: float = 0.0,
    keep: np.ndarray | None = None,
) -> list[Step]:
    index = np.arange(len(truth.ic_s)) if keep is None else np.flatnonzero(keep)
    step_ms = 1e3 * true_step_time_s(truth.side, truth.ic_s)
    return [
        Step(
            side=Side(int(truth.side[i])),
            ic_s=float(truth.ic_s[i]) + ic_shift_s,
            to_s=float(truth.to_s[i]) + to_shift_s,
            gct_ms=1e3 * (truth.to_s[i] + to_shift_s - truth.ic_s[i] - ic_shift_s),
            step_time_ms=float(step_ms[i]),
            stride_time_ms=math.nan,
            flight_ms=math.nan,
            double_support_ms=math.nan,
            gait=Gait.RUNNING,
            foot_strike=FootStrike.UNKNOWN,
            strike_index=math.nan,
            peak_force_n=math.nan,
            loading_rate_bw_s=math.nan,
            peak_accel_g=math.nan,
            source=EventSource.INSOLE,
            flags=StepFlag.NONE,
        )
        for i in index
    ]


def test_match_is_one_to_one_on_the_same_side(truth: TrueEvents) -> None:
    det_ic = np.concatenate([truth.ic_s + 0.004, truth.ic_s[:10] + 0.03])
    det_side = np.concatenate([truth.side, truth.side[:10]])
    det, ref = match_events(det_side, det_ic, truth.side, truth.ic_s)
    assert len(det) == len(truth.ic_s)
    assert len(set(det.tolist())) == len(det)
    assert len(set(ref.tolist())) == len(ref)
    np.testing.assert_array_equal(det_side[det], truth.side[ref])
    np.testing.assert_allclose(det_ic[det] - truth.ic_s[ref], 0.004, atol=1e-9)
    swapped = 1 - det_side[: len(truth.ic_s)]
    det_swapped, _ = match_events(swapped, truth.ic_s, truth.side, truth.ic_s)
    assert len(det_swapped) < len(truth.ic_s) // 10  # no match with the other foot


def test_tolerance_is_inclusive_60_ms(truth: TrueEvents) -> None:
    for shift, matched in ((0.0599, True), (0.0601, False)):
        det, _ = match_events(truth.side[:1], truth.ic_s[:1] + shift, truth.side, truth.ic_s)
        assert (len(det) == 1) is matched


def test_perfect_steps_score_perfectly(truth: TrueEvents) -> None:
    score = score_steps(steps_from(truth), truth.side, truth.ic_s, truth.to_s)
    assert score.recall == 1.0
    assert score.precision == 1.0
    assert abs(score.ic_bias_ms) < 1e-6
    assert abs(score.gct_bias_ms) < 1e-6
    assert score.cadence_error_p95_spm < 1e-6
    assert abs(score.gct_balance_error_pp) < 1e-6


def test_a_5_ms_shift_of_every_ic_shows_as_bias(truth: TrueEvents) -> None:
    score = score_steps(steps_from(truth, ic_shift_s=0.005), truth.side, truth.ic_s, truth.to_s)
    assert score.ic_bias_ms == pytest.approx(5.0, abs=1e-6)
    assert score.gct_bias_ms == pytest.approx(-5.0, abs=1e-6)
    assert score.recall == 1.0


def test_missed_and_false_steps_are_counted(truth: TrueEvents) -> None:
    keep = np.ones(len(truth.ic_s), bool)
    keep[::25] = False
    steps = steps_from(truth, keep=keep)
    extra = steps_from(truth, ic_shift_s=0.2, keep=~keep)  # nowhere near a true step
    score = score_steps(steps + extra, truth.side, truth.ic_s, truth.to_s)
    missed = int((~keep).sum())
    assert score.recall == pytest.approx(1 - missed / len(keep))
    assert score.n_false == len(extra)


def test_steps_wholly_inside_a_gap_do_not_count_against_recall(truth: TrueEvents) -> None:
    gap = (float(truth.ic_s[40]) - 0.01, float(truth.to_s[45]) + 0.01)
    inside = (truth.ic_s > gap[0]) & (truth.to_s < gap[1])
    steps = steps_from(truth, keep=~inside)
    with_gap = score_steps(steps, truth.side, truth.ic_s, truth.to_s, gaps=[gap])
    without = score_steps(steps, truth.side, truth.ic_s, truth.to_s)
    assert with_gap.recall == 1.0
    assert without.recall < 1.0
