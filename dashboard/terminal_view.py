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
from dashboard.live_session import LiveSession
from dashboard.readouts import Bands, Level, Readout, gait_readouts
from firmware_bridge.samples import Side, StreamKind
from realtime.processing import AnalysisView, ProcessingThread
from realtime.streams import StreamBuffers

_HEADER = (
    f"{'stream':<26}{'state':<13}{'Hz':>6}{'loss%':>7}{'corr':>6}{'dup':>5}{'reord':>6}"
    f"{'late':>5}{'rst':>4}{'clk':>4}{'drift ppm':>10}{'lat ms':>8}{'batt':>6}  reading"
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
            f"{r.duplicate:>5}{r.reordered:>6}{r.late:>5}{r.resets:>4}{r.clock_steps:>4}{r.drift_ppm:>+10.1f}"
            f"{r.latency_ms:>8.1f}{battery:>6}  {readings.get(r.stream_id, '—')}{uncal}"
        )
    if not rows:
        lines.append("(no devices)")
    return "\n".join(lines)


_ANSI = {
    Level.OK: "\x1b[32m",
    Level.WARN: "\x1b[33m",
    Level.ALERT: "\x1b[31m",
    Level.STALE: "\x1b[90m",
}


def _paint(readout: Readout, colour: bool) -> str:
    """The readout's text, in its level's colour on a terminal; with a ``(band)`` word
    when colours are off and the level says something."""
    if colour and readout.level in _ANSI:
        return f"{_ANSI[readout.level]}{readout.text}\x1b[0m"
    if not colour and readout.level in (Level.WARN, Level.ALERT):
        return f"{readout.text} ({'amber' if readout.level is Level.WARN else 'red'})"
    return readout.text


def render_gait(
    view: AnalysisView,
    now_s: float,
    *,
    target_spm: float | None = None,
    bands: Bands | None = None,
    colour: bool = False,
) -> str:
    """The live gait numbers as text, by the same rules as the dashboard's: a side without
    a step for 2 s shows "—", colours (or words) follow the PT's bands."""
    r = gait_readouts(view, now_s, target_spm=target_spm, bands=bands or Bands())
    L, R = Side.LEFT, Side.RIGHT

    def pair(readouts: dict[Side, Readout]) -> str:
        return f"L {_paint(readouts[L], colour)}  R {_paint(readouts[R], colour)}"

    m = view.metrics
    flagged = "" if not m.n_steps else f", {m.flagged_pct:.0f}% flagged"
    target = "" if target_spm is None else f" (target {target_spm:.0f})"
    return "\n".join(
        [
            f"cadence {_paint(r.cadence, colour)}{target}   GCT {pair(r.gct)}   "
            f"balance {_paint(r.balance, colour)}   flight {pair(r.flight)}",
            f"foot strike {pair(r.foot_strike)}   impact {pair(r.impact)}   "
            f"steps {view.n_steps}{flagged}",
        ]
    )


def run_terminal_view(
    acquisition: Acquisition,
    *,
    stop: threading.Event,
    processing: ProcessingThread | None = None,
    refresh_s: float = 0.5,
    out: TextIO = sys.stdout,
    title: Callable[[], str] = lambda: "gaitcue live — Ctrl-C to stop",
    target_spm: float | None = None,
    session: LiveSession | None = None,
    status: Callable[[], str | None] | None = None,
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
        view = processing.view() if processing is not None else None
        if view is not None:
            if session is not None:
                session.ingest(view)
            for issue in view.sensor_issues:
                text += f"\n⚠ {issue.stream_id}: {issue.message}"
        problem = status() if status is not None else None
        if problem:
            text += f"\n\nrecording stopped: {problem}"
        if view is not None:
            text += "\n\n" + render_gait(
                view, acquisition.clock(), target_spm=target_spm, colour=interactive
            )
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
