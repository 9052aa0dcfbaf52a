"""The session report: plain-language notes, involved side, comparison, and rendering in
headless Chromium without console errors (with ``GAITCUE_UPDATE_DOCS=1`` its screenshot
replaces docs/report.png)."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dashboard.session.analysis import SessionAnalysis, analyse
from dashboard.session.reader import load_session
from dashboard.session.report import find_chromium, notes_for, render_report, segments_of
from dashboard.session.simulated import record_simulated
from dashboard.session_cmd import add_parsers
from firmware_bridge.simulator.gait import RunnerConfig
from firmware_bridge.simulator.session import SimulationConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A baseline and a retraining session of a runner whose left side is involved and
    whose left contact time is 6 % longer."""
    root = tmp_path_factory.mktemp("report")
    common = {
        "runner": {"runner_id": "0042"},
        "metadata": {
            "involved_side": "left",
            "shoe": "daily trainer",
            "placement": {"left foot": "dorsal"},
        },
    }
    a = record_simulated(
        SimulationConfig(
            runner=RunnerConfig(cadence_spm=166.0, gct_si_pct=6.0), duration_s=22.0, seed=41
        ),
        root / "a",
        events=[
            (0.5, "treadmill", "treadmill 10.0 km/h", 10.0),
            (11.0, "marker", "metronome +5 %", None),
        ],
        target_spm=166.0,
        detect=False,
        **common,  # type: ignore[arg-type]
    )
    b = record_simulated(
        SimulationConfig(
            runner=RunnerConfig(cadence_spm=174.0, gct_si_pct=2.0), duration_s=10.0, seed=42
        ),
        root / "b",
        target_spm=174.0,
        detect=False,
        **common,  # type: ignore[arg-type]
    )
    return a, b


@pytest.fixture(scope="module")
def analyses(sessions: tuple[Path, Path]) -> tuple[SessionAnalysis, SessionAnalysis]:
    return analyse(load_session(sessions[0])), analyse(load_session(sessions[1]))


def test_notes_say_it_in_plain_language(
    analyses: tuple[SessionAnalysis, SessionAnalysis],
) -> None:
    notes = " ".join(notes_for(analyses[0]))
    match = re.search(r"Contact time is (\d+) % longer on the involved side \(left\)", notes)
    assert match is not None, notes
    assert 4 <= int(match.group(1)) <= 8
    assert "steps per minute" in notes
    assert "of the target" in notes
    segments = segments_of(analyses[0])
    assert [s.name for s in segments] == ["start", "metronome +5 %"]
    assert segments[0].baseline
    assert not segments[1].baseline


def test_report_is_self_contained(analyses: tuple[SessionAnalysis, SessionAnalysis]) -> None:
    html = render_report([analyses[0]])
    assert html.count("<svg") >= 4
    assert "Left (involved)" in html
    assert "Right (uninvolved)" in html
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    compare = render_report(list(analyses))
    assert "B vs A" in compare
    assert "Cadence is" in compare


def _chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    browser = find_chromium()
    assert browser is not None
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (apt: chromium)")
def test_report_renders_in_headless_chromium(sessions: tuple[Path, Path], tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="gaitcue")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", str(sessions[0]), "-o", str(tmp_path / "r.html"), "--pdf"])
    assert args.func(args) == 0
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    shot = tmp_path / "report.png"
    result = _chromium(
        ["--window-size=900,2400", f"--screenshot={shot}", (tmp_path / "r.html").as_uri()], tmp_path
    )
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line]
    assert result.returncode == 0, result.stderr[-2000:]
    assert console == []
    assert shot.stat().st_size > 20_000
    if os.environ.get("GAITCUE_UPDATE_DOCS"):
        shutil.copyfile(shot, DOCS / "report.png")
