"""Detection latency: true event (simulator host time) → event-log entry, at 1× over
pseudo-terminals with the default packet size (10 ms of data per packet).

The simulator runs in a child process and writes its truth in host monotonic seconds; this
process reads the four ports, analyses them, and logs every event with the monotonic time
at which it was logged. Each detected IC/TO is matched to the true one (same side, within
60 ms) and the delay reported as p50/p95/max per source (insole 200 Hz, foot IMU 1 kHz).
Targets (DESIGN.md): p95 IC ≤ 20 ms insole, ≤ 40 ms IMU; TO ≤ 80 ms.

Breakdown of each matched IC's delay (ms), stage by stage; they add up to the total:

- ``detector``: true IC → the sample that confirmed the event (``detected_s``, host time of
  that sample as the clock mapping gives it): how many samples the detector waits for;
- ``packet``: that sample → the last sample of the packet carrying it (a packet is sent
  when its last sample has been taken: up to 10 ms of data);
- ``link``: the packet's last sample → its decoded block reaching the ring buffers (the
  simulated USB link, 1–16 ms, plus the read and decode);
- ``wake``: ring buffers → the event logged (the processing thread's wake-up and the
  analysis of the batch).

Run: ``python bench/latency.py [--duration S] [--seed N]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from _live import spawn_simulator

from calibration.apply import CalibratedSink
from dashboard.acquisition import Acquisition
from firmware_bridge.samples import SampleBlock, StreamInfo, StreamKind
from firmware_bridge.simulator.truth import TrueEvents, read_truth_csv
from realtime.events import EventKind, EventSource
from realtime.pipeline import GaitPipeline, LoggedEvent
from realtime.processing import ProcessingThread
from realtime.scoring import match_events

FloatArray = npt.NDArray[np.float64]


@dataclass
class ArrivalTap:
    """A sink in front of the acquisition's sink that notes, per stream, the host time of
    each block's last sample and the monotonic time at which the block arrived (s)."""

    sink: CalibratedSink
    clock: Callable[[], float] = time.monotonic
    last_sample_s: dict[str, list[float]] = field(default_factory=dict)
    arrival_s: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, block: SampleBlock) -> None:
        if block.n_samples:
            with self.lock:
                self.last_sample_s.setdefault(block.stream_id, []).append(float(block.t_host_s[-1]))
                self.arrival_s.setdefault(block.stream_id, []).append(self.clock())
        self.sink(block)

    def on_stream(self, info: StreamInfo) -> StreamInfo:
        """A stream started: registered by the acquisition's sink."""
        return self.sink.on_stream(info)

    def packets(self, stream_id: str) -> tuple[FloatArray, FloatArray]:
        """Last-sample times and arrival times (s) of the stream's blocks, ``(n,)`` each."""
        with self.lock:
            return (
                np.asarray(self.last_sample_s.get(stream_id, []), dtype=np.float64),
                np.asarray(self.arrival_s.get(stream_id, []), dtype=np.float64),
            )


@dataclass
class LatencyRun:
    logged: list[LoggedEvent]
    truth: TrueEvents
    tap: ArrivalTap
    stream_of: dict[tuple[EventSource, int], str]


def run(duration_s: float, workdir: Path, *, seed: int) -> LatencyRun:
    """The simulator in a child process on ptys; acquisition and analysis here, tapped."""
    child, paths = spawn_simulator(duration_s, workdir / "truth.csv", seed=seed)
    acquisition = Acquisition()
    tap = ArrivalTap(acquisition.sink)
    acquisition.sink = tap  # type: ignore[assignment]
    for path in paths:
        acquisition.add_serial(path)
    processing = ProcessingThread(acquisition.buffers, GaitPipeline())
    acquisition.start()
    processing.start()
    child.wait(timeout=duration_s + 60)
    time.sleep(0.3)
    acquisition.stop()
    processing.stop()  # drains the buffers, releases the last steps
    stream_of: dict[tuple[EventSource, int], str] = {}
    for stream_id in acquisition.buffers.stream_ids():
        info = acquisition.buffers.info(stream_id)
        source = EventSource.IMU if info.kind == StreamKind.IMU else EventSource.INSOLE
        stream_of[(source, int(info.side))] = stream_id
    truth = read_truth_csv(workdir / "truth.csv")
    return LatencyRun(list(processing.pipeline.events), truth, tap, stream_of)


def summary(delays_s: FloatArray) -> dict[str, float | int]:
    if delays_s.size == 0:
        return {"n": 0}
    ms = delays_s * 1e3
    return {
        "n": int(ms.size),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def stages(
    chosen: list[LoggedEvent], true_s: FloatArray, result: LatencyRun, source: EventSource
) -> dict[str, dict[str, float | int]]:
    """The delay of each event split into detector, packet, link and wake stages (s)."""
    parts: dict[str, list[float]] = {"detector": [], "packet": [], "link": [], "wake": []}
    for logged, t_true in zip(chosen, true_s.tolist(), strict=True):
        stream_id = result.stream_of.get((source, int(logged.event.side)))
        if stream_id is None:
            continue
        last_s, arrival_s = result.tap.packets(stream_id)
        k = int(np.searchsorted(last_s, logged.event.detected_s - 1e-9))
        if k >= last_s.size:
            continue
        parts["detector"].append(logged.event.detected_s - t_true)
        parts["packet"].append(float(last_s[k]) - logged.event.detected_s)
        parts["link"].append(float(arrival_s[k] - last_s[k]))
        parts["wake"].append(logged.logged_s - float(arrival_s[k]))
    out: dict[str, dict[str, float | int]] = {}
    for name, values in parts.items():
        ms = np.asarray(values) * 1e3
        if ms.size:
            out[name] = {
                "mean_ms": round(float(ms.mean()), 1),
                "p50_ms": round(float(np.percentile(ms, 50)), 1),
                "p95_ms": round(float(np.percentile(ms, 95)), 1),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=4242)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.duration, Path(tmp), seed=args.seed)
    truth = result.truth
    figures: dict[str, object] = {"bench": "latency", "duration_s": args.duration}
    for source in (EventSource.INSOLE, EventSource.IMU):
        for kind, true_times in (
            (EventKind.INITIAL_CONTACT, truth.ic_s),
            (EventKind.TOE_OFF, truth.to_s),
        ):
            chosen = [
                e
                for e in result.logged
                if e.event.source == source and e.event.kind == kind and np.isfinite(e.event.t_s)
            ]
            det_t = np.array([e.event.t_s for e in chosen])
            det_side = np.array([int(e.event.side) for e in chosen])
            logged_s = np.array([e.logged_s for e in chosen])
            di, ti = match_events(det_side, det_t, truth.side, true_times)
            matched_true = np.asarray(true_times)[ti]
            key = f"{source.value}_{kind.value}"
            figures[key] = summary(logged_s[di] - matched_true)
            if kind == EventKind.INITIAL_CONTACT:
                figures[f"{key}_stages"] = stages(
                    [chosen[i] for i in di.tolist()], matched_true, result, source
                )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
