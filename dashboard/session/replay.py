"""Replaying a recorded session through the live pipeline: paced, pausable and seekable.

``packets.bin`` holds every transport delivery with its host receive time. A replay feeds
those bytes, one link decoder per recorded link (``Acquisition.new_decoder``), at their
recorded times, into the same ring buffers, processing and views as a live session. Serial
links get their reads through ``LinkDecoder.feed``; BLE links get each notification split
into packets by ``NotificationReader`` and handed to ``LinkDecoder.handle_packet``, exactly
as ``Session.decode`` (and so ``gaitcue analyze``) does.

Time. The recorded receive times are the recording host's monotonic seconds. The replay
clock (``ReplayClock``) reads the recorded time of the playhead: it advances ``speed`` times
faster than real time while playing and stands still while paused, at the end, and while a
seek feeds records as fast as it can. Decoders, pipeline, views and the live session all use
it, so session time = ``clock() − t0_s`` and everything a view derives from "now" (a side
with no step for 2 s is stale, traces scroll) follows the playhead. When the machine cannot
keep up with ``speed``, the clock is held back to at most ``MAX_LEAD_S`` ahead of the last
record fed, so the views never run ahead of the data.

Threads. One player thread per replay feeds the records and, after each batch, runs one
pass of the ``ProcessingThread`` (``step_once``) itself: the processing object is the live
one, but its own thread is not started, so a fast seek never laps the ring buffers and a
paused replay has nothing left to analyse. Do not call ``ProcessingThread.start`` on a
replay's processing.

Seeking. Forward: the player feeds the records up to the target without pacing, in slices
of ``SEEK_SLICE_S`` with a processing pass after each, then goes on at the target. Backward:
the analysis cannot run backwards, so the controller builds a fresh ``ReplayEngine``
(acquisition, processing, live session and player) and fast-feeds it from the start of the
recording to the target; whoever shows the old engine (the dashboard window, a view) is told
through ``ReplayController.on_rebuilt`` and swaps to the new one.
"""

from __future__ import annotations

import math
import mmap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dashboard.acquisition import Acquisition
from dashboard.live_session import LiveSession
from dashboard.session.format import PACKETS_BIN, PACKETS_MAGIC, RECORD_HEADER
from dashboard.session.reader import Session, load_session
from firmware_bridge.ble.gatt import NotificationReader
from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.errors import ConfigurationError, ProtocolError
from firmware_bridge.protocol import decode_packet
from realtime.pipeline import AnalysisConfig, GaitPipeline
from realtime.processing import ProcessingThread

__all__ = [
    "PacketIndex",
    "PlayedLink",
    "ReplayClock",
    "ReplayController",
    "ReplayEngine",
    "SessionPlayer",
]

MAX_LEAD_S = 0.25
"""How far the replay clock may run ahead of the last record fed (s of recorded time)."""
SEEK_SLICE_S = 0.1
"""Recorded seconds fed between two processing passes while seeking (s)."""
POLL_EVERY_S = 0.005
"""How often every decoder is told the time, to give up on overdue packets (s)."""
_MAX_BATCH = 256
"""Most records fed between two processing passes while playing."""
_MAX_SLEEP_S = 0.02
"""Longest real-time wait of the player, so that pause, seek and stop act at once (s)."""
_FINAL_POLL_S = 10.0
"""At the end, decoders are polled this long after the last record, releasing held packets."""


def _check_speed(speed: float) -> float:
    if not isinstance(speed, int | float) or not math.isfinite(speed) or speed <= 0:
        raise ConfigurationError(f"the replay speed must be a positive number, got {speed}")
    return float(speed)


class ReplayClock:
    """The host clock of a replay: the recorded host time of the playhead (s).

    Args:
        t_s: the reading to start at (recorded host s); the clock starts paused.
        speed: recorded seconds per real second while running.
        real: the real monotonic clock it is paced by (s).
    """

    def __init__(
        self, t_s: float, *, speed: float = 1.0, real: Callable[[], float] = time.monotonic
    ) -> None:
        self._real = real
        self._lock = threading.Lock()
        # (reading at the anchor, real time of the anchor, speed, running): swapped whole,
        # so a reader on any thread sees one consistent state without a lock.
        self._state = (float(t_s), real(), _check_speed(speed), False)

    def __call__(self) -> float:
        t_s, anchor_s, speed, running = self._state
        if not running:
            return t_s
        return t_s + (self._real() - anchor_s) * speed

    @property
    def speed(self) -> float:
        return self._state[2]

    @property
    def running(self) -> bool:
        return self._state[3]

    def _set(self, t_s: float, speed: float, running: bool) -> None:
        self._state = (t_s, self._real(), speed, running)

    def pause(self) -> None:
        """Stand still at the current reading."""
        with self._lock:
            self._set(self(), self.speed, False)

    def resume(self) -> None:
        """Run on from the current reading."""
        with self._lock:
            if not self.running:
                self._set(self(), self.speed, True)

    def set_speed(self, speed: float) -> None:
        """Run at ``speed`` from now on (the reading does not jump)."""
        speed = _check_speed(speed)
        with self._lock:
            self._set(self(), speed, self.running)

    def jump(self, t_s: float) -> None:
        """Read ``t_s`` from now on (running or not, as before)."""
        with self._lock:
            self._set(float(t_s), self.speed, self.running)

    def hold_back(self, t_s: float, max_lead_s: float) -> None:
        """If the clock reads more than ``t_s + max_lead_s``, set it back to that."""
        with self._lock:
            if self() > t_s + max_lead_s:
                self._set(t_s + max_lead_s, self.speed, self.running)


@dataclass(frozen=True)
class PacketIndex:
    """Where each record of ``packets.bin`` is, without copying the payloads.

    Attributes:
        t_s: shape ``(n,)``, recorded receive time of each record (host s), in file order.
        reach_s: shape ``(n,)``, running maximum of ``t_s`` (records of different links can
            be a little out of order): every record before ``i`` arrived by ``reach_s[i-1]``.
        link_id: shape ``(n,)``, the link of each record.
        offset, size: shape ``(n,)``, where each payload starts in the file and its length.
        ignored_bytes: bytes of a torn last record (a killed recording), left out.
    """

    data: bytes | mmap.mmap
    t_s: npt.NDArray[np.float64]
    reach_s: npt.NDArray[np.float64]
    link_id: npt.NDArray[np.int64]
    offset: npt.NDArray[np.int64]
    size: npt.NDArray[np.int64]
    ignored_bytes: int

    @classmethod
    def read(cls, path: Path) -> PacketIndex:
        """Index ``path`` (a ``packets.bin``).

        Raises:
            ConfigurationError: the file is not a gaitcue packet file.
        """
        with path.open("rb") as f:
            size = path.stat().st_size
            data: bytes | mmap.mmap = (
                mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            )
        if data[: len(PACKETS_MAGIC)] != PACKETS_MAGIC and size >= len(PACKETS_MAGIC):
            raise ConfigurationError(f"{path}: not a gaitcue packet file (wrong header)")
        times: list[float] = []
        links: list[int] = []
        offsets: list[int] = []
        sizes: list[int] = []
        head = RECORD_HEADER.size
        unpack = RECORD_HEADER.unpack_from
        at = len(PACKETS_MAGIC)
        while at + head <= size:
            t_s, link_id, n = unpack(data, at)
            if at + head + n > size:
                break
            times.append(t_s)
            links.append(link_id)
            offsets.append(at + head)
            sizes.append(n)
            at += head + n
        t = np.asarray(times, dtype=np.float64)
        return cls(
            data=data,
            t_s=t,
            reach_s=np.maximum.accumulate(t) if t.size else t,
            link_id=np.asarray(links, dtype=np.int64),
            offset=np.asarray(offsets, dtype=np.int64),
            size=np.asarray(sizes, dtype=np.int64),
            ignored_bytes=max(0, size - at) if size >= len(PACKETS_MAGIC) else 0,
        )

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    def payload(self, i: int) -> bytes:
        start = int(self.offset[i])
        return bytes(self.data[start : start + int(self.size[i])])

    def count_until(self, t_s: float) -> int:
        """How many leading records arrived by ``t_s``."""
        return int(np.searchsorted(self.reach_s, t_s, side="right"))


class PlayedLink:
    """One recorded link as a transport: its bytes go to its decoder as they did live.

    It has the surface the acquisition and the device panel use (``port``, ``state``,
    ``decoder``, ``start``/``stop``); starting or stopping any link of a replay starts or
    stops the whole replay's player.
    """

    def __init__(self, name: str, transport: str, decoder: LinkDecoder) -> None:
        self.port = name
        self.transport = transport
        self.decoder = decoder
        self.state = "connected"
        self.player: SessionPlayer | None = None
        self.errors = 0
        self.last_error: str | None = None
        self._notifications = NotificationReader() if transport == "ble" else None

    def start(self) -> None:
        if self.player is not None:
            self.player.start()

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()

    def feed(self, payload: bytes, t_s: float) -> None:
        """One recorded delivery, received at ``t_s``; a decoding fault is counted."""
        try:
            if self._notifications is None:
                self.decoder.feed(payload, t_s)
            else:
                for raw in self._notifications.feed(payload):
                    try:
                        packet = decode_packet(raw)
                    except ProtocolError:
                        self.decoder.bad_frames += 1
                        self.decoder.corrupt += 1
                        continue
                    self.decoder.handle_packet(packet, t_s)
            self.decoder.poll(t_s)
        except Exception as exc:  # keep playing; the device panel shows the fault
            self.errors += 1
            self.last_error = f"{self.port}: {type(exc).__name__}: {exc}"


@dataclass
class _Intent:
    """What the user asked for, shared by the controller and its players."""

    playing: bool
    end_s: float
    lock: threading.Lock


class SessionPlayer:
    """Feeds a session's records into its links at the replay clock's pace (one thread).

    Args:
        index: the records.
        links: the links by link id.
        clock: the replay clock; the player pauses it while seeking and at the end.
        acquisition: whose ring buffers the decoders write (told after each batch).
        processing: run one pass after each batch (its own thread is never started).
        intent: playing or paused, and where to stop (recorded host s).
    """

    def __init__(
        self,
        index: PacketIndex,
        links: dict[int, PlayedLink],
        clock: ReplayClock,
        *,
        acquisition: Acquisition,
        processing: ProcessingThread,
        intent: _Intent,
    ) -> None:
        self.index = index
        self.links = links
        self.clock = clock
        self.acquisition = acquisition
        self.processing = processing
        self._intent = intent
        self._next = 0
        self._fed_s = -math.inf
        self._last_poll_s = -math.inf
        self._seek_to: float | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.settled = threading.Event()
        """Set while no seek is in progress."""
        self.settled.set()
        self.finished = threading.Event()
        self.idle = threading.Event()
        """Set while the thread stands still (paused or at the end)."""
        """Set when the records up to the end have all been fed and analysed."""
        self.error: str | None = None
        """A failure of the player thread (one line), None while all is well."""
        self.on_finished: list[Callable[[], None]] = []
        """Told (on the player thread) when the end is reached."""

    @property
    def fed_s(self) -> float:
        """Recorded time of the newest record fed (s); -inf before the first."""
        return self._fed_s

    @property
    def seeking(self) -> bool:
        return not self.settled.is_set()

    def start(self, *, seek_to: float | None = None) -> None:
        """Start the thread (once), first seeking to ``seek_to`` (also when it runs)."""
        if seek_to is not None:
            self.seek(seek_to)
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="replay-player", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def seek(self, t_s: float) -> None:
        """Feed everything up to recorded time ``t_s`` as fast as possible, then go on from
        there (forward only: a target behind the records fed is the current position)."""
        with self._intent.lock:
            self.settled.clear()
            self._seek_to = t_s
            self.clock.pause()
        self._wake.set()

    def wake(self) -> None:
        """Look at the clock and the intent again now (after pause, resume or a speed)."""
        self._wake.set()

    # ---------------------------------------------------------------- the thread
    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:
            self.error = f"replay stopped: {type(exc).__name__}: {exc}"
            self._finish(release=False)
            raise

    def _loop(self) -> None:
        index = self.index
        t = index.t_s
        while not self._stop.is_set():
            if self._seek_to is not None:
                self._fast_feed()
                continue
            end = index.count_until(self._intent.end_s)
            if self._next >= end:
                if not self.finished.is_set():
                    self._finish(release=end >= len(index))
                self.idle.set()
                self._sleep(0.1)
                continue
            if not self.clock.running:
                self.idle.set()
                self._sleep(0.05)
                continue
            now = self.clock()
            due = float(t[self._next])
            if due > now:
                if now - self._last_poll_s >= POLL_EVERY_S:
                    self._poll_all(now)
                    self._process()
                self._sleep(min((due - now) / self.clock.speed, _MAX_SLEEP_S))
                continue
            stop = min(end, self._next + _MAX_BATCH, index.count_until(now))
            self._feed_to(max(stop, self._next + 1))
            self._process()
            self.clock.hold_back(self._fed_s, MAX_LEAD_S)

    def wait_idle(self, timeout_s: float = 2.0) -> bool:
        """Wait until the thread has finished what it was feeding and stands still (paused
        or at the end); False on timeout."""
        self.idle.clear()
        self.wake()
        return self.idle.wait(timeout_s)

    def _sleep(self, real_s: float) -> None:
        if self._wake.wait(real_s):
            self._wake.clear()

    def _feed_to(self, stop: int) -> None:
        """Feed records ``[next, stop)`` with their recorded receive times."""
        index = self.index
        t = index.t_s
        links = index.link_id
        for i in range(self._next, stop):
            t_s = float(t[i])
            link = self.links[int(links[i])]
            link.feed(index.payload(i), t_s)
            if t_s > self._fed_s:
                self._fed_s = t_s
            if t_s - self._last_poll_s >= POLL_EVERY_S:
                self._poll_all(t_s)
        self._next = stop

    def _poll_all(self, t_s: float) -> None:
        self._last_poll_s = t_s
        for link in self.links.values():
            link.decoder.poll(t_s)

    def _process(self) -> None:
        self.acquisition.buffers.notify()
        self.processing.step_once()

    def _fast_feed(self) -> None:
        index = self.index
        while not self._stop.is_set():
            requested = self._seek_to
            if requested is None:
                return
            target = min(requested, self._intent.end_s)
            stop = index.count_until(target)
            if self._next < stop:
                reach = float(index.reach_s[self._next]) + SEEK_SLICE_S
                self._feed_to(max(self._next + 1, min(stop, index.count_until(reach))))
                self._process()
                self.clock.jump(max(self._fed_s, self.clock()))
                continue
            with self._intent.lock:
                if self._seek_to != requested:
                    continue  # asked again meanwhile: go to the newer target
                self._seek_to = None
                self.clock.jump(max(target, self.clock()))
                self.settled.set()
                if self._intent.playing and self._next < index.count_until(self._intent.end_s):
                    self.clock.resume()
            return

    def _finish(self, *, release: bool) -> None:
        """The end: release what the decoders hold, analyse it, stop the clock there."""
        with self._intent.lock:
            self.clock.pause()
            self._intent.playing = False
        if release and math.isfinite(self._fed_s):
            self._poll_all(self._fed_s + _FINAL_POLL_S)
            self.acquisition.buffers.notify()
            self.processing.finish()  # the end of the recording: release the held steps
        if len(self.index):
            self.clock.jump(min(self._intent.end_s, float(self.index.reach_s[-1])))
        for link in self.links.values():
            link.state = "ended"
        self.finished.set()
        for listener in self.on_finished:
            listener()


@dataclass
class ReplayEngine:
    """One run of the live pipeline over the recording.

    Attributes:
        acquisition: the played links and the ring buffers (``acquisition.readers``).
        processing: the analysis (driven by the player; never ``start`` it).
        session: the live session state the views use (targets, trends, events).
        player: the thread that feeds the records.
    """

    acquisition: Acquisition
    processing: ProcessingThread
    session: LiveSession
    player: SessionPlayer


class ReplayController:
    """Plays a recorded session through the live pipeline; what a replay view controls.

    Args:
        session: a session directory or an opened ``Session``.
        speed: recorded seconds per real second (> 0).
        start_s: session time to start at (s from the start of the recording).
        duration_s: stop after this much session time (s); None: at the end.
        buffer_s: ring-buffer length per stream (s).
        analysis: the analysis settings; default: the session's body mass and treadmill
            speed, as ``gaitcue analyze DIR`` uses.

    Raises:
        ConfigurationError: not a session, no recorded packets, or a bad option value.

    Session times (``position_s``, ``seek``, ``duration_s``) count seconds from ``t0_s``,
    the session's ``host_t0_s`` (or its first record, if earlier).
    """

    def __init__(
        self,
        session: Session | str | Path,
        *,
        speed: float = 1.0,
        start_s: float = 0.0,
        duration_s: float | None = None,
        buffer_s: float = 60.0,
        analysis: AnalysisConfig | None = None,
    ) -> None:
        self.session = session if isinstance(session, Session) else load_session(session)
        packets = self.session.path / PACKETS_BIN
        if not packets.exists():
            raise ConfigurationError(
                f"{self.session.path}: nothing to replay (no {PACKETS_BIN}; imported sessions "
                "hold decoded streams only)"
            )
        self.index = PacketIndex.read(packets)
        if not len(self.index):
            raise ConfigurationError(f"{packets}: the recording holds no packets")
        self.t0_s = min(self.session.host_t0_s, float(self.index.t_s[0]))
        last_s = float(self.index.reach_s[-1])
        self.duration_s = last_s - self.t0_s
        """Session time of the last record (s)."""
        if not math.isfinite(start_s) or not 0.0 <= start_s < self.duration_s:
            raise ConfigurationError(
                f"--start must be between 0 and {self.duration_s:.1f} s (the recording's "
                f"length), got {start_s}"
            )
        end_s = last_s
        if duration_s is not None:
            if not math.isfinite(duration_s) or duration_s <= 0:
                raise ConfigurationError(f"--duration must be positive, got {duration_s}")
            end_s = min(last_s, self.t0_s + start_s + duration_s)
        self.start_s = start_s
        self.clock = ReplayClock(self.t0_s, speed=speed)
        self.buffer_s = buffer_s
        self.analysis = analysis or AnalysisConfig(
            body_mass_kg=self.session.body_mass_kg,
            treadmill_speed_m_s=self.session.treadmill_speed_m_s(),
        )
        self._store = self.session._calibrations()
        floor_s = self.session.meta.get("latency_floor_s")
        self._latency_floor_s = (
            float(floor_s)
            if isinstance(floor_s, int | float) and math.isfinite(floor_s) and floor_s >= 0
            else 0.001
        )
        listed = self.session.meta.get("links")
        self._links: dict[int, dict[str, object]] = {
            link["link_id"]: link
            for link in (listed if isinstance(listed, list) else [])
            if isinstance(link, dict) and isinstance(link.get("link_id"), int)
        }
        self.calibration_problems: list[str] = []
        self._intent = _Intent(playing=False, end_s=end_s, lock=threading.Lock())
        self.on_rebuilt: list[Callable[[ReplayEngine], None]] = []
        """Told (on the thread that seeks) when a backward seek replaced the engine."""
        self.on_finished: list[Callable[[], None]] = []
        """Told (on the player thread) when the replay reaches its end."""
        self._started = False
        self._engine = self._build()

    # ---------------------------------------------------------------- state
    @property
    def engine(self) -> ReplayEngine:
        """The current run of the pipeline (replaced by a backward seek)."""
        return self._engine

    @property
    def acquisition(self) -> Acquisition:
        return self._engine.acquisition

    @property
    def processing(self) -> ProcessingThread:
        return self._engine.processing

    @property
    def position_s(self) -> float:
        """Session time of the playhead (s)."""
        return self.clock() - self.t0_s

    @property
    def end_position_s(self) -> float:
        """Session time where the replay stops (s): the end, or start + duration."""
        return self._intent.end_s - self.t0_s

    @property
    def speed(self) -> float:
        return self.clock.speed

    @property
    def playing(self) -> bool:
        """Whether the user wants it playing (it may be seeking meanwhile)."""
        return self._intent.playing

    @property
    def finished(self) -> bool:
        return self._engine.player.finished.is_set()

    @property
    def seeking(self) -> bool:
        return self._engine.player.seeking

    @property
    def error(self) -> str | None:
        return self._engine.player.error

    # ---------------------------------------------------------------- control
    def start(self, *, paused: bool = False) -> None:
        """Start playing (at ``start_s``); ``paused``: only seek there and wait."""
        if self._started:
            return
        self._started = True
        with self._intent.lock:
            self._intent.playing = not paused
        seek = self.t0_s + self.start_s if self.start_s > 0 else None
        if seek is None and not paused:
            self.clock.resume()
        self._engine.player.start(seek_to=seek)

    def pause(self) -> None:
        """Stand still; returns once the batch being fed is analysed, so the views do not
        change any more while paused."""
        with self._intent.lock:
            self._intent.playing = False
            self.clock.pause()
        self._engine.player.wait_idle()

    def resume(self) -> None:
        """Play on; at the end, play again from the start."""
        if self.finished:
            with self._intent.lock:
                self._intent.playing = True
            self.seek(0.0)
            return
        with self._intent.lock:
            self._intent.playing = True
            if not self._engine.player.seeking:
                self.clock.resume()
        self._engine.player.wake()

    def toggle(self) -> None:
        """Pause when playing, play when paused."""
        if self.playing:
            self.pause()
        else:
            self.resume()

    def set_speed(self, speed: float) -> None:
        self.clock.set_speed(speed)
        self._engine.player.wake()

    def seek(self, t_s: float) -> None:
        """Go to session time ``t_s`` (s, clamped to the recording). Forward: the records up
        to it are fed as fast as possible; backward: a fresh engine is built and fed from
        the start (``on_rebuilt`` is told), then playing goes on if it was playing."""
        if not self._started:
            self.start(paused=True)
        target = self.t0_s + min(max(0.0, float(t_s)), self.end_position_s)
        player = self._engine.player
        if target >= self.clock() and target >= player.fed_s and not player.finished.is_set():
            player.seek(target)
            return
        self._rebuild(target)

    def wait_settled(self, timeout_s: float = 30.0) -> bool:
        """Wait until no seek is in progress; False on timeout."""
        return self._engine.player.settled.wait(timeout_s)

    def wait_finished(self, timeout_s: float | None = None) -> bool:
        """Wait until the end is reached; False on timeout."""
        return self._engine.player.finished.wait(timeout_s)

    def close(self) -> None:
        """Stop the player (the engine stays readable)."""
        self._engine.player.stop()

    # ---------------------------------------------------------------- engines
    def _build(self) -> ReplayEngine:
        acquisition = Acquisition(
            clock=self.clock,
            buffer_s=self.buffer_s,
            latency_floor_s=self._latency_floor_s,
            calibration=self._store,
            on_calibration_problem=self.calibration_problems.append,
        )
        links: dict[int, PlayedLink] = {}
        for link_id in sorted({int(i) for i in np.unique(self.index.link_id)}):
            described = self._links.get(link_id, {})
            name = str(described.get("name", f"link {link_id}"))
            transport = str(described.get("transport", "serial"))
            links[link_id] = PlayedLink(name, transport, acquisition.new_decoder(name))
        acquisition.add_transports(links.values())
        processing = ProcessingThread(
            acquisition.buffers, GaitPipeline(config=self.analysis, clock=self.clock)
        )
        live = LiveSession(clock=self.clock)
        player = SessionPlayer(
            self.index,
            links,
            self.clock,
            acquisition=acquisition,
            processing=processing,
            intent=self._intent,
        )
        player.on_finished.append(self._finished)
        for link in links.values():
            link.player = player
        return ReplayEngine(acquisition, processing, live, player)

    def _finished(self) -> None:
        for listener in self.on_finished:
            listener()

    def _rebuild(self, target_s: float) -> None:
        old = self._engine
        old.player.stop()
        with self._intent.lock:
            self.clock.pause()
            self.clock.jump(self.t0_s)
        engine = self._build()
        target = old.session.target_spm
        if target is not None:
            engine.session.set_target_spm(target)
        self._engine = engine
        for listener in self.on_rebuilt:
            listener(engine)
        engine.player.start(seek_to=target_s)
