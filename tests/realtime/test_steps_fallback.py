"""IMU fallback steps while a side's insole is silent, against the simulator's truth.

Simulated sessions (two insoles, two foot IMUs) are decoded, one insole's blocks are cut for
a time window (an outage) or held back and delivered late (a stall), and the blocks are fed
to the real detectors and the ``StepAssembler`` through ``GaitPipeline`` in arrival order.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable
from dataclasses import astuple, dataclass, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.samples import SampleBlock, Side, StreamInfo, StreamKind
from firmware_bridge.simulator.faults import FaultSpec
from firmware_bridge.simulator.offline import decode_session
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig
from firmware_bridge.simulator.truth import TrueEvents
from realtime.events import ContactEvent, EventSource, Step, StepFlag
from realtime.pipeline import GaitPipeline
from realtime.scoring import match_events
from realtime.steps import AssemblerStats, StepAssembler

OUTAGE_START_S = 12.0
"""Start of the cut, after the first true IC (s)."""
OUTAGE_S = 8.0
IMU_IC_BIAS_MS = 5.0
IMU_GCT_BIAS_MS, IMU_GCT_SD_MS = 5.0, 6.0  # DESIGN.md, foot IMU


# --------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class Session:
    infos: tuple[StreamInfo, ...]
    blocks: dict[str, list[SampleBlock]]
    truth: TrueEvents


@functools.cache
def session_of(seed: int, loss: float = 0.0, duration_s: float = 40.0) -> Session:
    config = SimulationConfig(duration_s=duration_s, seed=seed, faults=FaultSpec(loss=loss))
    simulated = SimulatedSession(config)
    run = decode_session(simulated)
    infos = tuple(d.info for dec in run.decoders for d in dec.devices.values() if d.info)
    return Session(infos, dict(run.blocks), simulated.truth)


def insole_of(session: Session, side: Side) -> StreamInfo:
    [info] = [i for i in session.infos if i.kind == StreamKind.INSOLE and i.side == side]
    return info


def window_of(session: Session, start_s: float, length_s: float) -> tuple[float, float]:
    lo = float(session.truth.ic_s[0]) + start_s
    return lo, lo + length_s


def cut(blocks: list[SampleBlock], lo: float, hi: float) -> list[SampleBlock]:
    """``blocks`` without the samples in ``[lo, hi]`` (s): lost, as in a disconnect; the
    first block after the cut carries the gap."""
    kept = [b for b in blocks if b.t_host_s[-1] < lo or b.t_host_s[0] > hi]
    out: list[SampleBlock] = []
    for before, block in zip([None, *kept], kept, strict=False):
        if before is not None and block.t_host_s[0] > hi and before.t_host_s[-1] < lo:
            period_s = float(np.diff(block.t_host_s[:2])[0]) if block.n_samples > 1 else 0.0
            gap_s = float(block.t_host_s[0] - before.t_host_s[-1]) - period_s
            block = replace(block, gap_before_s=gap_s)
        out.append(block)
    return out


def arrival_order(
    session: Session,
    *,
    cut_stream: str | None = None,
    cut_window: tuple[float, float] | None = None,
    delayed_stream: str | None = None,
    delays: Iterable[tuple[float, float]] = (),
) -> list[SampleBlock]:
    """All blocks in arrival order (by their newest sample); ``cut_stream`` loses
    ``cut_window``; ``delayed_stream``'s blocks ending in each ``(lo, hi)`` of ``delays``
    arrive together at ``hi``, after the other streams' blocks up to then."""
    keyed: list[tuple[float, int, SampleBlock]] = []
    delays = list(delays)
    for stream_id, blocks in session.blocks.items():
        if stream_id == cut_stream and cut_window is not None:
            blocks = cut(blocks, *cut_window)
        for block in blocks:
            end_s = float(block.t_host_s[-1])
            key, late = end_s, 0
            if stream_id == delayed_stream:
                for lo, hi in delays:
                    if lo <= end_s <= hi:
                        key, late = hi, 1
            keyed.append((key, late, block))
    keyed.sort(key=lambda x: (x[0], x[1]))
    return [b for _, _, b in keyed]


@dataclass(frozen=True)
class Analysis:
    steps: list[Step]
    released_at_s: list[float]  # newest sample time fed when each step was returned


def analyse(session: Session, blocks: list[SampleBlock]) -> Analysis:
    pipeline = GaitPipeline(keep_events=False)
    for info in session.infos:
        pipeline.add_stream(info)
    released: dict[int, float] = {}
    newest_s = -math.inf
    for block in blocks:
        newest_s = max(newest_s, float(block.t_host_s[-1]))
        for step in pipeline.update(block):
            released[id(step)] = newest_s
    for step in pipeline.finish():
        released[id(step)] = newest_s
    steps = sorted(pipeline.steps, key=lambda s: (s.side, s.ic_s))
    return Analysis(steps, [released[id(s)] for s in steps])


def matched_truth(steps: list[Step], truth: TrueEvents) -> np.ndarray:
    """Per step, the index of its true step (−1: none)."""
    det, true = match_events(
        [int(s.side) for s in steps], [s.ic_s for s in steps], truth.side, truth.ic_s
    )
    out = np.full(len(steps), -1)
    out[det] = true
    return out


def usable(truth: TrueEvents, end_s: float) -> np.ndarray:
    """True steps complete well before the data end."""
    return truth.to_s < end_s - 0.5


@functools.cache
def outage_run(seed: int, side: Side) -> tuple[Session, tuple[float, float], Analysis]:
    session = session_of(seed)
    window = window_of(session, OUTAGE_START_S, OUTAGE_S)
    stream = insole_of(session, side).stream_id
    blocks = arrival_order(session, cut_stream=stream, cut_window=window)
    return session, window, analyse(session, blocks)


OUTAGES = [(51, Side.RIGHT), (52, Side.LEFT)]


# --------------------------------------------------------------------------- outages
@pytest.mark.parametrize(("seed", "side"), OUTAGES)
def test_steps_during_an_insole_outage_come_from_the_imu(seed: int, side: Side) -> None:
    session, (lo, hi), result = outage_run(seed, side)
    truth, steps = session.truth, result.steps
    end_s = max(float(b.t_host_s[-1]) for bs in session.blocks.values() for b in bs)
    match = matched_truth(steps, truth)
    in_outage = (truth.side == side) & (truth.ic_s >= lo) & (truth.to_s <= hi)
    assert in_outage.sum() >= 10
    found = np.isin(np.flatnonzero(in_outage), match)
    assert found.mean() >= 0.95
    # the whole session: every usable true step found once, nothing else
    keep = usable(truth, end_s)
    assert np.isin(np.flatnonzero(keep), match).mean() >= 0.99
    assert (match >= 0).all()
    assert len(np.unique(match)) == len(match)


@pytest.mark.parametrize(("seed", "side"), OUTAGES)
def test_fallback_steps_are_imu_timed_flagged_and_within_the_imu_tolerances(
    seed: int, side: Side
) -> None:
    session, (lo, hi), result = outage_run(seed, side)
    truth, steps = session.truth, result.steps
    match = matched_truth(steps, truth)
    fallback = np.array([bool(s.flags & StepFlag.FALLBACK) for s in steps])
    assert fallback.sum() >= 10
    for step in itertools.compress(steps, fallback):
        assert step.side == side
        assert step.source is EventSource.IMU
        assert step.flags & StepFlag.NEAR_GAP
        assert lo - 0.5 <= step.ic_s <= hi  # only where the insole was silent
        assert math.isnan(step.peak_force_n)
        assert math.isfinite(step.peak_accel_g)
    # inside the outage every step of the side is a fallback step
    inside = np.array([s.side == side and lo + 0.1 < s.ic_s < hi - 0.5 for s in steps])
    assert inside.sum() >= 8
    assert fallback[inside].all()
    # IMU timing within the foot-IMU tolerances
    idx = match[fallback]
    chosen = list(itertools.compress(steps, fallback))
    ic_err_ms = 1e3 * (np.array([s.ic_s for s in chosen]) - truth.ic_s[idx])
    gct_err_ms = np.array([s.gct_ms for s in chosen]) - 1e3 * truth.gct_s[idx]
    assert abs(ic_err_ms.mean()) <= IMU_IC_BIAS_MS
    assert abs(gct_err_ms.mean()) <= IMU_GCT_BIAS_MS
    assert gct_err_ms.std(ddof=1) <= IMU_GCT_SD_MS


@pytest.mark.parametrize(("seed", "side"), OUTAGES)
def test_insole_timing_returns_after_the_outage(seed: int, side: Side) -> None:
    _, (lo, hi), result = outage_run(seed, side)
    after = [s for s in result.steps if s.side == side and s.ic_s > hi + 1.0]
    before = [s for s in result.steps if s.side == side and s.ic_s < lo - 1.0]
    assert len(after) >= 5
    assert len(before) >= 5
    for step in after + before:
        assert step.source is not EventSource.IMU
        assert not step.flags & StepFlag.FALLBACK
    # steps whose step time or stride runs from a fallback contact are flagged
    by_ic = sorted(result.steps, key=lambda s: s.ic_s)
    for previous, step in itertools.pairwise(by_ic):
        if previous.flags & StepFlag.FALLBACK and previous.side != step.side:
            assert step.flags & StepFlag.NEAR_GAP


@pytest.mark.parametrize(("seed", "side"), OUTAGES)
def test_no_step_before_its_data_arrived(seed: int, side: Side) -> None:
    _, _, result = outage_run(seed, side)
    for step, released_s in zip(result.steps, result.released_at_s, strict=True):
        assert step.to_s <= released_s


@pytest.mark.parametrize(("stall_s", "max_fallback"), [(1.5, 4), (8.0, 14)])
def test_late_insole_data_never_make_a_second_step(stall_s: float, max_fallback: int) -> None:
    """The insole's data of a stall beyond ``max_side_lag_s`` (1.5 s; 8 s, longer than the
    assembler's ``history_s``) arrive late in one burst: its IMU contacts have left as
    fallback steps by then, and the late insole contacts do not count again."""
    session = session_of(53)
    stream = insole_of(session, Side.RIGHT).stream_id
    lo, hi = window_of(session, OUTAGE_START_S, stall_s)
    result = analyse(session, arrival_order(session, delayed_stream=stream, delays=[(lo, hi)]))
    match = matched_truth(result.steps, session.truth)
    fallback = [s for s in result.steps if s.flags & StepFlag.FALLBACK]
    assert 1 <= len(fallback) <= max_fallback
    assert (match >= 0).all()
    assert len(np.unique(match)) == len(match)
    in_stall = (session.truth.side == Side.RIGHT) & (session.truth.ic_s >= lo)
    in_stall &= session.truth.to_s <= hi
    assert np.isin(np.flatnonzero(in_stall), match).all()


def test_a_short_insole_stall_gives_no_fallback() -> None:
    """Stalls of 0.3 s (delayed, not lost) every 3 s: the same steps as without stalls."""
    session = session_of(54, loss=0.02)
    stream = insole_of(session, Side.LEFT).stream_id
    t0 = float(session.truth.ic_s[0])
    stalls = [(t0 + k, t0 + k + 0.3) for k in np.arange(2.0, 36.0, 3.0)]
    result = analyse(session, arrival_order(session, delayed_stream=stream, delays=stalls))
    assert not any(s.flags & StepFlag.FALLBACK for s in result.steps)
    assert all(s.source is not EventSource.IMU for s in result.steps)
    match = matched_truth(result.steps, session.truth)
    end_s = float(session.truth.to_s[-1])
    assert (match >= 0).all()
    assert np.isin(np.flatnonzero(usable(session.truth, end_s)), match).mean() >= 0.995
    plain = analyse(session, arrival_order(session))
    assert [comparable(s) for s in result.steps] == [comparable(s) for s in plain.steps]


def test_an_insole_that_never_streams_leaves_its_side_to_the_imu() -> None:
    session = session_of(51)
    stream = insole_of(session, Side.LEFT).stream_id
    result = analyse(session, arrival_order(session, cut_stream=stream, cut_window=(0, math.inf)))
    left = [s for s in result.steps if s.side == Side.LEFT]
    assert all(s.flags & StepFlag.FALLBACK for s in left)
    assert not any(s.flags & StepFlag.FALLBACK for s in result.steps if s.side == Side.RIGHT)
    match = matched_truth(result.steps, session.truth)
    assert (match >= 0).all()
    end_s = float(session.truth.to_s[-1])
    true_left = (session.truth.side == Side.LEFT) & usable(session.truth, end_s)
    assert np.isin(np.flatnonzero(true_left), match).mean() >= 0.98


# --------------------------------------------------------------------------- invariance
Item = ContactEvent | tuple[float, Side, EventSource]  # an event, or an advance() call


@functools.cache
def outage_items() -> tuple[Item, ...]:
    """The detector events and ``advance`` calls of a session with a right-insole outage of
    4 s, a left-insole stall of 1 s (delivered late) and 2 % packet loss, as the pipeline
    makes them."""
    session = session_of(56, loss=0.02, duration_s=25.0)
    right = insole_of(session, Side.RIGHT).stream_id
    left = insole_of(session, Side.LEFT).stream_id
    first = arrival_order(session, cut_stream=right, cut_window=window_of(session, 6.0, 4.0))
    lo, hi = window_of(session, 15.0, 1.0)
    blocks = {stream: [b for b in first if b.stream_id == stream] for stream in session.blocks}
    delayed = Session(session.infos, blocks, session.truth)
    pipeline = GaitPipeline(keep_events=False)
    for info in session.infos:
        pipeline.add_stream(info)
    items: list[Item] = []
    for block in arrival_order(delayed, delayed_stream=left, delays=[(lo, hi)]):
        info = next(i for i in session.infos if i.stream_id == block.stream_id)
        source = EventSource.IMU if info.kind == StreamKind.IMU else EventSource.INSOLE
        items += pipeline.detector(block.stream_id).update(block).pop_events()
        items.append((float(block.t_host_s[-1]), info.side, source))
    return tuple(items)


def feed(assembler: StepAssembler, items: Iterable[Item]) -> None:
    """Consecutive events in one update() call, advance() calls as they come."""
    batch: list[ContactEvent] = []
    for item in items:
        if isinstance(item, ContactEvent):
            batch.append(item)
        else:
            now_s, side, source = item
            assembler.update(batch).advance(now_s=now_s, side=side, source=source)
            batch = []
    assembler.update(batch)


def assembler_of(session: Session) -> StepAssembler:
    kinds = {(i.kind, i.side) for i in session.infos}
    return StepAssembler(
        has_insole={s: (StreamKind.INSOLE, s) in kinds for s in (Side.LEFT, Side.RIGHT)},
        has_imu={s: (StreamKind.IMU, s) in kinds for s in (Side.LEFT, Side.RIGHT)},
    )


def comparable(step: Step) -> tuple[object, ...]:
    return tuple(None if isinstance(v, float) and math.isnan(v) else v for v in astuple(step))


@functools.cache
def outage_reference() -> tuple[tuple[Step, ...], AssemblerStats]:
    assembler = assembler_of(session_of(56, loss=0.02, duration_s=25.0))
    feed(assembler, outage_items())
    steps = assembler.flush().pop_steps()
    gone = {id(s) for s in assembler.pop_retracted()}
    return tuple(s for s in steps if id(s) not in gone), assembler.stats


def test_outage_reference_is_sane() -> None:
    session = session_of(56, loss=0.02, duration_s=25.0)
    steps, stats = outage_reference()
    fallback = [s for s in steps if s.flags & StepFlag.FALLBACK]
    outage, stall = window_of(session, 6.0, 4.0), window_of(session, 15.0, 1.0)
    right = [s for s in fallback if s.side == Side.RIGHT]
    assert len(right) >= 5
    assert all(outage[0] - 0.1 < s.ic_s < outage[1] for s in right)
    # the left insole's 1 s stall is longer than max_side_lag_s: an outage until its burst
    assert all(stall[0] - 0.5 < s.ic_s < stall[1] for s in fallback if s.side == Side.LEFT)
    assert stats.fallback_steps == len(fallback)
    assert stats.fallback_duplicates >= 1  # insole contacts of the late left burst
    match = matched_truth(list(steps), session.truth)
    assert (match >= 0).all()
    assert len(np.unique(match)) == len(match)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=20_000), max_size=80))
def test_any_partition_gives_the_same_steps_with_fallback(cuts: list[int]) -> None:
    items = list(outage_items())
    bounds = sorted({0, len(items), *(c % len(items) for c in cuts)})
    assembler = assembler_of(session_of(56, loss=0.02, duration_s=25.0))
    steps: list[Step] = []
    withdrawn: list[Step] = []
    for lo, hi in itertools.pairwise(bounds):
        feed(assembler, items[lo:hi])
        steps += assembler.pop_steps()
        withdrawn += assembler.pop_retracted()
    steps += assembler.flush().pop_steps()
    withdrawn += assembler.pop_retracted()
    gone = {id(s) for s in withdrawn}
    expected_steps, expected_stats = outage_reference()
    net = [comparable(s) for s in steps if id(s) not in gone]
    assert net == [comparable(s) for s in expected_steps]
    assert assembler.stats == expected_stats
