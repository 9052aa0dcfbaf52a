"""Replaying a recorded session through the live pipeline: the steps, pause, seek, the
command."""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dashboard import replay_cmd
from dashboard.readouts import Bands, gait_readouts
from dashboard.replay_cmd import add_parser
from dashboard.session.analysis import analyse
from dashboard.session.reader import Session, load_session
from dashboard.session.replay import PacketIndex, ReplayClock, ReplayController, ReplayEngine
from dashboard.session.simulated import record_simulated
from dashboard.session.writer import SessionWriter
from dashboard.terminal_view import run_terminal_view
from firmware_bridge.cobs import Deframer, cobs_decode
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.simulator.session import SimulationConfig
from realtime.events import Step
from realtime.scoring import match_events, score_steps

DURATION_S = 30.0


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """30 s of the simulated runner (170 spm), recorded as ``simulate --record`` does."""
    path = record_simulated(
        SimulationConfig(duration_s=DURATION_S, seed=31),
        tmp_path_factory.mktemp("replay") / "session",
        detect=False,
    )
    return load_session(path)


def _wait_for(predicate: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _matched(steps: list[Step], reference: list[Step]) -> tuple[np.ndarray, np.ndarray]:
    return match_events(
        [int(s.side) for s in steps],
        [s.ic_s for s in steps],
        [int(s.side) for s in reference],
        [s.ic_s for s in reference],
        tolerance_s=0.06,
    )


def _truth_until(session: Session, t_s: float) -> int:
    assert session.truth is not None
    return int(np.count_nonzero(session.truth.to_s < t_s))


def test_fast_replay_finds_the_steps_of_analyze(session: Session) -> None:
    controller = ReplayController(session, speed=20.0)
    started = time.monotonic()
    controller.start()
    assert controller.wait_finished(60.0)
    wall_s = time.monotonic() - started
    controller.close()
    assert controller.error is None
    steps = list(controller.processing.pipeline.steps)
    offline = analyse(session).result.steps
    first_s = controller.t0_s + 1.0
    last_s = float(controller.index.reach_s[-1]) - 1.0
    # Offline, analyze sees every stream whole: it also keeps the very first contact (which
    # the live pipeline has no context for yet) and releases the steps still waiting for
    # later events at the end of the data. Compare everything between.
    reference = [s for s in offline if first_s < s.ic_s and s.to_s < last_s]
    d, r = _matched(steps, reference)
    assert len(r) == len(reference)
    assert max(abs(steps[i].ic_s - reference[j].ic_s) for i, j in zip(d, r, strict=True)) < 1e-9
    truth = session.truth
    assert truth is not None
    kept = (truth.ic_s > first_s) & (truth.to_s < last_s)
    inside = [s for s in steps if first_s < s.ic_s and s.to_s < last_s]
    score = score_steps(inside, truth.side[kept], truth.ic_s[kept], truth.to_s[kept])
    assert score.recall >= 0.99
    assert score.n_false == 0
    # The end: the clock stands at the last record and the device panel says so.
    assert controller.position_s == pytest.approx(controller.duration_s, abs=1e-6)
    assert not controller.playing
    rows = controller.acquisition.device_rows()
    assert len(rows) == 4
    assert {row.state for row in rows} == {"ended"}
    print(f"replay x20: {controller.duration_s / wall_s:.1f}x real time achieved")


def test_pause_freezes_the_clock_and_the_numbers(session: Session) -> None:
    controller = ReplayController(session, speed=8.0)
    controller.start()
    try:
        _wait_for(lambda: controller.position_s > 4.0 and controller.processing.view().n_steps)
        controller.pause()  # returns once the batch in flight is analysed
        clock_s = controller.clock()
        view = controller.processing.view()
        numbers = gait_readouts(view, controller.clock(), target_spm=None, bands=Bands())
        time.sleep(0.4)  # 3.2 s of session time at x8
        assert controller.clock() == clock_s
        assert controller.processing.view() is view
        assert (
            gait_readouts(controller.processing.view(), clock_s, target_spm=None, bands=Bands())
            == numbers
        )
        assert controller.engine.player.fed_s <= clock_s
        controller.resume()
        _wait_for(lambda: controller.position_s > clock_s - controller.t0_s + 1.0)
        assert controller.processing.view().n_steps > view.n_steps
    finally:
        controller.close()


def test_seek_forward_and_back_lands_there_and_the_analysis_goes_on(session: Session) -> None:
    controller = ReplayController(session, speed=10.0)
    rebuilt: list[ReplayEngine] = []
    controller.on_rebuilt.append(rebuilt.append)
    controller.start(paused=True)
    try:
        controller.seek(15.0)
        assert controller.wait_settled(20.0)
        assert controller.position_s == pytest.approx(15.0, abs=1e-9)
        t15 = controller.t0_s + 15.0
        assert controller.engine.player.fed_s <= t15
        n_forward = controller.processing.view().n_steps
        assert abs(n_forward - _truth_until(session, t15)) <= 2
        assert not rebuilt  # forward: the same pipeline went on

        first = controller.engine
        controller.seek(4.0)
        assert controller.wait_settled(20.0)
        assert rebuilt == [controller.engine]
        assert controller.engine is not first
        assert controller.position_s == pytest.approx(4.0, abs=1e-9)
        t4 = controller.t0_s + 4.0
        steps = controller.processing.pipeline.steps
        assert steps
        assert all(s.to_s <= t4 for s in steps)
        assert abs(len(steps) - _truth_until(session, t4)) <= 2

        controller.resume()  # the analysis goes on from there
        _wait_for(lambda: controller.position_s > 9.0)
        controller.pause()
        truth = session.truth
        assert truth is not None
        first_s, last_s = controller.t0_s + 1.0, controller.clock() - 1.0
        steps = [
            s for s in controller.processing.pipeline.steps if first_s < s.ic_s and s.to_s < last_s
        ]
        kept = (truth.ic_s > first_s) & (truth.to_s < last_s)
        score = score_steps(steps, truth.side[kept], truth.ic_s[kept], truth.to_s[kept])
        assert score.recall >= 0.99
        assert score.n_false == 0
    finally:
        controller.close()


def test_start_and_duration_bound_the_replay(session: Session) -> None:
    controller = ReplayController(session, speed=20.0, start_s=10.0, duration_s=5.0)
    controller.start()
    try:
        assert controller.wait_finished(20.0)
        assert controller.position_s == pytest.approx(15.0, abs=1e-6)
        assert controller.engine.player.fed_s <= controller.t0_s + 15.0
        assert max(s.to_s for s in controller.processing.pipeline.steps) <= controller.clock()
        # Play again at the end: from the start.
        controller.resume()
        assert controller.wait_settled(10.0)
        _wait_for(lambda: controller.position_s > 0.5)
        assert controller.position_s < 15.0
    finally:
        controller.close()


def test_ble_notifications_replay_like_serial_reads(session: Session, tmp_path: Path) -> None:
    """The same packets recorded as BLE notifications (one packet each) give the same
    steps as the serial recording."""
    writer = SessionWriter(tmp_path / "ble", source="live", clock=lambda: session.host_t0_s)
    index = PacketIndex.read(session.path / "packets.bin")
    deframers: dict[int, Deframer] = {}
    ids = {link["link_id"]: writer.add_link("ble", link["name"]) for link in session.meta["links"]}
    stop_s = session.host_t0_s + 8.0
    for i in range(index.count_until(stop_s)):
        link = int(index.link_id[i])
        deframer = deframers.setdefault(link, Deframer())
        for frame in deframer.feed(index.payload(i)):
            writer.record_bytes(ids[link], float(index.t_s[i]), cobs_decode(frame))
    writer.close()
    results = []
    for path, transport in ((session.path, "serial"), (tmp_path / "ble", "ble")):
        controller = ReplayController(path, speed=50.0, duration_s=8.0)
        assert {link.transport for link in controller.engine.player.links.values()} == {transport}
        controller.start(paused=True)
        controller.seek(8.0)
        assert controller.wait_settled(20.0)
        controller.close()
        # The BLE copy ends at 8 s, where the replay releases its held steps; the serial
        # recording goes on, so its replay holds them: compare what lies before.
        steps = controller.processing.pipeline.steps
        results.append([(s.side, round(s.ic_s, 6)) for s in steps if s.ic_s < 7.0])
    assert len(results[0]) > 15
    assert results[0] == results[1]


def test_replay_clock_runs_pauses_and_holds_back() -> None:
    real = [100.0]
    clock = ReplayClock(5.0, speed=4.0, real=lambda: real[0])
    assert clock() == 5.0
    assert not clock.running
    clock.resume()
    real[0] += 0.5
    assert clock() == pytest.approx(7.0)
    clock.pause()
    real[0] += 10.0
    assert clock() == pytest.approx(7.0)
    clock.resume()
    clock.set_speed(2.0)
    real[0] += 1.0
    assert clock() == pytest.approx(9.0)
    clock.hold_back(8.0, 0.25)
    assert clock() == pytest.approx(8.25)
    clock.jump(3.0)
    assert clock() == 3.0
    with pytest.raises(ConfigurationError, match="positive"):
        clock.set_speed(0.0)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gaitcue")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_replay_command_in_the_terminal(
    session: Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    screen = io.StringIO()

    def terminal_view(*args: Any, **kwargs: Any) -> None:
        run_terminal_view(*args, out=screen, refresh_s=0.1, **kwargs)

    monkeypatch.setattr(replay_cmd, "run_terminal_view", terminal_view)
    args = _parse(
        [
            "replay",
            str(session.path),
            "--terminal",
            "--speed",
            "20",
            "--start",
            "10",
            "--duration",
            "4",
        ]
    )
    assert args.func(args) == 0
    out = screen.getvalue()
    assert "gaitcue replay of session" in out
    assert "(end)" in out
    assert "cadence 17" in out  # 170 spm, to the spm
    assert "to 0:14.0" in capsys.readouterr().err


def test_replay_command_errors_are_one_line(session: Session, tmp_path: Path) -> None:
    for argv, problem in (
        ([str(tmp_path / "missing")], "no such session directory"),
        ([str(session.path), "--start", "500"], "--start must be between 0 and"),
        ([str(session.path), "--speed", "0"], "speed must be a positive number"),
        ([str(session.path), "--screenshot", str(tmp_path / "a.png")], "needs a --duration"),
    ):
        args = _parse(["replay", *argv])
        with pytest.raises(ConfigurationError, match=problem) as info:
            args.func(args)
        assert "\n" not in str(info.value)
