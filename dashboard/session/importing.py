"""Sessions made from files recorded elsewhere: ``streams/`` CSV files instead of packets.

``create_imported_session`` writes a session directory (``source: "imported"``) from whole
streams; it analyses them once so that ``steps.csv`` (and so the sessions list) has the
steps. ``import_csv`` does it for a folder in the ``gaitcue analyze`` import format.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dashboard.session.format import (
    DEVICES_JSONL,
    EVENTS_JSONL,
    FILE_MODE,
    FORMAT,
    RUNNER_JSON,
    SESSION_JSON,
    STEPS_CSV,
    STREAMS_DIR,
    TRUTH_CSV,
    VERSION,
    make_private_dir,
    write_json_atomic,
)
from dashboard.session.reader import STREAM_FILES, load_session
from dashboard.session.steps_io import write_steps
from dashboard.session.writer import device_record, gaitcue_version
from firmware_bridge.csv_streams import read_csv_stream
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Mount, StreamInfo

__all__ = ["ImportedStream", "create_imported_session", "import_csv"]

ImportedStream = tuple[StreamInfo, npt.NDArray[np.float64], npt.NDArray[np.float32]]
"""(description, times (n,) s, values (n, ch)) of one whole stream."""


def _private_write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def create_imported_session(
    out: Path,
    streams: Mapping[str, ImportedStream],
    *,
    created: _dt.datetime | None = None,
    runner: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    copy_files: Mapping[str, Path] | None = None,
    imu_mount: Mount = Mount.FOOT,
) -> Path:
    """Write a session directory holding ``streams`` (keys: ``left_insole``, ``right_imu``…).

    Raises:
        ConfigurationError: ``out`` exists and is not empty, or cannot be created.
    """
    from dashboard.session.analysis import analyse
    from dashboard.session.export_csv import write_stream_csv

    if not streams:
        raise ConfigurationError("nothing to import: no insole or IMU columns were found")
    unknown = set(streams) - set(STREAM_FILES)
    if unknown:
        raise ValueError(f"stream names must be among {sorted(STREAM_FILES)}, not {unknown}")
    try:
        make_private_dir(out)
        make_private_dir(out / STREAMS_DIR)
    except (OSError, FileExistsError) as exc:
        reason = str(exc) if isinstance(exc, FileExistsError) else exc.strerror or str(exc)
        raise ConfigurationError(f"cannot create the session {out}: {reason}") from None
    t0 = min(float(t[0]) for _, t, _ in streams.values())
    t1 = max(float(t[-1]) for _, t, _ in streams.values())
    when = created or _dt.datetime.now().astimezone()
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "created": when.isoformat(timespec="seconds"),
        "host_t0_s": t0,
        "wall_t0_unix_s": when.timestamp(),
        "gaitcue_version": gaitcue_version(),
        "source": "imported",
        "links": [],
        "placement": {},
        "imu_mount": imu_mount.name.lower(),
    }
    meta.update(metadata or {})
    devices = []
    for name, (info, t, values) in streams.items():
        write_stream_csv(out / STREAMS_DIR / f"{name}.csv", info, t, values)
        devices.append(device_record(info, t_s=float(t[0])))
    _private_write(out / DEVICES_JSONL, "".join(json.dumps(d) + "\n" for d in devices))
    _private_write(out / EVENTS_JSONL, "")
    if runner:
        write_json_atomic(out / RUNNER_JSON, dict(runner))
    for name, source in (copy_files or {}).items():
        shutil.copyfile(source, out / name)
        os.chmod(out / name, FILE_MODE)
    meta["ended_s"] = t1
    write_json_atomic(out / SESSION_JSON, meta)
    analysis = analyse(load_session(out))
    _private_write(out / STEPS_CSV, "")  # created owner-only, then filled
    write_steps(analysis.result.steps, out / STEPS_CSV)
    return out


def import_csv(
    source: Path,
    out: Path,
    *,
    imu_mount: Mount = Mount.FOOT,
    runner: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """A session from a folder of analyze-format CSV streams (``left_insole.csv``…), with
    its ``truth.csv`` when there is one (``gaitcue simulate --csv`` writes it)."""
    if not source.is_dir():
        raise ConfigurationError(
            f"{source} is not a folder of CSV streams (left_insole.csv, right_insole.csv, "
            "left_imu.csv, right_imu.csv)"
        )
    streams: dict[str, ImportedStream] = {}
    for name, (kind, side) in STREAM_FILES.items():
        path = source / f"{name}.csv"
        if path.exists():
            stream = read_csv_stream(path, kind=kind, side=side, mount=imu_mount)
            streams[name] = (stream.info, stream.t_s, stream.values)
    if not streams:
        raise ConfigurationError(
            f"{source} holds none of left_insole.csv, right_insole.csv, left_imu.csv, right_imu.csv"
        )
    copy = {TRUTH_CSV: source / TRUTH_CSV} if (source / TRUTH_CSV).exists() else {}
    meta = {"import": {"format": "csv", "from": source.name}, **(metadata or {})}
    return create_imported_session(
        out, streams, runner=runner, metadata=meta, copy_files=copy, imu_mount=imu_mount
    )
