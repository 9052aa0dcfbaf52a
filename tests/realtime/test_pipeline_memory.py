"""Bounded memory over long sessions: the live pipeline and the live session keep a bounded
recent window and compact whole-session trends, offline analysis keeps every step; the
counts are scored against the simulator's truth."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.live_session import TREND_POINTS, LiveSession, TrendSeries
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import SampleBlock, StreamInfo, StreamKind
from firmware_bridge.simulator.offline import decode_session
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig
from firmware_bridge.simulator.truth import TrueEvents
from realtime.metrics import ADHERENCE_KEEP_STEPS, CadenceAdherence
from realtime.pipeline import KEEP_EVENTS, KEEP_STEPS, TRIM_SLACK, GaitPipeline
from realtime.processing import ProcessingThread
from realtime.scoring import score_steps
from realtime.streams import StreamBuffers


def decoded(config: SimulationConfig) -> tuple[list[StreamInfo], list[SampleBlock], TrueEvents]:
    """The session's streams, its blocks by their last sample time, and its truth."""
    session = SimulatedSession(config)
    run = decode_session(session)
    infos = [d.info for dec in run.decoders for d in dec.devices.values() if d.info]
    blocks = sorted(
        (b for bs in run.blocks.values() for b in bs if b.n_samples),
        key=lambda b: float(b.t_host_s[-1]),
    )
    return infos, blocks, session.truth


def analysed(
    infos: list[StreamInfo],
    blocks: list[SampleBlock],
    *,
    keep_steps: int | None,
    keep_logged: int | None = None,
) -> GaitPipeline:
    """The blocks through a pipeline that keeps what it is told to."""
    pipeline = GaitPipeline(keep_steps=keep_steps, keep_logged=keep_logged)
    for info in infos:
        pipeline.add_stream(info)
    for block in blocks:
        pipeline.update(block)
    pipeline.finish()
    return pipeline


def test_a_bounded_pipeline_keeps_the_newest_steps_and_counts_them_all() -> None:
    infos, blocks, truth = decoded(SimulationConfig(duration_s=40.0, seed=501))
    everything = analysed(infos, blocks, keep_steps=None, keep_logged=None)
    bounded = analysed(infos, blocks, keep_steps=30, keep_logged=80)

    score = score_steps(everything.steps, truth.side, truth.ic_s, truth.to_s)
    assert score.recall >= 0.97
    assert everything.n_steps == len(everything.steps) > 100
    assert bounded.n_steps == everything.n_steps
    assert 30 <= len(bounded.steps) <= 30 * (1 + TRIM_SLACK)
    newest = everything.steps[-len(bounded.steps) :]
    assert [(s.side, s.ic_s) for s in bounded.steps] == [(s.side, s.ic_s) for s in newest]
    assert 80 <= len(bounded.events) <= 80 * (1 + TRIM_SLACK)
    assert [e.event for e in bounded.events] == [
        e.event for e in everything.events[-len(bounded.events) :]
    ]


def test_pipeline_retention_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="keep_steps"):
        GaitPipeline(keep_steps=0)


def test_twenty_minutes_of_live_analysis_keep_bounded_state() -> None:
    """A 30-second lap of insole data, replayed back to back for 20 simulated minutes through
    the ring buffers, the processing thread's passes and a live session with a target and a
    metronome: what they keep stays within its bounds while every step is counted."""
    lap_s, minutes = 30.0, 20.0
    config = SimulationConfig(duration_s=lap_s, seed=502, imus=False, insole_rate_hz=100, n_cells=8)
    infos, blocks, truth = decoded(config)
    assert {i.kind for i in infos} == {StreamKind.INSOLE}
    t0 = float(blocks[0].t_host_s[0])
    period_s = float(blocks[-1].t_host_s[-1]) - t0 + 0.01
    laps = int(minutes * 60.0 / period_s)
    now = [t0]
    buffers = StreamBuffers(infos)
    processing = ProcessingThread(buffers, GaitPipeline(clock=lambda: now[0]))
    live = LiveSession(clock=lambda: now[0])
    live.set_target_spm(170.0)
    beat_s = 60.0 / 170.0
    ingested = []
    next_pass = t0
    for lap in range(laps):
        for block in blocks:
            t_host = block.t_host_s + lap * period_s
            buffers(SampleBlock(block.stream_id, t_host, block.values, block.gap_before_s))
            if t_host[-1] < next_pass:
                continue
            beats = tuple(np.arange(np.ceil(now[0] / beat_s), t_host[-1] / beat_s) * beat_s)
            now[0] = next_pass = float(t_host[-1])
            processing.step_once()
            ingested += live.ingest(processing.view(), beat_times_s=beats)
            next_pass += 0.5
    pipeline = processing.pipeline

    # Every step counted, against the truth: the true steps of every lap (give or take a step
    # or two where one lap joins the next).
    true_per_lap = int(np.count_nonzero(truth.to_s < float(blocks[-1].t_host_s[-1])))
    assert laps * (true_per_lap - 2) <= pipeline.n_steps <= laps * (true_per_lap + 2)
    assert len(ingested) == pipeline.n_steps > (1 + TRIM_SLACK) * KEEP_STEPS

    # What the pipeline keeps: the newest steps and events only.
    assert len(pipeline.steps) <= KEEP_STEPS * (1 + TRIM_SLACK)
    assert len(pipeline.events) <= KEEP_EVENTS * (1 + TRIM_SLACK)
    assert [s.ic_s for s in pipeline.steps] == [s.ic_s for s in ingested[-len(pipeline.steps) :]]

    # The live session's trends: bounded, over the whole session, at the true cadence.
    for trend in (live.cadence_trend, live.balance_trend):
        assert TREND_POINTS // 2 <= len(trend) <= TREND_POINTS
        assert trend.revision > TREND_POINTS
        assert trend.t_s[0] < t0 + 60.0
        assert trend.t_s[-1] > t0 + (minutes - 1.0) * 60.0
    true_ic = np.sort(truth.ic_s[truth.to_s < float(blocks[-1].t_host_s[-1])])
    true_cadence = 60.0 / float(np.mean(np.diff(true_ic)))
    assert float(np.nanmedian(live.cadence_trend.values)) == pytest.approx(true_cadence, abs=1.0)

    # The adherence: a few minutes of steps and beats kept, every step counted.
    adherence = live.adherence()
    assert adherence is not None
    known = sum(1 for s in ingested if np.isfinite(s.step_time_ms) and s.step_time_ms > 0)
    assert adherence.n_steps == known
    kept = live._adherence
    assert kept is not None
    assert kept.n_kept <= 2 * ADHERENCE_KEEP_STEPS
    assert kept.n_beats_kept <= 3 * ADHERENCE_KEEP_STEPS


def test_folded_adherence_matches_the_whole_computation() -> None:
    """The running totals give the figures the whole session kept step by step gives; beats
    are added as the session goes, as the dashboard does."""
    infos, blocks, _ = decoded(SimulationConfig(duration_s=90.0, seed=503, imus=False))
    steps = analysed(infos, blocks, keep_steps=None).steps
    beats = np.arange(0.0, float(blocks[-1].t_host_s[-1]), 60.0 / 168.0)
    whole = CadenceAdherence(target_spm=170.0, keep_steps=10_000)
    folded = CadenceAdherence(target_spm=170.0, keep_steps=16)
    given = 0
    for start in range(0, len(steps), 8):
        chunk = steps[start : start + 8]
        upto = int(np.searchsorted(beats, chunk[-1].ic_s + 1.0))
        for adherence in (whole, folded):
            adherence.update(chunk, beat_times_s=beats[given:upto].tolist())
        given = upto
    a, b = whole.snapshot(), folded.snapshot()
    assert folded.n_kept <= 32
    assert a.n_steps == b.n_steps > 150
    assert b.time_in_band_pct == pytest.approx(a.time_in_band_pct, abs=1e-9)
    assert b.mean_abs_deviation_spm == pytest.approx(a.mean_abs_deviation_spm, abs=1e-9)
    assert a.n_beats_matched == b.n_beats_matched > 150
    assert b.asynchrony_ms_mean == pytest.approx(a.asynchrony_ms_mean, abs=1e-6)
    assert b.asynchrony_ms_sd == pytest.approx(a.asynchrony_ms_sd, abs=1e-6)
    assert b.asynchrony_ms_mean_abs == pytest.approx(a.asynchrony_ms_mean_abs, abs=1e-6)


def test_a_trend_decimates_evenly_within_its_capacity() -> None:
    trend, unknown = TrendSeries(capacity=8), TrendSeries(capacity=8)
    for i in range(100):
        trend.append(float(i), 2.0 * i)
        unknown.append(float(i), float("nan"))
    assert trend.revision == 100
    assert 4 <= len(trend) <= 8
    assert trend.stride == 16
    # each point is the mean of ``stride`` consecutive appended points
    np.testing.assert_allclose(trend.t_s, 7.5 + 16.0 * np.arange(len(trend)))
    np.testing.assert_allclose(trend.values, 2.0 * trend.t_s)
    assert len(unknown) == len(trend)
    assert np.isnan(unknown.values).all()
