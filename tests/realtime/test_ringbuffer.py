"""RingBuffer: layout, validation, oracle properties, concurrent readers and torn reads."""

from __future__ import annotations

import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from firmware_bridge.samples import SampleBlock
from realtime.ringbuffer import RingBuffer, Snapshot

# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class History:
    """Every sample a test writes, indexed by absolute sample number (the oracle)."""

    t_host_s: npt.NDArray[np.float64]
    values: npt.NDArray[np.float32]
    gap_before_s: npt.NDArray[np.float32]
    block_starts: npt.NDArray[np.int64]  # absolute number of each block's first sample


def make_history(n_samples: int, n_channels: int, seed: int, max_block: int = 50) -> History:
    """Seeded samples at 200 Hz cut into blocks of 1..max_block; every row is distinct."""
    rng = np.random.default_rng(seed)
    t = 1000.0 + np.arange(n_samples, dtype=np.float64) / 200.0
    values = rng.standard_normal((n_samples, n_channels)).astype(np.float32)
    sizes = rng.integers(1, max_block + 1, size=n_samples)
    starts = np.concatenate(([0], np.cumsum(sizes)))
    starts = starts[starts < n_samples].astype(np.int64)
    gaps = np.zeros(n_samples, dtype=np.float32)
    gaps[starts] = rng.choice(np.array([0.0, 0.0, 0.005, 0.25], dtype=np.float32), starts.size)
    return History(t, values, gaps, starts)


def blocks(history: History) -> list[tuple[int, int]]:
    """``(start, stop)`` of each block of a history."""
    stops = np.append(history.block_starts[1:], history.t_host_s.size)
    return [(int(a), int(b)) for a, b in zip(history.block_starts, stops, strict=True)]


def write_block(buf: RingBuffer, history: History, start: int, stop: int) -> None:
    buf.write(
        history.t_host_s[start:stop],
        history.values[start:stop],
        float(history.gap_before_s[start]),
    )


def rows_match(snap: Snapshot, history: History) -> bool:
    """True when every row of ``snap`` is exactly the history sample its index says."""
    a, b = snap.start_index, snap.start_index + snap.n_samples
    return (
        snap.next_cursor == b
        and np.array_equal(snap.t_host_s, history.t_host_s[a:b])
        and np.array_equal(snap.values, history.values[a:b])
        and np.array_equal(snap.gap_before_s, history.gap_before_s[a:b])
    )


def filled(capacity: int, n_channels: int, history: History, upto: int) -> RingBuffer:
    """A buffer holding the history's blocks until sample ``upto`` (cut at that sample)."""
    buf = RingBuffer(capacity=capacity, n_channels=n_channels)
    for start, stop in blocks(history):
        if start >= upto:
            break
        write_block(buf, history, start, min(stop, upto))
    assert buf.written == upto
    return buf


# --------------------------------------------------------------------------- basics


def test_storage_is_preallocated_with_the_documented_layout() -> None:
    buf = RingBuffer(capacity=12, n_channels=3)
    assert (buf.capacity, buf.n_channels, buf.written, len(buf)) == (12, 3, 0, 0)
    assert buf._times.shape == (12,)
    assert buf._times.dtype == np.float64
    assert buf._values.shape == (12, 3)
    assert buf._values.dtype == np.float32
    assert buf._gaps.shape == (12,)
    assert buf._gaps.dtype == np.float32
    assert buf.nbytes == 12 * 8 + 12 * 3 * 4 + 12 * 4


def test_write_then_read_everything_with_gap_marks() -> None:
    history = make_history(40, 2, seed=1, max_block=7)
    buf = filled(64, 2, history, 40)
    snap = buf.read_since(0)
    assert (snap.start_index, snap.next_cursor, snap.overrun, snap.n_samples) == (0, 40, 0, 40)
    assert rows_match(snap, history)
    assert snap.t_host_s.dtype == np.float64
    assert snap.values.dtype == np.float32
    assert snap.gap_before_s.dtype == np.float32
    assert np.count_nonzero(snap.gap_before_s) == np.count_nonzero(history.gap_before_s)


def test_wraparound_keeps_the_last_capacity_samples() -> None:
    history = make_history(103, 4, seed=2, max_block=9)
    buf = filled(16, 4, history, 103)
    assert (buf.written, buf.first_index, len(buf)) == (103, 87, 16)
    snap = buf.latest(100)
    assert (snap.start_index, snap.next_cursor, snap.overrun) == (87, 103, 0)
    assert rows_match(snap, history)


def test_a_block_longer_than_capacity_keeps_its_tail_and_counts_every_sample() -> None:
    history = make_history(50, 1, seed=3)
    buf = RingBuffer(capacity=8, n_channels=1)
    buf.write(history.t_host_s[:5], history.values[:5])
    buf.write(history.t_host_s[5:50], history.values[5:50], gap_before_s=0.5)
    assert buf.written == 50
    snap = buf.read_since(0)
    assert (snap.start_index, snap.overrun, snap.n_samples) == (42, 42, 8)
    np.testing.assert_array_equal(snap.t_host_s, history.t_host_s[42:])
    np.testing.assert_array_equal(snap.values, history.values[42:])
    # The gap belongs to the block's first sample, which was dropped; the tail is contiguous.
    np.testing.assert_array_equal(snap.gap_before_s, np.zeros(8, dtype=np.float32))


def test_values_are_cast_to_float32_and_integers_accepted() -> None:
    buf = RingBuffer(capacity=4, n_channels=2)
    buf.write(np.array([0.0, 0.01]), np.array([[1.0, 2.5], [1e-3, -4.0]], dtype=np.float64))
    buf.write(np.array([0.02]), np.array([[7, -3]], dtype=np.int16))
    snap = buf.latest(3)
    np.testing.assert_array_equal(
        snap.values, np.array([[1.0, 2.5], [1e-3, -4.0], [7, -3]], dtype=np.float32)
    )


def test_empty_write_is_a_no_op() -> None:
    buf = RingBuffer(capacity=4, n_channels=2)
    buf.write(np.empty(0), np.empty((0, 2), dtype=np.float32), gap_before_s=1.0)
    assert buf.written == 0
    assert buf.latest(4).n_samples == 0


def test_the_buffer_is_a_sample_sink() -> None:
    history = make_history(6, 3, seed=4)
    buf = RingBuffer(capacity=10, n_channels=3)
    buf(SampleBlock("imu-left", history.t_host_s[:6], history.values[:6], gap_before_s=0.125))
    snap = buf.latest(10)
    np.testing.assert_array_equal(snap.values, history.values[:6])
    assert snap.gap_before_s[0] == np.float32(0.125)
    assert not snap.gap_before_s[1:].any()


def test_read_since_pages_with_max_samples_and_resumes_from_next_cursor() -> None:
    history = make_history(30, 2, seed=5, max_block=4)
    buf = filled(32, 2, history, 30)
    cursor, rows = 0, []
    while cursor < buf.written:
        snap = buf.read_since(cursor, max_samples=7)
        assert snap.overrun == 0
        assert snap.start_index == cursor
        assert snap.n_samples <= 7
        assert rows_match(snap, history)
        rows.append(snap.n_samples)
        cursor = snap.next_cursor
    assert rows == [7, 7, 7, 7, 2]
    assert buf.read_since(30).n_samples == 0


def test_a_reader_that_fell_behind_gets_the_valid_tail_and_the_overrun() -> None:
    history = make_history(100, 2, seed=6)
    buf = filled(20, 2, history, 100)
    snap = buf.read_since(55, max_samples=5)
    assert (snap.start_index, snap.n_samples, snap.overrun, snap.next_cursor) == (80, 5, 25, 85)
    assert rows_match(snap, history)


def test_latest_is_bounded_by_what_was_written_and_by_capacity() -> None:
    history = make_history(5, 1, seed=7)
    buf = filled(8, 1, history, 5)
    assert buf.latest(0).n_samples == 0
    snap = buf.latest(50)
    assert (snap.start_index, snap.n_samples, snap.overrun) == (0, 5, 0)


def test_copy_latest_fills_caller_arrays_right_aligned() -> None:
    history = make_history(30, 3, seed=8)
    buf = filled(12, 3, history, 5)
    out_t = np.full(8, np.nan)
    out_v = np.full((8, 3), np.nan, dtype=np.float32)
    out_g = np.full(8, np.nan, dtype=np.float32)
    assert buf.copy_latest(out_t, out_v, out_g) == 5
    np.testing.assert_array_equal(out_t[-5:], history.t_host_s[:5])
    assert np.isnan(out_t[:3]).all()
    for start, stop in blocks(history):
        if stop > 5:
            write_block(buf, history, max(start, 5), stop)
    assert buf.copy_latest(out_t, out_v, out_g) == 8
    np.testing.assert_array_equal(out_t, history.t_host_s[22:30])
    np.testing.assert_array_equal(out_v, history.values[22:30])
    np.testing.assert_array_equal(out_g, history.gap_before_s[22:30])
    big_t, big_v = np.zeros(20), np.zeros((20, 3), dtype=np.float32)
    assert buf.copy_latest(big_t, big_v) == 12  # at most capacity
    np.testing.assert_array_equal(big_v[-12:], history.values[18:30])


@pytest.mark.parametrize(
    ("t", "values", "gap", "match"),
    [
        (np.zeros((3, 1)), np.zeros((3, 2)), 0.0, "t_host_s must be a 1-D float64"),
        (np.zeros(3, dtype=np.float32), np.zeros((3, 2)), 0.0, "t_host_s must be a 1-D float64"),
        ([0.0, 1.0], np.zeros((2, 2)), 0.0, "got a list"),
        (np.zeros(3), np.zeros(3), 0.0, r"shape \(n_samples, 2\)"),
        (np.zeros(3), np.zeros((3, 5)), 0.0, r"shape \(n_samples, 2\)"),
        (np.zeros(3), np.zeros((4, 2)), 0.0, "t_host_s has 3 samples but values has 4 rows"),
        (np.zeros(3), np.zeros((3, 2), dtype=np.complex64), 0.0, "real integer or float"),
        (np.zeros(3), np.zeros((3, 2), dtype=bool), 0.0, "real integer or float"),
        (np.zeros(3), np.zeros((3, 2)), -0.1, "gap_before_s must be a finite"),
        (np.zeros(3), np.zeros((3, 2)), float("nan"), "gap_before_s must be a finite"),
        (np.zeros(3), np.zeros((3, 2)), float("inf"), "gap_before_s must be a finite"),
    ],
)
def test_write_rejects_bad_arguments_loudly(t: Any, values: Any, gap: float, match: str) -> None:
    buf = RingBuffer(capacity=4, n_channels=2)
    with pytest.raises(ValueError, match=match):
        buf.write(t, values, gap)
    assert buf.written == 0


def test_constructor_and_reader_argument_checks() -> None:
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        RingBuffer(capacity=0, n_channels=1)
    with pytest.raises(ValueError, match="n_channels must be at least 1"):
        RingBuffer(capacity=4, n_channels=0)
    with pytest.raises(TypeError, match="capacity must be an int"):
        RingBuffer(capacity=4.0, n_channels=1)  # type: ignore[arg-type]
    buf = RingBuffer(capacity=4, n_channels=1)
    buf.write(np.zeros(2), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="cursor 3 is ahead of the 2 samples"):
        buf.read_since(3)
    with pytest.raises(ValueError, match="cursor must be >= 0"):
        buf.read_since(-1)
    with pytest.raises(ValueError, match="max_samples must be >= 0"):
        buf.read_since(0, max_samples=-1)
    with pytest.raises(ValueError, match="n must be >= 0"):
        buf.latest(-1)
    with pytest.raises(ValueError, match="out_values must be a float32 array of shape"):
        buf.copy_latest(np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="out_gap must be a float32"):
        buf.copy_latest(np.zeros(3), np.zeros((3, 1), dtype=np.float32), np.zeros(2))


def test_writes_allocate_no_sample_storage() -> None:
    """Steady-state writes copy into the preallocated arrays and allocate (almost) nothing."""
    history = make_history(2_000, 16, seed=9)
    buf = RingBuffer(capacity=1_000, n_channels=16)
    storage = (buf._times, buf._values, buf._gaps)
    t64 = history.t_host_s[:100]
    v64 = history.values[:100].astype(np.float64)  # 12.8 kB per block, cast on copy
    for _ in range(20):
        buf.write(t64, v64)
    tracemalloc.start()
    try:
        for _ in range(500):  # wraps the ring 50 times
            buf.write(t64, v64, 0.01)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_096, f"writes allocated up to {peak} bytes"
    assert all(a is b for a, b in zip(storage, (buf._times, buf._values, buf._gaps), strict=True))


# ------------------------------------------------------------------- oracle properties


def oracle_block(start: int, n: int, n_channels: int, kind: str) -> tuple[Any, Any]:
    """Samples ``start..start+n`` whose times and values encode their absolute number."""
    index = np.arange(start, start + n)
    t = 50.0 + index * 0.01
    values = index[:, None] * 4 + np.arange(n_channels)[None, :]
    return t, values.astype({"f32": np.float32, "f64": np.float64, "i32": np.int32}[kind])


@given(
    capacity=st.integers(1, 24),
    sizes=st.lists(st.integers(0, 60), max_size=12),
    n_latest=st.integers(0, 30),
)
def test_any_write_sequence_leaves_exactly_the_last_capacity_window(
    capacity: int, sizes: list[int], n_latest: int
) -> None:
    buf = RingBuffer(capacity=capacity, n_channels=2)
    all_t, all_v = [np.empty(0)], [np.empty((0, 2))]
    for n in sizes:
        t, v = oracle_block(buf.written, n, 2, "f64")
        buf.write(t, v)
        all_t.append(t)
        all_v.append(v)
    oracle_t, oracle_v = np.concatenate(all_t), np.concatenate(all_v).astype(np.float32)
    total = oracle_t.size
    whole = buf.read_since(0)
    assert whole.overrun == max(0, total - capacity)
    np.testing.assert_array_equal(whole.t_host_s, oracle_t[-capacity:] if total else oracle_t)
    np.testing.assert_array_equal(whole.values, oracle_v[total - whole.n_samples :])
    newest = buf.latest(n_latest)
    keep = min(n_latest, capacity, total)
    np.testing.assert_array_equal(newest.t_host_s, oracle_t[total - keep :])
    np.testing.assert_array_equal(newest.values, oracle_v[total - keep :])


class RingBufferMachine(RuleBasedStateMachine):
    """Interleaved writes and reads of every kind against a list of all samples ever written."""

    buf: RingBuffer

    @initialize(capacity=st.integers(1, 40), n_channels=st.integers(1, 3))
    def make(self, capacity: int, n_channels: int) -> None:
        self.buf = RingBuffer(capacity=capacity, n_channels=n_channels)
        self.t = np.empty(0)
        self.values = np.empty((0, n_channels), dtype=np.float32)
        self.gaps = np.empty(0, dtype=np.float32)

    @rule(
        n=st.integers(0, 90),
        gap=st.sampled_from([0.0, 0.02, 1.5]),
        kind=st.sampled_from(["f32", "f64", "i32"]),
    )
    def write(self, n: int, gap: float, kind: str) -> None:
        t, values = oracle_block(self.buf.written, n, self.buf.n_channels, kind)
        self.buf.write(t, values, gap)
        gaps = np.zeros(n, dtype=np.float32)
        if n:
            gaps[0] = gap
        self.t = np.concatenate((self.t, t))
        self.values = np.concatenate((self.values, values.astype(np.float32)))
        self.gaps = np.concatenate((self.gaps, gaps))

    def check(self, snap: Snapshot) -> None:
        a, b = snap.start_index, snap.next_cursor
        assert b - a == snap.n_samples
        np.testing.assert_array_equal(snap.t_host_s, self.t[a:b])
        np.testing.assert_array_equal(snap.values, self.values[a:b])
        np.testing.assert_array_equal(snap.gap_before_s, self.gaps[a:b])

    @rule(back=st.integers(0, 100), max_samples=st.none() | st.integers(0, 50))
    def read_since(self, back: int, max_samples: int | None) -> None:
        written, capacity = self.buf.written, self.buf.capacity
        cursor = max(0, written - back)
        snap = self.buf.read_since(cursor, max_samples)
        lo = max(cursor, written - capacity)
        assert snap.overrun == lo - cursor
        assert snap.start_index == lo
        hi = written if max_samples is None else min(written, lo + max_samples)
        assert snap.next_cursor == hi
        self.check(snap)

    @rule(n=st.integers(0, 60))
    def latest(self, n: int) -> None:
        snap = self.buf.latest(n)
        written = self.buf.written
        assert snap.overrun == 0
        assert snap.next_cursor == written
        assert snap.n_samples == min(n, self.buf.capacity, written)
        self.check(snap)

    @rule(m=st.integers(1, 60))
    def copy_latest(self, m: int) -> None:
        out_t = np.full(m, -1.0)
        out_v = np.zeros((m, self.buf.n_channels), dtype=np.float32)
        out_g = np.zeros(m, dtype=np.float32)
        k = self.buf.copy_latest(out_t, out_v, out_g)
        written = self.buf.written
        assert k == min(m, self.buf.capacity, written)
        np.testing.assert_array_equal(out_t[m - k :], self.t[written - k :])
        np.testing.assert_array_equal(out_v[m - k :], self.values[written - k :])
        np.testing.assert_array_equal(out_g[m - k :], self.gaps[written - k :])
        assert (out_t[: m - k] == -1.0).all()

    @invariant()
    def counts(self) -> None:
        if hasattr(self, "buf"):
            assert self.buf.written == self.t.size
            assert len(self.buf) == min(self.t.size, self.buf.capacity)


TestRingBufferMachine = RingBufferMachine.TestCase
TestRingBufferMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


# ------------------------------------------------------------------- torn reads, forced


class _WriterStrikesOnRead(np.ndarray):
    """A view of the ring's value storage that runs ``hook`` once, when a reader slices it.

    The hook writes into the ring after the reader copied the times but before it copies the
    values, so the copied rows of the overwritten slots mix two different samples.
    """

    def __getitem__(self, key: Any) -> Any:
        hook: Callable[[], None] | None = self.__dict__.pop("hook", None)
        if hook is not None:
            hook()
        return super().__getitem__(key)


class _NoAfterCheck(RingBuffer):
    """The same buffer without the after-copy check: it trusts what it copied."""

    def _first_intact_index(self) -> int:
        return 0


def _arm(buf: RingBuffer, history: History, n_extra: int) -> None:
    """Make the next read of ``buf``'s values first write ``n_extra`` more history samples."""
    start = buf.written
    striking = buf._values.view(_WriterStrikesOnRead)
    striking.hook = lambda: buf.write(
        history.t_host_s[start : start + n_extra], history.values[start : start + n_extra]
    )
    buf._values = striking


def _read(reader: str, buf: RingBuffer) -> Snapshot:
    """Read the 8 samples before ``buf.written`` (capacity 8) with one of the three readers."""
    written = buf.written
    if reader == "read_since":
        return buf.read_since(written - 8)
    if reader == "latest":
        return buf.latest(8)
    out_t, out_v = np.zeros(8), np.zeros((8, 2), dtype=np.float32)
    out_g = np.zeros(8, dtype=np.float32)
    k = buf.copy_latest(out_t, out_v, out_g)
    # Re-express the valid rows as a snapshot so one checker serves all readers.
    return Snapshot(
        t_host_s=out_t[8 - k :],
        values=out_v[8 - k :],
        gap_before_s=out_g[8 - k :],
        start_index=written - k,
        next_cursor=written,
        overrun=8 - k,
    )


READERS = ["read_since", "latest", "copy_latest"]
# 20 samples written: the range 12..19 wraps the ring; 24: the range 16..23 does not.
WRITTEN = [20, 24]


# n_extra: 3 overwrites part of the copied range, 8 laps the ring, 11 laps it and more.
@pytest.mark.parametrize(("n_extra", "expected_rows"), [(3, 5), (8, 0), (11, 0)])
@pytest.mark.parametrize("written", WRITTEN)
@pytest.mark.parametrize("reader", READERS)
def test_an_overwrite_during_the_copy_is_an_overrun_not_data(
    reader: str, written: int, n_extra: int, expected_rows: int
) -> None:
    history = make_history(40, 2, seed=10)
    buf = filled(8, 2, history, written)
    _arm(buf, history, n_extra)
    snap = _read(reader, buf)
    assert "hook" not in buf._values.__dict__, "the writer did not strike during the copy"
    assert buf.written == written + n_extra
    assert snap.n_samples == expected_rows
    assert snap.overrun == 8 - expected_rows
    assert snap.start_index == written - expected_rows
    assert rows_match(snap, history)


@pytest.mark.parametrize("written", WRITTEN)
@pytest.mark.parametrize("reader", READERS)
def test_without_the_after_check_the_same_read_returns_torn_rows(reader: str, written: int) -> None:
    """The control: same buffer, same forced overwrite, no check — the checker catches it."""
    history = make_history(40, 2, seed=10)
    buf = filled(8, 2, history, written)
    unchecked = _NoAfterCheck(capacity=8, n_channels=2)
    unchecked.__dict__.update(buf.__dict__)
    _arm(unchecked, history, 3)
    snap = _read(reader, unchecked)
    assert snap.n_samples == 8
    assert snap.overrun == 0
    assert not rows_match(snap, history)
    # The first 3 rows carry the times of their own samples and the values of the 3 samples
    # the writer put in their slots mid-copy; the other 5 rows are intact.
    oldest = written - 8
    np.testing.assert_array_equal(snap.t_host_s[:3], history.t_host_s[oldest : oldest + 3])
    np.testing.assert_array_equal(snap.values[:3], history.values[written : written + 3])
    intact = Snapshot(
        snap.t_host_s[3:], snap.values[3:], snap.gap_before_s[3:], oldest + 3, written, 0
    )
    assert rows_match(intact, history)


class _WriterStallsMidWrite(np.ndarray):
    """A view of the ring's gap storage that stalls the writer once, inside ``write``.

    The first assignment to it runs ``stall`` on the writer's thread: by then the write has
    reserved its samples and overwritten their times and values, but not yet published
    ``written``. A reader that runs meanwhile copies slots that are half old, half new.
    """

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        stall: Callable[[], None] | None = self.__dict__.pop("stall", None)
        if stall is not None:
            stall()


class _ChecksWrittenOnly(RingBuffer):
    """A weaker protocol: after the copy, check the ``written`` counter instead of ``reserved``."""

    def _first_intact_index(self) -> int:
        return self._written - self._capacity


def _read_during_a_stalled_write(buf: RingBuffer, history: History, reader: str) -> Snapshot:
    """Stall a writer thread mid-write (3 new samples), read with ``reader``, then resume."""
    mid_write, resume = threading.Event(), threading.Event()
    stalling = buf._gaps.view(_WriterStallsMidWrite)

    def stall() -> None:
        mid_write.set()
        assert resume.wait(timeout=5)

    stalling.stall = stall
    buf._gaps = stalling
    start = buf.written
    writer = threading.Thread(
        target=buf.write,
        args=(history.t_host_s[start : start + 3], history.values[start : start + 3]),
    )
    writer.start()
    try:
        assert mid_write.wait(timeout=5), "the writer never reached the stall"
        assert buf.written == start  # not yet published
        snap = _read(reader, buf)
    finally:
        resume.set()
        writer.join(timeout=5)
    assert buf.written == start + 3
    return snap


@pytest.mark.parametrize("written", WRITTEN)
@pytest.mark.parametrize("reader", READERS)
def test_a_read_during_an_unfinished_write_is_an_overrun_not_data(
    reader: str, written: int
) -> None:
    history = make_history(40, 2, seed=13)
    buf = filled(8, 2, history, written)
    snap = _read_during_a_stalled_write(buf, history, reader)
    assert (snap.n_samples, snap.overrun, snap.start_index) == (5, 3, written - 5)
    assert rows_match(snap, history)


@pytest.mark.parametrize("written", WRITTEN)
@pytest.mark.parametrize("reader", READERS)
def test_checking_only_the_written_counter_lets_torn_rows_through(
    reader: str, written: int
) -> None:
    """The control: why the writer publishes ``reserved`` before it overwrites slots."""
    history = make_history(40, 2, seed=13)
    buf = filled(8, 2, history, written)
    weak = _ChecksWrittenOnly(capacity=8, n_channels=2)
    weak.__dict__.update(buf.__dict__)
    snap = _read_during_a_stalled_write(weak, history, reader)
    assert (snap.n_samples, snap.overrun) == (8, 0)
    assert not rows_match(snap, history)
    # The first 3 rows already hold the times and values of the 3 samples being written.
    np.testing.assert_array_equal(snap.t_host_s[:3], history.t_host_s[written : written + 3])


# ------------------------------------------------------------------- concurrent stress


def test_one_writer_three_readers_never_see_a_wrong_row() -> None:
    """Blocks of 1..50 samples into a 256-slot ring while three readers copy concurrently.

    Every row must be the sample its index says (times, values and gap marks, all distinct
    per sample), ``read_since`` readers must see every sample exactly once as a row or as
    overrun, and the slow reader must fall behind and be told so.
    """
    capacity, n_channels, n_total = 256, 4, 400_000
    history = make_history(n_total, n_channels, seed=11)
    buf = RingBuffer(capacity=capacity, n_channels=n_channels)
    done = threading.Event()
    errors: list[BaseException] = []
    stats: dict[str, dict[str, int]] = {}

    def guarded(name: str, body: Callable[[dict[str, int]], None]) -> Callable[[], None]:
        def run() -> None:
            counts = stats.setdefault(name, {"reads": 0, "rows": 0, "overrun": 0})
            try:
                body(counts)
            except BaseException as exc:
                errors.append(exc)
                done.set()

        return run

    def writer(counts: dict[str, int]) -> None:
        deadline = time.perf_counter() + 1.2
        for start, stop in blocks(history):
            if done.is_set() or time.perf_counter() > deadline:
                break
            write_block(buf, history, start, stop)
            counts["rows"] = stop
        done.set()

    def cursor_reader(pause_s: float, max_samples: int | None) -> Callable[[dict[str, int]], None]:
        def body(counts: dict[str, int]) -> None:
            cursor = 0
            while True:
                finished = done.is_set()  # then one last read drains what is left
                snap = buf.read_since(cursor, max_samples)
                assert snap.start_index == cursor + snap.overrun
                assert rows_match(snap, history), f"wrong row in {snap.start_index}.."
                counts["reads"] += 1
                counts["rows"] += snap.n_samples
                counts["overrun"] += snap.overrun
                cursor = snap.next_cursor
                if finished and cursor == buf.written:
                    break
                if pause_s:
                    time.sleep(pause_s)
            counts["cursor"] = cursor

        return body

    def latest_reader(counts: dict[str, int]) -> None:
        rng = np.random.default_rng(12)
        out_t = np.zeros(capacity)
        out_v = np.zeros((capacity, n_channels), dtype=np.float32)
        out_g = np.zeros(capacity, dtype=np.float32)
        while not done.is_set():
            n = int(rng.integers(1, 2 * capacity))
            snap = buf.latest(n)
            assert snap.n_samples + snap.overrun <= min(n, capacity)
            assert rows_match(snap, history)
            k = buf.copy_latest(out_t, out_v, out_g)
            if k:
                first = round((out_t[-k] - 1000.0) * 200.0)
                a, b = first, first + k
                assert np.array_equal(out_t[-k:], history.t_host_s[a:b])
                assert np.array_equal(out_v[-k:], history.values[a:b])
                assert np.array_equal(out_g[-k:], history.gap_before_s[a:b])
            counts["reads"] += 1
            counts["overrun"] += snap.overrun

    threads = [
        threading.Thread(target=guarded("fast", cursor_reader(0.0, 64))),
        threading.Thread(target=guarded("paced", cursor_reader(0.0005, None))),
        threading.Thread(target=guarded("slow", cursor_reader(0.01, None))),
        threading.Thread(target=guarded("latest", latest_reader)),
        threading.Thread(target=guarded("writer", writer)),
    ]
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # switch threads often: more interleavings mid-copy
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
    finally:
        sys.setswitchinterval(old_interval)
    assert not any(thread.is_alive() for thread in threads)
    if errors:
        raise errors[0]
    written = buf.written
    assert written == stats["writer"]["rows"]
    assert written > 20 * capacity, f"the writer only wrote {written} samples"
    for name in ("fast", "paced", "slow"):
        counts = stats[name]
        assert counts["cursor"] == written
        assert counts["rows"] + counts["overrun"] == written, (name, counts)
        assert counts["reads"] > 1, (name, counts)
    assert stats["slow"]["overrun"] > 0, stats["slow"]
    assert stats["latest"]["reads"] > 1
