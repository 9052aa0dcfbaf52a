"""Cost of one detector / pipeline call for the small blocks the live thread feeds.

A simulated session (2 insoles, 16 cells, 200 Hz; 2 foot IMUs, 1 kHz) is decoded once, its
blocks are cut the way the live processing thread sees them (1–10 samples per insole block,
about 10 per IMU block), ordered by arrival (time of their last sample) across the streams
and fed one by one through ``GaitPipeline.update``. Each detector's ``update`` (events
popped) and each whole ``GaitPipeline.update`` is timed; the figures are the mean µs per
call over the best of ``--repeat`` passes.

``--profile`` prints a cProfile of one pass to stderr; ``--events-out PATH`` writes every
event and step of the run (a pickle) so two versions of the code can be compared exactly.

Run: ``python bench/detector_calls.py [--duration S] [--seed N] [--loss P]``; prints one
JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pickle
import pstats
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from firmware_bridge.samples import SampleBlock, StreamInfo, StreamKind  # noqa: E402
from firmware_bridge.simulator.faults import FaultSpec  # noqa: E402
from firmware_bridge.simulator.offline import decode_session  # noqa: E402
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig  # noqa: E402
from realtime.pipeline import GaitPipeline  # noqa: E402

IMU_BLOCK_SAMPLES = 10
INSOLE_BLOCK_SAMPLES = (1, 10)


@dataclass
class Replay:
    infos: list[StreamInfo]
    blocks: list[SampleBlock]
    n_true_steps: int


def split(
    blocks: list[SampleBlock], sizes: tuple[int, int], rng: np.random.Generator
) -> list[SampleBlock]:
    """Cut a stream's blocks into pieces of ``sizes[0]``–``sizes[1]`` samples; the gap mark
    stays on the first piece."""
    out: list[SampleBlock] = []
    for block in blocks:
        start = 0
        while start < block.n_samples:
            stop = min(block.n_samples, start + int(rng.integers(sizes[0], sizes[1] + 1)))
            out.append(
                SampleBlock(
                    block.stream_id,
                    block.t_host_s[start:stop],
                    block.values[start:stop],
                    gap_before_s=block.gap_before_s if start == 0 else 0.0,
                )
            )
            start = stop
    return out


def replay(duration_s: float, seed: int, loss: float) -> Replay:
    config = SimulationConfig(duration_s=duration_s, seed=seed, faults=FaultSpec(loss=loss))
    session = SimulatedSession(config)
    run = decode_session(session)
    infos = [d.info for dec in run.decoders for d in dec.devices.values() if d.info is not None]
    rng = np.random.default_rng(seed)
    blocks: list[SampleBlock] = []
    for info in infos:
        stream = run.blocks.get(info.stream_id, [])
        if info.kind == StreamKind.IMU:
            sizes = (IMU_BLOCK_SAMPLES - 2, IMU_BLOCK_SAMPLES + 2)
        else:
            sizes = INSOLE_BLOCK_SAMPLES
        blocks.extend(split(stream, sizes, rng))
    blocks.sort(key=lambda b: float(b.t_host_s[-1]))
    return Replay(infos, blocks, int(session.truth.ic_s.size))


@dataclass
class Pass:
    us_per_call: dict[str, float]
    calls: dict[str, int]
    pipeline: GaitPipeline


def timed_pass(data: Replay) -> Pass:
    """Feed every block; time each detector call and each whole pipeline call."""
    pipeline = GaitPipeline(keep_events=True)
    for info in data.infos:
        pipeline.add_stream(info)
    kinds = {i.stream_id: i.kind.name.lower() for i in data.infos}
    detectors = {i.stream_id: pipeline.detector(i.stream_id) for i in data.infos}
    spent = {"insole": 0.0, "imu": 0.0, "pipeline": 0.0}
    calls = {"insole": 0, "imu": 0, "pipeline": 0}
    clock = time.perf_counter
    originals = {}
    for stream_id, detector in detectors.items():
        kind = kinds[stream_id]
        update = detector.update
        originals[stream_id] = update

        def timed(block: SampleBlock, update=update, kind=kind):  # type: ignore[no-untyped-def]
            t0 = clock()
            out = update(block)
            spent[kind] += clock() - t0
            calls[kind] += 1
            return out

        detector.update = timed  # type: ignore[method-assign]
    for block in data.blocks:
        t0 = clock()
        pipeline.update(block)
        spent["pipeline"] += clock() - t0
    calls["pipeline"] = len(data.blocks)
    pipeline.finish()
    for stream_id, detector in detectors.items():
        detector.update = originals[stream_id]  # type: ignore[method-assign]
    us = {k: 1e6 * spent[k] / calls[k] for k in spent if calls[k]}
    return Pass(us, calls, pipeline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="simulated seconds")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--loss", type=float, default=0.0, help="packet loss (0–1)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (best kept)")
    parser.add_argument("--profile", action="store_true", help="cProfile one pass to stderr")
    parser.add_argument("--events-out", type=Path, default=None, help="pickle events+steps")
    args = parser.parse_args()

    data = replay(args.duration, args.seed, args.loss)
    best: dict[str, float] = {}
    last: Pass | None = None
    for _ in range(max(1, args.repeat)):
        last = timed_pass(data)
        for key, value in last.us_per_call.items():
            best[key] = min(best.get(key, float("inf")), value)
    assert last is not None
    if args.profile:
        profiler = cProfile.Profile()
        pipeline = GaitPipeline(keep_events=False)
        for info in data.infos:
            pipeline.add_stream(info)
        profiler.enable()
        for block in data.blocks:
            pipeline.update(block)
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    if args.events_out is not None:
        events = [e.event for e in last.pipeline.events]
        with args.events_out.open("wb") as handle:
            pickle.dump({"events": events, "steps": last.pipeline.steps}, handle)
    per_second = {k: round(v / args.duration, 1) for k, v in last.calls.items()}
    print(
        json.dumps(
            {
                "bench": "detector_calls",
                "simulated_s": args.duration,
                "seed": args.seed,
                "loss": args.loss,
                "us_per_call": {k: round(v, 1) for k, v in best.items()},
                "calls_per_s": per_second,
                "gaps": sum(1 for b in data.blocks if b.gap_before_s > 0.0),
                "events": len(last.pipeline.events),
                "steps": len(last.pipeline.steps),
                "true_steps": data.n_true_steps,
            }
        )
    )


if __name__ == "__main__":
    main()
