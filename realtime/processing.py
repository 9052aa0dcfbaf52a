"""The live processing thread: ring buffers → ``GaitPipeline``, never blocking readers.

One thread polls every stream's ring buffer with its own cursor (every ``poll_s``), turns
what is new into ``SampleBlock``s (split at the gap marks the bridge wrote, and with a gap
where this thread itself fell behind and samples were overwritten), and feeds the pipeline.
Views read ``ProcessingThread.view()``: an immutable snapshot swapped in after each
update, so the GUI thread never waits on analysis and never sees a half-updated state.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from firmware_bridge.samples import SampleBlock
from realtime.events import Step
from realtime.metrics import GaitMetrics
from realtime.pipeline import GaitPipeline
from realtime.ringbuffer import Snapshot
from realtime.streams import StreamBuffers


@dataclass(frozen=True)
class AnalysisView:
    """What a view shows of the analysis, at one moment.

    Attributes:
        metrics: rolling metrics over the window.
        recent_steps: the newest steps (oldest first), at most ``keep_steps``.
        n_steps: steps so far.
        last_step_s: host time (s) of the newest step's toe-off, per side name
            (``"left"``/``"right"``); missing before the first.
        overrun_samples: samples this thread missed because it fell behind.
        updated_s: host time (s) of this snapshot.
    """

    metrics: GaitMetrics
    recent_steps: tuple[Step, ...]
    n_steps: int
    last_step_s: dict[str, float]
    overrun_samples: int
    updated_s: float


def blocks_from_snapshot(stream_id: str, snap: Snapshot, rate_hz: float) -> list[SampleBlock]:
    """Split a ring-buffer snapshot into blocks at its gap marks.

    Samples the reader missed (``snap.overrun``) become a gap before the first block.
    """
    if snap.n_samples == 0:
        return []
    gaps = snap.gap_before_s
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


class ProcessingThread:
    """Runs the pipeline over the ring buffers on its own thread."""

    def __init__(
        self,
        buffers: StreamBuffers,
        pipeline: GaitPipeline,
        *,
        poll_s: float = 0.004,
        keep_steps: int = 64,
    ) -> None:
        self.buffers = buffers
        self.pipeline = pipeline
        self._poll_s = poll_s
        self._cursors: dict[str, int] = {}
        self._recent: deque[Step] = deque(maxlen=keep_steps)
        self._last_step_s: dict[str, float] = {}
        self._overrun = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cpu_s = 0.0
        self._view = AnalysisView(pipeline.metrics.snapshot(), (), 0, {}, 0, 0.0)

    def view(self) -> AnalysisView:
        """The newest snapshot (cheap; safe from any thread)."""
        return self._view

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="processing", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def step_once(self) -> int:
        """Process whatever is new in every buffer; return the number of samples."""
        processed = 0
        new_steps: list[Step] = []
        for stream_id in self.buffers.stream_ids():
            if stream_id not in self._cursors:
                self.pipeline.add_stream(self.buffers.info(stream_id))
                self._cursors[stream_id] = self.buffers[stream_id].first_index
            info = self.buffers.info(stream_id)
            snap = self.buffers[stream_id].read_since(self._cursors[stream_id])
            self._cursors[stream_id] = snap.next_cursor
            self._overrun += snap.overrun
            for block in blocks_from_snapshot(stream_id, snap, info.rate_hz):
                new_steps.extend(self.pipeline.update(block))
            processed += snap.n_samples
        if new_steps or processed:
            for step in new_steps:
                self._recent.append(step)
                self._last_step_s[step.side.name.lower()] = step.to_s
            # The rolling metrics change only with steps: recompute them only then.
            metrics = self.pipeline.metrics.snapshot() if new_steps else self._view.metrics
            self._view = AnalysisView(
                metrics=metrics,
                recent_steps=tuple(self._recent),
                n_steps=len(self.pipeline.steps),
                last_step_s=dict(self._last_step_s),
                overrun_samples=self._overrun,
                updated_s=self.pipeline.clock(),
            )
        return processed

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.thread_time()
            self.step_once()
            self.cpu_s += time.thread_time() - started
            self._stop.wait(self._poll_s)
