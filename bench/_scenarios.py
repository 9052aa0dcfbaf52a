"""Shared by the analysis benchmarks: simulate a session through the real decoder and
analyse any subset of its streams with the streaming pipeline, scored against truth."""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from firmware_bridge.samples import SampleBlock, Side, StreamInfo, StreamKind  # noqa: E402
from firmware_bridge.simulator.offline import decode_session  # noqa: E402
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig  # noqa: E402
from firmware_bridge.simulator.truth import TrueEvents  # noqa: E402
from realtime.offline import analyze_blocks, interleave  # noqa: E402
from realtime.scoring import Score, score_steps  # noqa: E402

MODES = {
    "insole": (StreamKind.INSOLE,),
    "imu": (StreamKind.IMU,),
    "fused": (StreamKind.INSOLE, StreamKind.IMU),
}


@dataclass
class Recording:
    """A simulated session's decoded streams and its truth."""

    infos: list[StreamInfo]
    blocks: dict[str, list[SampleBlock]]
    truth: TrueEvents
    duration_s: float


def record(config: SimulationConfig) -> Recording:
    session = SimulatedSession(config)
    run = decode_session(session)
    infos = [d.info for dec in run.decoders for d in dec.devices.values() if d.info is not None]
    return Recording(infos, dict(run.blocks), session.truth, config.duration_s)


def gaps_of(blocks: list[SampleBlock]) -> list[tuple[float, float]]:
    """Intervals (s) with no data: between a block and the next one marked with a gap."""
    return [
        (float(a.t_host_s[-1]), float(b.t_host_s[0]))
        for a, b in itertools.pairwise(blocks)
        if b.gap_before_s > 0
    ]


def analyse(recording: Recording, mode: str) -> Score:
    """Analyse the streams of ``mode`` and score the steps against the truth."""
    kinds = MODES[mode]
    infos = [i for i in recording.infos if i.kind in kinds]
    streams = [(i, recording.blocks.get(i.stream_id, [])) for i in infos]
    result = analyze_blocks(infos, interleave(streams))
    timing_kind = StreamKind.INSOLE if StreamKind.INSOLE in kinds else StreamKind.IMU
    gaps: dict[Side, list[tuple[float, float]]] = {}
    for info in infos:
        if info.kind == timing_kind:
            gaps[info.side] = gaps_of(recording.blocks.get(info.stream_id, []))
    truth = recording.truth
    cutoff = truth.ic_s.min() + recording.duration_s - 0.5
    keep = truth.to_s <= cutoff
    last_ic = float(truth.ic_s[keep].max())
    steps = [s for s in result.steps if s.ic_s <= last_ic + 0.06]
    return score_steps(
        steps, truth.side[keep], truth.ic_s[keep], truth.to_s[keep], gaps=gaps
    )


def finite(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 3)
