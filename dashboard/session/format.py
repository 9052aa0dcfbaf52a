"""The session directory format (``docs/session-format.md``): names, record layout, and
the small file helpers every reader and writer of a session shares.

Everything a session holds is health data: directories are created ``0700`` and files
``0600`` whatever the umask.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

FORMAT = "gaitcue-session"
VERSION = 1

SESSION_JSON = "session.json"
RUNNER_JSON = "runner.json"
PACKETS_BIN = "packets.bin"
DEVICES_JSONL = "devices.jsonl"
EVENTS_JSONL = "events.jsonl"
STEPS_CSV = "steps.csv"
BEATS_CSV = "beats.csv"
TRUTH_CSV = "truth.csv"
STREAMS_DIR = "streams"

PACKETS_MAGIC = b"GCPKT\x00\x01\x00"
"""The 8-byte header of ``packets.bin``: magic and format version 1."""
RECORD_HEADER = struct.Struct("<dHI")
"""Each record of ``packets.bin``: receive time (float64 s), link id (uint16), payload length
(uint32), then the payload."""

BEATS_HEADER = "t_s,accented,cued\n"

DIR_MODE = 0o700
FILE_MODE = 0o600

SOURCES = ("live", "simulated", "imported")
SIDES = ("left", "right")


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) owner-only; an existing empty directory is
    taken over and made owner-only.

    Raises:
        FileExistsError: ``path`` exists and is not an empty directory.
        OSError: it cannot be created.
    """
    if path.exists():
        if not path.is_dir() or any(path.iterdir()):
            raise FileExistsError(f"{path} exists and is not an empty directory")
    else:
        path.mkdir(parents=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)


def open_private(path: Path, *, append: bool = True) -> int:
    """Open a new owner-only file for writing; returns the descriptor."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    if append:
        flags |= os.O_APPEND
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd


def clean_json(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


def write_json_atomic(path: Path, document: dict[str, Any], *, fsync: bool = True) -> None:
    """Write ``document`` to ``path`` through a temporary file and a rename, so a crash
    leaves either the old or the new file, never half of one. The file is owner-only."""
    tmp = path.with_name(f".{path.name}.tmp")
    data = (json.dumps(clean_json(document), indent=2, allow_nan=False) + "\n").encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if fsync:
        sync_dir(path.parent)


def sync_dir(path: Path) -> None:
    """fsync a directory so that new names in it survive a power cut (POSIX only)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
