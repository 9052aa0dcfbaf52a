"""Shared by the live benchmarks: the simulator in its own process on pseudo-terminals,
gaitcue's acquisition and processing threads in this one, at 1×."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from dashboard.acquisition import Acquisition  # noqa: E402
from firmware_bridge.simulator.truth import TrueEvents, read_truth_csv  # noqa: E402
from realtime.pipeline import GaitPipeline  # noqa: E402
from realtime.processing import ProcessingThread  # noqa: E402


@dataclass
class LiveRun:
    acquisition: Acquisition
    processing: ProcessingThread
    truth: TrueEvents
    cpu_s: float
    wall_s: float


def spawn_simulator(
    duration_s: float, truth_path: Path, *, seed: int = 4242
) -> tuple[subprocess.Popen[str], list[str]]:
    """``gaitcue simulate --pty`` in a child process; returns it and its four port paths."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dashboard.cli",
            "simulate",
            "--pty",
            "--duration",
            str(duration_s),
            "--seed",
            str(seed),
            "--truth",
            str(truth_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=_ROOT,
    )
    assert child.stdout is not None
    return child, [child.stdout.readline().split("\t")[0] for _ in range(4)]


def run_live(duration_s: float, workdir: Path, *, seed: int = 4242) -> LiveRun:
    """Serve the simulated devices from a child process; read and analyse them here."""
    child, paths = spawn_simulator(duration_s, workdir / "truth.csv", seed=seed)
    acquisition = Acquisition()
    for path in paths:
        acquisition.add_serial(path)
    processing = ProcessingThread(acquisition.buffers, GaitPipeline())
    acquisition.start()
    processing.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    child.wait(timeout=duration_s + 60)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    time.sleep(0.3)
    acquisition.stop()
    processing.stop()  # drains the buffers, releases the last steps
    return LiveRun(acquisition, processing, read_truth_csv(workdir / "truth.csv"), cpu, wall)
