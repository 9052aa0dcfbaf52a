"""The processing thread's passes over the ring buffers: a pass that finds a long stretch of
data (the thread fell behind) gives the same steps as many short passes."""

from __future__ import annotations

import numpy as np

from firmware_bridge.samples import SampleBlock, StreamInfo
from firmware_bridge.simulator.offline import decode_session
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig
from firmware_bridge.simulator.truth import TrueEvents
from realtime.events import Step
from realtime.pipeline import GaitPipeline
from realtime.processing import CATCH_UP_SLICE_S, ProcessingThread, interleave_slices
from realtime.scoring import score_steps
from realtime.streams import StreamBuffers


def _session(
    seed: int, duration_s: float
) -> tuple[list[StreamInfo], list[SampleBlock], TrueEvents, float]:
    """Both insoles and both foot IMUs, decoded; blocks in arrival order."""
    session = SimulatedSession(SimulationConfig(duration_s=duration_s, seed=seed))
    run = decode_session(session)
    infos = [d.info for dec in run.decoders for d in dec.devices.values() if d.info]
    ordered = sorted((b for bs in run.blocks.values() for b in bs), key=lambda b: b.t_host_s[-1])
    return infos, ordered, session.truth, session.end_s


def _run(infos: list[StreamInfo], blocks: list[SampleBlock], every: int) -> list[Step]:
    """Write the blocks to ring buffers, with a pass of the thread after every ``every``
    blocks (0: one pass at the end only)."""
    buffers = StreamBuffers(infos, capacity_s=60.0)
    thread = ProcessingThread(buffers, GaitPipeline())
    for index, block in enumerate(blocks):
        buffers(block)
        if every and index % every == 0:
            thread.step_once()
    thread.step_once()
    thread.pipeline.finish()
    return sorted(thread.pipeline.steps, key=lambda s: (s.ic_s, s.side.value))


def test_one_pass_over_a_whole_session_gives_the_steps_of_small_passes() -> None:
    infos, blocks, truth, end_s = _session(seed=41, duration_s=20.0)
    assert len(infos) == 4
    small = _run(infos, blocks, every=3)
    caught_up = _run(infos, blocks, every=0)

    assert [s.side for s in caught_up] == [s.side for s in small]
    np.testing.assert_allclose([s.ic_s for s in caught_up], [s.ic_s for s in small], atol=1e-9)
    np.testing.assert_allclose([s.to_s for s in caught_up], [s.to_s for s in small], atol=1e-9)
    np.testing.assert_allclose(
        [s.step_time_ms for s in caught_up], [s.step_time_ms for s in small], atol=1e-6
    )

    # Against the truth: every complete true step, once.
    keep = truth.to_s < end_s - 0.5
    found = [s for s in caught_up if s.to_s < end_s - 0.5]
    assert len(found) == int(np.count_nonzero(keep))
    score = score_steps(found, truth.side[keep], truth.ic_s[keep], truth.to_s[keep])
    assert score.recall == 1.0
    assert score.precision == 1.0
    # Step times are known for all but each side's first step.
    assert sum(1 for s in caught_up if not np.isfinite(s.step_time_ms)) <= 2


def test_slices_keep_every_sample_in_order_and_the_gap_marks() -> None:
    infos, blocks, _, _ = _session(seed=42, duration_s=3.0)
    per_stream = [[b for b in blocks if b.stream_id == info.stream_id] for info in infos]
    per_stream[0][3] = SampleBlock(
        per_stream[0][3].stream_id,
        per_stream[0][3].t_host_s,
        per_stream[0][3].values,
        gap_before_s=0.02,
    )
    pieces = interleave_slices(per_stream, CATCH_UP_SLICE_S)
    origin = min(float(bs[0].t_host_s[0]) for bs in per_stream)
    for info, stream in zip(infos, per_stream, strict=True):
        mine = [p for p in pieces if p.stream_id == info.stream_id]
        np.testing.assert_array_equal(
            np.concatenate([p.t_host_s for p in mine]),
            np.concatenate([b.t_host_s for b in stream]),
        )
        np.testing.assert_array_equal(
            np.concatenate([p.values for p in mine]), np.concatenate([b.values for b in stream])
        )
        assert sum(p.gap_before_s for p in mine) == sum(b.gap_before_s for b in stream)
    # In time order across the streams, to within one slice; no piece longer than a slice.
    latest_start = origin
    for piece in pieces:
        start, stop = float(piece.t_host_s[0]), float(piece.t_host_s[-1])
        assert start >= latest_start - CATCH_UP_SLICE_S - 1e-9
        latest_start = max(latest_start, start)
        assert stop - start <= CATCH_UP_SLICE_S
