"""Dashboard frame rate and the acquisition's stalls while it draws.

The simulator runs in a child process on pseudo-terminals at 1×; this process reads the
four ports, analyses them and shows the full dashboard at 1920×1080 (offscreen when there
is no display). DESIGN.md's definitions:

* fps = completed frames: redraws after which the traces' viewport (the panel with new data
  every frame) finished a paint, all panels visible; target ≥ 30. The pressure maps repaint
  only when a cell's colour or the trail changes and the trends when steps arrive: their
  paint rates are reported apart;
* acquisition stall = gap between successive serial reads minus the expected interval
  (the median gap); target p99.9 ≤ 20 ms, max ≤ 100 ms while drawing.

Also reported: the GUI thread's time per refresh (pulling snapshots and setting data) and
the process CPU share. Figures are valid only at 1× on an otherwise idle machine.

Run: ``python bench/dashboard_fps.py [--duration S] [--warmup S]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _live import spawn_simulator

from dashboard.acquisition import Acquisition
from dashboard.app import has_display
from dashboard.live_session import LiveSession
from realtime.pipeline import GaitPipeline
from realtime.processing import ProcessingThread


def measure(duration_s: float, warmup_s: float) -> dict[str, object]:
    if not has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6 import QtCore, QtWidgets

    from dashboard.window import DashboardConfig, DashboardWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    with tempfile.TemporaryDirectory() as tmp:
        child, paths = spawn_simulator(duration_s + warmup_s + 5.0, Path(tmp) / "truth.csv")
        acquisition = Acquisition()
        for path in paths:
            acquisition.add_serial(path)
        processing = ProcessingThread(acquisition.buffers, GaitPipeline())
        session = LiveSession(clock=acquisition.clock)
        window = DashboardWindow(
            acquisition, processing, session, config=DashboardConfig(target_spm=170.0)
        )
        window.resize(1920, 1080)
        window.show()
        refresh_s: list[float] = []
        original_refresh = window.refresh

        def timed_refresh() -> None:
            started = time.perf_counter()
            original_refresh()
            refresh_s.append(time.perf_counter() - started)

        window.timer.timeout.disconnect()
        window.timer.timeout.connect(timed_refresh)
        acquisition.start()
        processing.start()
        marks: dict[str, float] = {}

        def start_measuring() -> None:
            window.paint_counter.reset()
            window.other_paints.reset()
            refresh_s.clear()
            marks["gaps"] = float(len(acquisition.read_timing().gaps_s))
            marks["cpu"] = time.process_time()
            marks["wall"] = time.perf_counter()
            marks["frames"] = float(window.frames)

        def finish() -> None:
            marks["fps"] = window.paint_counter.fps()
            marks["gaps_end"] = float(len(acquisition.read_timing().gaps_s))
            marks["cpu_end"] = time.process_time()
            marks["wall_end"] = time.perf_counter()
            marks["frames_end"] = float(window.frames)
            app.quit()

        QtCore.QTimer.singleShot(round(warmup_s * 1000), start_measuring)
        QtCore.QTimer.singleShot(round((warmup_s + duration_s) * 1000), finish)
        threading.Thread(target=child.wait, daemon=True).start()
        app.exec()
        other = window.other_paints.rates_hz()
        acquisition.stop()
        processing.stop()  # drains the buffers, releases the last steps
        child.terminate()
        child.wait(timeout=10)
        all_gaps = np.asarray(acquisition.read_timing().gaps_s)
        gap = all_gaps[int(marks["gaps"]) : int(marks["gaps_end"])]
        if gap.size == 0:
            gap = np.zeros(1)
        stall = gap - np.median(gap)
        wall = marks["wall_end"] - marks["wall"]
        frame_ms = 1e3 * np.asarray(refresh_s)
        return {
            "platform": os.environ.get("QT_QPA_PLATFORM", "native"),
            "size_px": [1920, 1080],
            "measured_s": round(wall, 1),
            "fps": round(marks["fps"], 1),
            "pressure_map_paints_per_s": round(other[0], 1),
            "trend_paints_per_s": round(other[1], 1),
            "refreshes_per_s": round((marks["frames_end"] - marks["frames"]) / wall, 1),
            "refresh_ms_p50": round(float(np.percentile(frame_ms, 50)), 2)
            if frame_ms.size
            else None,
            "refresh_ms_p95": round(float(np.percentile(frame_ms, 95)), 2)
            if frame_ms.size
            else None,
            "stall_ms_p999": round(1e3 * float(np.percentile(stall, 99.9)), 2),
            "stall_ms_max": round(1e3 * float(stall.max()), 2),
            "read_gap_ms_p999": round(1e3 * float(np.percentile(gap, 99.9)), 2),
            "read_gap_ms_max": round(1e3 * float(gap.max()), 2),
            "cpu_pct_of_one_core": round(100.0 * (marks["cpu_end"] - marks["cpu"]) / wall, 1),
            "steps": processing.view().n_steps,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds before measuring")
    args = parser.parse_args()
    print(json.dumps(measure(args.duration, args.warmup), indent=2))


if __name__ == "__main__":
    main()
