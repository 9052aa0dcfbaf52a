"""Sensor pathologies made by the simulator, found by the health monitor, reported once."""

from __future__ import annotations

import functools

import pytest

from firmware_bridge.samples import SampleBlock, Side, StreamInfo, StreamKind
from firmware_bridge.simulator.devices import SensorErrors
from firmware_bridge.simulator.faults import FaultSpec
from firmware_bridge.simulator.offline import decode_session
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig
from realtime.sensor_health import IssueKind, SensorHealthMonitor, SensorIssue


@functools.cache
def streams(
    errors: tuple[SensorErrors, ...] = (), *, insoles: bool = True, imus: bool = True
) -> tuple[list[StreamInfo], list[SampleBlock]]:
    """Stream descriptions and every block, in arrival order, of 20 simulated seconds."""
    config = SimulationConfig(
        duration_s=20.0, seed=31, sensor_errors=errors, insoles=insoles, imus=imus
    )
    session = SimulatedSession(config)
    order: list[SampleBlock] = []
    run = decode_session(session, sink=order.append)
    infos = [d.info for dec in run.decoders for d in dec.devices.values() if d.info is not None]
    return infos, order


def monitor_run(
    errors: tuple[SensorErrors, ...] = (),
) -> tuple[SensorHealthMonitor, list[SensorIssue], dict[str, StreamInfo]]:
    kinds = {e.kind for e in errors}
    infos, blocks = streams(
        errors, insoles=not kinds or StreamKind.INSOLE in kinds, imus=StreamKind.INSOLE not in kinds
    )
    monitor = SensorHealthMonitor()
    reported: list[SensorIssue] = []
    for info in infos:
        reported += monitor.add_stream(info)
    for block in blocks:
        reported += monitor.update(block)
    return monitor, reported, {info.stream_id: info for info in infos}


def only(reported: list[SensorIssue], kind: IssueKind) -> SensorIssue:
    assert [issue.kind for issue in reported] == [kind], reported
    issue = reported[0]
    assert issue.message
    assert "\n" not in issue.message
    return issue


def test_a_healthy_session_raises_nothing() -> None:
    monitor, reported, _ = monitor_run()
    assert reported == []
    assert monitor.issues_ == {}


def test_a_dead_cell_is_reported_once() -> None:
    errors = (SensorErrors(StreamKind.INSOLE, Side.LEFT, dead_cells=(5,)),)
    monitor, reported, infos = monitor_run(errors)
    issue = only(reported, IssueKind.DEAD_CELL)
    assert issue.channels == (5,)
    assert infos[issue.stream_id].side == Side.LEFT
    assert infos[issue.stream_id].kind == StreamKind.INSOLE
    assert "cell5" in issue.message
    assert len(monitor.issues_) == 1


def test_a_saturated_cell_is_reported_once() -> None:
    errors = (SensorErrors(StreamKind.INSOLE, Side.RIGHT, saturated_cells=(2,)),)
    _, reported, infos = monitor_run(errors)
    issue = only(reported, IssueKind.SATURATED)
    assert issue.channels == (2,)
    assert infos[issue.stream_id].side == Side.RIGHT


def test_a_stuck_imu_axis_is_reported_once() -> None:
    errors = (SensorErrors(StreamKind.IMU, Side.RIGHT, stuck_axis=4),)
    _, reported, infos = monitor_run(errors)
    issue = only(reported, IssueKind.STUCK_AXIS)
    assert issue.channels == (4,)
    assert infos[issue.stream_id].kind == StreamKind.IMU
    assert "gy" in issue.message


def test_two_devices_on_one_side_are_reported_once_each() -> None:
    errors = (SensorErrors(StreamKind.IMU, Side.RIGHT, reported_side=Side.LEFT),)
    monitor, reported, infos = monitor_run(errors)
    assert {issue.kind for issue in reported} == {IssueKind.WRONG_SIDE}
    imus = {sid for sid, info in infos.items() if info.kind == StreamKind.IMU}
    assert {issue.stream_id for issue in reported} == imus
    assert len(reported) == 2
    monitor.remove_stream(sorted(imus)[0])
    assert monitor.issues_ == {}


@pytest.mark.parametrize(("error_pct", "found"), [(5.0, True), (-3.0, True), (0.5, False)])
def test_a_sample_rate_mismatch_is_reported_once(error_pct: float, found: bool) -> None:
    errors = (SensorErrors(StreamKind.INSOLE, Side.LEFT, rate_error_pct=error_pct),)
    _, reported, infos = monitor_run(errors)
    if not found:
        assert reported == []
        return
    issue = only(reported, IssueKind.RATE_MISMATCH)
    assert infos[issue.stream_id].kind == StreamKind.INSOLE
    assert "200 Hz" in issue.message


def test_a_rate_mismatch_is_found_through_packet_loss() -> None:
    session = SimulatedSession(
        SimulationConfig(
            duration_s=25.0,
            seed=32,
            insoles=False,
            faults=FaultSpec(loss=0.05),
            sensor_errors=(SensorErrors(StreamKind.IMU, Side.LEFT, rate_error_pct=4.0),),
        )
    )
    order: list[SampleBlock] = []
    run = decode_session(session, sink=order.append)
    monitor = SensorHealthMonitor()
    for dec in run.decoders:
        for device in dec.devices.values():
            assert device.info is not None
            monitor.add_stream(device.info)
    reported = [issue for block in order for issue in monitor.update(block)]
    issue = only(reported, IssueKind.RATE_MISMATCH)
    assert issue.stream_id.startswith("imu-left")


def test_an_issue_that_clears_is_reported_again_when_it_returns() -> None:
    stuck = (SensorErrors(StreamKind.IMU, Side.LEFT, stuck_axis=1),)
    infos, bad = streams(stuck, insoles=False)
    _, good = streams(insoles=False)
    imu = next(i for i in infos if i.kind == StreamKind.IMU and i.side == Side.LEFT)
    good_imu = [b for b in good if b.stream_id.startswith("imu-left")]
    bad_imu = [b for b in bad if b.stream_id == imu.stream_id]
    monitor = SensorHealthMonitor()
    monitor.add_stream(imu)
    seen: list[SensorIssue] = []
    t_shift = 0.0
    for part in (bad_imu, good_imu, bad_imu):
        offset = t_shift - float(part[0].t_host_s[0]) + 1.0
        for index, block in enumerate(part):
            gap_s = 1.0 if index == 0 else block.gap_before_s  # the join is a gap
            moved = SampleBlock(imu.stream_id, block.t_host_s + offset, block.values, gap_s)
            seen += monitor.update(moved)
        t_shift = float(part[-1].t_host_s[-1]) + offset
        if part is good_imu:
            assert monitor.issues_ == {}
    assert [issue.kind for issue in seen] == [IssueKind.STUCK_AXIS] * 2


def test_healthy_streams_raise_no_issue() -> None:
    # The cost per block is a benchmark figure (about 21 µs), not a test.
    infos, blocks = streams()
    monitor = SensorHealthMonitor()
    for info in infos:
        monitor.add_stream(info)
    for block in blocks:
        assert monitor.update(block) == []
    assert monitor.issues_ == {}
