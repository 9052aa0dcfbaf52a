"""A preallocated ring of samples with one writer, many readers and no locks.

Every stream gets one :class:`RingBuffer`. The acquisition thread writes blocks into it; the
processing thread reads everything since its cursor with :meth:`RingBuffer.read_since`; the
dashboard copies the newest window with :meth:`RingBuffer.latest` or, without allocating,
:meth:`RingBuffer.copy_latest`.

Layout. Three arrays are allocated once, at construction:

- ``times``: shape ``(capacity,)`` float64, host monotonic seconds;
- ``values``: shape ``(capacity, n_channels)`` float32, in the stream's units;
- ``gaps``: shape ``(capacity,)`` float32, seconds of missing data just before each sample
  (0 = contiguous with the previous sample).

Sample number ``i`` (counted from 0 since the buffer was made, across all writes) lives in
slot ``i % capacity``. A write copies into the arrays with at most two slice assignments per
array (the part before the end of the ring and the part that wraps to the start) and
allocates no sample storage.

Why readers never see torn data (a seqlock without a lock). The writer keeps two counters,
both absolute sample numbers that only grow:

1. ``reserved``: stored *before* any slot is overwritten; it is the sample count the write
   in progress will reach.
2. ``written``: stored *after* the copy; samples ``< written`` are complete.

A reader first loads ``written`` and copies a range ``[lo, hi)`` with ``hi <= written`` and
``lo >= written - capacity``. Then it loads ``reserved``. Writing sample ``j`` destroys
sample ``j - capacity`` (same slot). A write that changed any slot while the reader copied
stored its ``reserved`` before that change, and the change came before the end of the copy,
hence before the reader's load of ``reserved``; so the loaded value ``r`` bounds every sample
written into a slot so far, and every sample ``>= r - capacity`` was left untouched during
the copy. Writes that reserve after that load cannot touch what was already copied. The
reader keeps those rows and reports the rows below ``r - capacity`` as an overrun instead of
returning them. The check can be over-cautious (a reserved slot may not have been reached
yet), never lax.

Checking ``written`` after the copy would not do: a write that is still in progress when the
reader checks has already overwritten slots but not yet published ``written``; only a
counter stored before the overwrite covers it. (The tests stall a writer mid-write to show
both.) The after-copy check lives in ``_first_intact_index``.

This relies on CPython with the GIL:

- loading or storing an ``int`` attribute is one bytecode and atomic: a reader sees the old
  or the new counter object, never a mix;
- the GIL orders those loads and stores between threads: each hand-over is a release by
  one thread and an acquire by the next, so slot data stored before a counter store is
  visible to a thread that later loads that counter, and a reader's copy is complete before
  its later load of ``reserved``. numpy may drop the GIL during a large copy, but takes it
  back before the next counter access, so the order holds;
- there is exactly one writer per buffer (the thread that owns the stream). Two writers
  would race on the counters; that is a programming error this class does not detect.

Free-threaded CPython builds are not covered by this argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from firmware_bridge.samples import SampleBlock

__all__ = ["RingBuffer", "Snapshot"]


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Consecutive samples copied out of a :class:`RingBuffer`.

    The arrays are the reader's own copies; the buffer never touches them again.

    Attributes:
        t_host_s: shape ``(n_samples,)`` float64, host monotonic seconds.
        values: shape ``(n_samples, n_channels)`` float32, in the stream's units.
        gap_before_s: shape ``(n_samples,)`` float32, seconds of missing data just before
            each sample (0 = contiguous with the previous one).
        start_index: absolute sample number of row 0.
        next_cursor: absolute sample number just past the last row
            (``start_index + n_samples``); pass it to the next ``read_since``.
        overrun: samples the reader asked for that were overwritten before (or while) it
            could copy them; they are reported, never returned.
    """

    t_host_s: npt.NDArray[np.float64]
    values: npt.NDArray[np.float32]
    gap_before_s: npt.NDArray[np.float32]
    start_index: int
    next_cursor: int
    overrun: int

    @property
    def n_samples(self) -> int:
        """Number of rows."""
        return int(self.t_host_s.shape[0])


class RingBuffer:
    """Fixed-capacity ring of timestamped samples: one writer thread, any number of readers.

    Args:
        capacity: samples kept (the newest ``capacity`` samples are readable).
        n_channels: columns of ``values``.

    The buffer is a :data:`~firmware_bridge.samples.SampleSink`: calling it with a
    :class:`~firmware_bridge.samples.SampleBlock` writes the block. Readers start from
    ``buffer.written`` (only new samples) or from ``0`` (everything still held).
    """

    def __init__(self, *, capacity: int, n_channels: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer):
            raise TypeError(f"capacity must be an int, got {capacity!r}")
        if isinstance(n_channels, bool) or not isinstance(n_channels, int | np.integer):
            raise TypeError(f"n_channels must be an int, got {n_channels!r}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1 sample, got {capacity}")
        if n_channels < 1:
            raise ValueError(f"n_channels must be at least 1, got {n_channels}")
        self._capacity = int(capacity)
        self._n_channels = int(n_channels)
        self._times = np.zeros(self._capacity, dtype=np.float64)
        self._values = np.zeros((self._capacity, self._n_channels), dtype=np.float32)
        self._gaps = np.zeros(self._capacity, dtype=np.float32)
        # The two counters of the protocol described in the module docstring. Plain int
        # attributes: each load or store is atomic under the GIL.
        self._reserved = 0
        self._written = 0

    # ------------------------------------------------------------------ properties

    @property
    def capacity(self) -> int:
        """Samples the ring holds."""
        return self._capacity

    @property
    def n_channels(self) -> int:
        """Columns of ``values``."""
        return self._n_channels

    @property
    def written(self) -> int:
        """Samples ever written (complete ones only); the next sample's absolute number."""
        return self._written

    @property
    def first_index(self) -> int:
        """Absolute number of the oldest sample still held (may change at any moment)."""
        return max(0, self._written - self._capacity)

    @property
    def nbytes(self) -> int:
        """Bytes of preallocated storage."""
        return int(self._times.nbytes + self._values.nbytes + self._gaps.nbytes)

    def __len__(self) -> int:
        """Samples currently held: ``min(written, capacity)``."""
        return min(self._written, self._capacity)

    def __repr__(self) -> str:
        return (
            f"RingBuffer(capacity={self._capacity}, n_channels={self._n_channels}, "
            f"written={self._written})"
        )

    # ----------------------------------------------------------------- the writer

    def write(
        self,
        t_host_s: npt.NDArray[np.float64],
        values: npt.NDArray[np.generic],
        gap_before_s: float = 0.0,
    ) -> None:
        """Append consecutive samples. Call from the stream's single writer thread only.

        Args:
            t_host_s: shape ``(n_samples,)`` float64, host monotonic seconds.
            values: shape ``(n_samples, n_channels)``, any real integer or float dtype;
                cast to float32 on copy.
            gap_before_s: seconds of missing data just before the first sample (>= 0).
                It is stored as that sample's gap mark; the other samples get 0.

        A block longer than ``capacity`` keeps only its last ``capacity`` samples, but the
        sample count still advances by the whole block (readers see the rest as overrun).

        Raises:
            ValueError: wrong shapes, dtypes or a negative or non-finite gap.
        """
        capacity = self._capacity
        if (
            not isinstance(t_host_s, np.ndarray)
            or t_host_s.ndim != 1
            or t_host_s.dtype != np.float64
        ):
            raise ValueError(
                f"t_host_s must be a 1-D float64 array of host seconds, got {_describe(t_host_s)}"
            )
        if (
            not isinstance(values, np.ndarray)
            or values.ndim != 2
            or values.shape[1] != self._n_channels
        ):
            raise ValueError(
                f"values must be a 2-D array of shape (n_samples, {self._n_channels}), "
                f"got {_describe(values)}"
            )
        n = t_host_s.shape[0]
        if values.shape[0] != n:
            raise ValueError(
                f"t_host_s has {n} samples but values has {values.shape[0]} rows; they must match"
            )
        if values.dtype.kind not in "fiu":
            raise ValueError(f"values must have a real integer or float dtype, got {values.dtype}")
        if gap_before_s != 0.0 and not 0.0 < gap_before_s < math.inf:
            raise ValueError(
                f"gap_before_s must be a finite number of seconds >= 0, got {gap_before_s!r}"
            )
        if n == 0:
            return

        kept = n if n <= capacity else capacity
        skip = n - kept  # leading samples of the block that would be overwritten at once
        total = self._written + n
        # (1) Announce the overwrite before touching any slot.
        self._reserved = total
        start = (total - kept) % capacity
        first = kept if kept <= capacity - start else capacity - start
        stop = start + first
        times, vals, gaps = self._times, self._values, self._gaps
        times[start:stop] = t_host_s[skip : skip + first]
        vals[start:stop] = values[skip : skip + first]
        gaps[start:stop] = 0.0
        if first < kept:
            rest = kept - first
            times[:rest] = t_host_s[skip + first :]
            vals[:rest] = values[skip + first :]
            gaps[:rest] = 0.0
        if skip == 0:
            gaps[start] = gap_before_s
        # (2) Publish: samples below ``total`` are complete.
        self._written = total

    def __call__(self, block: SampleBlock) -> None:
        """Write a block (the :data:`~firmware_bridge.samples.SampleSink` interface)."""
        self.write(block.t_host_s, block.values, block.gap_before_s)

    # ---------------------------------------------------------------- the readers

    def read_since(self, cursor: int, max_samples: int | None = None) -> Snapshot:
        """Copy every sample from absolute number ``cursor`` up to now.

        Args:
            cursor: absolute sample number to start from; ``0`` at first, then the previous
                snapshot's ``next_cursor``; ``written`` to skip what is already there.
            max_samples: read at most this many samples (counted from the first one still
                held); ``None`` for all.

        Returns:
            A snapshot whose rows start at ``cursor + overrun``. ``overrun`` counts the
            samples since ``cursor`` that were overwritten before or during the copy (the
            reader fell more than ``capacity`` behind). ``next_cursor`` is where to resume.

        Raises:
            ValueError: ``cursor`` is negative or ahead of ``written``, or ``max_samples`` is
                negative.
        """
        if cursor < 0:
            raise ValueError(f"cursor must be >= 0, got {cursor}")
        if max_samples is not None and max_samples < 0:
            raise ValueError(f"max_samples must be >= 0 or None, got {max_samples}")
        written = self._written  # (1) before the copy
        if cursor > written:
            raise ValueError(f"cursor {cursor} is ahead of the {written} samples written so far")
        lo = max(cursor, written - self._capacity)
        hi = written if max_samples is None else min(written, lo + max_samples)
        return self._snapshot(cursor, lo, hi)

    def latest(self, n: int) -> Snapshot:
        """Copy the newest ``min(n, capacity, written)`` samples.

        Args:
            n: samples wanted (>= 0); more than ``capacity`` gives ``capacity``.

        Returns:
            A snapshot ending at the ``written`` count seen at the call. ``overrun`` counts
            the oldest requested rows that the writer overwrote while they were being copied
            (rare: the writer must lap the ring during one copy); they are left out.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        written = self._written  # (1) before the copy
        lo = max(0, written - min(n, self._capacity))
        return self._snapshot(lo, lo, written)

    def copy_latest(
        self,
        out_t: npt.NDArray[np.float64],
        out_values: npt.NDArray[np.float32],
        out_gap: npt.NDArray[np.float32] | None = None,
    ) -> int:
        """Copy the newest samples into caller-owned arrays, right-aligned; allocate nothing.

        Meant for a display timer that keeps fixed-size arrays: the newest sample lands in
        the last row, and the returned count ``k`` says that rows ``[-k:]`` are valid
        (``out_t[len(out_t) - k:]``); rows before them keep whatever they held. ``k`` is
        below ``len(out_t)`` while fewer samples exist, when ``len(out_t) > capacity``, or
        when the writer overwrote the oldest rows during the copy.

        Args:
            out_t: shape ``(m,)`` float64.
            out_values: shape ``(m, n_channels)`` float32.
            out_gap: shape ``(m,)`` float32, or ``None`` to skip the gap marks.

        Returns:
            ``k``, the number of valid rows at the end of the arrays.
        """
        if not isinstance(out_t, np.ndarray) or out_t.ndim != 1 or out_t.dtype != np.float64:
            raise ValueError(f"out_t must be a 1-D float64 array, got {_describe(out_t)}")
        m = out_t.shape[0]
        if (
            not isinstance(out_values, np.ndarray)
            or out_values.shape != (m, self._n_channels)
            or out_values.dtype != np.float32
        ):
            raise ValueError(
                f"out_values must be a float32 array of shape ({m}, {self._n_channels}), "
                f"got {_describe(out_values)}"
            )
        if out_gap is not None and (
            not isinstance(out_gap, np.ndarray)
            or out_gap.shape != (m,)
            or out_gap.dtype != np.float32
        ):
            raise ValueError(
                f"out_gap must be a float32 array of shape ({m},), got {_describe(out_gap)}"
            )
        written = self._written  # (1) before the copy
        lo = max(0, written - min(m, self._capacity))
        k = written - lo
        if k == 0:
            return 0
        self._copy_out(
            lo,
            written,
            out_t[m - k :],
            out_values[m - k :],
            None if out_gap is None else out_gap[m - k :],
        )
        intact = self._first_intact_index()  # (2) after the copy
        return k if intact <= lo else max(0, written - intact)

    # ---------------------------------------------------------------- internals

    def _snapshot(self, cursor: int, lo: int, hi: int) -> Snapshot:
        """Copy samples ``[lo, hi)`` and drop the rows the writer may have overwritten."""
        m = hi - lo
        slot = lo % self._capacity
        if slot + m <= self._capacity:  # no wrap (the usual case): one slice copy per array
            stop = slot + m
            t_host_s = self._times[slot:stop].copy()
            values = self._values[slot:stop].copy()
            gaps = self._gaps[slot:stop].copy()
        else:
            t_host_s = np.empty(m, dtype=np.float64)
            values = np.empty((m, self._n_channels), dtype=np.float32)
            gaps = np.empty(m, dtype=np.float32)
            self._copy_out(lo, hi, t_host_s, values, gaps)
        intact = self._first_intact_index()  # (2) after the copy
        start = min(max(lo, intact), hi)
        if start > lo:
            drop = start - lo
            t_host_s, values, gaps = t_host_s[drop:], values[drop:], gaps[drop:]
        return Snapshot(
            t_host_s=t_host_s,
            values=values,
            gap_before_s=gaps,
            start_index=start,
            next_cursor=hi,
            overrun=start - cursor,
        )

    def _first_intact_index(self) -> int:
        """The after-copy check: samples below this number may have been overwritten."""
        return self._reserved - self._capacity

    def _copy_out(
        self,
        lo: int,
        hi: int,
        out_t: npt.NDArray[np.float64],
        out_values: npt.NDArray[np.float32],
        out_gap: npt.NDArray[np.float32] | None,
    ) -> None:
        """Copy samples ``[lo, hi)`` (``0 < hi - lo <= capacity``) into rows ``[0, hi - lo)``.

        Times first, then values, then gap marks; ``out_gap`` may be ``None``.
        """
        capacity = self._capacity
        m = hi - lo
        start = lo % capacity
        first = min(m, capacity - start)
        stop = start + first
        out_t[:first] = self._times[start:stop]
        out_values[:first] = self._values[start:stop]
        if out_gap is not None:
            out_gap[:first] = self._gaps[start:stop]
        if first < m:
            rest = m - first
            out_t[first:] = self._times[:rest]
            out_values[first:] = self._values[:rest]
            if out_gap is not None:
                out_gap[first:] = self._gaps[:rest]


def _describe(array: object) -> str:
    """Shape and dtype of an array for error messages, or its type if it is not one."""
    if isinstance(array, np.ndarray):
        return f"shape {array.shape} dtype {array.dtype}"
    return f"a {type(array).__name__}"
