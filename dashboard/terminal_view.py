"""The headless live view: device status and latest readings, refreshed in place.

Used when there is no display (or with ``--terminal``). On a terminal it redraws the same
block of lines with ANSI cursor movement; when the output is a pipe or a file it prints a
new block every few seconds instead, so logs stay readable.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable
from typing import TextIO

import numpy as np

from dashboard.acquisition import Acquisition, DeviceRow
from firmware_bridge.samples import Side, StreamKind
from realtime.processing import AnalysisView, ProcessingThread
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


STALE_STEP_S = 2.0
"""A side with no valid step for this long shows its numbers as "—"."""


def _num(value: float, fmt: str, fresh: bool) -> str:
    return format(value, fmt) if fresh and math.isfinite(value) else "—"


def balance_band(longer_side_pct: float) -> str:
    """GCT balance band as running watches show it: green ≤ 50.7 % on the longer side,
    orange to 52.2 %, red above."""
    if not math.isfinite(longer_side_pct):
        return ""
    if longer_side_pct <= 50.7:
        return "green"
    return "orange" if longer_side_pct <= 52.2 else "red"


def render_gait(view: AnalysisView, now_s: float) -> str:
    """The live gait numbers as text; a side without a step for 2 s shows "—"."""
    m = view.metrics
    fresh = {
        side: now_s - view.last_step_s.get(side.name.lower(), -math.inf) <= STALE_STEP_S
        for side in (Side.LEFT, Side.RIGHT)
    }
    both = all(fresh.values())
    any_fresh = any(fresh.values())

    def strike(side: Side) -> str:
        shares = m.side(side).foot_strike_pct
        if not fresh[side] or not shares:
            return "—"
        cls, pct = max(shares.items(), key=lambda kv: kv[1])
        return f"{cls.value} {pct:.0f}%"

    balance = (
        f"L {m.gct_balance_left_pct:.1f}% / R {m.gct_balance_right_pct:.1f}% "
        f"({balance_band(max(m.gct_balance_left_pct, m.gct_balance_right_pct))})"
        if both and math.isfinite(m.gct_balance_left_pct)
        else "—"
    )
    left, right = m.left, m.right
    flagged = "" if not m.n_steps else f", {m.flagged_pct:.0f}% flagged"
    return "\n".join(
        [
            f"cadence {_num(m.cadence_spm, '.1f', any_fresh)} spm   "
            f"GCT L {_num(left.gct_ms_mean, '.0f', fresh[Side.LEFT])} ms  "
            f"R {_num(right.gct_ms_mean, '.0f', fresh[Side.RIGHT])} ms   balance {balance}   "
            f"flight L {_num(left.flight_ms_mean, '.0f', fresh[Side.LEFT])} "
            f"R {_num(right.flight_ms_mean, '.0f', fresh[Side.RIGHT])} ms",
            f"foot strike L {strike(Side.LEFT)}  R {strike(Side.RIGHT)}   "
            f"peak force L {_num(left.peak_force_n_mean, '.0f', fresh[Side.LEFT])} "
            f"R {_num(right.peak_force_n_mean, '.0f', fresh[Side.RIGHT])} N   "
            f"peak accel L {_num(left.peak_accel_g_mean, '.1f', fresh[Side.LEFT])} "
            f"R {_num(right.peak_accel_g_mean, '.1f', fresh[Side.RIGHT])} g   "
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
        if processing is not None:
            text += "\n\n" + render_gait(processing.view(), acquisition.clock())
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
