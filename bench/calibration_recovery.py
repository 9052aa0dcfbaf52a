"""Calibration recovery: each simulated routine (with noise) calibrated, against its truth.

For every seed: the six-face routine (accelerometer offset, scale), the mounting routine
(gyroscope bias, mounting angle; left and right foot, walking and jogging, one shank), the
stance routine (insole total after body-weight normalisation), the known-load routine
(per-cell curves over 10–100 % of the range) and a jump (clock offsets). Prints one JSON
object: per routine the worst error over the seeds, its tolerance (the issue's "done
means") and whether it passes, plus the per-seed figures.

Run: ``python bench/calibration_recovery.py [--seeds N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from calibration.clock_check import ClockCheck, StreamEvent  # noqa: E402
from calibration.imu import rotation_angle_deg  # noqa: E402
from calibration.insole import DEFAULT_LOADS_N, CellCurveFit  # noqa: E402
from calibration.procedures import Recording, calibrate_imu, calibrate_insoles  # noqa: E402
from firmware_bridge.samples import Mount, Side, StreamKind  # noqa: E402
from firmware_bridge.simulator.calibration_routines import (  # noqa: E402
    ImuTruth,
    InsoleTruth,
    body_weight_routine,
    jump_routine,
    known_load_routine,
    mounting_routine,
    six_face_routine,
)

SEED_BASE = 700_000
TOLERANCES = {
    "accel_offset_g": 0.005,
    "accel_scale_pct": 0.5,
    "gyro_bias_dps": 0.1,
    "mounting_deg": 2.0,
    "insole_total_pct": 2.0,
    "cell_curve_pct": 2.0,
    "clock_ms": 1.0,
}
MOUNTINGS = (
    (Side.LEFT, Mount.FOOT, True),
    (Side.RIGHT, Mount.FOOT, True),
    (Side.LEFT, Mount.FOOT, False),
    (Side.RIGHT, Mount.SHANK, True),
)


def imu_case(seed: int, side: Side, mount: Mount, walking: bool) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    truth = ImuTruth.draw(rng, tilt_deg=30.0)
    six = six_face_routine(truth, rng)
    routine = mounting_routine(truth, rng, side=side, mount=mount, walking=walking)
    cal = calibrate_imu(
        device_id=1,
        six_face=Recording(six.t_s["imu"], six.values["imu"]),
        mounting=Recording(routine.t_s["imu"], routine.values["imu"]),
    )
    t = routine.t_s["imu"]
    start, stop = cast(tuple[float, float], routine.truth["standing_s"])
    series = np.asarray(routine.truth["gyro_bias_dps_series"])
    true_bias = series[(t >= start) & (t < stop)].mean(axis=0)
    tilt = rotation_angle_deg(truth.alignment, np.eye(3))
    return {
        "seed": seed,
        "side": side.name.lower(),
        "mount": mount.name.lower(),
        "routine": "walking" if walking else "jogging",
        "true_mount_tilt_deg": round(tilt, 1),
        "accel_offset_g": float(np.abs(cal.accel_offset_g - truth.accel_offset_g).max()),
        "accel_scale_pct": float(100 * np.abs(cal.accel_scale / truth.accel_scale - 1).max()),
        "gyro_bias_dps": float(np.abs(cal.gyro_bias_dps - true_bias).max()),
        "mounting_deg": rotation_angle_deg(cal.alignment, truth.alignment),
        "true": {
            "accel_offset_g": truth.accel_offset_g.round(4).tolist(),
            "accel_scale": truth.accel_scale.round(4).tolist(),
            "gyro_bias_dps": true_bias.round(3).tolist(),
        },
        "recovered": {
            "accel_offset_g": cal.accel_offset_g.round(4).tolist(),
            "accel_scale": cal.accel_scale.round(4).tolist(),
            "gyro_bias_dps": cal.gyro_bias_dps.round(3).tolist(),
        },
    }


def insole_case(seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    mass = float(rng.uniform(50.0, 100.0))
    truths = {
        side: InsoleTruth(
            cell_gain=np.full(16, rng.uniform(0.7, 1.3)), zero_offset_n=rng.uniform(6, 25, 16)
        )
        for side in (Side.LEFT, Side.RIGHT)
    }
    routine = body_weight_routine(truths, rng, body_mass_kg=mass)
    stance = {
        side.name.lower(): Recording(
            routine.t_s[f"{side.name.lower()}_insole"],
            routine.values[f"{side.name.lower()}_insole"],
        )
        for side in (Side.LEFT, Side.RIGHT)
    }
    cals = calibrate_insoles(stance, device_ids={"left": 1, "right": 2}, body_mass_kg=mass)
    # The calibrated total reads gain·scale times the true force.
    total = {
        s.name.lower(): float(100 * abs(cals[s.name.lower()].scale * truths[s].cell_gain[0] - 1))
        for s in truths
    }
    zero = {
        s.name.lower(): float(np.abs(cals[s.name.lower()].zero_n - truths[s].zero_offset_n).max())
        for s in truths
    }
    # Known-load routine on a nonlinear insole.
    exponent = float(rng.uniform(0.7, 1.3))
    bench = InsoleTruth(
        cell_gain=rng.uniform(0.7, 1.3, 16), zero_offset_n=np.zeros(16), response_exponent=exponent
    )
    loads = known_load_routine(bench, rng)
    fit = CellCurveFit(loads_n=DEFAULT_LOADS_N).fit(loads.t_s["insole"], loads.values["insole"])
    top = max(DEFAULT_LOADS_N)
    force = np.linspace(0.1 * top, top, 100)
    worst = 0.0
    for cell, curve in enumerate(fit.curves_):
        assert curve is not None
        reading = bench.cell_gain[cell] * 400.0 * (force / 400.0) ** exponent
        worst = max(worst, float(100 * np.abs(curve(reading) / force - 1).max()))
    return {
        "seed": seed,
        "body_mass_kg": round(mass, 1),
        "true_gain": {s.name.lower(): round(float(truths[s].cell_gain[0]), 4) for s in truths},
        "scale": {k: round(c.scale, 4) for k, c in cals.items()},
        "insole_total_pct": max(total.values()),
        "zero_n_max_error": max(zero.values()),
        "response_exponent": round(exponent, 3),
        "cell_curve_pct": worst,
    }


def clock_case(seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    names = ("left_insole", "right_insole", "left_imu", "right_imu")
    errors = {n: float(rng.uniform(-0.03, 0.03)) for n in names}
    routine = jump_routine(errors, rng)
    events = [
        StreamEvent(
            n,
            StreamKind.INSOLE if n.endswith("insole") else StreamKind.IMU,
            routine.t_s[n],
            routine.values[n],
        )
        for n in names
    ]
    check = ClockCheck().check(events)
    misses = [abs(check.offsets_ms_[n] - 1e3 * (errors[n] - errors["left_insole"])) for n in names]
    return {"seed": seed, "clock_ms": float(max(misses)), "offsets_ms": check.offsets_ms_}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    seeds = [SEED_BASE + i for i in range(args.seeds)]
    imu = [imu_case(s * 10 + k, *m) for s in seeds for k, m in enumerate(MOUNTINGS)]
    insole = [insole_case(s) for s in seeds]
    clock = [clock_case(s) for s in seeds]
    worst = {
        "accel_offset_g": max(c["accel_offset_g"] for c in imu),
        "accel_scale_pct": max(c["accel_scale_pct"] for c in imu),
        "gyro_bias_dps": max(c["gyro_bias_dps"] for c in imu),
        "mounting_deg": max(c["mounting_deg"] for c in imu),
        "insole_total_pct": max(c["insole_total_pct"] for c in insole),
        "cell_curve_pct": max(c["cell_curve_pct"] for c in insole),
        "clock_ms": max(c["clock_ms"] for c in clock),
    }
    summary = {
        key: {
            "worst": round(value, 5),
            "tolerance": TOLERANCES[key],
            "pass": value <= TOLERANCES[key],
        }
        for key, value in worst.items()
    }
    print(
        json.dumps(
            {
                "bench": "calibration",
                "seeds": len(seeds),
                "elapsed_s": round(time.perf_counter() - started, 1),
                "summary": summary,
                "all_pass": all(v["pass"] for v in summary.values()),
                "imu": imu,
                "insole": insole,
                "clock": clock,
            },
            default=float,
        )
    )


if __name__ == "__main__":
    main()
