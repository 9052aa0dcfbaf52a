"""StreamBuffers: sizing from StreamInfo, routing blocks, errors and concurrent registration."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from firmware_bridge.errors import ConfigurationError, GaitcueError
from firmware_bridge.samples import (
    IMU_CHANNELS,
    IMU_UNITS,
    Mount,
    SampleBlock,
    Side,
    StreamInfo,
    StreamKind,
)
from realtime.ringbuffer import RingBuffer
from realtime.streams import DEFAULT_CAPACITY_S, StreamBuffers, UnknownStreamError


def imu_info(stream_id: str = "imu-left-0000a1b2", rate_hz: float = 1000.0) -> StreamInfo:
    return StreamInfo(
        stream_id=stream_id,
        device_id=0xA1B2,
        kind=StreamKind.IMU,
        side=Side.LEFT,
        mount=Mount.FOOT,
        rate_hz=rate_hz,
        channel_names=IMU_CHANNELS,
        units=IMU_UNITS,
    )


def insole_info(stream_id: str = "insole-right-00c3d4e5", n_cells: int = 16) -> StreamInfo:
    return StreamInfo(
        stream_id=stream_id,
        device_id=0xC3D4E5,
        kind=StreamKind.INSOLE,
        side=Side.RIGHT,
        mount=Mount.INSOLE,
        rate_hz=200.0,
        channel_names=tuple(f"cell{i:02d}" for i in range(n_cells)),
        units=("N",) * n_cells,
        cell_area_cm2=(4.0,) * n_cells,
    )


def block_for(info: StreamInfo, n: int, seed: int, t0_s: float = 10.0) -> SampleBlock:
    rng = np.random.default_rng(seed)
    t = t0_s + np.arange(n) / info.rate_hz
    values = rng.standard_normal((n, info.n_channels)).astype(np.float32)
    return SampleBlock(info.stream_id, t, values)


def test_buffers_are_sized_from_rate_and_seconds() -> None:
    buffers = StreamBuffers([imu_info(), insole_info()], capacity_s=2.5)
    imu = buffers.buffer("imu-left-0000a1b2")
    insole = buffers["insole-right-00c3d4e5"]
    assert (imu.capacity, imu.n_channels) == (2500, 6)
    assert (insole.capacity, insole.n_channels) == (500, 16)
    assert buffers.stream_ids() == ("imu-left-0000a1b2", "insole-right-00c3d4e5")
    assert buffers.info("insole-right-00c3d4e5") == insole_info()
    assert len(buffers) == 2
    assert "imu-left-0000a1b2" in buffers
    assert "nope" not in buffers


def test_default_and_per_stream_capacity() -> None:
    buffers = StreamBuffers()
    assert buffers.capacity_s == DEFAULT_CAPACITY_S
    assert buffers.add(insole_info()).capacity == round(DEFAULT_CAPACITY_S * 200)
    # 0.1 s × 30 Hz is 3.0000000000000004 in floating point: still 3 samples.
    odd = dataclasses.replace(imu_info("imu-odd"), rate_hz=30.0)
    assert buffers.add(odd, capacity_s=0.1).capacity == 3
    # A fraction of a sample rounds up, and there is always at least one slot.
    slow = dataclasses.replace(imu_info("imu-slow"), rate_hz=0.5)
    assert buffers.add(slow, capacity_s=0.1).capacity == 1


def test_blocks_are_routed_to_their_stream() -> None:
    imu, insole = imu_info(), insole_info()
    buffers = StreamBuffers([imu, insole], capacity_s=1.0)
    sink = buffers  # what the bridge gets
    first = block_for(insole, 30, seed=1)
    second = dataclasses.replace(block_for(insole, 12, seed=2, t0_s=11.0), gap_before_s=0.85)
    imu_block = block_for(imu, 40, seed=3)
    sink(first)
    sink(imu_block)
    sink(second)
    got = buffers.buffer(insole.stream_id).read_since(0)
    np.testing.assert_array_equal(got.values, np.concatenate((first.values, second.values)))
    np.testing.assert_array_equal(got.t_host_s, np.concatenate((first.t_host_s, second.t_host_s)))
    assert got.gap_before_s[30] == np.float32(0.85)
    assert np.count_nonzero(got.gap_before_s) == 1
    imu_rows = buffers.buffer(imu.stream_id).latest(100)
    np.testing.assert_array_equal(imu_rows.values, imu_block.values)


def test_unknown_stream_is_a_clear_gaitcue_error() -> None:
    buffers = StreamBuffers([imu_info()])
    stray = block_for(insole_info("insole-left-deadbeef"), 3, seed=4)
    with pytest.raises(UnknownStreamError, match=r"'insole-left-deadbeef'.*'imu-left-0000a1b2'"):
        buffers(stray)
    with pytest.raises(GaitcueError, match="no buffer for stream 'x'"):
        buffers.buffer("x")
    with pytest.raises(LookupError):
        buffers.info("x")
    with pytest.raises(UnknownStreamError, match="registered streams: none"):
        StreamBuffers().buffer("x")


def test_a_block_that_does_not_fit_its_stream_is_a_programming_error() -> None:
    buffers = StreamBuffers([imu_info()])
    wrong = block_for(insole_info("imu-left-0000a1b2", n_cells=4), 5, seed=5)
    with pytest.raises(ValueError, match=r"shape \(n_samples, 6\)"):
        buffers(wrong)


def test_registering_again_returns_the_same_buffer_and_conflicts_are_refused() -> None:
    buffers = StreamBuffers(capacity_s=1.0)
    buf = buffers.add(imu_info())
    buffers(block_for(imu_info(), 10, seed=6))
    assert buffers.add(imu_info(), capacity_s=5.0) is buf  # a reconnect keeps the history
    assert buf.written == 10
    with pytest.raises(ConfigurationError, match="already registered with a different"):
        buffers.add(dataclasses.replace(imu_info(), rate_hz=500.0))
    assert buffers.info(imu_info().stream_id).rate_hz == 1000.0


@pytest.mark.parametrize(
    ("info", "capacity_s", "match"),
    [
        (imu_info(), 0.0, "positive number of seconds"),
        (imu_info(), float("inf"), "positive number of seconds"),
        (imu_info(), -1.0, "positive number of seconds"),
        (imu_info(), "60", "must be a number of seconds"),
        (dataclasses.replace(imu_info(), rate_hz=0.0), 1.0, "has sample rate 0.0 Hz"),
        (dataclasses.replace(imu_info(), rate_hz=float("nan")), 1.0, "has sample rate nan"),
        (dataclasses.replace(imu_info(), channel_names=(), units=()), 1.0, "has no channels"),
    ],
)
def test_unusable_descriptions_are_configuration_errors(
    info: StreamInfo, capacity_s: float, match: str
) -> None:
    buffers = StreamBuffers()
    with pytest.raises(ConfigurationError, match=match):
        buffers.add(info, capacity_s=capacity_s)
    assert len(buffers) == 0


def test_constructor_rejects_a_bad_default_capacity() -> None:
    with pytest.raises(ConfigurationError, match="positive number of seconds"):
        StreamBuffers(capacity_s=0)


def test_concurrent_registration_while_routing() -> None:
    """Threads register overlapping streams while a writer routes blocks to one of them.

    Each id must end up with exactly one buffer that every registering thread got back, and
    the writer's stream must never lose a block to a registry swap.
    """
    n_threads, n_ids = 4, 40
    infos = [insole_info(f"insole-{i:03d}", n_cells=1 + i % 5) for i in range(n_ids)]
    routed = imu_info()
    buffers = StreamBuffers([routed], capacity_s=1.0)
    barrier = threading.Barrier(n_threads + 1)
    got: list[dict[str, RingBuffer]] = [{} for _ in range(n_threads)]
    errors: list[BaseException] = []
    block = block_for(routed, 5, seed=7)
    n_blocks = 400

    def register(k: int) -> None:
        try:
            barrier.wait()
            order = np.random.default_rng(k).permutation(n_ids)
            for i in order:
                got[k][infos[i].stream_id] = buffers.add(infos[i])
        except BaseException as exc:
            errors.append(exc)

    def route() -> None:
        try:
            barrier.wait()
            for _ in range(n_blocks):
                buffers(block)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(k,)) for k in range(n_threads)]
    threads.append(threading.Thread(target=route))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not errors, errors
    assert len(buffers) == n_ids + 1
    assert set(buffers.stream_ids()) == {routed.stream_id} | {i.stream_id for i in infos}
    for info in infos:
        buf = buffers.buffer(info.stream_id)
        assert all(g[info.stream_id] is buf for g in got)
        assert buf.n_channels == info.n_channels
    assert buffers.buffer(routed.stream_id).written == n_blocks * 5


def test_a_notified_batch_wakes_one_waiting_reader_once() -> None:
    buffers = StreamBuffers([imu_info()])
    assert not buffers.notifying
    buffers.notify()  # nothing written yet: no wake-up
    assert buffers.notifying
    assert not buffers.wait_for_data(0.0)
    t = np.arange(4, dtype=np.float64) * 1e-3
    buffers(SampleBlock("imu-left-0000a1b2", t, np.zeros((4, 6), dtype=np.float32)))
    assert not buffers.wait_for_data(0.0)  # written, but the batch is not complete yet
    buffers.notify()
    assert buffers.wait_for_data(0.0)
    assert not buffers.wait_for_data(0.0)  # consumed

    woken = threading.Event()

    def reader() -> None:
        if buffers.wait_for_data(5.0):
            woken.set()

    thread = threading.Thread(target=reader)
    thread.start()
    buffers(SampleBlock("imu-left-0000a1b2", t + 1.0, np.zeros((4, 6), dtype=np.float32)))
    buffers.notify()
    thread.join(5.0)
    assert woken.is_set()
