"""Session recording and export costs.

* recording overhead: the four simulated devices' link deliveries (2 insoles, 16 cells at
  200 Hz; 2 foot IMUs at 1 kHz) handed to ``SessionWriter.record_bytes`` at 1× real time
  for ``--paced`` seconds, against the same paced loop without a writer; the difference of
  this process's CPU time (user + system) over wall time, in % of one core; plus the cost
  of one ``record_bytes`` call and the bytes per minute of each file;
* export speed: a ``--minutes`` long simulated session decoded, analysed, exported to CSV,
  HDF5 and C3D and reported, each as a multiple of real time (CPU seconds of this process).

Run: ``python bench/session_io.py [--minutes M] [--paced S]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from dashboard.session.analysis import analyse
from dashboard.session.export_c3d import export_c3d
from dashboard.session.export_csv import export_csv
from dashboard.session.export_hdf5 import export_hdf5
from dashboard.session.reader import load_session
from dashboard.session.report import write_report
from dashboard.session.simulated import record_simulated
from dashboard.session.writer import SessionWriter
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig

Delivery = tuple[int, float, bytes]


def _deliveries(duration_s: float) -> list[Delivery]:
    session = SimulatedSession(SimulationConfig(duration_s=duration_s, seed=91))
    out: list[Delivery] = []
    t = session.now_s
    while t < session.end_s:
        t = min(t + 0.5, session.end_s)
        for d in session.advance(t):
            out += [
                (d.device_index, a, p)
                for a, p in zip(d.arrival_s.tolist(), d.payloads, strict=True)
            ]
    out.sort(key=lambda x: x[1])
    return out


def _paced(deliveries: list[Delivery], seconds: float, writer: SessionWriter | None) -> float:
    """Hand ``deliveries`` over at 1× for ``seconds``; CPU seconds of this process."""
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    t_first = deliveries[0][1]
    span = deliveries[-1][1] - t_first
    i = 0
    lap = 0.0
    while True:
        link, t, payload = deliveries[i]
        due = (t - t_first) + lap
        if due >= seconds:
            break
        delay = wall0 + due - time.monotonic()
        if delay > 0.002:
            time.sleep(delay)
        if writer is not None:
            writer.record_bytes(link, wall0 + due, payload)
        i += 1
        if i == len(deliveries):
            i, lap = 0, lap + span
    if writer is not None:
        writer.close()
    return time.process_time() - cpu0


def recording_overhead(paced_s: float, root: Path) -> dict[str, Any]:
    deliveries = _deliveries(min(60.0, paced_s))
    without = _paced(deliveries, paced_s, None)
    writer = SessionWriter(root / "paced", source="simulated")
    for device in range(4):
        writer.add_link("serial", f"device {device}")
    with_writer = _paced(deliveries, paced_s, writer)
    sizes = {p.name: p.stat().st_size for p in (root / "paced").iterdir()}
    # the cost of one call, without pacing
    bench = SessionWriter(root / "calls", source="simulated")
    link = bench.add_link("serial", "x")
    n = min(len(deliveries), 50_000)
    start = time.perf_counter()
    for _, t, payload in deliveries[:n]:
        bench.record_bytes(link, t, payload)
    per_call_us = (time.perf_counter() - start) / n * 1e6
    bench.close()
    return {
        "paced_s": paced_s,
        "deliveries_per_s": round(len(deliveries) / min(60.0, paced_s), 1),
        "cpu_pct_of_one_core": round(100.0 * (with_writer - without) / paced_s, 2),
        "cpu_pct_loop_without_writer": round(100.0 * without / paced_s, 2),
        "record_bytes_call_us": round(per_call_us, 2),
        "bytes_per_minute": {
            k: round(v * 60.0 / paced_s) for k, v in sizes.items() if v and k.endswith(".bin")
        },
        "header_bytes_per_record": 14,
        "mb_per_hour_packets": round(sizes.get("packets.bin", 0) * 3600.0 / paced_s / 1e6, 1),
    }


def _timed(label: str, duration_s: float, fn: Any, out: dict[str, Any]) -> Any:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = fn()
    cpu = time.process_time() - cpu0
    out[label] = {
        "cpu_s": round(cpu, 2),
        "wall_s": round(time.perf_counter() - wall0, 2),
        "x_real_time": round(duration_s / cpu, 1) if cpu > 0 else None,
    }
    return result


def export_speed(minutes: float, root: Path) -> dict[str, Any]:
    duration_s = minutes * 60.0
    out: dict[str, Any] = {"session_s": duration_s}
    path = _timed(
        "record_simulated",
        duration_s,
        lambda: record_simulated(
            SimulationConfig(duration_s=duration_s, seed=92), root / "session", detect=False
        ),
        out,
    )
    session = load_session(path)
    decoded = _timed("decode", duration_s, session.decode, out)
    analysis = _timed("analyse", duration_s, lambda: analyse(session, decoded=decoded), out)
    steps = analysis.result.steps
    _timed("export_csv", duration_s, lambda: export_csv(session, decoded, root / "csv"), out)
    _timed(
        "export_hdf5", duration_s, lambda: export_hdf5(session, decoded, steps, root / "s.h5"), out
    )
    _timed(
        "export_c3d", duration_s, lambda: export_c3d(session, decoded, steps, root / "s.c3d"), out
    )
    _timed("report", duration_s, lambda: write_report([analysis], root / "r.html"), out)
    out["sizes_mb"] = {
        "packets.bin": round((path / "packets.bin").stat().st_size / 1e6, 2),
        "csv": round(sum(p.stat().st_size for p in (root / "csv").iterdir()) / 1e6, 2),
        "hdf5": round((root / "s.h5").stat().st_size / 1e6, 2),
        "c3d": round((root / "s.c3d").stat().st_size / 1e6, 2),
    }
    out["steps"] = len(steps)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="exported session length")
    parser.add_argument("--paced", type=float, default=30.0, help="paced recording (s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        report = {
            "recording": recording_overhead(args.paced, root),
            "export": export_speed(args.minutes, root),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
