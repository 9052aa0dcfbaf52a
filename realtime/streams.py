"""One ring buffer per stream, behind a single sink the bridge can call.

:class:`StreamBuffers` is what the app layer hands to the bridge as its
:data:`~firmware_bridge.samples.SampleSink`: each :class:`~firmware_bridge.samples.SampleBlock`
goes to the :class:`~realtime.ringbuffer.RingBuffer` of its ``stream_id``. Buffers are sized
from the stream's description: ``ceil(capacity_s × rate_hz)`` samples.

Threads. Registration (``add``) may happen on any thread and takes a lock; routing and
look-ups take none. The registry is copy-on-write: ``add`` builds a new dict and swaps the
reference in one attribute store (atomic under the GIL), so a lookup sees the registry from
before or after a registration, never a half-built one. Each buffer keeps its own rule: one
writer thread per stream.

Waking a reader. Writers may call :meth:`StreamBuffers.notify` after a batch of writes (the
acquisition does, once per wake-up of its reader thread); a reader then sleeps in
:meth:`StreamBuffers.wait_for_data` until there is something new instead of polling. Waking
a thread is not free, so one notification covers a whole batch and none is sent when the
batch wrote nothing.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from firmware_bridge.errors import ConfigurationError, GaitcueError
from firmware_bridge.samples import SampleBlock, StreamInfo
from realtime.ringbuffer import RingBuffer

__all__ = ["DEFAULT_CAPACITY_S", "StreamBuffers", "UnknownStreamError"]

DEFAULT_CAPACITY_S = 60.0
"""Seconds of history kept per stream unless told otherwise."""


class UnknownStreamError(GaitcueError, LookupError):
    """A block or a look-up named a stream that was never registered."""


@dataclass(frozen=True)
class _Entry:
    """A registered stream: its description and its buffer."""

    info: StreamInfo
    buffer: RingBuffer


class StreamBuffers:
    """Registry of ring buffers keyed by stream id; calling it routes a block to its buffer.

    Args:
        infos: streams to register at once (same as calling :meth:`add` for each).
        capacity_s: default history kept per stream (s), > 0.

    Raises:
        ConfigurationError: ``capacity_s`` is not a positive finite number.
    """

    def __init__(
        self, infos: Iterable[StreamInfo] = (), *, capacity_s: float = DEFAULT_CAPACITY_S
    ) -> None:
        self._capacity_s = _check_capacity_s(capacity_s)
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._written_since_notify = False
        # A wake-up signal without a condition variable: the lock is held while nothing is
        # pending; ``notify`` releases it (from any thread) and the waiting reader's
        # ``acquire`` consumes it. Cheaper per batch than a ``threading.Event``.
        self._pending = threading.Lock()
        self._pending.acquire()
        self._consumer: Callable[[], None] | None = None
        self.notifying = False
        """True once a writer has called :meth:`notify`: readers may then wait instead of poll."""
        for info in infos:
            self.add(info)

    @property
    def capacity_s(self) -> float:
        """Default history per stream (s)."""
        return self._capacity_s

    def add(self, info: StreamInfo, *, capacity_s: float | None = None) -> RingBuffer:
        """Register a stream and return its buffer (thread-safe).

        Registering the same description again (a device that reconnects) returns the
        existing buffer with its history; ``capacity_s`` is then ignored.

        Args:
            info: the stream's description; its ``rate_hz`` and ``n_channels`` size the buffer.
            capacity_s: history kept for this stream (s); ``None`` for the default.

        Raises:
            ConfigurationError: the stream id is already registered with a different
                description, the stream has no channels, or its rate or the capacity is not
                a positive finite number.
        """
        seconds = self._capacity_s if capacity_s is None else _check_capacity_s(capacity_s)
        with self._lock:
            existing = self._entries.get(info.stream_id)
            if existing is not None:
                if existing.info != info:
                    raise ConfigurationError(
                        f"stream {info.stream_id!r} is already registered with a different "
                        "description; give each device stream its own id"
                    )
                return existing.buffer
            buffer = RingBuffer(
                capacity=_capacity_samples(info, seconds), n_channels=_n_channels(info)
            )
            entries = dict(self._entries)
            entries[info.stream_id] = _Entry(info=info, buffer=buffer)
            self._entries = entries  # one atomic swap: readers see old or new, both whole
            return buffer

    def __call__(self, block: SampleBlock) -> None:
        """Write a block into its stream's buffer (the bridge's sink; no lock).

        Raises:
            UnknownStreamError: no stream with ``block.stream_id`` was registered.
            ValueError: the block's shape or dtype does not fit the stream's buffer.
        """
        entry = self._entries.get(block.stream_id)
        if entry is None:
            raise self._unknown(block.stream_id)
        entry.buffer.write(block.t_host_s, block.values, block.gap_before_s)
        self._written_since_notify = True

    def notify(self) -> None:
        """A batch of writes is complete: wake a reader waiting in :meth:`wait_for_data`.

        Call it from the writer thread after the blocks of one read; it does nothing when
        nothing was written since the last call.
        """
        self.notifying = True
        if self._written_since_notify:
            self._written_since_notify = False
            consumer = self._consumer
            if consumer is None:
                self.wake()
            else:
                consumer()

    def consume_on_notify(self, consumer: Callable[[], None] | None) -> None:
        """Have :meth:`notify` call ``consumer()`` on the writer's thread after each batch,
        instead of waking a reader waiting in :meth:`wait_for_data`; ``None`` goes back to
        waking. The consumer must not block for long: it holds up the writer."""
        self._consumer = consumer

    def wake(self) -> None:
        """Wake a reader waiting in :meth:`wait_for_data` now (e.g. to let it stop)."""
        with contextlib.suppress(RuntimeError):  # already pending: one wake-up covers both
            self._pending.release()

    def wait_for_data(self, timeout_s: float | None) -> bool:
        """Sleep until a writer notifies (or :meth:`wake`), at most ``timeout_s`` seconds.

        Returns whether it was woken, and consumes the wake-up: read the buffers after this
        returns, and a batch written meanwhile wakes the next call at once. Meant for one
        waiting reader (the processing thread).
        """
        if timeout_s is None:
            return self._pending.acquire()
        return self._pending.acquire(timeout=max(0.0, timeout_s))

    def buffer(self, stream_id: str) -> RingBuffer:
        """The ring buffer of a registered stream.

        Raises:
            UnknownStreamError: no such stream.
        """
        entry = self._entries.get(stream_id)
        if entry is None:
            raise self._unknown(stream_id)
        return entry.buffer

    def __getitem__(self, stream_id: str) -> RingBuffer:
        return self.buffer(stream_id)

    def info(self, stream_id: str) -> StreamInfo:
        """The description a stream was registered with.

        Raises:
            UnknownStreamError: no such stream.
        """
        entry = self._entries.get(stream_id)
        if entry is None:
            raise self._unknown(stream_id)
        return entry.info

    def stream_ids(self) -> tuple[str, ...]:
        """Registered stream ids, in registration order."""
        return tuple(self._entries)

    def __contains__(self, stream_id: object) -> bool:
        return stream_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"StreamBuffers({list(self._entries)!r}, capacity_s={self._capacity_s})"

    def _unknown(self, stream_id: str) -> UnknownStreamError:
        known = ", ".join(repr(s) for s in self._entries) or "none"
        return UnknownStreamError(
            f"no buffer for stream {stream_id!r}; registered streams: {known}"
        )


def _check_capacity_s(capacity_s: float) -> float:
    """Return ``capacity_s`` as a float if it is a positive finite number of seconds."""
    if isinstance(capacity_s, bool) or not isinstance(capacity_s, int | float):
        raise ConfigurationError(f"buffer capacity must be a number of seconds, got {capacity_s!r}")
    if not 0.0 < capacity_s < math.inf:
        raise ConfigurationError(
            f"buffer capacity must be a positive number of seconds, got {capacity_s!r}"
        )
    return float(capacity_s)


def _capacity_samples(info: StreamInfo, capacity_s: float) -> int:
    """Samples needed to hold ``capacity_s`` seconds of the stream: ``ceil(s × Hz)``, >= 1."""
    rate_hz = info.rate_hz
    if not 0.0 < rate_hz < math.inf:
        raise ConfigurationError(
            f"stream {info.stream_id!r} has sample rate {rate_hz!r} Hz; "
            "a positive rate is needed to size its buffer"
        )
    # Round away float noise (60 s × 200 Hz must stay 12000) before taking the ceiling.
    return max(1, math.ceil(round(capacity_s * rate_hz, 6)))


def _n_channels(info: StreamInfo) -> int:
    """Channel count of a stream that can be buffered (at least one)."""
    if info.n_channels < 1:
        raise ConfigurationError(
            f"stream {info.stream_id!r} has no channels; only sample streams can be buffered"
        )
    return info.n_channels
