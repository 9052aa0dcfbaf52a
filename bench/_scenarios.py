"""Shared by the analysis benchmarks: simulate a session through the real decoder and
analyse any subset of its streams with the streaming pipeline, scored against truth."""

from __future__ import annotations

import itertools
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from firmware_bridge.samples import SampleBlock, Side, StreamInfo, StreamKind  # noqa: E402
from firmware_bridge.simulator.gait import StepPlan  # noqa: E402
from firmware_bridge.simulator.offline import decode_session  # noqa: E402
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig  # noqa: E402
from firmware_bridge.simulator.truth import TrueEvents  # noqa: E402
from realtime.metrics import symmetry_index_pct  # noqa: E402
from realtime.offline import analyze_blocks, interleave  # noqa: E402
from realtime.scoring import Score, match_events, score_steps, true_step_time_s  # noqa: E402

FloatArray = npt.NDArray[np.float64]

MODES = {
    "insole": (StreamKind.INSOLE,),
    "imu": (StreamKind.IMU,),
    "fused": (StreamKind.INSOLE, StreamKind.IMU),
}


@dataclass
class Recording:
    """A simulated session's decoded streams and its truth (and its step plan, when
    simulated here)."""

    infos: list[StreamInfo]
    blocks: dict[str, list[SampleBlock]]
    truth: TrueEvents
    duration_s: float
    plan: StepPlan | None = None


def record(config: SimulationConfig) -> Recording:
    session = SimulatedSession(config)
    run = decode_session(session)
    infos = [d.info for dec in run.decoders for d in dec.devices.values() if d.info is not None]
    return Recording(infos, dict(run.blocks), session.truth, config.duration_s, session.plan)


def gaps_of(blocks: list[SampleBlock]) -> list[tuple[float, float]]:
    """Intervals (s) with no data: between a block and the next one marked with a gap."""
    return [
        (float(a.t_host_s[-1]), float(b.t_host_s[0]))
        for a, b in itertools.pairwise(blocks)
        if b.gap_before_s > 0
    ]


def scored_truth(recording: Recording) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The true steps a score counts: (side, IC s, TO s) of those whose TO lies at least
    0.5 s before the recording ends."""
    truth = recording.truth
    cutoff = truth.ic_s.min() + recording.duration_s - 0.5
    keep = truth.to_s <= cutoff
    side = np.asarray(truth.side, dtype=np.float64)[keep]
    return side, np.asarray(truth.ic_s)[keep], np.asarray(truth.to_s)[keep]


def imu_step_si_floor_pp(recording: Recording) -> float:
    """Step-time SI error (points) that the foot IMU's own IC features leave even when
    every one is found exactly: the SI of the steps timed by ``IC + imu_ic_offset_s`` (the
    simulator draws each step's feature offset, SD 2 ms, MODEL.md) minus the true SI. A
    common offset cancels in step times; the per-step scatter does not, and no detector
    can recover it. NaN without the step plan."""
    plan = recording.plan
    if plan is None:
        return math.nan
    side, ic_s, _ = scored_truth(recording)
    plan_side = np.asarray(plan.side, dtype=np.int64)
    di, ti = match_events(plan_side, plan.ic_s, side.astype(np.int64), ic_s, tolerance_s=0.002)
    feature_s = np.full(ic_s.shape, np.nan)
    feature_s[ti] = ic_s[ti] + np.asarray(plan.imu_ic_offset_s)[di]
    keep = np.isfinite(feature_s)
    side_i = side.astype(np.int64)[keep]
    return _step_si_pct(side_i, feature_s[keep]) - _step_si_pct(side_i, ic_s[keep])


def _step_si_pct(side: npt.NDArray[np.int64], ic_s: FloatArray) -> float:
    step_ms = true_step_time_s(side, ic_s) * 1e3
    means = [float(np.nanmean(step_ms[side == int(which)])) for which in (Side.LEFT, Side.RIGHT)]
    return symmetry_index_pct(means[0], means[1])


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
    return score_steps(steps, truth.side[keep], truth.ic_s[keep], truth.to_s[keep], gaps=gaps)


def finite(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 3)
