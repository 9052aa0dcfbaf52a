"""HDF5 export (h5py, the ``[export]`` extra).

Layout::

    /                  attrs: format "gaitcue-session-hdf5", version, created, source,
                       session (session.json as JSON text), runner (runner.json as JSON
                       text; left out when de-identified), body_mass_kg, involved_side
    /streams/<id>/     attrs: kind, side, mount, rate_hz (Hz), device_id, calibrated,
                       channel_names, units, cell_area_cm2
        time_s         (n,) float64, host monotonic s          attrs: units "s"
        values         (n, ch) float32                          attrs: channel_names, units
        gap_before_s   (n,) float64, missing data before each sample (s)
    /steps             the analysis (columns of steps.csv)   attrs: units per column
    /live_steps        the steps detected while recording (if any)
    /events            t_s, kind, text, value
    /beats             t_s, accented, cued
    /truth             side, ic_s, to_s (simulated sessions)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dashboard.session.extras import require
from dashboard.session.format import FILE_MODE, clean_json
from dashboard.session.reader import DecodedSession, Session
from dashboard.session.steps_io import step_row
from firmware_bridge.errors import ConfigurationError
from realtime.events import Step
from realtime.offline import STEP_COLUMNS

__all__ = ["STEP_UNITS", "export_hdf5"]

STEP_UNITS = {
    "side": "",
    "ic_s": "s",
    "to_s": "s",
    "gct_ms": "ms",
    "flight_ms": "ms",
    "step_time_ms": "ms",
    "stride_time_ms": "ms",
    "double_support_ms": "ms",
    "gait": "",
    "foot_strike": "",
    "strike_index": "fraction of foot length from the heel",
    "peak_force_n": "N",
    "loading_rate_bw_s": "BW/s",
    "peak_accel_g": "g",
    "source": "",
    "flags": "",
}
_TEXT_COLUMNS = ("side", "gait", "foot_strike", "source", "flags")


def _steps_table(steps: list[Step]) -> np.ndarray:
    dtype = [(c, "S16" if c in _TEXT_COLUMNS else "f8") for c in STEP_COLUMNS]
    dtype = [(c, "S64") if c == "flags" else (c, t) for c, t in dtype]
    table = np.zeros(len(steps), dtype=dtype)
    for i, step in enumerate(steps):
        row = step_row(step)
        for column, cell in zip(STEP_COLUMNS, row, strict=True):
            if column in _TEXT_COLUMNS:
                table[column][i] = cell.encode()
            else:
                table[column][i] = float(cell) if cell else np.nan
    return table


def _write_steps(h5: Any, name: str, steps: list[Step]) -> None:
    ds = h5.create_dataset(name, data=_steps_table(steps))
    ds.attrs["units"] = json.dumps(STEP_UNITS)
    for column, unit in STEP_UNITS.items():
        ds.attrs[f"unit_{column}"] = unit


def export_hdf5(
    session: Session,
    decoded: DecodedSession,
    steps: list[Step],
    out: Path,
    *,
    anonymise: bool = False,
    progress: Callable[[float], None] | None = None,
) -> Path:
    """Write the session to the HDF5 file ``out`` (owner-only)."""
    h5py = require("h5py", "export", "HDF5 export")
    if out.is_dir():
        raise ConfigurationError(f"cannot write {out}: it is a folder; give a file name")
    if not out.parent.is_dir():
        raise ConfigurationError(f"cannot write {out}: the folder {out.parent} does not exist")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    total = max(1, sum(b.n_samples for blocks in decoded.blocks.values() for b in blocks))
    done = 0
    with h5py.File(out, "w") as h5:
        h5.attrs["format"] = "gaitcue-session-hdf5"
        h5.attrs["version"] = 1
        h5.attrs["created"] = str(session.meta.get("created", ""))
        h5.attrs["source"] = session.source
        h5.attrs["session"] = json.dumps(clean_json(session.meta))
        if session.body_mass_kg is not None:
            h5.attrs["body_mass_kg"] = session.body_mass_kg
        side = session.involved_side
        h5.attrs["involved_side"] = "" if side is None else side.name.lower()
        if not anonymise and session.runner:
            h5.attrs["runner"] = json.dumps(clean_json(session.runner))
        streams = h5.create_group("streams")
        for sid, info in decoded.infos.items():
            t, values, gaps = decoded.arrays(sid)
            group = streams.create_group(sid)
            group.attrs["kind"] = info.kind.name.lower()
            group.attrs["side"] = info.side.name.lower()
            group.attrs["mount"] = info.mount.name.lower()
            group.attrs["rate_hz"] = info.rate_hz
            group.attrs["device_id"] = f"{info.device_id:08x}"
            group.attrs["calibrated"] = info.calibrated
            group.attrs["channel_names"] = list(info.channel_names)
            group.attrs["units"] = list(info.units)
            group.attrs["cell_area_cm2"] = list(info.cell_area_cm2)
            ds = group.create_dataset("time_s", data=t, chunks=True if t.size else None)
            ds.attrs["units"] = "s"
            ds = group.create_dataset(
                "values",
                data=values,
                chunks=True if values.size else None,
                compression="gzip" if values.size else None,
                compression_opts=1 if values.size else None,
                shuffle=bool(values.size),
            )
            ds.attrs["channel_names"] = list(info.channel_names)
            ds.attrs["units"] = list(info.units)
            ds = group.create_dataset("gap_before_s", data=gaps)
            ds.attrs["units"] = "s"
            done += t.shape[0]
            if progress is not None:
                progress(done / total)
        _write_steps(h5, "steps", steps)
        if session.live_steps:
            _write_steps(h5, "live_steps", session.live_steps)
        events = np.zeros(
            len(session.events),
            dtype=[("t_s", "f8"), ("kind", "S16"), ("text", "S200"), ("value", "f8")],
        )
        for i, e in enumerate(session.events):
            events[i] = (e.t_s, e.kind.encode(), e.text.encode()[:200], e.value)
        h5.create_dataset("events", data=events).attrs["units"] = json.dumps(
            {"t_s": "s", "value": "spm for targets, km/h for treadmill speed"}
        )
        beats = np.zeros(
            session.beats.shape[0], dtype=[("t_s", "f8"), ("accented", "u1"), ("cued", "u1")]
        )
        if session.beats.size:
            beats["t_s"] = session.beats[:, 0]
            beats["accented"] = session.beats[:, 1]
            beats["cued"] = session.beats[:, 2]
        h5.create_dataset("beats", data=beats).attrs["units"] = "s"
        if session.truth is not None:
            truth = np.zeros(
                len(session.truth), dtype=[("side", "S8"), ("ic_s", "f8"), ("to_s", "f8")]
            )
            truth["side"] = np.where(session.truth.side == 0, b"left", b"right")
            truth["ic_s"] = session.truth.ic_s
            truth["to_s"] = session.truth.to_s
            h5.create_dataset("truth", data=truth).attrs["units"] = "s"
    if progress is not None:
        progress(1.0)
    return out
