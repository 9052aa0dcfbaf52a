"""Exports: CSV round trip through ``gaitcue analyze``, HDF5 and C3D read back, de-identified
copies, and the command line around them."""

from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path

import numpy as np
import pytest

from dashboard.cli import main as gaitcue
from dashboard.session.analysis import SessionAnalysis, analyse
from dashboard.session.reader import load_session
from dashboard.session.simulated import record_simulated
from dashboard.session.steps_io import read_steps_csv
from dashboard.session_cmd import add_parsers, analyze_session, is_session_dir
from firmware_bridge.errors import ConfigurationError, GaitcueError
from firmware_bridge.samples import Side, StreamKind
from firmware_bridge.simulator.faults import FaultSpec
from firmware_bridge.simulator.session import SimulationConfig


@pytest.fixture(scope="module")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 s with 2 % packet loss (gaps to carry through every format)."""
    return record_simulated(
        SimulationConfig(duration_s=16.0, seed=31, faults=FaultSpec(loss=0.02)),
        tmp_path_factory.mktemp("exp") / "session",
        runner={"runner_id": "0042", "name": "Test Runner"},
        metadata={"involved_side": "left", "shoe": "trainer"},
        events=[(8.0, "marker", "retrain", None)],
    )


@pytest.fixture(scope="module")
def analysis(session_dir: Path) -> SessionAnalysis:
    return analyse(load_session(session_dir))


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gaitcue")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_csv_export_round_trips_through_analyze(
    session_dir: Path, analysis: SessionAnalysis, tmp_path: Path
) -> None:
    assert _run("export", str(session_dir), "--format", "csv", "-o", str(tmp_path / "csv")) == 0
    assert {p.name for p in (tmp_path / "csv").iterdir()} == {
        "left_insole.csv",
        "right_insole.csv",
        "left_imu.csv",
        "right_imu.csv",
        "truth.csv",
        "runner.json",
    }
    assert (
        gaitcue(
            ["analyze", str(tmp_path / "csv"), "--out", str(tmp_path / "a"), "--body-mass", "70"]
        )
        == 0
    )
    analyze_session(session_dir, tmp_path / "b")
    from_csv = read_steps_csv(tmp_path / "a" / "steps.csv")
    direct = read_steps_csv(tmp_path / "b" / "steps.csv")
    assert len(direct) == len(analysis.result.steps) > 30
    assert len(from_csv) == len(direct)
    for a, b in zip(from_csv, direct, strict=True):
        assert (a.side, a.source, a.flags, a.foot_strike) == (
            b.side,
            b.source,
            b.flags,
            b.foot_strike,
        )
        assert a.ic_s == pytest.approx(b.ic_s, abs=1e-5)
        assert a.gct_ms == pytest.approx(b.gct_ms, abs=0.01)
    summary_a = json.loads((tmp_path / "a" / "summary.json").read_text())
    summary_b = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary_a["cadence_spm"] == pytest.approx(summary_b["cadence_spm"], abs=1e-3)


def test_anonymised_exports_leave_identity_out(session_dir: Path, tmp_path: Path) -> None:
    _run("export", str(session_dir), "--format", "csv", "-o", str(tmp_path / "csv"), "--anonymise")
    assert not (tmp_path / "csv" / "runner.json").exists()
    _run(
        "export",
        str(session_dir),
        "--format",
        "session",
        "-o",
        str(tmp_path / "copy"),
        "--anonymise",
    )
    copy = load_session(tmp_path / "copy")
    assert copy.runner == {}
    assert copy.involved_side == Side.LEFT  # clinical facts stay in session.json
    assert "Test Runner" not in "".join(
        p.read_text(errors="ignore") for p in (tmp_path / "copy").iterdir()
    )
    for path in [tmp_path / "copy", *(tmp_path / "copy").iterdir(), *(tmp_path / "csv").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) in (0o600, 0o700)


def test_hdf5_reads_back_with_h5py(
    session_dir: Path, analysis: SessionAnalysis, tmp_path: Path
) -> None:
    h5py = pytest.importorskip("h5py", reason="the [export] extra (h5py) is not installed")
    out = tmp_path / "s.h5"
    assert _run("export", str(session_dir), "--format", "hdf5", "-o", str(out)) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with h5py.File(out, "r") as h5:
        assert h5.attrs["format"] == "gaitcue-session-hdf5"
        assert json.loads(h5.attrs["runner"])["runner_id"] == "0042"
        assert h5.attrs["involved_side"] == "left"
        decoded = analysis.decoded
        assert set(h5["streams"]) == set(decoded.infos)
        for sid, info in decoded.infos.items():
            group = h5["streams"][sid]
            t, values, gaps = decoded.arrays(sid)
            np.testing.assert_array_equal(group["time_s"][()], t)
            np.testing.assert_array_equal(group["values"][()], values)
            assert list(group["values"].attrs["units"]) == list(info.units)
            assert group["time_s"].attrs["units"] == "s"
            assert group.attrs["rate_hz"] == info.rate_hz
            assert (group["gap_before_s"][()] > 0).sum() == (gaps > 0).sum()
        steps = h5["steps"][()]
        assert steps.shape[0] == len(analysis.result.steps)
        np.testing.assert_allclose(
            steps["ic_s"], [s.ic_s for s in analysis.result.steps], atol=1e-6
        )
        assert h5["steps"].attrs["unit_gct_ms"] == "ms"
        assert h5["truth"].shape[0] > 0
        assert b"retrain" in h5["events"]["text"]
    _run(
        "export", str(session_dir), "--format", "hdf5", "-o", str(tmp_path / "a.h5"), "--anonymise"
    )
    with h5py.File(tmp_path / "a.h5", "r") as h5:
        assert "runner" not in h5.attrs


def test_c3d_reads_back_with_ezc3d(
    session_dir: Path, analysis: SessionAnalysis, tmp_path: Path
) -> None:
    ezc3d = pytest.importorskip("ezc3d", reason="the [export] extra (ezc3d) is not installed")
    out = tmp_path / "s.c3d"
    assert _run("export", str(session_dir), "--format", "c3d", "-o", str(out)) == 0
    c3d = ezc3d.c3d(str(out))
    params = c3d["parameters"]
    assert c3d["header"]["analogs"]["frame_rate"] == 1000.0
    assert c3d["header"]["points"]["frame_rate"] == 200.0
    labels = list(params["ANALOG"]["LABELS"]["value"])
    units = list(params["ANALOG"]["UNITS"]["value"])
    assert len(labels) == 2 * 16 + 2 * 6 + 2  # cells, IMU axes, contact channels
    assert units[labels.index("L_cell0")] == "N"
    assert units[labels.index("R_gz")] == "deg/s"
    assert units[labels.index("L_az")] == "g"
    analogs = c3d["data"]["analogs"][0]
    t0 = float(params["GAITCUE"]["T0_S"]["value"][0])
    decoded = analysis.decoded
    sid = next(
        s for s, i in decoded.infos.items() if i.kind == StreamKind.IMU and i.side == Side.LEFT
    )
    t, values, _ = decoded.arrays(sid)
    grid = t0 + np.arange(analogs.shape[1]) / 1000.0
    inside = (grid > t[0] + 1) & (grid < t[-1] - 1)
    expected = np.interp(grid[inside], t, values[:, 2])
    got = analogs[labels.index("L_az")][inside]
    close = np.abs(got - expected) < 1e-4
    assert close.mean() > 0.95  # all but the samples inside data gaps (zeros there)
    events = list(params["EVENT"]["LABELS"]["value"])
    contexts = list(params["EVENT"]["CONTEXTS"]["value"])
    n_left = sum(1 for s in analysis.result.steps if s.side == Side.LEFT)
    strikes_left = sum(
        1 for e, c in zip(events, contexts, strict=True) if e == "Foot Strike" and c == "Left"
    )
    assert strikes_left == n_left
    assert events.count("Foot Off") == len(analysis.result.steps)
    assert "retrain" in events
    left_out = int(params["GAITCUE"]["EVENTS_LEFT_OUT"]["value"][0])
    assert len(events) + left_out == 1 + 2 * len(analysis.result.steps) + n_gaps(analysis)
    assert len(events) <= 255
    contact = analogs[labels.index("L_contact")]
    first = next(s for s in analysis.result.steps if s.side == Side.LEFT)
    assert contact[round((first.ic_s - t0) * 1000) + 5] == 1.0
    assert contact[round((first.to_s - t0) * 1000) + 5] == 0.0
    assert list(params["SUBJECTS"]["NAMES"]["value"]) == ["0042"]


def n_gaps(analysis: SessionAnalysis) -> int:
    decoded = analysis.decoded
    return sum(int((decoded.arrays(s)[2][1:] > 0).sum()) for s in decoded.infos)


def test_long_sessions_keep_c3d_events_within_the_format(
    session_dir: Path, analysis: SessionAnalysis, tmp_path: Path
) -> None:
    ezc3d = pytest.importorskip("ezc3d", reason="the [export] extra (ezc3d) is not installed")
    from dashboard.session.export_c3d import export_c3d

    many = analysis.result.steps * 4  # more events than one C3D event list holds
    notes: list[str] = []
    export_c3d(analysis.session, analysis.decoded, many, tmp_path / "m.c3d", notes=notes)
    c3d = ezc3d.c3d(str(tmp_path / "m.c3d"))
    assert len(c3d["parameters"]["EVENT"]["LABELS"]["value"]) == 255
    assert notes
    assert "255" in notes[0]


def test_command_errors_are_one_line(tmp_path: Path, session_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match="no such session"):
        _run("export", str(tmp_path / "none"), "--format", "csv", "-o", str(tmp_path / "o"))
    with pytest.raises(ConfigurationError, match="does not exist"):
        _run("export", str(session_dir), "--format", "hdf5", "-o", str(tmp_path / "a" / "b.h5"))
    with pytest.raises(GaitcueError, match="one session, or two"):
        _run(
            "report",
            str(session_dir),
            str(session_dir),
            str(session_dir),
            "-o",
            str(tmp_path / "r.html"),
        )
    assert is_session_dir(session_dir)
    assert not is_session_dir(tmp_path)


def test_missing_extra_says_what_to_install() -> None:
    from dashboard.session.extras import require

    with pytest.raises(ConfigurationError, match=r"pip install 'gaitcue\[export\]'"):
        require("gaitcue_no_such_module", "export", "HDF5 export")
