"""Starting and stopping a session recording while the live pipeline runs.

``RecordingControl`` connects a :class:`~dashboard.session.writer.SessionWriter` to a
running acquisition: every transport's raw bytes go to it as they arrive (the transports'
``on_raw`` taps), each stream's description and applied calibration when it starts (and,
for a recording started mid-session, the streams already running), and the live session's
steps, beats and events. Stopping closes the writer and removes the taps; the live view
goes on either way, also when the disk fills up (``error`` then says why in one line).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from calibration.files import calibration_document
from dashboard.acquisition import Acquisition
from dashboard.live_session import LiveSession
from dashboard.session.writer import SessionWriter
from firmware_bridge.samples import StreamInfo
from firmware_bridge.serial_port import SerialReader


def default_sessions_folder() -> Path:
    """Where the record button puts sessions: ``~/gaitcue-sessions``."""
    return Path.home() / "gaitcue-sessions"


class RecordingControl:
    """Record button logic for one live session.

    Args:
        acquisition: the running transports and ring buffers.
        session: the live session whose steps, beats and events are recorded.
        clock: host clock (s), the pipeline's.
        folder: where new recordings go when no directory is named.
        source: ``live`` or ``simulated`` (session.json's ``source``).
        runner: identity for ``runner.json`` (None: none).
        metadata: more ``session.json`` fields (body mass, involved side, shoe…).
    """

    def __init__(
        self,
        acquisition: Acquisition,
        session: LiveSession,
        *,
        clock: Callable[[], float],
        folder: Path | None = None,
        source: str = "live",
        runner: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.acquisition = acquisition
        self.session = session
        self.clock = clock
        self.folder = folder or default_sessions_folder()
        self.source = source
        self.runner = dict(runner or {})
        self.metadata = dict(metadata or {})
        self.writer: SessionWriter | None = None
        self.last_directory: Path | None = None
        self._listener: Callable[[StreamInfo], None] | None = None
        self._started_s = 0.0

    @property
    def recording(self) -> bool:
        """True while a writer is open and still writing."""
        return self.writer is not None and self.writer.recording

    @property
    def error(self) -> str | None:
        """Why the recording stopped on its own (disk full…), one line; None otherwise."""
        return None if self.writer is None else self.writer.error

    def elapsed_s(self) -> float:
        """Seconds since the recording started (0 when none runs)."""
        if self.writer is None:
            return 0.0
        return self.clock() - self._started_s

    def start(self, directory: Path | None = None) -> Path:
        """Start recording into ``directory`` (default: a new dated folder); returns it.

        Raises:
            ConfigurationError: the directory cannot be created (one line).
        """
        if self.writer is not None:
            self.stop()
        if directory is None:
            stamp = _dt.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
            directory = self.folder / stamp
        metadata = {"latency_floor_s": self.acquisition.latency_floor_s, **self.metadata}
        writer = SessionWriter(
            directory,
            source=self.source,
            clock=self.clock,
            runner=self.runner or None,
            metadata=metadata,
        )
        for reader in self.acquisition.readers:
            transport = "serial" if isinstance(reader, SerialReader) else "ble"
            link_id = writer.add_link(transport, reader.port)

            def tap(data: bytes, t_s: float, link_id: int = link_id) -> None:
                writer.record_bytes(link_id, t_s, data)

            reader.on_raw = tap  # type: ignore[attr-defined]
        store = self.acquisition.sink.store

        def describe(info: StreamInfo) -> None:
            cal = store.get(info.device_id) if info.calibrated else None
            writer.add_device(info, calibration=None if cal is None else calibration_document(cal))

        buffers = self.acquisition.buffers
        for stream_id in buffers.stream_ids():
            describe(buffers.info(stream_id))
        self.acquisition.stream_listeners.append(describe)
        self._listener = describe
        self.writer = writer
        self._started_s = self.clock()
        self.last_directory = Path(directory)
        self.session.recorder = writer
        for event in self.session.events:
            writer.add_event(event.kind.value, event.text, event.value, t_s=event.t_s)
        return Path(directory)

    def stop(self) -> Path | None:
        """Stop recording (the live view goes on); returns the session directory."""
        writer = self.writer
        if writer is None:
            return None
        self.session.recorder = None
        for reader in self.acquisition.readers:
            reader.on_raw = None  # type: ignore[attr-defined]
        if self._listener is not None:
            self.acquisition.stream_listeners.remove(self._listener)
            self._listener = None
        writer.close()
        self.writer = None
        return self.last_directory
