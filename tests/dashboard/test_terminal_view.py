"""The terminal view applies the dashboard's rules: same numbers, same staleness."""

from __future__ import annotations

from dashboard.terminal_view import render_gait
from tests.dashboard.replaying import Replay


def test_terminal_numbers_match_the_pipeline_and_grey_out(replay: Replay) -> None:
    replay.play_until(12.0)
    view = replay.processing.view()
    m = view.metrics
    text = render_gait(view, 12.0, target_spm=m.cadence_spm + 10.0)
    assert f"cadence {m.cadence_spm:.0f} spm (red)" in text
    assert f"GCT L {m.left.gct_ms_mean:.0f} ms  R {m.right.gct_ms_mean:.0f} ms" in text
    coloured = render_gait(view, 12.0, target_spm=round(m.cadence_spm), colour=True)
    assert f"\x1b[32m{m.cadence_spm:.0f} spm\x1b[0m" in coloured
    stale = render_gait(view, max(view.last_step_s.values()) + 2.5)
    assert "cadence — " in stale
    assert "GCT L —  R —" in stale
