"""C3D export (ezc3d, the ``[export]`` extra), for biomechanics tools (Visual3D, Nexus,
Mokka, ezc3d, btk, c3d readers of Python and MATLAB).

C3D holds one analog rate per file, so every stream is resampled (linear interpolation) onto
one grid at the highest stream rate, starting at the session's first sample (C3D time 0;
its host time in seconds is the parameter ``GAITCUE:T0_S``). Channels:
``L_cell0``… and ``R_cell0``… (insole cell forces, N), ``L_ax`` … ``L_gz`` and ``R_…``
(IMU, g and deg/s), one per column, with units in ``ANALOG:UNITS``, the stream in
``ANALOG:DESCRIPTIONS``, ``SCALE`` 1 and ``OFFSET`` 0. Samples inside a data gap are 0.
No 3-D points; ``POINT:RATE`` is the lowest stream rate that divides the analog rate (else
the analog rate).

Events: each step's initial contact is a ``Foot Strike`` and its toe-off a ``Foot Off`` in
context ``Left`` or ``Right`` (the labels gait tools expect); the PT's markers are
``General`` events labelled with their text; data gaps are ``General`` ``Data gap`` events.
C3D parameters have one-byte dimensions, so a file holds at most 255 events: markers come
first, then steps in time order, then gaps; what does not fit is counted in
``GAITCUE:EVENTS_LEFT_OUT``. Every contact is also in the channels ``L_contact`` and
``R_contact`` (1 while the foot is on the ground), which have no such limit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dashboard.session.extras import require
from dashboard.session.format import FILE_MODE
from dashboard.session.reader import DecodedSession, Session
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side, StreamKind
from realtime.events import Step

__all__ = ["export_c3d"]

_PREFIX = {Side.LEFT: "L", Side.RIGHT: "R", Side.UNKNOWN: "U"}
MAX_EVENTS = 255
"""C3D parameter dimensions are one byte: an event list holds at most 255 events."""


def _event_time(t_s: float) -> list[float]:
    minutes = math.floor(t_s / 60.0)
    return [float(minutes), t_s - 60.0 * minutes]


def export_c3d(
    session: Session,
    decoded: DecodedSession,
    steps: list[Step],
    out: Path,
    *,
    anonymise: bool = False,
    progress: Callable[[float], None] | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Write the session to the C3D file ``out`` (owner-only); what the user should know
    (events left out) is appended to ``notes``."""
    ezc3d = require("ezc3d", "export", "C3D export")
    if not out.parent.is_dir():
        raise ConfigurationError(f"cannot write {out}: the folder {out.parent} does not exist")
    streams = [
        (sid, info)
        for sid, info in decoded.infos.items()
        if info.kind in (StreamKind.INSOLE, StreamKind.IMU) and decoded.blocks.get(sid)
    ]
    if not streams:
        raise ConfigurationError(f"{session.path}: no insole or IMU samples to export")
    arrays = {sid: decoded.arrays(sid) for sid, _ in streams}
    rate = max(info.rate_hz for _, info in streams)
    analog_rate = float(round(rate))
    t0 = min(float(arrays[sid][0][0]) for sid, _ in streams)
    t1 = max(float(arrays[sid][0][-1]) for sid, _ in streams)
    point_rate = analog_rate
    for _, info in sorted(streams, key=lambda s: s[1].rate_hz):
        ratio = analog_rate / round(info.rate_hz)
        if ratio == int(ratio):
            point_rate = float(round(info.rate_hz))
            break
    per_frame = round(analog_rate / point_rate)
    n_frames = int((t1 - t0) * point_rate) + 1
    n = n_frames * per_frame
    grid = t0 + np.arange(n) / analog_rate
    labels: list[str] = []
    descriptions: list[str] = []
    units: list[str] = []
    channels: list[npt.NDArray[np.float64]] = []
    gaps: list[tuple[float, float]] = []
    for index, (sid, info) in enumerate(streams):
        t, values, gap_before = arrays[sid]
        outside = (grid < t[0]) | (grid > t[-1])
        in_gap = outside.copy()
        for i in np.flatnonzero(gap_before > 0):
            if i > 0:
                in_gap |= (grid > t[i - 1]) & (grid < t[i])
                gaps.append((float(t[i - 1] - t0), float(t[i] - t0)))
        prefix = _PREFIX[info.side]
        for c, (name, unit) in enumerate(zip(info.channel_names, info.units, strict=True)):
            column = np.interp(grid, t, values[:, c].astype(np.float64))
            column[in_gap] = 0.0
            channels.append(column)
            labels.append(f"{prefix}_{name}")
            descriptions.append(f"{info.stream_id} {name}")
            units.append(unit)
        if progress is not None:
            progress(0.8 * (index + 1) / len(streams))
    for side in (Side.LEFT, Side.RIGHT):
        side_steps = [st for st in steps if st.side == side and math.isfinite(st.to_s)]
        if not side_steps:
            continue
        contact = np.zeros(n)
        for st in side_steps:
            contact[(grid >= st.ic_s) & (grid < st.to_s)] = 1.0
        channels.append(contact)
        labels.append(f"{_PREFIX[side]}_contact")
        descriptions.append(f"{side.name.lower()} foot on the ground (1) or not (0)")
        units.append("")
    c3d = ezc3d.c3d()
    params = c3d["parameters"]
    params["POINT"]["RATE"]["value"] = [point_rate]
    params["ANALOG"]["RATE"]["value"] = [analog_rate]
    params["ANALOG"]["LABELS"]["value"] = labels
    params["ANALOG"]["DESCRIPTIONS"]["value"] = descriptions
    params["ANALOG"]["UNITS"]["value"] = units
    c3d.add_parameter("GAITCUE", "T0_S", [t0])
    c3d.add_parameter("GAITCUE", "SOURCE", [session.source])
    if session.body_mass_kg is not None:
        c3d.add_parameter("GAITCUE", "BODY_MASS_KG", [session.body_mass_kg])
    if not anonymise and session.runner.get("runner_id"):
        c3d.add_parameter("SUBJECTS", "NAMES", [str(session.runner["runner_id"])])
    c3d["data"]["points"] = np.zeros((4, 0, n_frames))
    c3d["data"]["analogs"] = np.stack(channels)[np.newaxis, :, :]
    contexts = {Side.LEFT: "Left", Side.RIGHT: "Right"}
    events: list[tuple[float, str, str]] = []
    for event in session.events_of("marker"):
        if t0 <= event.t_s <= t1:
            events.append((event.t_s - t0, "General", event.text[:30] or "Marker"))
    for step in sorted(steps, key=lambda s: s.ic_s):
        context = contexts.get(step.side)
        if context is None:
            continue
        if t0 <= step.ic_s <= t1:
            events.append((step.ic_s - t0, context, "Foot Strike"))
        if math.isfinite(step.to_s) and t0 <= step.to_s <= t1:
            events.append((step.to_s - t0, context, "Foot Off"))
    events += [(start, "General", "Data gap") for start, _ in gaps]
    kept = events[:MAX_EVENTS]
    for time_s, context, label in sorted(kept):
        c3d.add_event(time=_event_time(time_s), context=context, label=label)
    c3d.add_parameter("GAITCUE", "EVENTS_LEFT_OUT", [len(events) - len(kept)])
    if len(events) > len(kept) and notes is not None:
        notes.append(
            f"C3D holds at most {MAX_EVENTS} events: {len(events) - len(kept)} later ones are "
            "left out; every contact is in the L_contact/R_contact channels"
        )
    if progress is not None:
        progress(0.9)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    c3d.write(str(out))
    if progress is not None:
        progress(1.0)
    return out
