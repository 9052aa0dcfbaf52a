"""Metronome timing and cost: onsets found in the audio against the ideal schedule.

Figures (one JSON object on stdout):

- ``offline``: for several tempi and sample rates, 120 s rendered through the live
  callback by the offline renderer; onsets are found in the samples (first sample above
  2 % of full scale after >= 5 ms of quiet) and compared with ``round((start + k·60/bpm)·fs)``:
  ``max_abs_error_samples``.
- ``callback``: the callback driven like PortAudio would, for fixed block sizes 64..2048
  and for random sizes in that range: the callback runs 30 ms ± 4 ms before the buffer's
  DAC time, DAC times follow the sample count (with ±0.2 ms of reporting noise), an
  underrun inserts a gap every 20 s, and the Python callback starts late by a random
  scheduling delay (0.3 ms on average, 5-15 ms in 5 % of calls). Onsets (in true DAC time)
  against the ideal beat times: ``max_abs_error_ms``, ``p99_abs_error_ms``; the beat log's
  host times against the ideal ones mapped to host time:
  ``beat_log_host_max_abs_error_ms``; and the callback's own cost per call
  (``cpu_us_median``, ``cpu_us_p99``, wall time of the call on this machine).

Run from the repository root: ``python bench/metronome.py``.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from dashboard.metronome import MetronomeEngine, MetronomeSettings, render_offline  # noqa: E402

THRESHOLD = 0.02
GAP_S = 0.005
OFFLINE_S = 120.0
CALLBACK_S = 60.0
BPM = 172.0


@dataclass(frozen=True)
class _Time:
    outputBufferDacTime: float  # PortAudio's name
    currentTime: float  # PortAudio's name


@dataclass(frozen=True)
class _Status:
    output_underflow: bool


def detect_onsets(
    samples: npt.NDArray[np.float32], times_s: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Times of the first sample above THRESHOLD after >= GAP_S of quiet."""
    loud = np.flatnonzero(np.abs(samples).max(axis=1) > THRESHOLD)
    if loud.size == 0:
        return np.zeros(0)
    t = times_s[loud]
    return t[np.concatenate([[True], np.diff(t) > GAP_S])]


def offline_case(bpm: float, fs: float, start_s: float) -> dict[str, float]:
    r = render_offline(MetronomeSettings(bpm=bpm), OFFLINE_S, sample_rate_hz=fs, start_s=start_s)
    n = r.samples.shape[0]
    found_s = detect_onsets(r.samples, np.arange(n, dtype=np.float64) / fs)
    found = np.round(found_s * fs).astype(np.int64)
    k = np.arange(found.size)
    ideal = np.round((start_s + k * 60.0 / bpm) * fs).astype(np.int64)
    return {
        "bpm": bpm,
        "sample_rate_hz": fs,
        "onsets": int(found.size),
        "max_abs_error_samples": int(np.abs(found - ideal).max()),
    }


def callback_case(block: int | None, seed: int, fs: float = 48_000.0) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    host = [0.0]
    engine = MetronomeEngine(MetronomeSettings(bpm=BPM), sample_rate_hz=fs, clock=lambda: host[0])
    start_s = 20.0
    engine.start(start_s, lead_s=0.1)
    dac = start_s
    next_gap_s = start_s + 10.0
    outs: list[npt.NDArray[np.float32]] = []
    times: list[npt.NDArray[np.float64]] = []
    gap_ends: list[float] = []
    cost_ns: list[int] = []
    while dac < start_s + CALLBACK_S:
        n = block if block is not None else int(rng.integers(64, 2049))
        underflow = dac >= next_gap_s
        if underflow:
            dac += n / fs
            gap_ends.append(dac)
            next_gap_s += 20.0
        now = dac - 0.030 + rng.uniform(-0.004, 0.004)
        # The Python callback starts late by a scheduling delay (GIL): usually a fraction
        # of a millisecond, 5 % of the time 5-15 ms more.
        delay = rng.exponential(0.0003) + (rng.uniform(0.005, 0.015) if rng.random() < 0.05 else 0)
        host[0] = now + 1000.0 + delay
        out = np.empty((n, 2), dtype=np.float32)
        info = _Time(dac + rng.uniform(-2e-4, 2e-4), now)
        t0 = time.perf_counter_ns()
        engine.callback(out, n, info, _Status(underflow))
        cost_ns.append(time.perf_counter_ns() - t0)
        outs.append(out)
        times.append(dac + np.arange(n) / fs)
        dac += n / fs
    found = detect_onsets(np.concatenate(outs), np.concatenate(times))
    # A click cut by a gap resumes at the gap's end: that is a tail, not an onset.
    found = np.array([t for t in found if min(abs(t - g) for g in gap_ends) > 1e-9])
    ideal = start_s + 0.1 + np.arange(int(CALLBACK_S * BPM / 60.0) + 2) * 60.0 / BPM
    err = np.array([t - ideal[np.argmin(np.abs(ideal - t))] for t in found])
    cost_us = np.array(cost_ns) / 1e3
    log = engine.beats_since(0)
    log_err = log.host_s - (start_s + 0.1 + log.number * 60.0 / BPM + 1000.0)
    return {
        "block_frames": block if block is not None else "64..2048 random",
        "callbacks": len(cost_ns),
        "underflows_counted": engine.underflows,
        "onsets": int(found.size),
        "max_abs_error_ms": round(float(np.abs(err).max()) * 1e3, 4),
        "p99_abs_error_ms": round(float(np.quantile(np.abs(err), 0.99)) * 1e3, 4),
        "beat_log_host_max_abs_error_ms": round(float(np.abs(log_err).max()) * 1e3, 4),
        "cpu_us_median": round(float(np.median(cost_us)), 1),
        "cpu_us_p99": round(float(np.quantile(cost_us, 0.99)), 1),
    }


def main() -> None:
    offline = [
        offline_case(170.0, 48_000.0, 0.0),
        offline_case(163.7, 44_100.0, 0.0123),
        offline_case(191.3, 48_000.0, 0.25),
    ]
    callback = [callback_case(b, seed=i) for i, b in enumerate((64, 128, 256, 512, 1024, 2048))]
    callback.append(callback_case(None, seed=99))
    print(
        json.dumps(
            {
                "benchmark": "metronome",
                "python": platform.python_version(),
                "machine": platform.machine(),
                "offline": offline,
                "offline_max_abs_error_samples": max(c["max_abs_error_samples"] for c in offline),
                "callback": callback,
                "callback_max_abs_error_ms": max(
                    float(str(c["max_abs_error_ms"])) for c in callback
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
