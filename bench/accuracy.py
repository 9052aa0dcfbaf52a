"""Accuracy of the streaming analysis against the simulator's truth, over a grid.

Grid: cadence 150/170/190 spm × strike rear/mid/fore × GCT asymmetry 0/10 % × insole
100/200 Hz × IMU 500/1000 Hz × packet loss 0/5 %, each analysed insole-only, IMU-only and
fused. Every cell draws its own GCT (210–290 ms), seed and device clocks from seeds the
tests never use; right-side sensors are mounted mirrored, as in the simulator. Per cell:
recall, precision, IC/TO/GCT bias and SD (ms), cadence error p95 over 20-step windows
(spm), GCT balance and step-time SI errors (points), flagged share (%).

Targets (DESIGN.md): recall ≥ 99.5 %, false ≤ 0.5 %; cadence ±0.5 spm; GCT bias ≤ 2 ms and
SD ≤ 5 ms (insole), ≤ 5 / ≤ 6 ms (foot IMU); balance and SI errors ≤ 0.3 points.

Run: ``python bench/accuracy.py [--quick] [--duration S] [--jobs N]``; prints one JSON object
(cells, and the worst value of each figure per mode with the target).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from _scenarios import MODES, analyse, finite, record

from firmware_bridge.simulator.faults import FaultSpec
from firmware_bridge.simulator.gait import FootStrike, RunnerConfig
from firmware_bridge.simulator.session import SimulationConfig

TARGETS = {
    "insole": {"gct_bias_ms": 2.0, "gct_sd_ms": 5.0},
    "imu": {"gct_bias_ms": 5.0, "gct_sd_ms": 6.0},
    "fused": {"gct_bias_ms": 2.0, "gct_sd_ms": 5.0},
}
SEED_BASE = 900_000


def grid(quick: bool) -> list[dict[str, Any]]:
    cadences = (150.0, 190.0) if quick else (150.0, 170.0, 190.0)
    strikes = tuple(FootStrike)
    asym = (0.0, 10.0)
    insole_rates = (200,) if quick else (100, 200)
    imu_rates = (1000,) if quick else (500, 1000)
    losses = (0.0, 0.05)
    return [
        {
            "cadence_spm": c,
            "strike": s.value,
            "gct_si_pct": a,
            "insole_hz": ir,
            "imu_hz": mr,
            "loss": loss,
        }
        for c, s, a, ir, mr, loss in itertools.product(
            cadences, strikes, asym, insole_rates, imu_rates, losses
        )
    ]


def run_cell(args: tuple[int, dict[str, Any], float]) -> dict[str, Any]:
    index, cell, duration_s = args
    rng = np.random.default_rng(SEED_BASE + index)
    runner = RunnerConfig(
        cadence_spm=cell["cadence_spm"],
        gct_ms=float(rng.uniform(210.0, 290.0)),
        gct_si_pct=cell["gct_si_pct"],
        foot_strike=FootStrike(cell["strike"]),
        speed_m_s=float(rng.uniform(2.5, 4.5)),
    )
    config = SimulationConfig(
        runner=runner,
        duration_s=duration_s,
        seed=SEED_BASE + index,
        insole_rate_hz=cell["insole_hz"],
        imu_rate_hz=cell["imu_hz"],
        faults=FaultSpec(loss=cell["loss"]),
    )
    recording = record(config)
    out: dict[str, Any] = {**cell, "gct_ms": round(runner.gct_ms, 1), "modes": {}}
    for mode in MODES:
        score = analyse(recording, mode)
        out["modes"][mode] = {
            "recall_pct": finite(100 * score.recall),
            "false_pct": finite(100 * (1 - score.precision)),
            "ic_bias_ms": finite(score.ic_bias_ms),
            "ic_sd_ms": finite(score.ic_sd_ms),
            "to_bias_ms": finite(score.to_bias_ms),
            "to_sd_ms": finite(score.to_sd_ms),
            "gct_bias_ms": finite(score.gct_bias_ms),
            "gct_sd_ms": finite(score.gct_sd_ms),
            "cadence_p95_spm": finite(score.cadence_error_p95_spm),
            "gct_balance_err_pp": finite(score.gct_balance_error_pp),
            "step_si_err_pp": finite(score.step_time_si_error_pp),
            "flagged_pct": finite(score.flagged_pct),
        }
    return out


def worst(cells: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    def values(key: str) -> list[float]:
        return [c["modes"][mode][key] for c in cells if c["modes"][mode][key] is not None]

    def extreme(key: str, fn: Any) -> float | None:
        v = values(key)
        return fn(v) if v else None

    return {
        "recall_pct_min": extreme("recall_pct", min),
        "false_pct_max": extreme("false_pct", max),
        "ic_bias_ms_max_abs": extreme("ic_bias_ms", lambda v: max(map(abs, v))),
        "gct_bias_ms_max_abs": extreme("gct_bias_ms", lambda v: max(map(abs, v))),
        "gct_sd_ms_max": extreme("gct_sd_ms", max),
        "cadence_p95_spm_max": extreme("cadence_p95_spm", max),
        "gct_balance_err_pp_max_abs": extreme("gct_balance_err_pp", lambda v: max(map(abs, v))),
        "step_si_err_pp_max_abs": extreme("step_si_err_pp", lambda v: max(map(abs, v))),
        "targets": {
            "recall_pct_min": 99.5,
            "false_pct_max": 0.5,
            "cadence_p95_spm_max": 0.5,
            "gct_balance_err_pp_max_abs": 0.3,
            "step_si_err_pp_max_abs": 0.3,
            **{f"{k}_max": v for k, v in TARGETS[mode].items()},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller grid")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per cell")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    cells = grid(args.quick)
    started = time.perf_counter()
    work = [(i, cell, args.duration) for i, cell in enumerate(cells)]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run_cell, work))
    print(
        json.dumps(
            {
                "bench": "accuracy",
                "cells": len(results),
                "duration_s_per_cell": args.duration,
                "elapsed_s": round(time.perf_counter() - started, 1),
                "worst": {mode: worst(results, mode) for mode in MODES},
                "results": results,
            },
            allow_nan=False,
            default=lambda o: None if isinstance(o, float) and math.isnan(o) else o,
        )
    )


if __name__ == "__main__":
    main()
