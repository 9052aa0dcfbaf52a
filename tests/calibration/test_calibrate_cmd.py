"""``gaitcue calibrate`` end to end: simulated routines written as CSV (the analyze import
format), calibrated at the command line, checked against the simulator's truth; user errors
give one line and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from calibration.files import ImuCalibration, InsoleCalibration, load_calibration
from calibration.imu import rotation_angle_deg
from dashboard import calibrate_cmd
from dashboard.calibrate_cmd import GuidedImu, GuidedInsoles, main
from firmware_bridge.samples import Side, StreamInfo
from firmware_bridge.simulator.calibration_routines import (
    ImuTruth,
    InsoleTruth,
    body_weight_routine,
    jump_routine,
    known_load_routine,
    mounting_routine,
    six_face_routine,
    write_routine_csv,
)

ROOT = Path(__file__).resolve().parents[2]


def test_imu_from_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(51)
    truth = ImuTruth.draw(rng, tilt_deg=25.0)
    six, mount = six_face_routine(truth, rng), mounting_routine(truth, rng, side=Side.RIGHT)
    write_routine_csv(six, "imu", tmp_path / "six.csv")
    write_routine_csv(mount, "imu", tmp_path / "mount.csv")
    out = tmp_path / "imu.json"
    status = main(
        [
            "calibrate",
            "imu",
            "--csv",
            str(tmp_path / "six.csv"),
            "--mounting",
            str(tmp_path / "mount.csv"),
            "--device-id",
            "6a01c0de",
            "-o",
            str(out),
        ]
    )
    assert status == 0
    assert "written" in capsys.readouterr().out
    cal = load_calibration(out, device_id=0x6A01C0DE)
    assert isinstance(cal, ImuCalibration)
    np.testing.assert_allclose(cal.accel_offset_g, truth.accel_offset_g, atol=0.005)
    np.testing.assert_allclose(cal.accel_scale / truth.accel_scale, 1.0, atol=0.005)
    assert rotation_angle_deg(cal.alignment, truth.alignment) < 2.0


def test_insoles_from_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(52)
    exponent = 0.85
    gains = {side: rng.uniform(0.8, 1.2, 8) for side in (Side.LEFT, Side.RIGHT)}
    truths = {
        side: InsoleTruth(
            cell_gain=gains[side],
            zero_offset_n=rng.uniform(6, 15, 8),
            response_exponent=exponent,
        )
        for side in (Side.LEFT, Side.RIGHT)
    }
    routine = body_weight_routine(truths, rng, body_mass_kg=64.0, n_cells=8)
    args = ["calibrate", "insole", "--body-mass", "64"]
    for side, device in ((Side.LEFT, "6a000001"), (Side.RIGHT, "6a020002")):
        # The same insole on the bench, out of the shoe (no preload).
        bench = InsoleTruth(
            cell_gain=gains[side], zero_offset_n=np.zeros(8), response_exponent=exponent
        )
        name = side.name.lower()
        write_routine_csv(
            known_load_routine(bench, rng, n_cells=8), "insole", tmp_path / f"{name}_l.csv"
        )
        write_routine_csv(routine, f"{name}_insole", tmp_path / f"{name}.csv")
        args += ["--csv", str(tmp_path / f"{name}.csv"), "--device-id", device]
        args += ["-o", str(tmp_path / f"{name}.json")]
        args += ["--known-load", str(tmp_path / f"{name}_l.csv")]
    assert main(args) == 0
    force = np.linspace(60.0, 600.0, 30)
    for side, device in ((Side.LEFT, 0x6A000001), (Side.RIGHT, 0x6A020002)):
        cal = load_calibration(tmp_path / f"{side.name.lower()}.json", device_id=device)
        assert isinstance(cal, InsoleCalibration)
        np.testing.assert_allclose(cal.zero_n, truths[side].zero_offset_n, atol=1.5)
        assert cal.curves is not None
        for cell, curve in enumerate(cal.curves):
            assert curve is not None
            reading = gains[side][cell] * 400.0 * (force / 400.0) ** exponent
            np.testing.assert_allclose(curve(reading), force, rtol=0.02)
        # With true curves the body-weight scale only mops up the small loads of standing.
        assert abs(cal.scale - 1.0) < 0.05


def test_clock_from_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    errors = {"left_insole": 0.0, "right_insole": 0.012, "left_imu": -0.004, "right_imu": 0.02}
    routine = jump_routine(errors, np.random.default_rng(53))
    args = ["calibrate", "clock"]
    for name in errors:
        write_routine_csv(routine, name, tmp_path / f"{name}.csv")
        args += [f"--{name.replace('_', '-')}", str(tmp_path / f"{name}.csv")]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert '"right vs left insole": 12.' in text or '"right vs left insole": 11.' in text


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(54)
    routine = six_face_routine(ImuTruth.draw(rng), rng, hold_s=2.0, rate_hz=200.0)
    write_routine_csv(routine, "imu", folder / "six.csv")
    (folder / "broken.json").write_text("{")
    return folder


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["calibrate", "imu", "-o", "{tmp}/x.json"], "give a recorded routine"),
        (
            [
                "calibrate",
                "imu",
                "--csv",
                "{tmp}/none.csv",
                "--device-id",
                "1",
                "-o",
                "{tmp}/x.json",
            ],
            "none.csv",
        ),
        (["calibrate", "imu", "--csv", "{tmp}/six.csv", "-o", "{tmp}/x.json"], "--device-id"),
        (
            [
                "calibrate",
                "imu",
                "--csv",
                "{tmp}/six.csv",
                "--device-id",
                "zz",
                "-o",
                "{tmp}/x.json",
            ],
            "hexadecimal",
        ),
        (
            [
                "calibrate",
                "imu",
                "--csv",
                "{tmp}/six.csv",
                "--device-id",
                "1",
                "-o",
                "{tmp}/no/x.json",
            ],
            "does not exist",
        ),
        (
            [
                "calibrate",
                "imu",
                "--mounting",
                "{tmp}/six.csv",
                "--base",
                "{tmp}/broken.json",
                "-o",
                "{tmp}/x.json",
            ],
            "broken.json is not valid JSON",
        ),
        (
            ["calibrate", "insole", "--csv", "{tmp}/six.csv", "-o", "{tmp}/x.json"],
            "one --device-id",
        ),
    ],
)
def test_user_errors_exit_2_with_one_line(
    inputs: Path, args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_path = inputs
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert expected in lines[0]


def test_a_broken_routine_exits_2_without_a_traceback(tmp_path: Path) -> None:
    rng = np.random.default_rng(56)
    truth = ImuTruth.draw(rng)
    routine = six_face_routine(truth, rng, hold_s=2.0)
    keep = routine.t_s["imu"] < 9.0  # three faces only (2 s hold + 1.5 s turn each)
    short = type(routine)(
        {"imu": routine.t_s["imu"][keep]},
        {"imu": routine.values["imu"][keep]},
        routine.info,
        routine.truth,
    )
    write_routine_csv(short, "imu", tmp_path / "short.csv")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dashboard.calibrate_cmd",
            "calibrate",
            "imu",
            "--csv",
            str(tmp_path / "short.csv"),
            "--device-id",
            "6a000001",
            "-o",
            str(tmp_path / "x.json"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: The six-face routine shows 3 still faces; rest the sensor still for 2–3 s on "
        "each of its six faces."
    ]
    assert not (tmp_path / "x.json").exists()


def test_guided_imu_routine_on_simulated_chunks() -> None:
    rng = np.random.default_rng(55)
    truth = ImuTruth.draw(rng, tilt_deg=20.0)
    six = six_face_routine(truth, rng, hold_s=3.5)
    mount = mounting_routine(truth, rng, side=Side.LEFT, stand_s=5.0)
    t = np.concatenate([six.t_s["imu"], six.t_s["imu"][-1] + 5.0 + mount.t_s["imu"]])
    v = np.concatenate([six.values["imu"], mount.values["imu"]])
    routine = GuidedImu()
    said: list[str] = []
    for start in range(0, t.shape[0], 100):  # 0.1 s chunks, as the live loop reads them
        said += routine.feed(t[start : start + 100], v[start : start + 100])
        if routine.done:
            break
    assert routine.done
    assert [s for s in said if s.startswith("face ")][-1].startswith("face 6 of 6 done")
    assert any("walk" in s for s in said)
    cal = routine.calibration(0x6A000009)
    np.testing.assert_allclose(cal.accel_offset_g, truth.accel_offset_g, atol=0.005)
    assert rotation_angle_deg(cal.alignment, truth.alignment) < 2.0


def test_guided_insole_prompts_each_pose_with_a_countdown() -> None:
    routine = GuidedInsoles()
    said: list[str] = []
    now = 0.0
    while not routine.done:
        said += routine.feed(now)
        now += 0.1
    poses = [s for s in said if s.startswith("pose ")]
    assert len(poses) == 7
    assert "LEFT foot" in poses[3]
    assert "  1 s" in said


class _FakeClock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def monotonic(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.now_s += seconds


class _Snapshot:
    def __init__(self, t: np.ndarray, v: np.ndarray, next_cursor: int) -> None:
        self.t_host_s, self.values, self.next_cursor = t, v, next_cursor


class _Replay:
    """A ring buffer that has received a recorded stream up to the fake clock's time."""

    def __init__(self, clock: _FakeClock, t: np.ndarray, v: np.ndarray) -> None:
        self.clock, self.t, self.v = clock, t, v.astype(np.float32)

    def read_since(self, cursor: int) -> _Snapshot:
        n = int(np.searchsorted(self.t, self.clock.now_s))
        return _Snapshot(self.t[cursor:n], self.v[cursor:n], max(n, cursor))


class _ReplayBuffers:
    def __init__(self, streams: dict[str, tuple[StreamInfo, _Replay]]) -> None:
        self.streams = streams

    def stream_ids(self) -> tuple[str, ...]:
        return tuple(self.streams)

    def info(self, stream_id: str) -> StreamInfo:
        return self.streams[stream_id][0]

    def __getitem__(self, stream_id: str) -> _Replay:
        return self.streams[stream_id][1]


def _live(
    monkeypatch: pytest.MonkeyPatch,
    clock: _FakeClock,
    streams: dict[str, tuple[StreamInfo, _Replay]],
) -> None:
    acquisition = SimpleNamespace(buffers=_ReplayBuffers(streams))
    monkeypatch.setattr(calibrate_cmd, "time", clock)
    monkeypatch.setattr(
        calibrate_cmd, "_open_live", lambda args, ports: (acquisition, lambda: None)
    )


def test_guided_live_routines_on_replayed_devices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(57)
    clock = _FakeClock()
    truths = {
        side: InsoleTruth(cell_gain=np.full(16, 0.9), zero_offset_n=rng.uniform(6, 15, 16))
        for side in (Side.LEFT, Side.RIGHT)
    }
    routine = body_weight_routine(truths, rng, body_mass_kg=70.0, rest_s=4.0, pose_s=6.0)
    streams = {}
    for side in (Side.LEFT, Side.RIGHT):
        name = f"{side.name.lower()}_insole"
        info = replace(
            routine.info[name],
            stream_id=f"insole-{side.name.lower()}-6a00000{int(side)}",
            device_id=0x6A000000 + int(side),
        )
        streams[info.stream_id] = (
            info,
            _Replay(clock, routine.t_s[name] + 0.5, routine.values[name]),
        )
    _live(monkeypatch, clock, streams)
    out = [str(tmp_path / "l.json"), str(tmp_path / "r.json")]
    argv = [
        "calibrate",
        "insole",
        "--serial",
        "PORT",
        "--body-mass",
        "70",
        "-o",
        out[0],
        "-o",
        out[1],
    ]
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "pose 4 of 7: Stand on your LEFT foot only" in said
    for path, device in zip(out, (0x6A000000, 0x6A000001), strict=True):
        cal = load_calibration(path, device_id=device)
        assert isinstance(cal, InsoleCalibration)
        assert abs(cal.scale * 0.9 - 1.0) < 0.02

    clock.now_s = 0.0
    truth = ImuTruth.draw(rng, tilt_deg=20.0)
    six = six_face_routine(truth, rng, hold_s=3.5)
    mount = mounting_routine(truth, rng, stand_s=5.0)
    t = np.concatenate([six.t_s["imu"], six.t_s["imu"][-1] + 5.0 + mount.t_s["imu"]]) + 0.5
    v = np.concatenate([six.values["imu"], mount.values["imu"]])
    info = replace(six.info["imu"], stream_id="imu-left-6a000009", device_id=0x6A000009)
    _live(monkeypatch, clock, {info.stream_id: (info, _Replay(clock, t, v))})
    assert main(["calibrate", "imu", "--serial", "PORT", "-o", str(tmp_path / "i.json")]) == 0
    said = capsys.readouterr().out
    assert "face 3 of 6 done" in said
    assert "Steps done." in said
    cal = load_calibration(tmp_path / "i.json", device_id=0x6A000009)
    assert isinstance(cal, ImuCalibration)
    assert rotation_angle_deg(cal.alignment, truth.alignment) < 2.0
