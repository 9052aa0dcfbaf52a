"""Imports (Moticon OpenGo text export, analyze-format CSV) and the sessions list."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pytest

from calibration.insole_layout import InsoleLayout
from dashboard.cli import main as gaitcue
from dashboard.session.analysis import analyse
from dashboard.session.export_csv import write_stream_csv
from dashboard.session.listing import format_rows, list_sessions
from dashboard.session.moticon import import_moticon, parse_imu_axes, read_moticon
from dashboard.session.reader import DecodedSession, load_session
from dashboard.session.simulated import record_simulated
from dashboard.session.steps_io import read_steps_csv
from dashboard.session_cmd import add_parsers
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side, StreamKind
from firmware_bridge.simulator.session import SimulationConfig
from firmware_bridge.simulator.truth import TrueEvents, write_truth_csv
from realtime.events import Step
from realtime.scoring import score_steps


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 s of the simulated runner with 100 Hz insoles (the rate of a Moticon export)."""
    return record_simulated(
        SimulationConfig(duration_s=16.0, seed=51, insole_rate_hz=100),
        tmp_path_factory.mktemp("imp") / "recorded",
        runner={"runner_id": "0007"},
    )


def _stream(decoded: DecodedSession, kind: StreamKind, side: Side) -> str:
    return next(s for s, i in decoded.infos.items() if i.kind == kind and i.side == side)


def write_moticon_sample(session_dir: Path, path: Path) -> None:
    """A Moticon OpenGo text export made from a simulated session: both insoles on the left
    insole's time grid, pressures in N/cm² (cell force / cell area), IMU in g and deg/s,
    total force and centre of pressure, '#' header lines, tab-separated."""
    decoded = load_session(session_dir).decode()
    t_grid, _, _ = decoded.arrays(_stream(decoded, StreamKind.INSOLE, Side.LEFT))
    t_grid = t_grid[(t_grid > t_grid[0] + 0.5) & (t_grid < t_grid[-1] - 0.5)]
    columns: list[str] = ["time"]
    data: list[np.ndarray] = [t_grid - t_grid[0]]
    layout = InsoleLayout.default(16)
    for side in (Side.LEFT, Side.RIGHT):
        name = side.name.lower()
        sid = _stream(decoded, StreamKind.INSOLE, side)
        t, forces, _ = decoded.arrays(sid)
        area = np.asarray(decoded.infos[sid].cell_area_cm2)
        cells = np.column_stack([np.interp(t_grid, t, forces[:, i]) for i in range(16)])
        columns += [f"{name} pressure {i + 1}[N/cm²]" for i in range(16)]
        data += [cells[:, i] / area[i] for i in range(16)]
        t_imu, imu, _ = decoded.arrays(_stream(decoded, StreamKind.IMU, side))
        columns += [f"{name} acceleration {a}[g]" for a in "XYZ"]
        columns += [f"{name} angular {a}[dps]" for a in "XYZ"]
        data += [np.interp(t_grid, t_imu, imu[:, i]) for i in range(6)]
        total = cells.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cop_x = np.where(total > 20, cells @ layout.y / total - 0.5, np.nan)
            cop_y = np.where(total > 20, cells @ layout.x / total - 0.5, np.nan)
        columns += [
            f"{name} total force[N]",
            f"{name} center of pressure X",
            f"{name} center of pressure Y",
        ]
        data += [total, cop_x, cop_y]
    table = np.column_stack(data)
    with path.open("w", encoding="utf-8") as handle:
        handle.write(
            "# Moticon OpenGo text export\n# Start time: 2026-11-23 15:30:12\n# Insole size: 6\n"
        )
        handle.write("# " + "\t".join(columns) + "\n")
        for row in table:
            handle.write("\t".join("" if not np.isfinite(v) else f"{v:.4f}" for v in row) + "\n")


def _recall(steps: list[Step], truth: TrueEvents, t0: float, t1: float) -> float:
    keep = (truth.ic_s > t0 + 1.0) & (truth.to_s < t1 - 1.0)
    return score_steps(steps, truth.side[keep], truth.ic_s[keep], truth.to_s[keep]).recall


def test_moticon_import_analyses_like_a_recording(recorded: Path, tmp_path: Path) -> None:
    sample = tmp_path / "opengo.txt"
    write_moticon_sample(recorded, sample)
    parsed = read_moticon(sample)
    assert len(parsed.side_columns("pressure", "left")) == 16
    assert set(parsed.side_columns("gyr", "right")) == {"x", "y", "z"}
    out = import_moticon(sample, tmp_path / "session", runner={"runner_id": "0007"})
    session = load_session(out)
    assert session.source == "imported"
    fit = session.meta["import"]["insoles"]["left"]
    truth_areas = np.asarray(
        load_session(recorded)
        .decode()
        .infos[_stream(load_session(recorded).decode(), StreamKind.INSOLE, Side.LEFT)]
        .cell_area_cm2
    )
    np.testing.assert_allclose(fit["cell_area_cm2"], truth_areas, rtol=0.02)
    steps = analyse(session).result.steps
    truth = load_session(recorded).truth
    assert truth is not None
    # the export's time starts at 0: shift the truth to it
    t_first = (
        float(
            load_session(recorded)
            .decode()
            .arrays(_stream(load_session(recorded).decode(), StreamKind.INSOLE, Side.LEFT))[0][0]
        )
        + 0.5
    )
    shifted = TrueEvents(truth.side, truth.ic_s - t_first, truth.to_s - t_first)
    assert _recall(steps, shifted, 0.0, session.end_s) >= 0.95
    assert len(session.live_steps) == len(steps)  # steps.csv written at import
    assert {p.name for p in (out / "streams").iterdir()} == {"left_insole.csv", "right_insole.csv"}
    with_imu = import_moticon(sample, tmp_path / "imu", imu_axes="x,y,z")
    assert (with_imu / "streams" / "left_imu.csv").exists()


def test_moticon_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("# nothing here\n1\t2\n")
    with pytest.raises(ConfigurationError, match="no column header"):
        read_moticon(bad)
    bad.write_text("# time\tleft pressure 1\n0.0\t1\n0.0\t2\n")
    with pytest.raises(ConfigurationError, match="line 3: time does not increase"):
        read_moticon(bad)
    with pytest.raises(ConfigurationError, match="--imu-axes"):
        parse_imu_axes("x,x,z")
    assert parse_imu_axes("y,-x,z") == [(1, 1.0), (0, -1.0), (2, 1.0)]


def test_csv_import_equals_analyze_and_carries_truth(recorded: Path, tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    session = load_session(recorded)
    decoded = session.decode()
    for name, (info, t, values) in decoded.joined().items():
        write_stream_csv(folder / f"{name}.csv", info, t, values)
    assert session.truth is not None
    write_truth_csv(session.truth, folder / "truth.csv")
    parser = argparse.ArgumentParser(prog="gaitcue")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        [
            "import",
            "--csv",
            str(folder),
            "-o",
            str(tmp_path / "s"),
            "--runner-id",
            "0007",
            "--body-mass",
            "70",
        ]
    )
    assert args.func(args) == 0
    imported = load_session(tmp_path / "s")
    assert imported.truth is not None
    assert len(imported.truth) == len(session.truth)
    assert gaitcue(["analyze", str(folder), "--out", str(tmp_path / "a"), "--body-mass", "70"]) == 0
    expected = read_steps_csv(tmp_path / "a" / "steps.csv")
    assert [(s.side, s.ic_s, s.flags) for s in imported.live_steps] == [
        (s.side, s.ic_s, s.flags) for s in expected
    ]


def test_sessions_list(recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "all"
    root.mkdir()
    shutil.copytree(recorded, root / "one")
    (root / "not-a-session").mkdir()
    (root / "broken").mkdir()
    (root / "broken" / "session.json").write_text("{")
    rows = list_sessions(root)
    good = [r for r in rows if not r.problem]
    assert len(rows) == 2
    assert len(good) == 1
    assert good[0].runner == "0007"
    assert good[0].steps > 35
    assert good[0].cadence_spm == pytest.approx(170.0, abs=2.0)
    assert good[0].duration_s == pytest.approx(16.0, abs=0.5)
    parser = argparse.ArgumentParser(prog="gaitcue")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sessions", str(root)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    for expected in ("0007", "170 spm", "damaged"):
        assert expected in out
    assert format_rows([]) == "no sessions found"
    with pytest.raises(ConfigurationError, match="no such folder"):
        list_sessions(tmp_path / "missing")
