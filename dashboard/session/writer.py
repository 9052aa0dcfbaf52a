"""Recording a session directory while the live pipeline runs.

``SessionWriter`` owns one session directory (``docs/session-format.md``). The acquisition
threads hand it every transport read with :meth:`SessionWriter.record_bytes`, which only
appends to an in-memory buffer under a lock: it never touches the disk, so a slow or full
disk can never stall a reader. A flusher thread writes the buffers out every
``flush_interval_s`` (0.25 s by default) and fsyncs them every ``fsync_interval_s`` (1 s), so
a killed process loses at most the last flush interval and a power cut at most the last
second or so.

When the disk is full or the directory becomes unwritable, the file that failed is cut back
to its last complete record (what was written stays valid), recording stops, and
:attr:`SessionWriter.error` holds one line for the live view; the live pipeline is never
told to stop. ``close()`` writes the remaining data and ``ended_s`` into ``session.json``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from dashboard.session.format import (
    BEATS_CSV,
    BEATS_HEADER,
    DEVICES_JSONL,
    EVENTS_JSONL,
    FORMAT,
    PACKETS_BIN,
    PACKETS_MAGIC,
    RECORD_HEADER,
    RUNNER_JSON,
    SESSION_JSON,
    SOURCES,
    STEPS_CSV,
    clean_json,
    make_private_dir,
    open_private,
    sync_dir,
    write_json_atomic,
)
from dashboard.session.steps_io import STEPS_HEADER, steps_csv_text
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import StreamInfo
from realtime.events import Step

__all__ = ["SessionWriter", "device_record", "gaitcue_version"]

FileWrite = Callable[[int, bytes | memoryview], int]
"""``os.write``-like: (descriptor, data) → bytes written. Injected to simulate faults."""

_APPEND_FILES = (PACKETS_BIN, DEVICES_JSONL, EVENTS_JSONL, STEPS_CSV, BEATS_CSV)
_HEADERS = {
    PACKETS_BIN: PACKETS_MAGIC,
    STEPS_CSV: STEPS_HEADER.encode(),
    BEATS_CSV: BEATS_HEADER.encode(),
}
_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EACCES: "writing there is not allowed",
    errno.EPERM: "writing there is not allowed",
    errno.EROFS: "the disk is read-only",
    errno.EIO: "the disk reported an input/output error",
}


def gaitcue_version() -> str:
    """The installed gaitcue version ("unknown" when run from a bare source tree)."""
    try:
        from importlib.metadata import version

        return version("gaitcue")
    except Exception:
        return "unknown"


def _reason(exc: OSError) -> str:
    return _REASONS.get(exc.errno or 0, exc.strerror or str(exc))


def device_record(
    info: StreamInfo, *, t_s: float, calibration: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A ``devices.jsonl`` object for a stream description."""
    return {
        "t_s": t_s,
        "device_id": f"{info.device_id:08x}",
        "stream_id": info.stream_id,
        "kind": info.kind.name.lower(),
        "side": info.side.name.lower(),
        "mount": info.mount.name.lower(),
        "rate_hz": info.rate_hz,
        "channel_names": list(info.channel_names),
        "units": list(info.units),
        "calibrated": info.calibrated,
        "full_scale": list(info.full_scale),
        "cell_area_cm2": list(info.cell_area_cm2),
        "calibration": None if calibration is None else dict(calibration),
    }


class SessionWriter:
    """Writes one session directory, append-only, from any number of threads.

    Args:
        directory: the session directory; created ``0700`` (it may exist if empty).
        source: ``"live"``, ``"simulated"`` or ``"imported"``.
        clock: host monotonic clock (s), the clock of the live pipeline.
        runner: identity, written to ``runner.json`` only (``runner_id``, ``name``, …).
        metadata: more ``session.json`` fields (``placement``, ``shoe``,
            ``body_mass_kg``, ``involved_side``, ``latency_floor_s``, …).
        flush_interval_s: how often buffered data is written to the files (s).
        fsync_interval_s: how often the files are forced to the disk (s).
        max_pending_bytes: buffered data beyond which recording stops (a disk that does not
            keep up); 64 MiB is about an hour of four sensors.
        file_write: ``os.write`` unless a test injects faults.

    Raises:
        ConfigurationError: the directory cannot be created (exists and is not empty,
            permission denied, …).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        source: str = "live",
        clock: Callable[[], float] = time.monotonic,
        runner: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        flush_interval_s: float = 0.25,
        fsync_interval_s: float = 1.0,
        max_pending_bytes: int = 64 << 20,
        file_write: FileWrite = os.write,
    ) -> None:
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        self.directory = Path(directory)
        self.clock = clock
        self.flush_interval_s = flush_interval_s
        self.fsync_interval_s = fsync_interval_s
        self.max_pending_bytes = max_pending_bytes
        self._file_write = file_write
        self.error: str | None = None
        """One line saying why recording stopped, or None while it runs (or closed cleanly)."""
        self.bytes_written = 0
        self.records = 0
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._stopped = False
        self._closed = False
        self._pending = {name: bytearray() for name in _APPEND_FILES}
        self._pending_bytes = 0
        self._fds: dict[str, int] = {}
        self._sizes: dict[str, int] = {}
        self._last_fsync = time.monotonic()
        now = self.clock()
        self._meta: dict[str, Any] = {
            "format": FORMAT,
            "version": 1,
            "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "host_t0_s": now,
            "wall_t0_unix_s": time.time(),
            "gaitcue_version": gaitcue_version(),
            "source": source,
            "links": [],
            "placement": {},
        }
        self._meta.update(metadata or {})
        self._meta_dirty = False
        self._runner = dict(runner or {})
        self._runner_dirty = False
        try:
            make_private_dir(self.directory)
            write_json_atomic(self.directory / SESSION_JSON, self._meta)
            if self._runner:
                write_json_atomic(self.directory / RUNNER_JSON, self._runner)
            for name in _APPEND_FILES:
                fd = open_private(self.directory / name)
                self._fds[name] = fd
                header = _HEADERS.get(name, b"")
                self._write_all(fd, header)
                self._sizes[name] = len(header)
            sync_dir(self.directory)
        except (OSError, FileExistsError) as exc:
            self._close_fds()
            reason = str(exc) if isinstance(exc, FileExistsError) else _reason(exc)
            raise ConfigurationError(
                f"cannot record to {self.directory}: {reason}; choose another folder"
            ) from None
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="session-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ any thread
    @property
    def recording(self) -> bool:
        """Whether data handed over now will be written."""
        return not self._stopped

    def add_link(self, transport: str, name: str) -> int:
        """Register a transport (``"serial"``, ``"ble"``, ``"simulated"``) and return the
        ``link_id`` to pass to :meth:`record_bytes`."""
        with self._lock:
            links: list[dict[str, Any]] = self._meta["links"]
            link_id = len(links)
            links.append({"link_id": link_id, "transport": transport, "name": name})
            self._meta_dirty = True
        self._wake.set()
        return link_id

    def record_bytes(self, link_id: int, t_receive_s: float, data: bytes) -> None:
        """Keep one transport delivery (a serial read or a BLE notification value) received
        at host time ``t_receive_s``. Cheap and non-blocking: call it on the reader thread."""
        if self._stopped:
            return
        head = RECORD_HEADER.pack(t_receive_s, link_id, len(data))
        with self._lock:
            buf = self._pending[PACKETS_BIN]
            buf += head
            buf += data
            self._pending_bytes += len(head) + len(data)
            self.records += 1
            overflow = self._pending_bytes > self.max_pending_bytes
        if overflow:
            self._fail("recording stopped: the disk does not keep up with the data")

    def add_device(
        self,
        info: StreamInfo,
        *,
        t_s: float | None = None,
        calibration: Mapping[str, Any] | None = None,
    ) -> None:
        """A device's stream description and the calibration applied to it (its file's
        content, or None): call it from the decoder's ``on_stream``."""
        record = device_record(info, t_s=self._now(t_s), calibration=calibration)
        self._append(DEVICES_JSONL, json.dumps(clean_json(record)) + "\n")

    def add_event(
        self,
        kind: str,
        text: str = "",
        value: float | None = None,
        *,
        t_s: float | None = None,
        **extra: Any,
    ) -> None:
        """A timed event: ``marker`` (the PT's note), ``treadmill`` (``value`` km/h, extra
        ``incline_pct``), ``target`` (spm), ``baseline``, ``metronome``."""
        record = {"t_s": self._now(t_s), "kind": kind, "text": text, "value": value, **extra}
        self._append(EVENTS_JSONL, json.dumps(clean_json(record)) + "\n")

    def add_steps(self, steps: Iterable[Step]) -> None:
        """Steps detected live (from the processing thread)."""
        steps = list(steps)
        if steps:
            self._append(STEPS_CSV, steps_csv_text(steps))

    def add_beats(self, t_s: Iterable[float], *, accented: bool = False, cued: bool = True) -> None:
        """Metronome beats played (host s)."""
        flags = f",{int(accented)},{int(cued)}\n"
        text = "".join(f"{t:.6f}{flags}" for t in t_s)
        if text:
            self._append(BEATS_CSV, text)

    def update_metadata(self, **fields: Any) -> None:
        """Set ``session.json`` fields (placement, shoe, body mass, …); written by the flusher."""
        with self._lock:
            self._meta.update(fields)
            self._meta_dirty = True
        self._wake.set()

    def update_runner(self, **fields: Any) -> None:
        """Set ``runner.json`` fields (identity); written by the flusher."""
        with self._lock:
            self._runner.update(fields)
            self._runner_dirty = True
        self._wake.set()

    def flush(self, *, fsync: bool = False) -> None:
        """Write what is buffered now (and fsync it when asked); the flusher does this on
        its own every ``flush_interval_s``."""
        with self._io_lock:
            self._flush_locked(fsync=fsync)

    def close(self) -> None:
        """Write everything, record ``ended_s`` and close the files (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join()
        with self._io_lock:
            ended_s = self.clock()
            if not self._stopped:
                self._flush_locked(fsync=True)
            if not self._stopped:
                with self._lock:
                    self._meta["ended_s"] = ended_s
                    self._meta_dirty = True
                try:
                    self._write_meta()
                except OSError as exc:
                    self._fail(
                        f"recording stopped: cannot write {self.directory / SESSION_JSON}: "
                        f"{_reason(exc)}; the session reads as interrupted"
                    )
            self._stopped = True
            self._close_fds()

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ internals
    def _now(self, t_s: float | None) -> float:
        return self.clock() if t_s is None else float(t_s)

    def _append(self, name: str, text: str) -> None:
        if self._stopped:
            return
        data = text.encode("utf-8")
        with self._lock:
            self._pending[name] += data
            self._pending_bytes += len(data)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            if self._closed:
                break
            with self._io_lock:
                if self._stopped:
                    return
                due = time.monotonic() - self._last_fsync >= self.fsync_interval_s
                self._flush_locked(fsync=due)

    def _flush_locked(self, *, fsync: bool) -> None:
        if self._stopped:
            return
        with self._lock:
            pending = self._pending
            self._pending = {name: bytearray() for name in _APPEND_FILES}
            self._pending_bytes = 0
        for name in _APPEND_FILES:
            data = pending[name]
            if not data:
                continue
            fd = self._fds[name]
            try:
                self._write_all(fd, data)
            except OSError as exc:
                self._cut_back(name)
                self._fail(
                    f"recording stopped: cannot write {self.directory / name}: {_reason(exc)}"
                    "; what was recorded before is kept"
                )
                return
            self._sizes[name] += len(data)
            self.bytes_written += len(data)
        try:
            self._write_meta()
            if fsync:
                for fd in self._fds.values():
                    os.fsync(fd)
                self._last_fsync = time.monotonic()
        except OSError as exc:
            self._fail(
                f"recording stopped: cannot write to {self.directory}: {_reason(exc)}"
                "; what was recorded before is kept"
            )

    def _write_meta(self) -> None:
        with self._lock:
            meta = dict(self._meta) if self._meta_dirty else None
            runner = dict(self._runner) if self._runner_dirty else None
            self._meta_dirty = self._runner_dirty = False
        if meta is not None:
            write_json_atomic(self.directory / SESSION_JSON, meta)
        if runner is not None:
            write_json_atomic(self.directory / RUNNER_JSON, runner)

    def _write_all(self, fd: int, data: bytes | bytearray) -> None:
        view = memoryview(data)
        while view:
            view = view[self._file_write(fd, view) :]

    def _cut_back(self, name: str) -> None:
        """Remove a partly written record so the file ends at a complete one."""
        with contextlib.suppress(OSError):  # readers ignore a torn last record anyway
            os.ftruncate(self._fds[name], self._sizes[name])

    def _fail(self, message: str) -> None:
        with self._lock:
            if self.error is None:
                self.error = message
            self._stopped = True
            self._pending = {name: bytearray() for name in _APPEND_FILES}
            self._pending_bytes = 0

    def _close_fds(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = {}
