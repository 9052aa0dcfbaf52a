"""Targets, baseline capture, timed events and trends of a live session."""

from __future__ import annotations

import math

import pytest

from dashboard.live_session import EventKind, LiveSession, SpeedUnit, rolling_cadence_spm
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.simulator.gait import RunnerConfig
from tests.dashboard.replaying import Replay


def _session(replay: Replay, **kwargs: float) -> LiveSession:
    return LiveSession(clock=replay.clock, **kwargs)


def test_every_step_is_ingested_once(replay: Replay) -> None:
    session = _session(replay)
    seen = []
    t = 0.0
    while t < 20.0:
        t += 0.4
        replay.play_until(t)
        seen.extend(session.ingest(replay.processing.view()))
    view = replay.processing.view()
    assert len(seen) == view.n_steps
    assert len({(s.side, s.ic_s) for s in seen}) == len(seen)
    assert len(session.cadence_trend) > 0.9 * (20.0 / 0.4) * 0.9  # one point per refresh with steps


def test_baseline_capture_then_target_over_baseline(replay: Replay) -> None:
    session = _session(replay, baseline_s=8.0)
    with pytest.raises(ConfigurationError, match="capture a baseline first"):
        session.set_target_percent(5.0)
    replay.play_until(2.0)
    session.ingest(replay.processing.view())
    session.start_baseline()
    assert session.baseline_capturing
    t = 2.0
    while session.baseline_capturing and t < 20.0:
        t += 0.1
        replay.play_until(t)
        session.ingest(replay.processing.view())
        assert 0.0 <= session.baseline_progress(t) <= 1.0
    assert not session.baseline_capturing
    base = session.baseline_metrics
    assert base is not None
    true_cadence = RunnerConfig().cadence_spm
    assert base.cadence_spm == pytest.approx(true_cadence, abs=1.5)
    session.set_target_percent(10.0)
    assert session.target_spm == pytest.approx(1.10 * base.cadence_spm)
    kinds = [e.kind for e in session.events]
    assert kinds.count(EventKind.BASELINE) == 2  # started, captured
    assert kinds[-1] is EventKind.TARGET
    changes = session.compare_to_baseline()
    assert changes["cadence_spm"].baseline == pytest.approx(base.cadence_spm)


def test_in_band_uses_the_rolling_eight_step_cadence(replay: Replay) -> None:
    session = _session(replay)
    replay.play_until(10.0)
    view = replay.processing.view()
    session.ingest(view)
    assert session.in_band() is None  # no target yet
    expected = rolling_cadence_spm(view.recent_steps, 8)
    session.set_target_spm(round(expected))
    assert session.in_band() is True
    session.set_target_spm(round(expected) + 5)
    assert session.in_band() is False


def test_treadmill_settings_and_markers_are_timed_events(replay: Replay) -> None:
    session = _session(replay)
    replay.play_until(3.0)
    session.set_treadmill(speed=6.0, unit=SpeedUnit.MPH, incline_pct=1.0)
    assert session.speed_m_s == pytest.approx(6.0 * 1.609344 / 3.6)
    replay.play_until(4.5)
    event = session.mark("  new shoes ")
    assert event.t_s == 4.5
    assert event.text == "new shoes"
    assert session.events[0].kind is EventKind.TREADMILL
    assert "9.7 km/h" in session.events[0].text
    assert math.isclose(session.events[0].value, 6.0 * 1.609344)
    with pytest.raises(ConfigurationError, match="treadmill speed"):
        session.set_treadmill(speed=-1.0, unit=SpeedUnit.KMH, incline_pct=0.0)
    with pytest.raises(ConfigurationError, match="target cadence"):
        session.set_target_spm(20.0)


def test_adherence_counts_time_in_band(replay: Replay) -> None:
    session = _session(replay)
    session.set_target_spm(170.0)
    t = 0.0
    while t < 20.0:
        t += 0.5
        replay.play_until(t)
        session.ingest(replay.processing.view())
    adherence = session.adherence()
    assert adherence is not None
    assert adherence.n_steps > 40
    assert adherence.time_in_band_pct > 80.0
