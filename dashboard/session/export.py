"""``gaitcue export``: a session as CSV streams, HDF5, C3D, or a de-identified copy."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from dashboard.session.analysis import analyse
from dashboard.session.export_c3d import export_c3d
from dashboard.session.export_csv import export_csv
from dashboard.session.export_hdf5 import export_hdf5
from dashboard.session.extras import require
from dashboard.session.format import DIR_MODE, FILE_MODE, RUNNER_JSON
from dashboard.session.reader import load_session
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Mount

__all__ = ["FORMATS", "export_session"]

FORMATS = ("csv", "hdf5", "c3d", "session")


def _copy_session(source: Path, out: Path, *, anonymise: bool) -> Path:
    if out.exists():
        raise ConfigurationError(f"cannot export to {out}: it exists already")
    ignore = shutil.ignore_patterns(RUNNER_JSON, ".*.tmp") if anonymise else None
    try:
        shutil.copytree(source, out, ignore=ignore)
    except OSError as exc:
        raise ConfigurationError(f"cannot copy the session to {out}: {exc}") from None
    for root, _, files in os.walk(out):
        os.chmod(root, DIR_MODE)
        for name in files:
            os.chmod(Path(root) / name, FILE_MODE)
    return out


def export_session(
    directory: Path,
    fmt: str,
    out: Path,
    *,
    anonymise: bool = False,
    imu_mount: Mount | None = None,
    progress: Callable[[float], None] | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Export the session ``directory`` as ``fmt`` to ``out`` (a folder for ``csv`` and
    ``session``, a file otherwise). ``anonymise`` leaves the runner's identity out; what
    the user should know about the result is appended to ``notes``.

    Raises:
        ConfigurationError: not a session, an unknown format, an unwritable output, or the
            ``[export]`` extra missing for HDF5/C3D.
    """
    if fmt not in FORMATS:
        raise ConfigurationError(f"--format must be one of {', '.join(FORMATS)}, not {fmt}")
    session = load_session(directory)
    if fmt in ("hdf5", "c3d") and (out.is_dir() or not out.parent.is_dir()):
        problem = "it is a folder" if out.is_dir() else f"the folder {out.parent} does not exist"
        raise ConfigurationError(f"cannot write {out}: {problem}")
    if fmt == "session":
        return _copy_session(session.path, out, anonymise=anonymise)
    if fmt == "csv":
        decoded = session.decode(progress=None if progress is None else lambda f: progress(f / 2))
        export_csv(
            session,
            decoded,
            out,
            anonymise=anonymise,
            progress=None if progress is None else lambda f: progress(0.5 + f / 2),
        )
        return out
    if fmt == "hdf5":
        require("h5py", "export", "HDF5 export")
    else:
        require("ezc3d", "export", "C3D export")
    analysis = analyse(
        session,
        imu_mount=imu_mount,
        progress=None if progress is None else lambda f: progress(0.6 * f),
    )
    tail = None if progress is None else (lambda f: progress(0.6 + 0.4 * f))
    if fmt == "hdf5":
        return export_hdf5(
            session,
            analysis.decoded,
            analysis.result.steps,
            out,
            anonymise=anonymise,
            progress=tail,
        )
    return export_c3d(
        session,
        analysis.decoded,
        analysis.result.steps,
        out,
        anonymise=anonymise,
        progress=tail,
        notes=notes,
    )
