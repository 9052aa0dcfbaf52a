"""The processing thread checks sensor health at its own pace (every ``HEALTH_EVERY_S`` of
data, not every pass): the faults the simulator puts in a sensor still reach the view, on
the right stream, and a healthy session shows none."""

from __future__ import annotations

import pytest

from firmware_bridge.samples import SampleBlock, Side, StreamInfo, StreamKind
from firmware_bridge.simulator.devices import SensorErrors
from firmware_bridge.simulator.offline import decode_session
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig
from realtime.pipeline import GaitPipeline
from realtime.processing import AnalysisView, ProcessingThread
from realtime.sensor_health import IssueKind
from realtime.streams import StreamBuffers


def _session(errors: tuple[SensorErrors, ...]) -> tuple[list[StreamInfo], list[SampleBlock]]:
    """Both insoles and both foot IMUs for 8 s, decoded; blocks in arrival order."""
    session = SimulatedSession(SimulationConfig(duration_s=8.0, seed=37, sensor_errors=errors))
    order: list[SampleBlock] = []
    run = decode_session(session, sink=order.append)
    infos = [d.info for dec in run.decoders for d in dec.devices.values() if d.info is not None]
    return infos, order


def _live_view(infos: list[StreamInfo], blocks: list[SampleBlock]) -> AnalysisView:
    """The view after passes over the buffers as the blocks arrive (one per two blocks)."""
    buffers = StreamBuffers(infos, capacity_s=60.0)
    thread = ProcessingThread(buffers, GaitPipeline())
    for index, block in enumerate(blocks):
        buffers(block)
        if index % 2 == 0:
            thread.step_once()
    return thread.view()


def test_a_healthy_session_shows_no_issue() -> None:
    assert _live_view(*_session(())).sensor_issues == ()


@pytest.mark.parametrize(
    ("error", "kind", "channels"),
    [
        (
            SensorErrors(StreamKind.INSOLE, Side.RIGHT, saturated_cells=(2,)),
            IssueKind.SATURATED,
            (2,),
        ),
        (SensorErrors(StreamKind.IMU, Side.LEFT, stuck_axis=4), IssueKind.STUCK_AXIS, (4,)),
    ],
)
def test_a_sensor_fault_reaches_the_view_on_its_stream(
    error: SensorErrors, kind: IssueKind, channels: tuple[int, ...]
) -> None:
    infos, blocks = _session((error,))
    issues = _live_view(infos, blocks).sensor_issues
    assert [issue.kind for issue in issues] == [kind]
    faulty = next(i for i in infos if i.stream_id == issues[0].stream_id)
    assert (faulty.kind, faulty.side) == (error.kind, error.side)
    assert issues[0].channels == channels
