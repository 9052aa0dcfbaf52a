"""Detection latency: true event (simulator host time) → event-log entry, at 1× over
pseudo-terminals with the default packet size (10 ms of data per packet).

The simulator runs in a child process and writes its truth in host monotonic seconds; this
process reads the four ports, analyses them, and logs every event with the monotonic time
at which it was logged. Each detected IC/TO is matched to the true one (same side, within
60 ms) and the delay reported as p50/p95/max per source (insole 200 Hz, foot IMU 1 kHz).
Targets (DESIGN.md): p95 IC ≤ 20 ms insole, ≤ 40 ms IMU; TO ≤ 80 ms.

Run: ``python bench/latency.py [--duration S]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from _live import run_live

from realtime.events import EventKind, EventSource
from realtime.scoring import match_events


def summary(delays_s: np.ndarray) -> dict[str, float | int]:
    if delays_s.size == 0:
        return {"n": 0}
    ms = delays_s * 1e3
    return {
        "n": int(ms.size),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = run_live(args.duration, Path(tmp))
    logged = run.processing.pipeline.events
    truth = run.truth
    figures: dict[str, object] = {"bench": "latency", "duration_s": args.duration}
    for source in (EventSource.INSOLE, EventSource.IMU):
        for kind, true_times in (
            (EventKind.INITIAL_CONTACT, truth.ic_s),
            (EventKind.TOE_OFF, truth.to_s),
        ):
            chosen = [
                e
                for e in logged
                if e.event.source == source and e.event.kind == kind and np.isfinite(e.event.t_s)
            ]
            det_t = np.array([e.event.t_s for e in chosen])
            det_side = np.array([int(e.event.side) for e in chosen])
            logged_s = np.array([e.logged_s for e in chosen])
            di, ti = match_events(det_side, det_t, truth.side, true_times)
            delays = logged_s[di] - np.asarray(true_times)[ti]
            figures[f"{source.value}_{kind.value}"] = summary(delays)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
