"""The metronome engine: control methods, the audio callback body, the beat log.

Threads and hand-over:

- *Control side* (Qt thread, processing thread): :meth:`MetronomeEngine.set_bpm`,
  :meth:`~MetronomeEngine.set_mode`, :meth:`~MetronomeEngine.update_cadence` and the other
  setters build a new immutable :class:`~dashboard.metronome.schedule.BeatSchedule` under a
  control-side lock and publish it with one attribute assignment. Changes take effect on
  the first beat not yet rendered. That beat keeps its time under both grids, so timing
  never depends on which grid a racing callback saw; at worst, a callback that renders
  that beat's onset between the frontier read and the swap plays that one click with the
  previous volume, accent or cue.
- *Audio side*: :meth:`MetronomeEngine.callback` has the signature of a sounddevice output
  callback. It reads the published schedule, renders with
  :func:`~dashboard.metronome.clicks.render_into`, and writes only into arrays allocated in
  ``__init__``: it takes no lock, never blocks, always fills the buffer and counts
  underflows.
- *Readers* (dashboard, adherence analysis): :meth:`~MetronomeEngine.beats_since`,
  :meth:`~MetronomeEngine.last_beat`, :attr:`~MetronomeEngine.underflows`. The beat log is
  a preallocated ring with two counters (a seqlock without a lock, as in
  ``realtime.ringbuffer``): a read that overlapped an overwrite is reported, not returned.

Clocks. Beats are scheduled in *stream seconds* (PortAudio's stream clock). Each buffer's
first frame is placed by the stream's DAC time (``outputBufferDacTime``, the time the first
sample reaches the output), so callback jitter does not move the clicks. The engine counts
frames itself and keeps ``frame0_s``, the stream time of frame 0: DAC times that agree with
the count within ``resync_ms`` nudge it (smoothing DAC-time noise and following a slow
drift between sample clock and stream clock); an underflow flag, or a larger disagreement,
re-anchors it at once. Beat times are logged in *host seconds* (the injected clock, e.g.
``time.monotonic``): each callback measures ``host_clock() - currentTime``; a callback that
starts late (waiting for the GIL) can only make that larger, so the engine follows the low
envelope of the measurements.

Without an audio device the same schedule drives a visual beat: call
:meth:`MetronomeEngine.start` with the host time and :meth:`MetronomeEngine.advance` from a
timer; stream time is then host time.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from dashboard.metronome.clicks import ClickBank, RenderedBeats, render_into
from dashboard.metronome.gating import BandConfig, BandGate, CueMode, FadedConfig
from dashboard.metronome.schedule import (
    BeatSchedule,
    MetronomeSettings,
    check_accent_every,
    check_bpm,
    check_volume,
)

__all__ = ["Beat", "BeatLog", "MetronomeEngine"]

# Slots of the engine's float64 state array (written by the audio side only).
_FRAME0_S = 0  # stream time of absolute frame 0 (s)
_OFFSET_S = 1  # smoothed host_clock() - stream time (s)
_FRONTIER_S = 2  # stream time up to which audio has been rendered (s)
_HAVE_FRAME0 = 3  # 1.0 once frame0 has been anchored
_HAVE_OFFSET = 4  # 1.0 once the offset has been measured
_LAST_DAC_S = 5  # DAC time of the latest buffer (s)
_LAST_NOW_S = 6  # stream time at the latest callback (``currentTime``, s)
# Slots of the engine's int64 counter array.
_FRAME_POS = 0  # absolute frame number of the next buffer's first frame
_UNDERFLOWS = 1  # callbacks that reported an output underflow
_CALLBACKS = 2  # callbacks run
_LAST_BEAT = 3  # number of the latest logged beat (-1: none)
_RESERVED = 4  # beat-log entries reserved (stored before a slot is overwritten)
_WRITTEN = 5  # beat-log entries complete

_OFFSET_CREEP = 0.01
"""Weight of a host-offset measurement above the current estimate (per callback)."""
_OFFSET_STEP_S = 0.25
"""A host-offset measurement this far above the estimate is a clock step, not a delay (s)."""

_MAX_CHUNK_FRAMES = 4096
"""Longer callback buffers are rendered in chunks of this many frames."""


class TimeInfo(Protocol):
    """The fields of sounddevice's callback ``time`` argument that the engine reads."""

    @property
    def outputBufferDacTime(self) -> float: ...

    @property
    def currentTime(self) -> float: ...


class CallbackStatus(Protocol):
    """The field of sounddevice's ``CallbackFlags`` that the engine reads."""

    @property
    def output_underflow(self) -> bool: ...


@dataclass(frozen=True)
class Beat:
    """One logged beat.

    Attributes:
        number: beat number since :meth:`MetronomeEngine.start` (0, 1, …).
        host_s: onset in host seconds (the engine's clock, e.g. ``time.monotonic``).
        stream_s: onset in stream seconds.
        cued: whether it was heard (False: muted by the out-of-band or faded rule).
        accent: whether it was accented.
        pan: -1 left, 0 centre, +1 right.
    """

    number: int
    host_s: float
    stream_s: float
    cued: bool
    accent: bool
    pan: int


@dataclass(frozen=True, eq=False)
class BeatLog:
    """Beats copied out of the engine's log (the reader's own arrays).

    Attributes:
        number: shape ``(n,)`` int64, beat numbers.
        host_s: shape ``(n,)`` float64, onsets in host seconds.
        stream_s: shape ``(n,)`` float64, onsets in stream seconds.
        cued: shape ``(n,)`` bool, heard.
        accent: shape ``(n,)`` bool, accented.
        pan: shape ``(n,)`` int8, -1 left, 0 centre, +1 right.
        next_cursor: pass to the next :meth:`MetronomeEngine.beats_since`.
        overrun: entries asked for that were overwritten before they could be copied.
    """

    number: npt.NDArray[np.int64]
    host_s: npt.NDArray[np.float64]
    stream_s: npt.NDArray[np.float64]
    cued: npt.NDArray[np.bool_]
    accent: npt.NDArray[np.bool_]
    pan: npt.NDArray[np.int8]
    next_cursor: int
    overrun: int

    def __len__(self) -> int:
        return int(self.number.shape[0])


class MetronomeEngine:
    """Sample-accurate click scheduling for one audio output.

    Args:
        settings: initial tempo, accents, panning, volume and cue mode.
        sample_rate_hz: output sample rate (Hz).
        channels: 1 (mono) or 2 (stereo) output channels.
        clock: host clock (s, monotonic); beat times are logged on it.
        log_capacity: beats kept in the log ring (4096 ≈ 24 min at 170 spm).
        resync_ms: a DAC time further than this from the frame count re-anchors the
            frame clock at once (ms); closer ones are smoothed.
        smoothing: weight (0..1] of each new DAC-time measurement.

    Use: ``start(stream_time_s)`` sets beat 0 (usually a little ahead of the stream's
    current time); then pass :meth:`callback` to the output stream, or, with no audio
    device, call :meth:`advance` from a timer. The setters may be called at any time, from
    any thread.
    """

    def __init__(
        self,
        settings: MetronomeSettings | None = None,
        *,
        sample_rate_hz: float = 48_000.0,
        channels: int = 2,
        clock: Callable[[], float] = time.monotonic,
        log_capacity: int = 4096,
        resync_ms: float = 3.0,
        smoothing: float = 0.05,
    ) -> None:
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels}")
        if log_capacity < 1:
            raise ValueError(f"log_capacity must be at least 1, got {log_capacity}")
        if not 0.0 < smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
        self.settings = settings if settings is not None else MetronomeSettings()
        self.sample_rate_hz = float(sample_rate_hz)
        self.channels = channels
        self.clock = clock
        self.resync_s = resync_ms * 1e-3
        self.smoothing = float(smoothing)
        self.bank = ClickBank(self.sample_rate_hz)
        self.gate = BandGate(target_spm=self.settings.bpm, config=self.settings.band)
        self._lock = threading.Lock()
        # Published by the control side with one assignment; read by the audio side.
        self._schedule: BeatSchedule | None = None
        # Audio-side state, allocated once.
        self._f = np.zeros(7, dtype=np.float64)
        self._f[_FRONTIER_S] = -np.inf
        self._f[_LAST_NOW_S] = -np.inf
        self._n = np.zeros(6, dtype=np.int64)
        self._n[_LAST_BEAT] = -1
        self._rendered = RenderedBeats(16)
        self._cap = int(log_capacity)
        self._log_number = np.zeros(self._cap, dtype=np.int64)
        self._log_host_s = np.zeros(self._cap, dtype=np.float64)
        self._log_stream_s = np.zeros(self._cap, dtype=np.float64)
        self._log_cued = np.zeros(self._cap, dtype=np.int8)
        self._log_accent = np.zeros(self._cap, dtype=np.int8)
        self._log_pan = np.zeros(self._cap, dtype=np.int8)

    # ------------------------------------------------------------------ control side

    @property
    def schedule(self) -> BeatSchedule | None:
        """The beat grid in force (None before :meth:`start`)."""
        return self._schedule

    @property
    def started(self) -> bool:
        """Whether :meth:`start` has set beat 0."""
        return self._schedule is not None

    @property
    def frontier_s(self) -> float:
        """Stream time up to which audio (or the visual beat) has been produced (s)."""
        return float(self._f[_FRONTIER_S])

    def start(self, stream_time_s: float, *, lead_s: float = 0.0) -> None:
        """Set the next beat at ``stream_time_s + lead_s`` (stream seconds), current settings.

        With an output stream, pass a time at or after the audio rendered so far (e.g.
        :attr:`frontier_s`) plus a lead; without one, pass the host clock's time (stream
        time = host time). Beat numbers continue after the last logged beat, so calling it
        again restarts the grid without renumbering the log.
        """
        with self._lock:
            self._schedule = BeatSchedule.starting(
                stream_time_s + lead_s,
                self.settings,
                cue_on=self.gate.cueing_,
                first_index=int(self._n[_LAST_BEAT]) + 1,
            )

    def reset_stream(self) -> None:
        """Forget the previous stream's clocks before a new stream starts calling back.

        Clears the frame count, the DAC-time anchor, the host offset and the frontier, and
        silences the engine until :meth:`start`; the beat log and counters stay. Call only
        while no callback can run.
        """
        with self._lock:
            self._schedule = None
            self._f[:] = 0.0
            self._f[_FRONTIER_S] = -np.inf
            self._f[_LAST_NOW_S] = -np.inf
            self._n[_FRAME_POS] = 0

    def set_bpm(self, bpm: float) -> None:
        """Set the tempo in beats = steps per minute, from the next beat on.

        The out-of-band band follows the new target (its hold timers restart).
        """
        check_bpm(bpm)
        with self._lock:
            self.settings = replace(self.settings, bpm=float(bpm))
            self.gate.retarget(float(bpm))
            self._publish(bpm=float(bpm))

    def set_volume(self, volume: float) -> None:
        """Set the linear gain 0..1 of every click, from the next beat on."""
        check_volume(volume)
        with self._lock:
            self.settings = replace(self.settings, volume=float(volume))
            self._publish(volume=float(volume))

    def set_accent_every(self, accent_every: int) -> None:
        """Accent every Nth beat (0 = none); the next beat is the first accented one."""
        check_accent_every(accent_every)
        with self._lock:
            self.settings = replace(self.settings, accent_every=accent_every)
            self._publish(accent_every=accent_every)

    def set_alternate(self, alternate: bool) -> None:
        """Pan beats alternately left (even beats) and right (odd beats), or centre them."""
        with self._lock:
            self.settings = replace(self.settings, alternate=bool(alternate))
            self._publish(alternate=bool(alternate))

    def set_mode(
        self,
        mode: CueMode | str,
        *,
        faded: FadedConfig | None = None,
        band: BandConfig | None = None,
    ) -> None:
        """Choose which beats are heard, from the next beat on.

        Args:
            mode: ``every``, ``out_of_band`` or ``faded`` (a :class:`CueMode` or its name).
            faded: blocks and levels for ``faded`` (default: the current settings'); a faded
                schedule starts its first block on the next beat.
            band: band width and hold times for ``out_of_band`` (default: current).
        """
        mode = CueMode.parse(mode)
        with self._lock:
            changes: dict[str, Any] = {"mode": mode}
            if faded is not None:
                changes["faded"] = faded
            if band is not None:
                changes["band"] = band
                self.gate.config = band
            self.settings = replace(self.settings, **changes)
            if mode is CueMode.FADED:
                self._publish(cue_on=True, fade=self.settings.faded)
            elif mode is CueMode.OUT_OF_BAND:
                self._publish(cue_on=self.gate.cueing_, fade=None)
            else:
                self._publish(cue_on=True, fade=None)

    def update_cadence(self, t_host_s: float, cadence_spm: float) -> bool:
        """Feed the rolling cadence (spm) measured at host time ``t_host_s`` (s).

        The out-of-band gate always follows the cadence; in ``out_of_band`` mode a change of
        its decision mutes or unmutes from the next beat. Returns whether it cues.
        """
        with self._lock:
            before = self.gate.cueing_
            cueing = self.gate.update(t_host_s, cadence_spm).cueing_
            if cueing != before and self.settings.mode is CueMode.OUT_OF_BAND:
                self._publish(cue_on=cueing)
            return cueing

    def _publish(self, **changes: Any) -> None:
        """Swap in a schedule with ``changes`` from the next beat (caller holds the lock)."""
        current = self._schedule
        if current is None:
            return
        self._schedule = current.changed(float(self._f[_FRONTIER_S]), **changes)

    # -------------------------------------------------------------------- audio side

    def callback(
        self,
        outdata: npt.NDArray[np.float32],
        frames: int,
        time: TimeInfo,
        status: CallbackStatus,
    ) -> None:
        """Fill one output buffer (the sounddevice ``OutputStream`` callback).

        Args:
            outdata: shape ``(frames, channels)`` float32, overwritten entirely.
            frames: number of frames in ``outdata``.
            time: PortAudio time info; ``outputBufferDacTime`` places the buffer,
                ``currentTime`` maps stream time to host time.
            status: PortAudio callback flags; ``output_underflow`` is counted and
                re-anchors the frame clock.

        Reads the published schedule once and allocates no arrays.
        """
        host_now = self.clock()
        f = self._f
        n = self._n
        n[_CALLBACKS] += 1
        underflow = bool(status.output_underflow)
        if underflow:
            n[_UNDERFLOWS] += 1
        fs = self.sample_rate_hz
        alpha = self.smoothing
        dac_s = time.outputBufferDacTime
        now_s = time.currentTime
        if now_s > 0.0:
            f[_LAST_NOW_S] = now_s
            # The callback may start late (waiting for the GIL), which only ever adds to
            # the measured offset: follow the low envelope. A lower measurement is taken at
            # once; higher ones pull the estimate up slowly (clock drift), and a jump larger
            # than any scheduling delay (a clock step) is taken at once.
            offset = host_now - now_s
            est = f[_OFFSET_S]
            if f[_HAVE_OFFSET] == 0.0 or offset < est or offset - est > _OFFSET_STEP_S:
                f[_OFFSET_S] = offset
                f[_HAVE_OFFSET] = 1.0
            else:
                f[_OFFSET_S] = est + _OFFSET_CREEP * (offset - est)
        pos = int(n[_FRAME_POS])
        if not dac_s > 0.0:
            # Some host APIs report no DAC time: fall back on the frame count, anchored at
            # the current time on the first buffer.
            if f[_HAVE_FRAME0] == 0.0:
                start = now_s if now_s > 0.0 else host_now - f[_OFFSET_S]
                f[_FRAME0_S] = start - pos / fs
                f[_HAVE_FRAME0] = 1.0
        elif f[_HAVE_FRAME0] == 0.0 or underflow:
            f[_FRAME0_S] = dac_s - pos / fs
            f[_HAVE_FRAME0] = 1.0
        else:
            err = dac_s - (f[_FRAME0_S] + pos / fs)
            if abs(err) > self.resync_s:
                f[_FRAME0_S] = dac_s - pos / fs
            else:
                f[_FRAME0_S] += alpha * err
        f[_LAST_DAC_S] = dac_s
        frame0_s = float(f[_FRAME0_S])
        schedule = self._schedule
        done = 0
        while done < frames:
            m = frames - done
            if m > _MAX_CHUNK_FRAMES:
                m = _MAX_CHUNK_FRAMES
            count = render_into(
                outdata[done : done + m],
                schedule,
                self.bank,
                start_frame=pos + done,
                frame0_s=frame0_s,
                beats=self._rendered,
            )
            if count:
                self._log_rendered(count, float(f[_OFFSET_S]))
            done += m
        n[_FRAME_POS] = pos + frames
        f[_FRONTIER_S] = frame0_s + (pos + frames) / fs

    def _log_rendered(self, count: int, offset_s: float) -> None:
        r = self._rendered
        for k in range(min(count, r.capacity)):
            number = int(r.index[k])
            if number > self._n[_LAST_BEAT]:
                stream_s = float(r.time_s[k])
                self._log(number, stream_s + offset_s, stream_s, r.cued[k], r.accent[k], r.pan[k])

    def _log(
        self, number: int, host_s: float, stream_s: float, cued: Any, accent: Any, pan: Any
    ) -> None:
        n = self._n
        w = int(n[_WRITTEN])
        slot = w % self._cap
        n[_RESERVED] = w + 1
        self._log_number[slot] = number
        self._log_host_s[slot] = host_s
        self._log_stream_s[slot] = stream_s
        self._log_cued[slot] = cued
        self._log_accent[slot] = accent
        self._log_pan[slot] = pan
        n[_WRITTEN] = w + 1
        n[_LAST_BEAT] = number

    def advance(self, until_host_s: float | None = None) -> int:
        """Log the beats before ``until_host_s`` without audio (the visual beat); returns how many.

        For an engine without an output stream (no audio device): stream time is host
        time. Call it from a timer, e.g. the dashboard's frame timer; default: now. Do not
        mix with a running :meth:`callback`: the log has one writer.
        """
        until_s = self.clock() if until_host_s is None else float(until_host_s)
        schedule = self._schedule
        if schedule is None:
            return 0
        f = self._f
        i = max(
            int(self._n[_LAST_BEAT]) + 1,
            schedule.first_index_at_or_after(float(f[_FRONTIER_S])),
        )
        logged = 0
        while True:
            seg = schedule.segment(i)
            t_s = seg.time_s(i)
            if t_s >= until_s:
                break
            self._log(i, t_s, t_s, seg.cued(i, t_s), seg.accented(i), seg.pan(i))
            logged += 1
            i += 1
        f[_OFFSET_S] = 0.0
        f[_HAVE_OFFSET] = 1.0
        if until_s > f[_FRONTIER_S]:
            f[_FRONTIER_S] = until_s
        return logged

    # ----------------------------------------------------------------------- readers

    @property
    def underflows(self) -> int:
        """Callbacks that reported an output underflow (a gap in the sound)."""
        return int(self._n[_UNDERFLOWS])

    @property
    def callbacks(self) -> int:
        """Audio callbacks run so far."""
        return int(self._n[_CALLBACKS])

    @property
    def beat_count(self) -> int:
        """Beats logged so far (the cursor just past the newest)."""
        return int(self._n[_WRITTEN])

    @property
    def host_offset_s(self) -> float:
        """Smoothed ``host clock − stream time`` (s); NaN before the first callback."""
        if self._f[_HAVE_OFFSET] == 0.0:
            return math.nan
        return float(self._f[_OFFSET_S])

    @property
    def stream_now_s(self) -> float:
        """Stream time (``currentTime``) at the latest callback (s); -inf before the first."""
        return float(self._f[_LAST_NOW_S])

    @property
    def frames_rendered(self) -> int:
        """Frames the callback has produced."""
        return int(self._n[_FRAME_POS])

    def beats_since(self, cursor: int = 0) -> BeatLog:
        """Copy the logged beats from ``cursor`` on (0: everything still held).

        Beats are logged when rendered, up to one output latency before they sound, so the
        newest entries can lie in the future of the host clock.
        """
        n = self._n
        written = int(n[_WRITTEN])
        lo = max(cursor, written - self._cap, 0)
        hi = written
        idx = np.arange(lo, hi, dtype=np.int64) % self._cap
        number = self._log_number[idx]
        host_s = self._log_host_s[idx]
        stream_s = self._log_stream_s[idx]
        cued = self._log_cued[idx].astype(bool)
        accent = self._log_accent[idx].astype(bool)
        pan = self._log_pan[idx].copy()
        reserved = int(n[_RESERVED])
        intact = max(lo, reserved - self._cap)
        keep = intact - lo
        return BeatLog(
            number=number[keep:],
            host_s=host_s[keep:],
            stream_s=stream_s[keep:],
            cued=cued[keep:],
            accent=accent[keep:],
            pan=pan[keep:],
            next_cursor=hi,
            overrun=max(0, intact - max(cursor, 0)),
        )

    def last_beat(self, at_host_s: float | None = None, *, cued_only: bool = False) -> Beat | None:
        """The latest logged beat whose onset is at or before ``at_host_s`` (default: now).

        For the visual beat: flash when the returned beat's ``number`` changes. With
        ``cued_only`` muted beats are skipped.
        """
        at_s = self.clock() if at_host_s is None else float(at_host_s)
        written = int(self._n[_WRITTEN])
        log = self.beats_since(max(0, written - 8))
        for k in range(len(log) - 1, -1, -1):
            if log.host_s[k] <= at_s and (log.cued[k] or not cued_only):
                return Beat(
                    number=int(log.number[k]),
                    host_s=float(log.host_s[k]),
                    stream_s=float(log.stream_s[k]),
                    cued=bool(log.cued[k]),
                    accent=bool(log.accent[k]),
                    pan=int(log.pan[k]),
                )
        return None

    def last_beat_host_s(self, at_host_s: float | None = None) -> float:
        """Host time of the latest beat at or before ``at_host_s`` (default now), NaN if none."""
        beat = self.last_beat(at_host_s)
        return math.nan if beat is None else beat.host_s

    def next_beat_host_s(self, after_host_s: float | None = None) -> float:
        """Predicted host time of the first beat after ``after_host_s`` (default now), or NaN.

        From the schedule in force; a later change can still move it.
        """
        schedule = self._schedule
        if schedule is None:
            return math.nan
        after_s = self.clock() if after_host_s is None else float(after_host_s)
        offset = float(self._f[_OFFSET_S])
        i = schedule.first_index_at_or_after(after_s - offset)
        t_s = schedule.time_s(i)
        if t_s + offset <= after_s:
            t_s = schedule.time_s(i + 1)
        return t_s + offset
