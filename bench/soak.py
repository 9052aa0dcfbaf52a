"""Soak: a long simulated session with every fault, through the live path, faster than real time.

The simulated devices run in a child process on pseudo-terminals (``--speed X`` times real
time, on a clock both processes share); this process runs what ``gaitcue live`` runs: the
serial bridge, the ring buffers, the processing thread, the session recorder and the live
readouts. Afterwards the recording is decoded again and compared with what the simulator
sent. Printed as one JSON object:

* ``simulated_s``, ``speed``, ``wall_s``;
* ``faults``: per device, injected against counted (live decoders and the recording
  decoded again), as percentages of the packets the device sent;
* ``memory``: resident memory and open descriptors of this process, sampled after the
  warm-up (start, end, max, growth);
* ``packets``: intact packets sent against packets recorded, per device;
* ``steps``: recall and precision of the live steps against the simulator's truth (true
  steps are left out of the recall only while both devices of their side were silent;
  ``recall_outside_insole_outages_pct`` also leaves out those while the side's insole was);
* ``readouts``: whether each side's live numbers were greyed (stale) once the whole side
  had been silent for 2 s, and flagged or greyed once its insole had;
* ``checks``: each pass/fail criterion, and ``ok``.

Run from the repository root: ``python bench/soak.py`` (2 simulated hours; see
``--duration``, ``--speed``, ``--faults``). The simulator process needs about one core at
5–6× real time on a busy 2-core machine: faster, it falls behind and its pseudo-terminal
writes are dropped (``simulator`` figures).
"""

from __future__ import annotations

import argparse
import json
import math
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from firmware_bridge.hostclock import ScaledClock  # noqa: E402
from firmware_bridge.simulator.faults import FaultSpec  # noqa: E402

DEFAULT_FAULTS = (
    "loss=0.05,corrupt=0.001,reorder=0.01,duplicate=0.01,disconnect_every=60,disconnect=5,"
    "clock_jump=5,clock_jump_every=600"
)
STALE_AFTER_S = 2.0
"""The readouts grey a side after this long without a step (s)."""
STALE_MARGIN_S = 0.5
"""Slack (s) after ``STALE_AFTER_S`` for the last step's toe-off to age and the view to
refresh before a number must be grey."""


# ------------------------------------------------------------------------ child process
def serve(args: argparse.Namespace) -> int:
    """The simulator side: serve the devices on pseudo-terminals, then report what was sent."""
    from firmware_bridge.simulator.pty_host import PtyDeviceHost
    from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig
    from firmware_bridge.simulator.truth import write_truth_csv

    clock = ScaledClock(args.speed, _origin_s=args.origin)
    hours = args.duration / 3600.0
    start_s = clock() + (1.0 + 0.3 * hours) * args.speed
    config = SimulationConfig(
        duration_s=args.duration,
        seed=args.seed,
        faults=FaultSpec.parse(args.faults),
        start_s=start_s,
    )
    session = SimulatedSession(config)
    host = PtyDeviceHost(session, clock)
    print(f"floor\t{session.latency_floor_s!r}\t{session.end_s!r}", flush=True)
    for path, device in zip(host.paths, session.devices, strict=True):
        spec = device.spec
        print(f"{path}\t{spec.kind.name}\t{spec.side.name}\t{spec.device_id}", flush=True)
    host.start()
    while not host.finished.wait(0.2):
        pass
    devices = []
    for index, device in enumerate(session.devices):
        injected = session.injected(index)
        devices.append(
            {
                "device_id": device.spec.device_id,
                "kind": device.spec.kind.name.lower(),
                "side": device.spec.side.name.lower(),
                "sent": injected.sent,
                "lost": injected.lost,
                "lost_in_outages": injected.lost_in_outages,
                "corrupted": injected.corrupted,
                "duplicated": injected.duplicated,
                "reordered": injected.reordered,
                "disconnects": injected.disconnects,
                "intact": len({(boot, ordinal) for boot, ordinal, _ in injected.intact}),
                "outages_s": injected.outages_s,
                "clock_jumps": injected.clock_jumps,
            }
        )
    write_truth_csv(session.truth_until(session.end_s + 10.0), Path(args.truth))
    Path(args.result).write_text(
        json.dumps(
            {
                "devices": devices,
                "bytes_written": host.stats.bytes_written,
                "bytes_dropped": host.stats.bytes_dropped,
                "max_lateness_s": host.stats.max_lateness_s,
            }
        ),
        encoding="utf-8",
    )
    print("done", flush=True)
    sys.stdin.readline()  # keep the terminals open until the reader side has stopped
    host.stop()
    return 0


# ----------------------------------------------------------------------- live side
def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 3) if whole else 0.0


def _intersect(
    a: list[tuple[float, float]], b: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    out = []
    for a0, a1 in a:
        for b0, b1 in b:
            lo, hi = max(a0, b0), min(a1, b1)
            if hi > lo:
                out.append((lo, hi))
    return out


def _redecode(packets_path: Path, floor_s: float) -> dict[int, Any]:
    """Decode ``packets.bin`` again, link by link, as ``gaitcue analyze`` does; return each
    device's counters (by device id) and the link's corruption count."""
    from dashboard.session.reader import iter_packets
    from firmware_bridge.decoder import LinkDecoder

    decoders: dict[int, LinkDecoder] = {}
    last_poll = -math.inf
    t_s = 0.0
    for t_s, link_id, payload in iter_packets(packets_path):
        decoder = decoders.get(link_id)
        if decoder is None:
            decoder = LinkDecoder(sink=lambda block: None, latency_floor_s=floor_s)
            decoders[link_id] = decoder
        decoder.feed(payload, t_s)
        if t_s - last_poll >= 0.005:
            last_poll = t_s
            for other in decoders.values():
                other.poll(t_s)
    out: dict[int, Any] = {}
    for decoder in decoders.values():
        decoder.poll(t_s + 10.0)
        for device_id, device in decoder.devices.items():
            out[device_id] = (device.stats, decoder.corrupt)
    return out


def run_soak(
    *,
    duration_s: float,
    speed: float,
    faults: str,
    seed: int = 11,
    warmup_s: float = 300.0,
    sample_every_s: float = 2.0,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Run the soak and return its figures (see the module docstring)."""
    import psutil

    from dashboard.acquisition import Acquisition
    from dashboard.live_session import LiveSession
    from dashboard.readouts import Bands, Level, gait_readouts
    from dashboard.session.reader import load_session
    from dashboard.session.writer import SessionWriter
    from firmware_bridge.samples import Side, StreamInfo
    from firmware_bridge.simulator.truth import read_truth_csv
    from realtime.pipeline import GaitPipeline
    from realtime.processing import ProcessingThread
    from realtime.scoring import score_steps

    FaultSpec.parse(faults)  # a bad spec fails here, in one line
    own_tmp = None
    if workdir is None:
        own_tmp = tempfile.TemporaryDirectory(prefix="gaitcue-soak-")
        workdir = Path(own_tmp.name)
    record_dir = workdir / "session"
    truth_path, result_path = workdir / "truth.csv", workdir / "sent.json"
    clock = ScaledClock(speed)
    child = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            "--origin",
            repr(clock._origin_s),
            "--speed",
            repr(speed),
            "--duration",
            repr(duration_s),
            "--seed",
            str(seed),
            "--faults",
            faults,
            "--truth",
            str(truth_path),
            "--result",
            str(result_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=_ROOT,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        _, floor_text, end_text = child.stdout.readline().rstrip("\n").split("\t")
        floor_s, end_s = float(floor_text), float(end_text)
        ports = [child.stdout.readline().rstrip("\n").split("\t") for _ in range(4)]
        lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        stdout = child.stdout

        def pump() -> None:
            for line in iter(stdout.readline, ""):
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()

        wall0, cpu0 = time.perf_counter(), time.process_time()
        acquisition = Acquisition(clock=clock, latency_floor_s=floor_s)
        writer = SessionWriter(
            record_dir,
            source="simulated",
            clock=clock,
            runner={"runner_id": "soak"},
            metadata={"latency_floor_s": floor_s},
        )
        for port in ports:
            link_id = writer.add_link("serial", port[0])

            def tap(data: bytes, t_s: float, link_id: int = link_id) -> None:
                writer.record_bytes(link_id, t_s, data)

            acquisition.add_serial(port[0], on_raw=tap)

        def describe(info: StreamInfo) -> None:
            writer.add_device(info)

        acquisition.stream_listeners.append(describe)
        processing = ProcessingThread(acquisition.buffers, GaitPipeline(clock=clock))
        live = LiveSession(clock=clock, recorder=writer)
        live.set_target_spm(170.0)
        acquisition.start()
        processing.start()

        process = psutil.Process()
        memory: list[tuple[float, int, int]] = []
        readouts: list[tuple[float, dict[str, Level]]] = []
        bands = Bands()
        next_sample = 0.0
        finished = False
        while not finished:
            time.sleep(0.25)
            view = processing.view()
            live.ingest(view)
            now = clock()
            shown = gait_readouts(view, now, target_spm=170.0, bands=bands)
            readouts.append((now, {s.name.lower(): shown.gct[s].level for s in Side if s < 2}))
            wall = time.perf_counter() - wall0
            warm = now - (end_s - duration_s) >= min(warmup_s, 0.5 * duration_s)
            if warm and wall >= next_sample:
                next_sample = wall + sample_every_s
                memory.append((now, process.memory_info().rss, process.num_fds()))
            while not lines.empty():
                finished = finished or lines.get().startswith("done")
            if child.poll() is not None:
                raise RuntimeError("the simulator process ended unexpectedly")
        time.sleep(0.5)
        acquisition.stop()
        processing.stop()  # drains the buffers, releases the last steps
        live.ingest(processing.view())
        memory.append((clock(), process.memory_info().rss, process.num_fds()))
        wall_s = time.perf_counter() - wall0
        cpu_s = time.process_time() - cpu0
        live_stats = {
            device_id: (device.stats, reader.decoder.corrupt)
            for reader in acquisition.readers
            for device_id, device in reader.decoder.devices.items()
        }
        writer.close()
        recorder_error = writer.error
    finally:
        if child.poll() is None:
            child.stdin.write("\n")
            child.stdin.flush()
            child.stdin.close()
            child.wait(30)
    sent = json.loads(result_path.read_text(encoding="utf-8"))
    recorded = _redecode(record_dir / "packets.bin", floor_s)
    session = load_session(record_dir)
    truth = read_truth_csv(truth_path)

    # Faults and packets, per device.
    faults_out, packets_out = [], []
    for dev in sent["devices"]:
        name = f"{dev['kind']}-{dev['side']}"
        offered = dev["sent"] + dev["lost_in_outages"]
        missing_injected = dev["lost"] + dev["lost_in_outages"] + dev["corrupted"]
        injected = {
            "loss_pct": _pct(missing_injected, offered),
            "corrupt_pct": _pct(dev["corrupted"], offered),
            "duplicate_pct": _pct(dev["duplicated"], offered),
            "reordered_pct": _pct(dev["reordered"], offered),
            "disconnects": dev["disconnects"],
            "clock_jumps": len(dev["clock_jumps"]),
        }
        row: dict[str, Any] = {"device": name, "injected": injected}
        for label, source in (("counted_live", live_stats), ("counted_recording", recorded)):
            stats, corrupt = source.get(dev["device_id"], (None, 0))
            if stats is None:
                row[label] = None
                continue
            expected = stats.packets + stats.missing
            row[label] = {
                "loss_pct": _pct(stats.missing, expected),
                "corrupt_pct": _pct(corrupt, expected),
                "duplicate_pct": _pct(stats.duplicate, expected),
                "reordered_pct": _pct(stats.reordered, expected),
                "late": stats.late,
                "resets": stats.resets,
                "clock_steps": stats.extra.get("clock_steps", 0),
            }
        faults_out.append(row)
        stats_rec = recorded.get(dev["device_id"], (None, 0))[0]
        packets_out.append(
            {
                "device": name,
                "intact_sent": dev["intact"],
                "recorded": 0 if stats_rec is None else stats_rec.packets,
            }
        )
    worst_pp = 0.0
    for row in faults_out:
        for label in ("counted_live", "counted_recording"):
            counted = row[label]
            if counted is None:
                worst_pp = math.inf
                continue
            for key in ("loss_pct", "corrupt_pct", "duplicate_pct", "reordered_pct"):
                worst_pp = max(worst_pp, abs(counted[key] - row["injected"][key]))

    # Steps against the truth; true steps wholly inside a time when a whole side was silent
    # are left out of the recall.
    outages: dict[str, list[list[tuple[float, float]]]] = {"left": [], "right": []}
    for dev in sent["devices"]:
        outages[dev["side"]].append([tuple(o) for o in dev["outages_s"]])
    side_silent = {side: _intersect(*lists) for side, lists in outages.items()}
    gaps = {Side.LEFT: side_silent["left"], Side.RIGHT: side_silent["right"]}
    score = score_steps(session.live_steps, truth.side, truth.ic_s, truth.to_s, gaps=gaps)

    # Live numbers while data were missing: grey once a whole side has been silent for
    # 2 s; once its insole (the device that times the side's steps) has been silent for
    # 2 s, grey or at least amber (flagged), never a plain value.
    times = np.array([t for t, _ in readouts])
    stale_checked = stale_wrong = 0
    flagged_checked = flagged_ok = 0
    insole_out: dict[str, list[tuple[float, float]]] = {"left": [], "right": []}
    for dev in sent["devices"]:
        if dev["kind"] == "insole":
            insole_out[dev["side"]].extend(tuple(o) for o in dev["outages_s"])
    for side in ("left", "right"):
        levels = [lv[side] for _, lv in readouts]
        for lo, hi in side_silent[side]:
            if hi - lo <= STALE_AFTER_S + STALE_MARGIN_S:
                continue
            inside = np.flatnonzero((times >= lo + STALE_AFTER_S + STALE_MARGIN_S) & (times <= hi))
            stale_checked += inside.size
            stale_wrong += sum(levels[i] is not Level.STALE for i in inside)
        for lo, hi in insole_out[side]:
            start = lo + STALE_AFTER_S + STALE_MARGIN_S
            inside = np.flatnonzero((times >= start) & (times <= hi))
            flagged_checked += inside.size
            flagged_ok += sum(levels[i] in (Level.STALE, Level.WARN) for i in inside)
    by_insole = score_steps(
        session.live_steps,
        truth.side,
        truth.ic_s,
        truth.to_s,
        gaps={Side.LEFT: insole_out["left"], Side.RIGHT: insole_out["right"]},
    )

    after = [m for m in memory if m[0] >= end_s - duration_s + min(warmup_s, 0.5 * duration_s)]
    mem = after or memory
    rss_mb = [m[1] / 2**20 for m in mem]
    fds = [m[2] for m in mem]
    packets_ok = all(p["recorded"] == p["intact_sent"] for p in packets_out)
    figures: dict[str, Any] = {
        "bench": "soak",
        "simulated_s": duration_s,
        "speed": speed,
        "faults": faults,
        "wall_s": round(wall_s, 1),
        "cpu_s_live_process": round(cpu_s, 1),
        "simulator": {
            "bytes_written": sent["bytes_written"],
            "bytes_dropped": sent["bytes_dropped"],
            "max_lateness_s": round(sent["max_lateness_s"], 3),
        },
        "recorder_error": recorder_error,
        "faults_injected_vs_counted": faults_out,
        "fault_counter_worst_error_pp": round(worst_pp, 3),
        "memory": {
            "samples": len(mem),
            "rss_start_mb": round(rss_mb[0], 1),
            "rss_end_mb": round(rss_mb[-1], 1),
            "rss_max_mb": round(max(rss_mb), 1),
            "rss_growth_mb": round(rss_mb[-1] - rss_mb[0], 1),
            "open_fds_start": fds[0],
            "open_fds_end": fds[-1],
            "open_fds_max": max(fds),
            "rss_mb_by_simulated_min": {
                str(round((t - (end_s - duration_s)) / 60.0)): round(rss / 2**20, 1)
                for t, rss, _ in mem[:: max(1, len(mem) // 12)]
            },
        },
        "packets_sent_vs_recorded": packets_out,
        "steps": {
            "true": score.n_true,
            "true_counted": score.n_true_counted,
            "detected": score.n_detected,
            "recall_pct": round(100.0 * score.recall, 3),
            "recall_outside_insole_outages_pct": round(100.0 * by_insole.recall, 3),
            "precision_pct": round(100.0 * score.precision, 3),
            "ic_bias_ms": round(score.ic_bias_ms, 2),
            "ic_sd_ms": round(score.ic_sd_ms, 2),
            "flagged_pct": round(score.flagged_pct, 2),
        },
        "readouts": {
            "side_silent_intervals": sum(
                hi - lo > STALE_AFTER_S + STALE_MARGIN_S
                for lo, hi in side_silent["left"] + side_silent["right"]
            ),
            "stale_samples_checked": stale_checked,
            "stale_samples_showing_a_value": stale_wrong,
            "insole_out_samples": flagged_checked,
            "insole_out_flagged_or_stale_pct": _pct(flagged_ok, flagged_checked),
        },
    }
    figures["checks"] = {
        "every_intact_packet_recorded": packets_ok,
        "no_pty_bytes_dropped": sent["bytes_dropped"] == 0,
        "recall_ge_97": score.recall >= 0.97,
        "precision_ge_99": score.precision >= 0.99,
        "fault_counters_within_0_5_pp": worst_pp <= 0.5,
        "never_an_old_value_while_a_side_is_silent": stale_wrong == 0,
        "flagged_or_grey_while_an_insole_is_silent": flagged_ok == flagged_checked,
        "rss_growth_le_50_mb": rss_mb[-1] - rss_mb[0] <= 50.0,
        "open_fds_bounded": max(fds) <= fds[0] + 4,
        "recording_ok": recorder_error is None,
    }
    figures["ok"] = all(figures["checks"].values())
    if own_tmp is not None:
        own_tmp.cleanup()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=7200.0, help="simulated seconds")
    parser.add_argument("--speed", type=float, default=5.0, help="× real time")
    parser.add_argument("--faults", default=DEFAULT_FAULTS)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--warmup", type=float, default=300.0, help="simulated s before RSS")
    parser.add_argument("--sample-every", type=float, default=2.0, help="wall s between samples")
    parser.add_argument("--keep", type=Path, default=None, help="keep the recording in DIR")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--origin", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--truth", default="", help=argparse.SUPPRESS)
    parser.add_argument("--result", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    figures = run_soak(
        duration_s=args.duration,
        speed=args.speed,
        faults=args.faults,
        seed=args.seed,
        warmup_s=args.warmup,
        sample_every_s=args.sample_every,
        workdir=args.keep,
    )
    print(json.dumps(figures))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
