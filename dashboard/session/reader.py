"""Opening a session directory and decoding what it holds.

``load_session(dir)`` reads the small files (metadata, runner, devices, events, live steps,
beats, truth) and checks that the directory is a session. ``Session.decode()`` turns the
raw packets back into stream descriptions and sample blocks with fresh ``LinkDecoder``s,
one per link, fed in receive order with the recorded receive times — the bytes take exactly
the path they took live. Imported sessions have no packets: their ``streams/`` CSV files
are read instead. A torn last record or line (a recording that was killed) is ignored.
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from calibration.apply import CalibratedSink, CalibrationStore
from calibration.files import load_calibration
from dashboard.session.format import (
    BEATS_CSV,
    DEVICES_JSONL,
    EVENTS_JSONL,
    FORMAT,
    PACKETS_BIN,
    PACKETS_MAGIC,
    RECORD_HEADER,
    RUNNER_JSON,
    SESSION_JSON,
    STEPS_CSV,
    STREAMS_DIR,
    TRUTH_CSV,
    VERSION,
)
from dashboard.session.steps_io import read_steps_csv
from firmware_bridge.ble.gatt import NotificationReader
from firmware_bridge.csv_streams import read_csv_stream
from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.errors import ConfigurationError, GaitcueError, ProtocolError
from firmware_bridge.protocol import decode_packet
from firmware_bridge.samples import Mount, SampleBlock, Side, StreamInfo, StreamKind
from firmware_bridge.simulator.truth import TrueEvents, read_truth_csv
from realtime.events import Step

__all__ = [
    "STREAM_FILES",
    "DecodedSession",
    "Session",
    "SessionEvent",
    "iter_packets",
    "load_session",
]

STREAM_FILES: dict[str, tuple[StreamKind, Side]] = {
    "left_insole": (StreamKind.INSOLE, Side.LEFT),
    "right_insole": (StreamKind.INSOLE, Side.RIGHT),
    "left_imu": (StreamKind.IMU, Side.LEFT),
    "right_imu": (StreamKind.IMU, Side.RIGHT),
}
"""The analyze CSV file names (``streams/NAME.csv``) and what each holds."""

_POLL_EVERY_S = 0.005


@dataclass(frozen=True)
class SessionEvent:
    """One line of ``events.jsonl``: ``kind`` (marker, treadmill, target, baseline,
    metronome), ``text``, ``value`` (NaN when none) and any further fields in ``extra``."""

    t_s: float
    kind: str
    text: str
    value: float = math.nan
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class DecodedSession:
    """Streams of a session: descriptions and time-ordered blocks per stream, and counts.

    ``ignored_bytes`` counts the bytes of a torn last record of ``packets.bin``.
    """

    infos: dict[str, StreamInfo]
    blocks: dict[str, list[SampleBlock]]
    decoders: list[LinkDecoder] = field(default_factory=list)
    ignored_bytes: int = 0

    def streams(self) -> list[tuple[StreamInfo, list[SampleBlock]]]:
        return [(info, self.blocks.get(sid, [])) for sid, info in self.infos.items()]

    def arrays(
        self, stream_id: str
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32], npt.NDArray[np.float64]]:
        """All samples of one stream: times ``(n,)``, values ``(n, ch)`` and the gap before
        each sample ``(n,)`` (s, 0 when none)."""
        blocks = [b for b in self.blocks.get(stream_id, []) if b.n_samples]
        info = self.infos[stream_id]
        if not blocks:
            return np.zeros(0), np.zeros((0, info.n_channels), np.float32), np.zeros(0)
        t = np.concatenate([b.t_host_s for b in blocks])
        values = np.concatenate([b.values for b in blocks])
        gaps = np.zeros(t.shape[0])
        starts = np.cumsum([0] + [b.n_samples for b in blocks[:-1]])
        gaps[starts] = [b.gap_before_s for b in blocks]
        return t, values, gaps

    def joined(
        self,
    ) -> dict[str, tuple[StreamInfo, npt.NDArray[np.float64], npt.NDArray[np.float32]]]:
        """Per analyze file name (``left_insole``…): description, times and values. A device
        that changed what it streams mid-session has its streams joined when their channels
        match; otherwise its longest stream stands for it."""
        out: dict[str, tuple[StreamInfo, npt.NDArray[np.float64], npt.NDArray[np.float32]]] = {}
        by_name: dict[str, list[str]] = {}
        for sid, info in self.infos.items():
            for name, (kind, side) in STREAM_FILES.items():
                if info.kind == kind and info.side == side:
                    by_name.setdefault(name, []).append(sid)
        for name, sids in by_name.items():
            parts = [(self.infos[s], *self.arrays(s)[:2]) for s in sids]
            parts = [p for p in parts if p[1].shape[0] >= 2]
            if not parts:
                continue
            first = parts[0][0]
            if all(p[0].channel_names == first.channel_names for p in parts):
                t = np.concatenate([p[1] for p in parts])
                values = np.concatenate([p[2] for p in parts])
                order = np.argsort(t, kind="stable")
                t, values = t[order], values[order]
                keep = np.concatenate([[True], np.diff(t) > 0])
                out[name] = (first, t[keep], values[keep])
            else:
                out[name] = max(parts, key=lambda p: p[1].shape[0])
        return out


def iter_packets(path: Path) -> Iterator[tuple[float, int, bytes]]:
    """(receive time s, link id, payload) of every complete record of ``packets.bin``."""
    data = path.read_bytes()
    if not data.startswith(PACKETS_MAGIC):
        if len(data) < len(PACKETS_MAGIC) and PACKETS_MAGIC.startswith(data):
            return
        raise ConfigurationError(f"{path}: not a gaitcue packet file (wrong header)")
    view = memoryview(data)
    offset = len(PACKETS_MAGIC)
    head = RECORD_HEADER.size
    end = len(data)
    unpack = RECORD_HEADER.unpack_from
    while offset + head <= end:
        t_s, link_id, n = unpack(data, offset)
        stop = offset + head + n
        if stop > end:
            return
        yield t_s, link_id, bytes(view[offset + head : stop])
        offset = stop


def _torn_tail(path: Path) -> int:
    """Bytes after the last complete record (0 for a cleanly closed file)."""
    data = path.read_bytes()
    offset = len(PACKETS_MAGIC)
    head = RECORD_HEADER.size
    while offset + head <= len(data):
        _, _, n = RECORD_HEADER.unpack_from(data, offset)
        if offset + head + n > len(data):
            break
        offset += head + n
    return max(0, len(data) - offset)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # torn last line of a killed recording
                break
            raise ConfigurationError(f"{path}, line {number}: not valid JSON") from None
        if not isinstance(obj, dict):
            raise ConfigurationError(f"{path}, line {number}: not a JSON object")
        out.append(obj)
    return out


def _read_beats(path: Path) -> npt.NDArray[np.float64]:
    """Beats as rows ``(t_s, accented, cued)``; a torn last line is left out."""
    if not path.exists():
        return np.zeros((0, 3))
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = [line.split(",") for line in text.splitlines()[1:] if line]
    try:
        return np.array([[float(c) for c in r] for r in rows], dtype=np.float64).reshape(-1, 3)
    except ValueError:
        raise ConfigurationError(f"{path}: a beat row is not three numbers") from None


def _number(value: Any) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    )


@dataclass
class Session:
    """A session directory, opened. ``decode()`` gives its streams."""

    path: Path
    meta: dict[str, Any]
    runner: dict[str, Any]
    devices: list[dict[str, Any]]
    events: list[SessionEvent]
    live_steps: list[Step]
    beats: npt.NDArray[np.float64]
    """``(n, 3)``: beat time (host s), accented (0/1), cued (0/1)."""
    truth: TrueEvents | None

    # ------------------------------------------------------------ facts
    @property
    def source(self) -> str:
        return str(self.meta.get("source", "live"))

    @property
    def interrupted(self) -> bool:
        """No ``ended_s``: the recording did not close cleanly."""
        return self.meta.get("ended_s") is None

    @property
    def host_t0_s(self) -> float:
        t0 = _number(self.meta.get("host_t0_s"))
        return t0 if math.isfinite(t0) else 0.0

    @property
    def end_s(self) -> float:
        """``ended_s``; for an interrupted session the last time its small files hold (live
        steps, events, beats), or else that of its last packet record."""
        ended = self.meta.get("ended_s")
        if isinstance(ended, int | float):
            return float(ended)
        times = [e.t_s for e in self.events]
        if self.live_steps:
            times.append(max(s.to_s for s in self.live_steps))
        if self.beats.size:
            times.append(float(self.beats[-1, 0]))
        if times:
            return max(self.host_t0_s, *times)
        last = self.host_t0_s
        packets = self.path / PACKETS_BIN
        if packets.exists():
            for t_s, _, _ in iter_packets(packets):
                last = max(last, t_s)
        return last

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end_s - self.host_t0_s)

    @property
    def body_mass_kg(self) -> float | None:
        mass = self.meta.get("body_mass_kg", self.runner.get("body_mass_kg"))
        return float(mass) if isinstance(mass, int | float) and mass > 0 else None

    @property
    def involved_side(self) -> Side | None:
        side = self.meta.get("involved_side", self.runner.get("involved_side"))
        return {"left": Side.LEFT, "right": Side.RIGHT}.get(str(side).lower())

    @property
    def runner_id(self) -> str:
        return str(self.runner.get("runner_id", "")) or "—"

    def treadmill_speed_m_s(self) -> float | None:
        """The treadmill speed when one non-zero speed was set for the whole session."""
        speeds = {e.value for e in self.events if e.kind == "treadmill" and e.value > 0}
        return speeds.pop() / 3.6 if len(speeds) == 1 else None

    def events_of(self, kind: str) -> list[SessionEvent]:
        return [e for e in self.events if e.kind == kind]

    # ------------------------------------------------------------ streams
    def decode(self, *, progress: Callable[[float], None] | None = None) -> DecodedSession:
        """The session's streams: decoded from ``packets.bin`` (recorded sessions) or read
        from ``streams/*.csv`` (imported ones)."""
        if (self.path / PACKETS_BIN).exists():
            return self._decode_packets(progress)
        return self._read_streams()

    def _calibrations(self) -> CalibrationStore:
        store = CalibrationStore()
        with tempfile.TemporaryDirectory() as tmp:
            for index, device in enumerate(self.devices):
                doc = device.get("calibration")
                if not isinstance(doc, dict):
                    continue
                path = Path(tmp) / f"{index}.json"
                path.write_text(json.dumps(doc), encoding="utf-8")
                try:
                    store.add(load_calibration(path), source=f"{self.path / DEVICES_JSONL}")
                except GaitcueError as exc:
                    raise ConfigurationError(
                        f"{self.path / DEVICES_JSONL}: the calibration of device "
                        f"{device.get('device_id')} does not load: {exc}"
                    ) from None
        return store

    def _decode_packets(self, progress: Callable[[float], None] | None) -> DecodedSession:
        decoded = DecodedSession(infos={}, blocks={})
        store = self._calibrations()

        def keep(block: SampleBlock) -> None:
            decoded.blocks.setdefault(block.stream_id, []).append(block)

        calibrated = CalibratedSink(keep, store) if len(store) else None

        def on_stream(info: StreamInfo) -> None:
            if calibrated is not None:
                info = calibrated.on_stream(info)
            decoded.infos[info.stream_id] = info

        listed = self.meta.get("links")
        links = {
            link["link_id"]: link
            for link in (listed if isinstance(listed, list) else [])
            if isinstance(link, dict) and isinstance(link.get("link_id"), int)
        }
        floor_s = _number(self.meta.get("latency_floor_s"))
        if not math.isfinite(floor_s):
            floor_s = 0.001
        decoders: dict[int, LinkDecoder] = {}
        ble: dict[int, NotificationReader] = {}
        packets = self.path / PACKETS_BIN
        total = max(1, packets.stat().st_size)
        done = 0
        last_poll = -math.inf
        next_progress = 0.0
        t_s = 0.0
        for t_s, link_id, payload in iter_packets(packets):
            decoder = decoders.get(link_id)
            if decoder is None:
                link = links.get(link_id, {})
                decoder = LinkDecoder(
                    sink=calibrated if calibrated is not None else keep,
                    on_stream=on_stream,
                    latency_floor_s=floor_s,
                    name=str(link.get("name", f"link {link_id}")),
                )
                decoders[link_id] = decoder
                if link.get("transport") == "ble":
                    ble[link_id] = NotificationReader()
            reader = ble.get(link_id)
            if reader is None:
                decoder.feed(payload, t_s)
            else:
                for raw in reader.feed(payload):
                    try:
                        decoder.handle_packet(decode_packet(raw), t_s)
                    except ProtocolError:
                        decoder.bad_frames += 1
                        decoder.corrupt += 1
            decoder.poll(t_s)
            if t_s - last_poll >= _POLL_EVERY_S:
                last_poll = t_s
                for other in decoders.values():
                    other.poll(t_s)
            if progress is not None:
                done += RECORD_HEADER.size + len(payload)
                if done / total >= next_progress:
                    progress(min(1.0, done / total))
                    next_progress += 0.01
        for decoder in decoders.values():
            decoder.poll(t_s + 10.0)
        if progress is not None:
            progress(1.0)
        decoded.decoders = [decoders[k] for k in sorted(decoders)]
        decoded.ignored_bytes = _torn_tail(packets)
        return decoded

    def _read_streams(self) -> DecodedSession:
        folder = self.path / STREAMS_DIR
        mount = Mount.SHANK if self.meta.get("imu_mount") == "shank" else Mount.FOOT
        decoded = DecodedSession(infos={}, blocks={})
        for name, (kind, side) in STREAM_FILES.items():
            path = folder / f"{name}.csv"
            if not path.exists():
                continue
            stream = read_csv_stream(path, kind=kind, side=side, mount=mount)
            decoded.infos[stream.info.stream_id] = stream.info
            decoded.blocks[stream.info.stream_id] = list(stream.blocks())
        if not decoded.infos:
            raise ConfigurationError(
                f"{self.path}: the session has neither {PACKETS_BIN} nor streams/*.csv"
            )
        return decoded


def _fail(path: Path, problem: str) -> ConfigurationError:
    return ConfigurationError(f"{path}: {problem}")


_T = TypeVar("_T")


def _guarded(
    path: Path, read: Callable[[], _T], *, malformed: tuple[type[Exception], ...] = ()
) -> _T:
    """``read()``, with the ways a damaged file can break it turned into one line
    (``malformed``: more exceptions that the reader raises for a damaged row)."""
    try:
        return read()
    except malformed as exc:
        raise _fail(
            path, f"a row is damaged ({type(exc).__name__}); the session is damaged"
        ) from None
    except UnicodeDecodeError:
        raise _fail(path, "not UTF-8 text; the session is damaged") from None
    except csv.Error as exc:
        raise _fail(path, f"not a valid CSV file ({exc}); the session is damaged") from None
    except OSError as exc:
        raise _fail(path, f"cannot read: {exc.strerror or exc}") from None


def load_session(directory: str | Path) -> Session:
    """Open a session directory.

    Raises:
        ConfigurationError: one line naming the path and the problem (missing, not a
            directory, not a session, a newer format, a corrupt file).
    """
    path = Path(directory)
    if not path.exists():
        raise _fail(path, "no such session directory")
    if not path.is_dir():
        raise _fail(path, "not a session directory (it is a file)")
    meta_path = path / SESSION_JSON
    if not meta_path.exists():
        raise _fail(path, f"not a gaitcue session (no {SESSION_JSON})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(
            meta_path, f"unreadable ({type(exc).__name__}); the session is damaged"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _fail(meta_path, f'not a gaitcue session (no "format": "{FORMAT}")')
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise _fail(meta_path, f"format version {version!r} is newer than this gaitcue reads")
    runner: dict[str, Any] = {}
    if (path / RUNNER_JSON).exists():
        try:
            loaded = json.loads((path / RUNNER_JSON).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise _fail(path / RUNNER_JSON, "unreadable; the session is damaged") from None
        runner = loaded if isinstance(loaded, dict) else {}
    devices = _guarded(path / DEVICES_JSONL, lambda: _read_jsonl(path / DEVICES_JSONL))
    raw_events = _guarded(path / EVENTS_JSONL, lambda: _read_jsonl(path / EVENTS_JSONL))
    try:
        events = [
            SessionEvent(
                t_s=float(e["t_s"]),
                kind=str(e.get("kind", "marker")),
                text=str(e.get("text") or ""),
                value=_number(e.get("value")),
                extra={k: v for k, v in e.items() if k not in ("t_s", "kind", "text", "value")},
            )
            for e in raw_events
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path / EVENTS_JSONL, f"an event has no valid time ({exc})") from None
    steps_path, truth_path = path / STEPS_CSV, path / TRUTH_CSV
    steps = _guarded(steps_path, lambda: read_steps_csv(steps_path)) if steps_path.exists() else []
    truth = (
        _guarded(truth_path, lambda: read_truth_csv(truth_path), malformed=(TypeError,))
        if truth_path.exists()
        else None
    )
    beats = _guarded(path / BEATS_CSV, lambda: _read_beats(path / BEATS_CSV))
    return Session(
        path=path,
        meta=meta,
        runner=runner,
        devices=devices,
        events=events,
        live_steps=steps,
        beats=beats,
        truth=truth,
    )
