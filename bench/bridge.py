"""Serial bridge figures: fault accounting, clock mapping accuracy, decode speed, and the
real-time path over pseudo-terminals (read stalls, arrival latency).

Run from the repository root: ``python bench/bridge.py`` (about a minute), or
``python bench/bridge.py --decode-only`` for the decoder's cost per packet alone. Prints one
JSON object. Latency, stall and cost figures are valid only on an otherwise idle machine.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import numpy.typing as npt

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from dashboard.acquisition import Acquisition  # noqa: E402
from firmware_bridge.decoder import LinkDecoder  # noqa: E402
from firmware_bridge.hostclock import ScaledClock  # noqa: E402
from firmware_bridge.samples import SampleBlock  # noqa: E402
from firmware_bridge.simulator.faults import FaultSpec  # noqa: E402
from firmware_bridge.simulator.offline import decode_session  # noqa: E402
from firmware_bridge.simulator.pty_host import PtyDeviceHost  # noqa: E402
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig  # noqa: E402

FAULTS = FaultSpec(loss=0.05, corrupt=0.001, reorder=0.01, duplicate=0.01)


def fault_accounting(duration_s: float = 120.0) -> dict[str, object]:
    """Injected against counted faults per device link, offline."""
    session = SimulatedSession(SimulationConfig(duration_s=duration_s, seed=101, faults=FAULTS))
    t0 = time.perf_counter()
    run = decode_session(session, keep_blocks=False)
    elapsed = time.perf_counter() - t0
    links = []
    for index, decoder in enumerate(run.decoders):
        injected, counted = session.injected(index), decoder.stats()
        links.append(
            {
                "device": session.devices[index].spec.kind.name.lower()
                + "-"
                + session.devices[index].spec.side.name.lower(),
                "injected": {
                    "lost": injected.lost,
                    "corrupt": injected.corrupted,
                    "duplicate": injected.duplicated,
                    "reordered": injected.reordered,
                },
                "counted": {
                    "lost": counted.lost,
                    "corrupt": counted.corrupt,
                    "duplicate": counted.duplicate,
                    "reordered": counted.reordered,
                    "late": counted.late,
                },
                "intact_packets": len({(b, s) for b, s, _ in injected.intact}),
                "accepted_packets": counted.packets,
            }
        )
    packets = sum(d.stats().packets for d in run.decoders)
    return {
        "simulated_s": duration_s,
        "links": links,
        "simulate_and_decode_packets_per_s": round(packets / elapsed),
    }


def _recorded_reads(
    duration_s: float, seed: int
) -> tuple[SimulatedSession, list[list[tuple[float, bytes]]]]:
    """Every device link's reads (arrival s, bytes) of a clean simulated session, one
    frame per read as a serial read at 1× mostly holds."""
    session = SimulatedSession(SimulationConfig(duration_s=duration_s, seed=seed))
    reads: list[list[tuple[float, bytes]]] = [[] for _ in session.devices]
    t = session.now_s
    while t < session.end_s:
        t = min(t + 1.0, session.end_s)
        for delivery in session.advance(t):
            reads[delivery.device_index].extend(
                zip(delivery.arrival_s.tolist(), delivery.payloads, strict=True)
            )
    return session, reads


def _decode_seconds(reads: list[tuple[float, bytes]], floor_s: float) -> tuple[float, int]:
    """CPU seconds to feed ``reads`` through a fresh ``LinkDecoder`` (polled after each
    read, as the serial hub does), and the packets it accepted."""
    blocks = 0

    def sink(block: SampleBlock) -> None:
        nonlocal blocks
        blocks += 1

    decoder = LinkDecoder(sink=sink, latency_floor_s=floor_s)
    t0 = time.process_time()
    for arrival, payload in reads:
        decoder.feed(payload, arrival)
        decoder.poll(arrival)
    elapsed = time.process_time() - t0
    return elapsed, decoder.stats().packets


def decode_cost(duration_s: float = 60.0, repeats: int = 3) -> dict[str, object]:
    """µs of CPU per in-order packet (deframe, CRC, decode, sequence, clock map, units,
    block) per device kind, on a clean link; the best of ``repeats`` passes."""
    session, reads = _recorded_reads(duration_s, seed=404)
    per_kind: dict[str, list[float]] = defaultdict(list)
    shapes: dict[str, str] = {}
    for index, device in enumerate(session.devices):
        kind = device.spec.kind.name.lower()
        best = min(_decode_seconds(reads[index], session.latency_floor_s) for _ in range(repeats))
        seconds, packets = best
        per_kind[kind].append(seconds / packets * 1e6)
        rate = device.spec.rate_hz
        spp = max(1, round(rate * 0.01))
        channels = 6 if kind == "imu" else device.spec.n_cells
        shapes[kind] = f"{rate} Hz, {spp} samples x {channels} channels per packet"
    packets_per_s = sum(len(r) for r in reads) / duration_s
    us = {kind: round(float(np.mean(v)), 2) for kind, v in per_kind.items()}
    cpu_pct = (
        sum(
            us[device.spec.kind.name.lower()] * len(reads[i]) / duration_s
            for i, device in enumerate(session.devices)
        )
        * 1e-4
    )
    return {
        "us_per_packet": us,
        "packets": shapes,
        "packets_per_s_all_devices": round(packets_per_s, 1),
        "decode_cpu_pct_of_one_core": round(cpu_pct, 2),
    }


def clock_mapping(link: str, duration_s: float, reset: bool) -> dict[str, float]:
    """Max |mapped − true| host time of every sample from 30 s on (ms), left/right insoles."""
    faults = (
        FaultSpec(disconnect_every_s=150.0, disconnect_s=3.0, reset_on_reconnect=True)
        if reset
        else FaultSpec()
    )
    session = SimulatedSession(
        SimulationConfig(duration_s=duration_s, seed=202, imus=False, link=link, faults=faults)
    )
    recorded: dict[str, list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]] = (
        defaultdict(list)
    )
    run = decode_session(
        session, step_s=2.0, keep_blocks=False, on_mapped=lambda s, d, h: recorded[s].append((d, h))
    )
    worst: dict[str, float] = {}
    for index, decoder in enumerate(run.decoders):
        device = session.devices[index]
        info = next(iter(decoder.devices.values())).info
        assert info is not None
        boots = device.reboot_times_s
        err = 0.0
        for t_device, t_host in recorded[info.stream_id]:
            if t_host[0] < 30.0 or any(b <= t_host[0] < b + 5.0 for b in boots):
                continue
            truth = device.true_host_time(t_device, float(t_host[0]))
            err = max(err, float(np.abs(t_host - truth).max()))
        worst[f"{info.side.name.lower()}_ppm_{device.spec.clock_ppm:+.0f}"] = round(err * 1e3, 3)
    return worst


def realtime_pty(duration_s: float = 20.0) -> dict[str, float]:
    """Four devices over pseudo-terminals at 1×: read stalls and mean arrival latency."""
    clock = ScaledClock(1.0)
    session = SimulatedSession(
        SimulationConfig(duration_s=duration_s, seed=303, start_s=clock() + 0.3)
    )
    host = PtyDeviceHost(session, clock)
    acquisition = Acquisition(clock=clock, latency_floor_s=session.latency_floor_s)
    for path in host.paths:
        acquisition.add_serial(path)
    acquisition.start()
    host.start()
    host.finished.wait(duration_s + 10)
    time.sleep(0.2)
    acquisition.stop()
    host.stop()
    gaps = np.asarray(acquisition.read_timing().gaps_s)
    rows = acquisition.device_rows()
    return {
        "duration_s": duration_s,
        "read_gap_p50_ms": round(float(np.percentile(gaps, 50)) * 1e3, 2),
        "read_gap_p999_ms": round(float(np.percentile(gaps, 99.9)) * 1e3, 2),
        "read_gap_max_ms": round(float(gaps.max()) * 1e3, 2),
        "writer_max_lateness_ms": round(host.stats.max_lateness_s * 1e3, 2),
        "mean_arrival_latency_ms": round(float(np.mean([r.latency_ms for r in rows])), 2),
        "loss_pct_max": round(max(r.loss_pct for r in rows), 3),
    }


def main() -> None:
    if "--decode-only" in sys.argv[1:]:
        print(json.dumps({"bench": "bridge", "decode": decode_cost()}))
        return
    figures = {
        "bench": "bridge",
        "fault_accounting": fault_accounting(),
        "clock_max_error_ms": {
            "serial_10min": clock_mapping("serial", 600.0, reset=False),
            "serial_10min_with_resets": clock_mapping("serial", 600.0, reset=True),
        },
        "decode": decode_cost(),
        "realtime_pty": realtime_pty(),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
