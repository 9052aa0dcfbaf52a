"""Recording a session: permissions, thread safety, faults, crash safety, reading back."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from calibration.files import ImuCalibration, save_calibration
from dashboard.session.analysis import analyse
from dashboard.session.reader import iter_packets, load_session
from dashboard.session.simulated import record_simulated
from dashboard.session.writer import SessionWriter
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.simulator.session import SimulationConfig
from firmware_bridge.simulator.truth import TrueEvents
from realtime.events import Step
from realtime.scoring import score_steps

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """15 s of the simulated runner, recorded as fast as possible."""
    return record_simulated(
        SimulationConfig(duration_s=15.0, seed=21),
        tmp_path_factory.mktemp("rec") / "session",
        runner={"runner_id": "0042", "name": "Test Runner"},
        events=[(8.0, "marker", "new shoes", None)],
        target_spm=170.0,
    )


def _recall(steps: list[Step], truth: TrueEvents, until_s: float = np.inf) -> float:
    keep = truth.to_s <= until_s
    return score_steps(steps, truth.side[keep], truth.ic_s[keep], truth.to_s[keep]).recall


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_session_files_are_owner_only(simulated: Path) -> None:
    assert _mode(simulated) == 0o700
    names = {p.name for p in simulated.iterdir()}
    assert {"session.json", "runner.json", "packets.bin", "steps.csv", "truth.csv"} <= names
    for path in simulated.iterdir():
        assert _mode(path) == 0o600, path.name


def test_simulated_recording_reads_back_and_matches_truth(simulated: Path) -> None:
    session = load_session(simulated)
    assert session.source == "simulated"
    assert not session.interrupted
    assert session.runner["runner_id"] == "0042"
    assert "name" not in session.meta  # identity only in runner.json
    assert [e.text for e in session.events_of("marker")] == ["new shoes"]
    assert session.beats.shape[0] == pytest.approx(15.0 * 170.0 / 60.0, abs=2)
    assert session.truth is not None
    analysis = analyse(session)
    steps = analysis.result.steps
    assert _recall(steps, session.truth) >= 0.97
    # the steps detected while recording are the same contacts
    live = sorted(s.ic_s for s in session.live_steps)
    assert len(live) == pytest.approx(len(steps), abs=2)


def test_writer_round_trip_from_many_threads(tmp_path: Path) -> None:
    writer = SessionWriter(tmp_path / "s", runner={"runner_id": "7"})
    links = [writer.add_link("serial", f"/dev/ttyACM{i}") for i in range(4)]
    payloads = {
        link: [bytes([link, i % 256]) * (1 + i % 50) for i in range(2000)] for link in links
    }

    def feed(link: int) -> None:
        for i, data in enumerate(payloads[link]):
            writer.record_bytes(link, 100.0 + i * 1e-3, data)

    threads = [threading.Thread(target=feed, args=(link,)) for link in links]
    for thread in threads:
        thread.start()
    writer.add_event("treadmill", "10 km/h", 10.0, incline_pct=1.0)
    writer.add_event("marker", "fatigued")
    writer.add_beats([1.0, 1.5], accented=True)
    for thread in threads:
        thread.join()
    writer.close()
    assert writer.error is None
    got: dict[int, list[bytes]] = {link: [] for link in links}
    for _, link, data in iter_packets(tmp_path / "s" / "packets.bin"):
        got[link].append(data)
    assert got == payloads
    session = load_session(tmp_path / "s")
    assert [link["name"] for link in session.meta["links"]] == [f"/dev/ttyACM{i}" for i in range(4)]
    assert session.events[0].extra == {"incline_pct": 1.0}
    assert session.treadmill_speed_m_s() == pytest.approx(10.0 / 3.6)
    np.testing.assert_array_equal(session.beats, [[1.0, 1, 1], [1.5, 1, 1]])
    assert session.meta["ended_s"] >= session.meta["host_t0_s"]


def test_record_bytes_never_waits_for_the_disk(tmp_path: Path) -> None:
    stuck, gate = threading.Event(), threading.Event()

    def slow_write(fd: int, data: bytes | memoryview) -> int:
        if stuck.is_set():
            gate.wait(5.0)
        return os.write(fd, data)

    writer = SessionWriter(tmp_path / "s", file_write=slow_write, flush_interval_s=0.01)
    link = writer.add_link("serial", "p")
    stuck.set()
    writer.record_bytes(link, 0.0, b"x")
    time.sleep(0.05)  # the flusher is now stuck in the "disk"
    start = time.perf_counter()
    for i in range(10_000):
        writer.record_bytes(link, i * 1e-3, b"\x00" * 64)
    per_call_us = (time.perf_counter() - start) / 10_000 * 1e6
    gate.set()
    writer.close()
    assert per_call_us < 50.0
    assert sum(1 for _ in iter_packets(tmp_path / "s" / "packets.bin")) == 10_001


def test_disk_full_stops_recording_and_keeps_what_was_written(tmp_path: Path) -> None:
    budget = [20_000]

    def nearly_full(fd: int, data: bytes | memoryview) -> int:
        if budget[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = min(len(data), budget[0])  # the last write is partial, as on a real full disk
        budget[0] -= n
        return os.write(fd, bytes(data[:n]))

    writer = SessionWriter(tmp_path / "s", file_write=nearly_full, flush_interval_s=0.02)
    link = writer.add_link("serial", "p")
    for i in range(2_000):
        writer.record_bytes(link, i * 0.01, bytes([i % 256]) * 40)
        if i % 500 == 0:
            writer.add_event("marker", f"m{i}")
        if i % 100 == 0:
            time.sleep(0.005)
    deadline = time.monotonic() + 5.0
    while writer.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    writer.close()
    assert writer.error is not None
    assert "disk is full" in writer.error
    assert "\n" not in writer.error
    assert not writer.recording
    session = load_session(tmp_path / "s")
    assert session.interrupted
    records = list(iter_packets(tmp_path / "s" / "packets.bin"))
    assert 0 < len(records) < 2_000
    for index, (t_s, _, data) in enumerate(records):  # every kept record is intact
        assert t_s == pytest.approx(index * 0.01)
        assert data == bytes([index % 256]) * 40
    size = (tmp_path / "s" / "packets.bin").stat().st_size
    assert size == 8 + sum(14 + len(d) for _, _, d in records)  # cut back to a record


def test_unwritable_directory_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match=r"cannot record to .*file/s: ") as info:
        SessionWriter(blocker / "s")
    assert "\n" not in str(info.value)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(ConfigurationError, match="not an empty directory"):
        SessionWriter(tmp_path / "used")


def test_torn_last_record_is_ignored(simulated: Path, tmp_path: Path) -> None:
    copy = tmp_path / "torn"
    copy.mkdir()
    for path in simulated.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    data = (copy / "packets.bin").read_bytes()
    (copy / "packets.bin").write_bytes(data[:-7])
    with (copy / "steps.csv").open("a") as handle:
        handle.write("left,1.0,1.2")  # a torn line
    with (copy / "events.jsonl").open("a") as handle:
        handle.write('{"t_s": 3.0, "kind"')
    session = load_session(copy)
    decoded = session.decode()
    assert decoded.ignored_bytes > 0
    assert len(session.live_steps) == len(load_session(simulated).live_steps)
    assert len(analyse(session, decoded=decoded).result.steps) > 30


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p, "no such session directory"),
        (lambda p: (p.write_text("x"), p)[-1], "it is a file"),
        (lambda p: (p.mkdir(), p)[-1], "no session.json"),
        (lambda p: (p.mkdir(), (p / "session.json").write_text("{"), p)[-1], "damaged"),
        (lambda p: (p.mkdir(), (p / "session.json").write_text("{}"), p)[-1], "not a gaitcue"),
    ],
)
def test_not_a_session_is_one_line(tmp_path: Path, make, problem: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path / "x")
    with pytest.raises(ConfigurationError, match=problem) as info:
        load_session(path)
    assert str(tmp_path / "x") in str(info.value)
    assert "\n" not in str(info.value)


_RECORDER = textwrap.dedent(
    """
    import sys
    from dashboard.session.simulated import record_simulated
    from firmware_bridge.simulator.session import SimulationConfig

    def tell(fraction):
        print(fraction * 60.0, flush=True)

    record_simulated(SimulationConfig(duration_s=60.0, seed=5), sys.argv[1], speed=4.0,
                     step_s=0.1, on_progress=tell)
    """
)


def test_kill_9_loses_at_most_the_last_second(tmp_path: Path) -> None:
    """A real recorder process killed mid-session: the rest opens and analyses."""
    target = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-c", _RECORDER, str(target)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    reached = 0.0
    try:
        for line in proc.stdout:
            reached = float(line)
            if reached >= 10.0:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    session = load_session(target)
    assert session.interrupted
    last = max(t for t, _, _ in iter_packets(target / "packets.bin"))
    speed = 4.0
    assert last >= reached - speed * 1.0  # at most one second of wall time lost
    analysis = analyse(session)
    assert session.truth is not None
    assert _recall(analysis.result.steps, session.truth, until_s=last - 1.0) >= 0.97


def test_recorded_calibration_is_applied_when_decoding(simulated: Path, tmp_path: Path) -> None:
    copy = tmp_path / "cal"
    copy.mkdir()
    for path in simulated.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    devices = [json.loads(line) for line in (copy / "devices.jsonl").read_text().splitlines()]
    imu = next(d for d in devices if d["kind"] == "imu" and d["side"] == "left")
    cal = ImuCalibration(
        device_id=int(imu["device_id"], 16),
        accel_offset_g=np.zeros(3),
        accel_scale=np.ones(3),
        gyro_bias_dps=np.array([0.0, 0.0, 5.0]),
    )
    save_calibration(cal, tmp_path / "cal.json")
    imu["calibration"] = json.loads((tmp_path / "cal.json").read_text())
    (copy / "devices.jsonl").write_text("".join(json.dumps(d) + "\n" for d in devices))
    raw = load_session(simulated).decode()
    calibrated = load_session(copy).decode()
    sid = imu["stream_id"]
    assert calibrated.infos[sid].calibrated
    assert not raw.infos[sid].calibrated
    np.testing.assert_allclose(
        calibrated.arrays(sid)[1][:, 5], raw.arrays(sid)[1][:, 5] - 5.0, atol=1e-3
    )


def test_ble_links_replay_notification_by_notification(simulated: Path, tmp_path: Path) -> None:
    """The same packets recorded as BLE notification values decode to the same samples."""
    from firmware_bridge.cobs import Deframer, cobs_decode

    original = load_session(simulated)
    writer = SessionWriter(
        tmp_path / "ble",
        source="simulated",
        metadata={"latency_floor_s": original.meta["latency_floor_s"]},
    )
    links = {
        link["link_id"]: writer.add_link("ble", link["name"]) for link in original.meta["links"]
    }
    deframers = {link: Deframer() for link in links}
    for t_s, link, payload in iter_packets(simulated / "packets.bin"):
        for frame in deframers[link].feed(payload):
            writer.record_bytes(links[link], t_s, cobs_decode(frame))
    writer.close()
    serial = original.decode()
    ble = load_session(tmp_path / "ble").decode()
    assert set(ble.infos) == set(serial.infos)
    for sid in serial.infos:
        np.testing.assert_array_equal(ble.arrays(sid)[1], serial.arrays(sid)[1])
