"""The headless live view: device status and latest readings, refreshed in place.

Used when there is no display (or with ``--terminal``). On a terminal it redraws the same
block of lines with ANSI cursor movement; when the output is a pipe or a file it prints a
new block every few seconds instead, so logs stay readable.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TextIO

import numpy as np

from dashboard.acquisition import Acquisition, DeviceRow
from firmware_bridge.samples import StreamKind
from realtime.streams import StreamBuffers

_HEADER = (
    f"{'stream':<26}{'state':<13}{'Hz':>6}{'loss%':>7}{'corr':>6}{'dup':>5}{'reord':>6}"
    f"{'late':>5}{'rst':>4}{'drift ppm':>10}{'lat ms':>8}{'batt':>6}  reading"
)


def latest_reading(buffers: StreamBuffers, stream_id: str) -> str:
    """A short text of the newest sample: total force (N) for insoles, az (g) and gy
    (deg/s) for IMUs; ``—`` before any data."""
    if stream_id not in buffers:
        return "—"
    info = buffers.info(stream_id)
    snap = buffers[stream_id].latest(1)
    if snap.n_samples == 0:
        return "—"
    row = snap.values[-1]
    if info.kind == StreamKind.INSOLE:
        return f"force {float(np.sum(row)):7.1f} N"
    return f"az {float(row[2]):+6.2f} g  gy {float(row[4]):+7.1f} deg/s"


def render_rows(rows: list[DeviceRow], readings: dict[str, str], *, title: str = "") -> str:
    """The view as text, one line per device."""
    lines = [title, _HEADER] if title else [_HEADER]
    for r in rows:
        battery = "—" if r.battery_pct is None else f"{r.battery_pct}%"
        uncal = "" if r.calibrated or r.rate_hz == 0 else " (uncalibrated)"
        lines.append(
            f"{r.stream_id:<26}{r.state:<13}{r.rate_hz:>6.0f}{r.loss_pct:>7.2f}{r.corrupt:>6}"
            f"{r.duplicate:>5}{r.reordered:>6}{r.late:>5}{r.resets:>4}{r.drift_ppm:>+10.1f}"
            f"{r.latency_ms:>8.1f}{battery:>6}  {readings.get(r.stream_id, '—')}{uncal}"
        )
    if not rows:
        lines.append("(no devices)")
    return "\n".join(lines)


def run_terminal_view(
    acquisition: Acquisition,
    *,
    stop: threading.Event,
    refresh_s: float = 0.5,
    out: TextIO = sys.stdout,
    title: Callable[[], str] = lambda: "gaitcue live — Ctrl-C to stop",
) -> None:
    """Redraw the view until ``stop`` is set."""
    interactive = out.isatty()
    every = refresh_s if interactive else max(refresh_s, 5.0)
    drawn_lines = 0
    finished = False
    while True:
        rows = acquisition.device_rows()
        readings = {r.stream_id: latest_reading(acquisition.buffers, r.stream_id) for r in rows}
        text = render_rows(rows, readings, title=title())
        if interactive:
            if drawn_lines:
                out.write(f"\x1b[{drawn_lines}F")
            out.write("\n".join(line + "\x1b[K" for line in text.splitlines()) + "\n")
            drawn_lines = text.count("\n") + 1
        else:
            out.write(text + "\n\n")
        out.flush()
        if finished:
            break
        finished = stop.wait(every)  # one last redraw after the stop
