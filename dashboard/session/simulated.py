"""Recording the simulated runner into a session directory (tests, ``simulate --record``).

The simulator's link deliveries are written exactly as a live recording writes serial
reads, with their simulated receive times; the streams are decoded and analysed on the
way as the live processing thread would, so ``steps.csv`` holds the steps "detected live";
``truth.csv`` holds the simulator's true events of the whole plan.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dashboard.session.format import FILE_MODE, TRUTH_CSV
from dashboard.session.writer import SessionWriter
from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.samples import SampleBlock, StreamInfo
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig
from firmware_bridge.simulator.truth import write_truth_csv
from realtime.offline import coalesce
from realtime.pipeline import AnalysisConfig, GaitPipeline

__all__ = ["SimulatedEvent", "record_simulated"]

SimulatedEvent = tuple[float, str, str, float | None]
"""(seconds after the start, kind, text, value) of an event to log during the recording."""


def record_simulated(
    config: SimulationConfig,
    directory: str | Path,
    *,
    runner: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    events: Sequence[SimulatedEvent] = (),
    target_spm: float | None = None,
    speed: float | None = None,
    step_s: float = 0.5,
    detect: bool = True,
    on_progress: Callable[[float], None] | None = None,
) -> Path:
    """Record ``config``'s simulated session into ``directory`` and return its path.

    Args:
        runner: identity for ``runner.json`` (default: ``{"runner_id": "sim-<seed>"}``).
        metadata: more ``session.json`` fields (body mass and shoe default from the
            simulated runner).
        events: markers, treadmill settings, targets… logged at their times.
        target_spm: when given, a ``target`` event at the start and metronome beats at that
            cadence in ``beats.csv``.
        speed: None to record as fast as possible; X to pace the simulated clock at X times
            real time (a recording that can be interrupted part-way, as in the crash tests).
        step_s: simulated seconds per advance.
        detect: run the analysis on the way and write its steps to ``steps.csv``.
        on_progress: told the fraction done (0–1) after each step.

    Raises:
        ConfigurationError: the directory cannot be created.
    """
    session = SimulatedSession(config)
    now = [session.now_s]
    meta: dict[str, Any] = {
        "latency_floor_s": session.latency_floor_s,
        "body_mass_kg": config.runner.body_mass_kg,
        "involved_side": None,
        "simulation": {
            "seed": config.seed,
            "duration_s": config.duration_s,
            "cadence_spm": config.runner.cadence_spm,
            "gct_ms": config.runner.gct_ms,
            "faults": str(config.faults),
        },
    }
    meta.update(metadata or {})
    writer = SessionWriter(
        directory,
        source="simulated",
        clock=lambda: now[0],
        runner=runner if runner is not None else {"runner_id": f"sim-{config.seed}"},
        metadata=meta,
    )
    path = writer.directory
    truth_path = path / TRUTH_CSV
    write_truth_csv(session.truth, truth_path)
    os.chmod(truth_path, FILE_MODE)

    pipeline = GaitPipeline(
        config=AnalysisConfig(body_mass_kg=config.runner.body_mass_kg, max_side_lag_s=2.0),
        keep_events=False,
    )
    pending: list[SampleBlock] = []

    def on_stream(info: StreamInfo) -> None:
        writer.add_device(info, t_s=now[0])
        if detect:
            pipeline.add_stream(info)

    links = []
    for device in session.devices:
        spec = device.spec
        name = f"simulated {spec.side.name.lower()} {spec.kind.name.lower()}"
        link_id = writer.add_link("serial", name)
        decoder = LinkDecoder(
            sink=pending.append,
            on_stream=on_stream,
            latency_floor_s=session.latency_floor_s,
            name=name,
        )
        links.append((link_id, decoder))

    start_s = session.now_s
    queued = sorted(events, key=lambda e: e[0])
    if target_spm is not None:
        writer.add_event("target", f"target cadence {target_spm:.0f} spm", target_spm, t_s=start_s)
    next_beat = start_s
    wall0 = time.monotonic()
    t = start_s
    try:
        while t < session.end_s:
            t = min(t + step_s, session.end_s)
            if speed is not None:
                delay = wall0 + (t - start_s) / speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            for delivery in session.advance(t):
                link_id, decoder = links[delivery.device_index]
                for arrival, payload in zip(
                    delivery.arrival_s.tolist(), delivery.payloads, strict=True
                ):
                    writer.record_bytes(link_id, arrival, payload)
                    decoder.feed(payload, arrival)
                    decoder.poll(arrival)
            now[0] = t
            while queued and start_s + queued[0][0] <= t:
                offset, kind, text, value = queued.pop(0)
                writer.add_event(kind, text, value, t_s=start_s + offset)
            if target_spm is not None:
                beats = []
                while next_beat <= t:
                    beats.append(next_beat)
                    next_beat += 60.0 / target_spm
                writer.add_beats(beats)
            if detect and pending:
                for block in _joined(pending, step_s):
                    writer.add_steps(pipeline.update(block))
            pending.clear()
            if on_progress is not None:
                on_progress((t - start_s) / (session.end_s - start_s))
        for _, decoder in links:
            decoder.poll(session.end_s + 10.0)
        if detect:
            for block in _joined(pending, step_s):
                writer.add_steps(pipeline.update(block))
            writer.add_steps(pipeline.finish())
    finally:
        writer.close()
    return path


def _joined(blocks: list[SampleBlock], min_s: float) -> list[SampleBlock]:
    """The blocks of one advance, joined per stream (never across a gap) and put in the
    order of their last sample, as the processing thread would take them."""
    by_stream: dict[str, list[SampleBlock]] = {}
    for block in blocks:
        by_stream.setdefault(block.stream_id, []).append(block)
    out = [b for group in by_stream.values() for b in coalesce(group, min_s=min_s)]
    out.sort(key=lambda b: float(b.t_host_s[-1]))
    return out
