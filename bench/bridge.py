"""Serial bridge figures: fault accounting, clock mapping accuracy, decode speed, and the
real-time path over pseudo-terminals (read stalls, arrival latency).

Run from the repository root: ``python bench/bridge.py`` (about a minute). Prints one JSON
object. Latency and stall figures are valid only on an otherwise idle machine.
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
from firmware_bridge.hostclock import ScaledClock  # noqa: E402
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
    figures = {
        "bench": "bridge",
        "fault_accounting": fault_accounting(),
        "clock_max_error_ms": {
            "serial_10min": clock_mapping("serial", 600.0, reset=False),
            "serial_10min_with_resets": clock_mapping("serial", 600.0, reset=True),
        },
        "realtime_pty": realtime_pty(),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
