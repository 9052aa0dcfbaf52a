"""Analysis speed: offline as a multiple of real time, and the live CPU share.

* offline: 2 insoles (16 cells, 200 Hz) + 2 foot IMUs (1 kHz), decoded once, then fed
  through the streaming pipeline as fast as it goes (target ≥ 500× real time);
* live: the simulator in a child process on pseudo-terminals at 1×, this process reading
  the four ports and analysing them; CPU time of this process alone over wall time, in %
  of one core (target < 10 %).

Run: ``python bench/throughput.py [--duration S] [--live S]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _live import run_live
from _scenarios import record

from firmware_bridge.simulator.session import SimulationConfig
from realtime.offline import analyze_blocks, interleave


def offline_factor(duration_s: float) -> dict[str, float]:
    recording = record(SimulationConfig(duration_s=duration_s, seed=77))
    streams = [(i, recording.blocks[i.stream_id]) for i in recording.infos]
    blocks = interleave(streams)
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        result = analyze_blocks(recording.infos, blocks)
        best = min(best, time.process_time() - started)
    return {
        "simulated_s": duration_s,
        "cpu_s": round(best, 3),
        "x_real_time": round(duration_s / best, 1),
        "steps": len(result.steps),
    }


def live_share(duration_s: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        run = run_live(duration_s, Path(tmp))
    return {
        "wall_s": round(run.wall_s, 1),
        "cpu_s": round(run.cpu_s, 2),
        "cpu_pct_of_one_core": round(100 * run.cpu_s / run.wall_s, 1),
        "processing_thread_cpu_s": round(run.processing.cpu_s, 2),
        "processing_passes_per_s": round(run.processing.passes / run.wall_s),
        "steps": run.processing.view().n_steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120.0, help="offline seconds")
    parser.add_argument("--live", type=float, default=30.0, help="live seconds (0: skip)")
    args = parser.parse_args()
    figures = {"bench": "throughput", "offline": offline_factor(args.duration)}
    if args.live > 0:
        figures["live"] = live_share(args.live)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
