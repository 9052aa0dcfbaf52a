"""The live numbers' texts and colours, from analysis snapshots of simulated running."""

from __future__ import annotations

import math

import pytest

from dashboard.readouts import NO_VALUE, Band, Bands, Level, gait_readouts
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side
from tests.dashboard.replaying import Replay


@pytest.mark.parametrize(
    ("longer_pct", "level"),
    [
        (50.0, Level.OK),
        (50.7, Level.OK),
        (50.8, Level.WARN),
        (52.2, Level.WARN),
        (52.3, Level.ALERT),
    ],
)
def test_balance_band_defaults_follow_the_running_watch_convention(
    longer_pct: float, level: Level
) -> None:
    assert Bands().balance().level(longer_pct) is level


@pytest.mark.parametrize(
    ("cadence", "level"),
    [
        (170.0, Level.OK),
        (172.0, Level.OK),
        (173.5, Level.WARN),
        (166.0, Level.WARN),
        (165.9, Level.ALERT),
    ],
)
def test_cadence_band_is_green_within_the_band_amber_to_twice_it(
    cadence: float, level: Level
) -> None:
    assert Bands(cadence_band_spm=2.0).cadence(170.0).level(cadence) is level


def test_bad_bands_are_refused_with_a_sentence() -> None:
    with pytest.raises(ConfigurationError, match="low ≤ high"):
        Band(10.0, 5.0)
    with pytest.raises(ConfigurationError, match="cadence band"):
        Bands(cadence_band_spm=0.0)
    with pytest.raises(ConfigurationError, match="balance bands"):
        Bands(balance_green_max_pct=53.0, balance_amber_max_pct=52.0)


def test_readouts_show_the_pipeline_numbers(replay: Replay) -> None:
    replay.play_until(20.0)
    view = replay.processing.view()
    m = view.metrics
    r = gait_readouts(view, 20.0, target_spm=170.0, bands=Bands())
    assert r.cadence.text == f"{m.cadence_spm:.0f} spm"
    assert r.cadence.level is Level.OK  # the simulated runner runs at 170 spm
    for side in (Side.LEFT, Side.RIGHT):
        s = m.side(side)
        assert r.gct[side].text == f"{s.gct_ms_mean:.0f} ms"
        assert r.flight[side].text == f"{s.flight_ms_mean:.0f} ms"
        assert r.impact[side].text == f"{s.peak_accel_g_mean:.1f} g"
        assert r.foot_strike[side].text.startswith("rearfoot")
    left = m.gct_balance_left_pct
    assert r.balance.text == f"{left:.1f} / {100 - left:.1f} %"
    # The simulated runner is symmetric: the balance is green.
    assert r.balance.level is Level.OK


def test_cadence_off_target_turns_amber_then_red(replay: Replay) -> None:
    replay.play_until(15.0)
    view = replay.processing.view()
    cadence = view.metrics.cadence_spm
    bands = Bands(cadence_band_spm=2.0)
    assert (
        gait_readouts(view, 15.0, target_spm=cadence + 3.0, bands=bands).cadence.level is Level.WARN
    )
    assert (
        gait_readouts(view, 15.0, target_spm=cadence + 6.0, bands=bands).cadence.level
        is Level.ALERT
    )
    no_target = gait_readouts(view, 15.0, target_spm=None, bands=bands).cadence
    assert no_target.level is Level.NEUTRAL
    assert no_target.detail == "no target"


def test_numbers_go_grey_two_seconds_after_the_last_step(replay: Replay) -> None:
    replay.play_until(15.0)
    view = replay.processing.view()
    last = max(view.last_step_s.values())
    fresh = gait_readouts(view, last + 1.9, target_spm=170.0, bands=Bands())
    assert fresh.cadence.text != NO_VALUE
    stale = gait_readouts(view, last + 2.1, target_spm=170.0, bands=Bands())
    for readout in (stale.cadence, stale.balance, *stale.gct.values(), *stale.impact.values()):
        assert readout.text == NO_VALUE
        assert readout.level is Level.STALE


def test_one_silent_side_greys_only_that_side_and_the_balance(replay: Replay) -> None:
    replay.play_until(15.0)
    view = replay.processing.view()
    left_last = view.last_step_s["left"]
    right_last = view.last_step_s["right"]
    # Pretend the left side stopped: judge at a time when only the right is still fresh.
    from dataclasses import replace

    shifted = replace(view, last_step_s={"left": left_last - 5.0, "right": right_last})
    r = gait_readouts(shifted, right_last + 0.5, target_spm=None, bands=Bands())
    assert r.gct[Side.LEFT].level is Level.STALE
    assert r.gct[Side.RIGHT].text != NO_VALUE
    assert r.balance.level is Level.STALE
    assert r.cadence.text != NO_VALUE  # one side still stepping


def test_numbers_from_a_window_with_gap_flagged_steps_are_amber(lossy_replay: Replay) -> None:
    flagged_seen = False
    for t in (10.0, 14.0, 18.0, 22.0, 26.0):
        lossy_replay.play_until(t)
        view = lossy_replay.processing.view()
        r = gait_readouts(view, t, target_spm=None, bands=Bands())
        for side in (Side.LEFT, Side.RIGHT):
            s = view.metrics.side(side)
            if s.n_gap_flagged and math.isfinite(s.gct_ms_mean) and r.gct[side].text != NO_VALUE:
                flagged_seen = True
                assert r.gct[side].level is Level.WARN
                assert "near gaps" in r.gct[side].detail
            elif r.gct[side].text != NO_VALUE:
                assert r.gct[side].level is Level.NEUTRAL
    assert flagged_seen, "5 % loss over 30 s should flag some steps"
