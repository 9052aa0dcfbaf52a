"""Memory over a long session: what the live process keeps as the simulated minutes go by.

A simulated session (both insoles, both foot IMUs, every fault of the soak) is decoded as
fast as the CPU allows into the ring buffers that ``gaitcue live`` uses; the processing
thread's pass (``ProcessingThread.step_once``) runs after every 0.1 s of simulated data and a
``LiveSession`` (with a target cadence and a metronome beat schedule, as the dashboard and the
terminal view drive it) ingests each view. At intervals it samples the process's resident
memory and a ``tracemalloc`` snapshot of the live side's own allocations (``realtime/``,
``dashboard/`` and the bridge's decoders; the simulator, which runs in another process when
``gaitcue live --simulate`` runs, is left out). Printed as one JSON object:

* ``samples``: per interval the simulated minute, RSS (MB; it includes tracemalloc's own
  bookkeeping, ``tracemalloc_own_mb``), traced memory of the whole process and of the live
  side (KB);
* ``top_growth``: the allocation sites that grew most between the end of the warm-up and the
  end (file:line, KB, allocations);
* ``traced_bytes_per_simulated_min``: growth of the traced live-side memory per simulated
  minute after the warm-up, and ``traced_growth_4h_mb`` that figure × 240;
* ``retained``: the sizes of the live containers at the end (steps and events kept by the
  pipeline, trend points, adherence entries).

Run from the repository root: ``python bench/memory.py --minutes 30``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from dashboard.live_session import LiveSession  # noqa: E402
from firmware_bridge.samples import SampleBlock, StreamInfo  # noqa: E402
from firmware_bridge.simulator.faults import FaultSpec  # noqa: E402
from firmware_bridge.simulator.offline import decode_session  # noqa: E402
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig  # noqa: E402
from realtime.pipeline import GaitPipeline  # noqa: E402
from realtime.processing import ProcessingThread  # noqa: E402
from realtime.streams import StreamBuffers  # noqa: E402

FAULTS = "loss=0.05,corrupt=0.001,reorder=0.01,duplicate=0.01,disconnect_every=60,disconnect=5"
LAP_GAP_S = 0.02
"""Time (s) between the end of one lap of the decoded session and the start of the next."""
PASS_S = 0.1
"""Simulated seconds of data between two processing passes (the live thread runs per batch)."""
LIVE_SIDE = (
    tracemalloc.Filter(True, "*/realtime/*"),
    tracemalloc.Filter(True, "*/dashboard/*"),
    tracemalloc.Filter(True, "*/firmware_bridge/*"),
    tracemalloc.Filter(False, "*/firmware_bridge/simulator/*"),
)


@dataclass
class _Clock:
    """The simulated host clock (s) the whole run shares."""

    now_s: float = 0.0

    def __call__(self) -> float:
        return self.now_s


def _rss_mb() -> float:
    """Resident memory of this process (MB), from /proc (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    import resource

    return pages * resource.getpagesize() / 2**20


def _traced_kb(snapshot: tracemalloc.Snapshot) -> float:
    return sum(stat.size for stat in snapshot.statistics("filename")) / 1024.0


def _sample(samples: list[dict[str, float]], minute: float) -> tracemalloc.Snapshot:
    """Append a sample (simulated minute, RSS, traced memory: all and the live side's) to
    ``samples``; return the live side's snapshot."""
    everything = tracemalloc.take_snapshot()
    live = everything.filter_traces(LIVE_SIDE)
    samples.append(
        {
            "simulated_min": round(minute, 2),
            "rss_mb": round(_rss_mb(), 1),
            "traced_all_kb": round(_traced_kb(everything), 1),
            "traced_kb": round(_traced_kb(live), 1),
            "tracemalloc_own_mb": round(tracemalloc.get_tracemalloc_memory() / 2**20, 1),
        }
    )
    return live


def _beats(start_s: float, stop_s: float, bpm: float) -> tuple[float, ...]:
    """Metronome beats (host s) of a steady ``bpm`` schedule in ``(start_s, stop_s]``."""
    period = 60.0 / bpm
    first = math.floor(start_s / period) + 1
    last = math.floor(stop_s / period)
    return tuple(k * period for k in range(first, last + 1))


def _lap(minutes: float, seed: int) -> tuple[list[StreamInfo], list[SampleBlock], float]:
    """One lap of the session, decoded: its streams, its blocks by their last sample time and
    its length (s)."""
    config = SimulationConfig(duration_s=60.0 * minutes, seed=seed, faults=FaultSpec.parse(FAULTS))
    decoded = decode_session(SimulatedSession(config))
    infos = [d.info for dec in decoded.decoders for d in dec.devices.values() if d.info]
    blocks = sorted(
        (b for bs in decoded.blocks.values() for b in bs if b.n_samples),
        key=lambda b: float(b.t_host_s[-1]),
    )
    first = min(float(b.t_host_s[0]) for b in blocks)
    last = max(float(b.t_host_s[-1]) for b in blocks)
    return infos, blocks, last - first + LAP_GAP_S


def _shifted(block: SampleBlock, offset_s: float) -> SampleBlock:
    return SampleBlock(block.stream_id, block.t_host_s + offset_s, block.values, block.gap_before_s)


def run(
    minutes: float, *, warmup_min: float, every_min: float, lap_min: float, seed: int
) -> dict[str, Any]:
    """Run the session and return the figures (see the module docstring)."""
    infos, blocks, lap_s = _lap(lap_min, seed)
    t0 = float(blocks[0].t_host_s[0])
    clock = _Clock(t0)
    buffers = StreamBuffers(infos)
    processing = ProcessingThread(buffers, GaitPipeline(clock=clock))
    live = LiveSession(clock=clock)
    live.set_target_spm(170.0)
    tracemalloc.start(1)
    samples: list[dict[str, float]] = []
    warm: tracemalloc.Snapshot | None = None
    warm_min = 0.0
    next_sample_min = warmup_min
    next_pass_s = t0 + PASS_S
    end_s = t0 + 60.0 * minutes
    done = False
    lap = 0
    while not done:
        offset = lap * lap_s
        lap += 1
        for block in blocks:
            shifted = _shifted(block, offset) if offset else block
            t = float(shifted.t_host_s[-1])
            done = t >= end_s
            if done:
                break
            buffers(shifted)
            if t < next_pass_s:
                continue
            beats = _beats(clock.now_s, t, 170.0)
            clock.now_s = t
            processing.step_once()
            live.ingest(processing.view(), beat_times_s=beats)
            next_pass_s = t + PASS_S
            minute = (t - t0) / 60.0
            if minute >= next_sample_min:
                next_sample_min += every_min
                last = _sample(samples, minute)
                if warm is None:
                    warm, warm_min = last, minute
    last = _sample(samples, (clock.now_s - t0) / 60.0)
    tracemalloc.stop()
    assert warm is not None, "the run is shorter than its warm-up"
    growth = last.compare_to(warm, "lineno")
    span_min = samples[-1]["simulated_min"] - warm_min
    grown_b = 1024.0 * (samples[-1]["traced_kb"] - samples[0]["traced_kb"])
    per_min = grown_b / span_min if span_min > 0 else math.nan
    pipeline = processing.pipeline
    adherence = live.adherence()
    return {
        "bench": "memory",
        "simulated_min": minutes,
        "warmup_min": warmup_min,
        "samples": samples,
        "top_growth": [
            {
                "site": f"{Path(d.traceback[0].filename).name}:{d.traceback[0].lineno}",
                "kb": round(d.size_diff / 1024.0, 1),
                "allocations": d.count_diff,
            }
            for d in growth[:12]
        ],
        "traced_bytes_per_simulated_min": round(per_min),
        "traced_growth_4h_mb": round(per_min * 240.0 / 2**20, 2),
        "rss_growth_after_warmup_mb": round(samples[-1]["rss_mb"] - samples[0]["rss_mb"], 1),
        "retained": {
            "pipeline_steps": len(pipeline.steps),
            "pipeline_events": len(pipeline.events),
            "steps_so_far": processing.view().n_steps,
            "cadence_trend_points": len(live.cadence_trend),
            "balance_trend_points": len(live.balance_trend),
            "adherence_steps": None if adherence is None else adherence.n_steps,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="simulated minutes")
    parser.add_argument("--warmup", type=float, default=5.0, help="simulated minutes before")
    parser.add_argument("--every", type=float, default=5.0, help="simulated minutes apart")
    parser.add_argument("--lap", type=float, default=2.0, help="simulated minutes decoded")
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args(argv)
    figures = run(
        args.minutes,
        warmup_min=args.warmup,
        every_min=args.every,
        lap_min=args.lap,
        seed=args.seed,
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
