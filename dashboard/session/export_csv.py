"""CSV export: the session's streams in the ``gaitcue analyze`` import format.

``OUT/left_insole.csv``, ``right_insole.csv``, ``left_imu.csv``, ``right_imu.csv`` (the
streams the session has), so ``gaitcue analyze OUT`` reads them back and finds the same
steps; ``truth.csv`` for simulated sessions; ``runner.json`` unless de-identified. A
device that changed what it streams mid-session has its later streams joined to the first
when they have the same channels; otherwise only its longest stream is written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dashboard.session.format import DIR_MODE, FILE_MODE, RUNNER_JSON, TRUTH_CSV
from dashboard.session.reader import DecodedSession, Session
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import StreamInfo

__all__ = ["export_csv", "private_output_dir", "write_stream_csv"]

_ROWS_PER_CHUNK = 20_000


def private_output_dir(path: Path) -> None:
    """Create an export folder owner-only (an existing one is used as it is)."""
    if path.exists() and not path.is_dir():
        raise ConfigurationError(f"cannot export to {path}: it is a file")
    if not path.exists():
        try:
            path.mkdir(parents=True, mode=DIR_MODE)
        except OSError as exc:
            raise ConfigurationError(f"cannot create {path}: {exc.strerror or exc}") from None
        os.chmod(path, DIR_MODE)


def write_stream_csv(
    path: Path,
    info: StreamInfo,
    t_s: npt.NDArray[np.float64],
    values: npt.NDArray[np.floating],
    progress: Callable[[int], None] | None = None,
) -> None:
    """One stream in the import format (times to 1 µs, values to 4 decimals), written in
    chunks, owner-only; ``progress`` is told the rows written after each chunk."""
    fmt = ",".join(["%.6f"] + ["%.4f"] * values.shape[1])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("time_s," + ",".join(info.channel_names) + "\n")
        for start in range(0, t_s.shape[0], _ROWS_PER_CHUNK):
            stop = min(start + _ROWS_PER_CHUNK, t_s.shape[0])
            table = np.column_stack([t_s[start:stop], values[start:stop].astype(np.float64)])
            np.savetxt(handle, table, delimiter=",", fmt=fmt)
            if progress is not None:
                progress(stop)


def export_csv(
    session: Session,
    decoded: DecodedSession,
    out: Path,
    *,
    anonymise: bool = False,
    progress: Callable[[float], None] | None = None,
) -> list[Path]:
    """Write the CSV export to the folder ``out``; returns the files written."""
    private_output_dir(out)
    groups = decoded.joined()
    if not groups:
        raise ConfigurationError(f"{session.path}: no insole or IMU samples to export")
    total = sum(t.shape[0] for _, t, _ in groups.values())
    done = 0
    written: list[Path] = []
    for name, (info, t, values) in groups.items():
        path = out / f"{name}.csv"
        base = done

        def tell(rows: int, base: int = base) -> None:
            if progress is not None:
                progress((base + rows) / total)

        write_stream_csv(path, info, t, values, tell)
        done += t.shape[0]
        written.append(path)
    extras = [TRUTH_CSV] if anonymise else [TRUTH_CSV, RUNNER_JSON]
    for name in extras:
        if (session.path / name).exists():
            shutil.copyfile(session.path / name, out / name)
            os.chmod(out / name, FILE_MODE)
            written.append(out / name)
    return written
