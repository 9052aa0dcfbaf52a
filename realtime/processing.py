"""The live processing thread: ring buffers → ``GaitPipeline``, never blocking readers.

One thread reads every stream's ring buffer with its own cursor, turns what is new into
``SampleBlock``s (split at the gap marks the bridge wrote, and with a gap where this thread
itself fell behind and samples were overwritten), and feeds the pipeline. Views read
``ProcessingThread.view()``: an immutable snapshot swapped in after each update, so the GUI
thread never waits on analysis and never sees a half-updated state.

When to look. If the writers notify the buffers after each batch (``StreamBuffers.notify``;
the acquisition does), the thread sleeps until then: it runs once per batch of packets,
right after it arrived, and never wakes for nothing (a wake-up costs tens of µs of CPU).
Otherwise it polls every ``poll_s``. A stream with nothing new costs one integer
comparison. With ``on_writer_thread`` the pass runs inside the writer's notification
instead, on the writer's thread: no thread is woken at all (a lock keeps passes one at a
time), and this thread only looks now and then, for writers that do not notify.

Sensor health. The sensor checks do not need to keep up with every packet: each stream is
checked every ``HEALTH_EVERY_S`` of its data, in one block read back from its ring buffer
with a cursor of its own, instead of once per pass.

The end. ``stop`` (or ``finish``, for a caller that drives ``step_once`` itself) analyses what
is still in the buffers, releases the steps the assembler still holds (the last step of each
side waits for events that will never come) and publishes them in the view.

Catching up. A pass normally finds a few milliseconds of each stream and feeds them one
stream after the other. When it finds more than ``CATCH_UP_SLICE_S`` of a stream (at the
start, or after the machine stalled the thread), feeding each stream whole would put one
foot's streams seconds ahead of the other's, further than the step assembler waits
(``max_side_lag_s``), and steps would lose their step time or be mislabelled: the streams are
then cut into time slices of ``CATCH_UP_SLICE_S`` and fed slice by slice across the streams.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from firmware_bridge.samples import SampleBlock
from realtime.events import Step
from realtime.metrics import GaitMetrics
from realtime.pipeline import GaitPipeline
from realtime.ringbuffer import RingBuffer, Snapshot
from realtime.sensor_health import SensorHealthMonitor, SensorIssue
from realtime.streams import StreamBuffers


@dataclass(frozen=True)
class AnalysisView:
    """What a view shows of the analysis, at one moment.

    Attributes:
        metrics: rolling metrics over the window.
        recent_steps: the newest steps (oldest first), at most ``keep_steps``.
        n_steps: steps so far (retracted ones taken off).
        last_step_s: host time (s) of the newest step's toe-off, per side name
            (``"left"``/``"right"``); missing before the first.
        overrun_samples: samples this thread missed because it fell behind.
        updated_s: host time (s) at which this snapshot was made; a pass makes a new one
            only when something above changed.
        sensor_issues: sensor problems in force (saturated or dead cells, a stuck axis, a
            side reported twice, a sample rate off its nominal value).
    """

    metrics: GaitMetrics
    recent_steps: tuple[Step, ...]
    n_steps: int
    last_step_s: dict[str, float]
    overrun_samples: int
    updated_s: float
    sensor_issues: tuple[SensorIssue, ...] = ()


def blocks_from_snapshot(stream_id: str, snap: Snapshot, rate_hz: float) -> list[SampleBlock]:
    """Split a ring-buffer snapshot into blocks at its gap marks.

    Samples the reader missed (``snap.overrun``) become a gap before the first block.
    """
    if snap.n_samples == 0:
        return []
    gaps = snap.gap_before_s
    if not snap.overrun and not np.count_nonzero(gaps):  # the usual case: one contiguous block
        return [SampleBlock(stream_id, snap.t_host_s, snap.values)]
    cuts = np.flatnonzero(gaps[1:] > 0) + 1
    bounds = [0, *cuts.tolist(), snap.n_samples]
    blocks = []
    for start, stop in itertools.pairwise(bounds):
        gap = float(gaps[start])
        if start == 0 and snap.overrun:
            gap = max(gap, snap.overrun / rate_hz)
        blocks.append(
            SampleBlock(
                stream_id, snap.t_host_s[start:stop], snap.values[start:stop], gap_before_s=gap
            )
        )
    return blocks


CATCH_UP_SLICE_S = 0.1
"""When a pass finds more than this much of a stream (s) — the thread fell behind: a stall,
the start — the streams are fed interleaved in time slices of this length, so no stream
runs ahead of the others by more than the step assembler waits for (``max_side_lag_s``)."""


def interleave_slices(per_stream: list[list[SampleBlock]], slice_s: float) -> list[SampleBlock]:
    """Cut every stream's blocks at the same time marks, ``slice_s`` apart, and order the
    pieces by slice, then by stream (each stream's samples stay in order; a gap mark stays
    on the first piece of its block)."""
    firsts = [float(blocks[0].t_host_s[0]) for blocks in per_stream if blocks]
    if not firsts:
        return []
    origin = min(firsts)
    pieces: list[tuple[int, int, SampleBlock]] = []
    for order, blocks in enumerate(per_stream):
        for block in blocks:
            t = block.t_host_s
            n = block.n_samples
            if n == 0:
                continue
            k0 = int((float(t[0]) - origin) // slice_s)
            k1 = int((float(t[n - 1]) - origin) // slice_s)
            if k0 == k1:
                pieces.append((k0, order, block))
                continue
            marks = origin + slice_s * np.arange(k0 + 1, k1 + 1)
            bounds = [0, *np.searchsorted(t, marks, side="left").tolist(), n]
            for k, (start, stop) in enumerate(itertools.pairwise(bounds), k0):
                if stop > start:
                    piece = SampleBlock(
                        block.stream_id,
                        t[start:stop],
                        block.values[start:stop],
                        gap_before_s=block.gap_before_s if start == 0 else 0.0,
                    )
                    pieces.append((k, order, piece))
    pieces.sort(key=lambda piece: (piece[0], piece[1]))  # stable: keeps each stream's order
    return [piece for _, _, piece in pieces]


HEALTH_EVERY_S = 0.1
"""How much of a stream (s of its data) is gathered before the sensor checks look at it."""


@dataclass
class _Cursor:
    """This thread's place in one stream: for the analysis, and for the sensor checks
    (``health_index``, checked again once the data pass ``health_due_s``)."""

    stream_id: str
    buffer: RingBuffer
    rate_hz: float
    next_index: int
    health_index: int
    health_due_s: float = -math.inf
    last_t_s: float = -math.inf


class ProcessingThread:
    """Runs the pipeline over the ring buffers on its own thread.

    Args:
        buffers: the streams to analyse.
        pipeline: the analysis.
        poll_s: how often to look at the buffers while their writers do not notify (s).
        max_wait_s: longest sleep while they do (s); only a safety net.
        on_writer_thread: run the pass after a writer's batch on the writer's own thread,
            inside its ``StreamBuffers.notify``, instead of waking this thread for it (which
            then only looks every ``max_wait_s``, for writers that do not notify). Saves a
            thread wake-up per batch, in CPU and in latency; the writer reads on only once
            the pass is done. An exception in such a pass is counted in ``errors``, never
            raised into the writer.
        keep_steps: how many recent steps the view keeps.
    """

    def __init__(
        self,
        buffers: StreamBuffers,
        pipeline: GaitPipeline,
        *,
        poll_s: float = 0.004,
        max_wait_s: float = 0.1,
        on_writer_thread: bool = False,
        keep_steps: int = 64,
    ) -> None:
        self.buffers = buffers
        self.pipeline = pipeline
        self._poll_s = poll_s
        self._max_wait_s = max_wait_s
        self._on_writer_thread = on_writer_thread
        self._pass_lock = threading.Lock()
        """Held during a pass: passes run one at a time, whichever thread runs them."""
        self._streams: list[_Cursor] = []
        self._known: tuple[str, ...] = ()
        self._recent: deque[Step] = deque(maxlen=keep_steps)
        self._last_step_s: dict[str, float] = {}
        self._overrun = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_cpu_s = 0.0
        self._writer_cpu_s = 0.0
        self.errors = 0
        """Exceptions raised by passes on a writer's thread (counted, not raised)."""
        self.last_error: str | None = None
        self.passes = 0
        """Passes over the buffers so far (``step_once`` calls)."""
        self.health = SensorHealthMonitor()
        self._view = AnalysisView(pipeline.metrics.snapshot(), (), 0, {}, 0, 0.0)

    def view(self) -> AnalysisView:
        """The newest snapshot (cheap; safe from any thread)."""
        return self._view

    @property
    def cpu_s(self) -> float:
        """CPU time (s) of the analysis: this thread's whole CPU time (passes and wake-ups)
        and that of the passes run on writers' threads."""
        return self._thread_cpu_s + self._writer_cpu_s

    def start(self) -> None:
        if self._on_writer_thread:
            self.buffers.consume_on_notify(self._writer_pass)
        self._thread = threading.Thread(target=self._run, name="processing", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """End the run: the thread (or, if it never started, this call) analyses what is
        left in the buffers and publishes the last steps (``finish``) before it ends."""
        self._stop.set()
        if self._on_writer_thread:
            self.buffers.consume_on_notify(None)
        self.buffers.wake()
        if self._thread is None:
            self.finish()
            return
        self._thread.join(timeout_s)

    def finish(self) -> list[Step]:
        """End of the data: analyse what the buffers still hold, release the steps the
        assembler holds back, and publish them in the view; return the released steps.

        Call it from the thread that runs the passes (``stop`` does), once the writers have
        stopped; nothing should be fed afterwards.
        """
        self.step_once()
        self._check_health(force=True)
        steps = self.pipeline.finish()
        self._publish(steps)
        return steps

    def _refresh_streams(self, stream_ids: tuple[str, ...]) -> None:
        """Start following streams registered since the last look (in registration order)."""
        known = {c.stream_id for c in self._streams}
        for stream_id in stream_ids:
            if stream_id not in known:
                info = self.buffers.info(stream_id)
                self.pipeline.add_stream(info)
                self.health.add_stream(info, t_s=self.pipeline.clock())
                buffer = self.buffers[stream_id]
                first = buffer.first_index
                self._streams.append(_Cursor(stream_id, buffer, info.rate_hz, first, first))
        self._known = stream_ids

    def step_once(self) -> int:
        """Process whatever is new in every buffer; return the number of samples."""
        self.passes += 1
        stream_ids = self.buffers.stream_ids()
        if stream_ids != self._known:
            self._refresh_streams(stream_ids)
        processed = 0
        per_stream: list[list[SampleBlock]] = []
        behind = False
        health_due = False
        for cursor in self._streams:
            buffer = cursor.buffer
            if buffer.written == cursor.next_index:
                continue
            snap = buffer.read_since(cursor.next_index)
            cursor.next_index = snap.next_cursor
            self._overrun += snap.overrun
            n = snap.n_samples
            if n:
                processed += n
                per_stream.append(blocks_from_snapshot(cursor.stream_id, snap, cursor.rate_hz))
                t = snap.t_host_s
                last_t_s = float(t[n - 1])
                cursor.last_t_s = last_t_s
                behind = behind or last_t_s - t[0] > CATCH_UP_SLICE_S
                health_due = health_due or last_t_s >= cursor.health_due_s
        if behind:
            blocks = interleave_slices(per_stream, CATCH_UP_SLICE_S)
        else:  # the usual case: a few ms of each stream, one stream after the other
            blocks = [block for blocks in per_stream for block in blocks]
        update = self.pipeline.update
        new_steps: list[Step] = []
        for block in blocks:
            new_steps.extend(update(block))
        issues_changed = health_due and self._check_health(force=False)
        view = self._view
        if (
            new_steps
            or issues_changed
            or self._overrun != view.overrun_samples
            or self.pipeline.n_steps != view.n_steps
        ):
            self._publish(new_steps)
        return processed

    def _check_health(self, *, force: bool) -> bool:
        """Run the sensor checks over what each stream gathered since its last check: once
        it spans ``HEALTH_EVERY_S`` of data (or, with ``force``, whatever there is); return
        whether the issues in force changed."""
        check = self.health.update
        before = self._view.sensor_issues
        for cursor in self._streams:
            if cursor.health_index == cursor.buffer.written:
                continue
            if not force and cursor.last_t_s < cursor.health_due_s:
                continue
            snap = cursor.buffer.read_since(cursor.health_index)
            cursor.health_index = snap.next_cursor
            if snap.n_samples:
                cursor.health_due_s = float(snap.t_host_s[0]) + HEALTH_EVERY_S
                for block in blocks_from_snapshot(cursor.stream_id, snap, cursor.rate_hz):
                    check(block)
        return tuple(self.health.issues_.values()) != before

    def _publish(self, new_steps: list[Step]) -> None:
        """Swap in a new view (its metrics recomputed only when steps came)."""
        view = self._view
        if new_steps:
            for step in new_steps:
                self._recent.append(step)
                self._last_step_s[step.side.name.lower()] = step.to_s
            # The rolling metrics change only with steps: recompute them only then.
            metrics = self.pipeline.metrics.snapshot()
            recent, last_step_s = tuple(self._recent), dict(self._last_step_s)
        else:  # the previous view's records are immutable: share them
            metrics, recent, last_step_s = view.metrics, view.recent_steps, view.last_step_s
        self._view = AnalysisView(
            metrics=metrics,
            recent_steps=recent,
            n_steps=self.pipeline.n_steps,
            last_step_s=last_step_s,
            overrun_samples=self._overrun,
            updated_s=self.pipeline.clock(),
            sensor_issues=tuple(self.health.issues_.values()),
        )

    def _run(self) -> None:
        buffers = self.buffers
        lock = self._pass_lock
        # This thread's whole CPU time (analysis and wake-ups): one clock read per pass,
        # since reading a thread's CPU clock is a system call.
        started = time.thread_time() - self._thread_cpu_s
        while not self._stop.is_set():
            with lock:
                self.step_once()
            self._thread_cpu_s = time.thread_time() - started
            buffers.wait_for_data(self._max_wait_s if buffers.notifying else self._poll_s)
        with lock:
            self.finish()
        self._thread_cpu_s = time.thread_time() - started

    def _writer_pass(self) -> None:
        """A pass on a writer's thread, right after its batch (``on_writer_thread``)."""
        started = time.thread_time()
        with self._pass_lock:
            if self._stop.is_set():  # the run is ending: this thread finishes it
                return
            try:
                self.step_once()
            except Exception as exc:  # the writer must go on reading
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            self._writer_cpu_s += time.thread_time() - started
