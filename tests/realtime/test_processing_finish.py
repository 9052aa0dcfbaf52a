"""The end of a live run: stopping the processing thread analyses what the buffers still
hold and releases the steps the assembler held back, so the view ends with each side's last
true step (scored against the simulator's truth)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest

from firmware_bridge.samples import SampleBlock, Side, StreamInfo, StreamKind
from firmware_bridge.simulator.offline import decode_session
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig
from firmware_bridge.simulator.truth import TrueEvents
from realtime.events import Step
from realtime.pipeline import GaitPipeline
from realtime.processing import ProcessingThread
from realtime.streams import StreamBuffers

MATCH_S = 0.06
"""A detection matches a true step within this much of its initial contact (s)."""
INSOLE_AFTER_TO_S = 0.06
"""The run stops this long (s of insole data) after the last true toe-off: the insole has
shown the toe-off..."""
IMU_BEFORE_TO_S = 0.02
"""...while the IMU's packets from this long before it on were still in transit: the step
waits for its IMU partner, and only the end of the run can release it."""


def _session(seed: int) -> tuple[list[StreamInfo], list[SampleBlock], TrueEvents, float]:
    """Both insoles and both foot IMUs, decoded, in arrival order, cut where the run stops;
    and the last true toe-off (s) before that."""
    session = SimulatedSession(SimulationConfig(duration_s=8.0, seed=seed))
    run = decode_session(session)
    infos = [d.info for dec in run.decoders for d in dec.devices.values() if d.info]
    truth = session.truth
    last_to_s = float(truth.to_s[truth.to_s < session.end_s - 0.5].max())
    ends = {
        info.stream_id: last_to_s
        + (INSOLE_AFTER_TO_S if info.kind == StreamKind.INSOLE else -IMU_BEFORE_TO_S)
        for info in infos
    }
    kept = [b for bs in run.blocks.values() for b in bs if b.t_host_s[-1] <= ends[b.stream_id]]
    return infos, sorted(kept, key=lambda b: b.t_host_s[-1]), truth, last_to_s


def _last_true_ic_s(truth: TrueEvents, side: Side, last_to_s: float) -> float:
    """Initial contact (s) of the side's last true step, up to the toe-off at ``last_to_s``."""
    shown = (truth.side == int(side)) & (truth.to_s <= last_to_s)
    return float(truth.ic_s[shown].max())


def _has_step(steps: Iterable[Step], side: Side, ic_s: float) -> bool:
    return any(s.side == side and abs(s.ic_s - ic_s) <= MATCH_S for s in steps)


@pytest.mark.parametrize("seed", [51, 52])
def test_stop_publishes_the_last_step_of_each_side(seed: int) -> None:
    infos, blocks, truth, last_to_s = _session(seed)
    buffers = StreamBuffers(infos, capacity_s=60.0)
    thread = ProcessingThread(buffers, GaitPipeline())
    for index, block in enumerate(blocks):  # a pass after every few packets, as live
        buffers(block)
        if index % 4 == 0:
            thread.step_once()
    thread.step_once()
    held_back = [
        side
        for side in (Side.LEFT, Side.RIGHT)
        if not _has_step(thread.view().recent_steps, side, _last_true_ic_s(truth, side, last_to_s))
    ]
    assert held_back  # the situation under test: a last step waits for its IMU partner

    thread.stop()

    view = thread.view()
    for side in (Side.LEFT, Side.RIGHT):
        assert _has_step(view.recent_steps, side, _last_true_ic_s(truth, side, last_to_s))
    assert view.n_steps == thread.pipeline.n_steps == len(thread.pipeline.steps)
    for side in held_back:
        newest = max(s.to_s for s in thread.pipeline.steps if s.side == side)
        assert view.last_step_s[side.name.lower()] == newest


@pytest.mark.parametrize("on_writer_thread", [False, True])
def test_the_running_thread_drains_the_buffers_and_releases_the_last_steps(
    on_writer_thread: bool,
) -> None:
    infos, blocks, truth, last_to_s = _session(seed=53)
    buffers = StreamBuffers(infos, capacity_s=60.0)
    thread = ProcessingThread(
        buffers, GaitPipeline(), max_wait_s=0.01, on_writer_thread=on_writer_thread
    )
    thread.start()
    for index, block in enumerate(blocks):  # the last few blocks are never notified
        buffers(block)
        if index % 3 == 0:
            buffers.notify()
    if on_writer_thread:  # the notifications ran the passes, on this thread
        assert thread.view().n_steps > 0

    thread.stop(timeout_s=30.0)

    assert thread.errors == 0

    view = thread.view()
    for side in (Side.LEFT, Side.RIGHT):
        assert _has_step(view.recent_steps, side, _last_true_ic_s(truth, side, last_to_s))
    # Every true step the insoles showed whole was found once, and nothing else.
    shown = truth.to_s <= last_to_s
    assert len(thread.pipeline.steps) == int(np.count_nonzero(shown))
    assert view.n_steps == thread.pipeline.n_steps == len(thread.pipeline.steps)
    for side, ic_s in zip(truth.side[shown], truth.ic_s[shown], strict=True):
        assert _has_step(thread.pipeline.steps, Side(int(side)), float(ic_s))
