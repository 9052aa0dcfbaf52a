"""Calibrations applied through ``CalibratedSink``: a miscalibrated simulated device, decoded
by the real bridge and calibrated on the way to its sink, streams what a perfect device
streams (same seed, same noise draws)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from calibration.apply import CalibratedSink, CalibrationStore, ImuCalibrator, InsoleCalibrator
from calibration.files import ImuCalibration, InsoleCalibration
from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.samples import Mount, SampleBlock, Side, StreamInfo, StreamKind
from firmware_bridge.simulator.calibration_routines import rotation_from_euler_deg
from firmware_bridge.simulator.devices import SensorErrors
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig

TILT = rotation_from_euler_deg(12.0, -20.0, 35.0)
IMU_ERRORS = {
    Side.LEFT: dict(
        acc_bias_g=(0.06, -0.04, 0.05),
        acc_scale=(1.03, 0.97, 1.02),
        gyr_bias_dps=(4.0, -6.0, 3.0),
        mount_rotation=tuple(map(tuple, TILT)),
    ),
    Side.RIGHT: dict(
        acc_bias_g=(-0.03, 0.05, -0.02),
        acc_scale=(0.98, 1.02, 1.01),
        gyr_bias_dps=(-2.0, 5.0, -7.0),
        mount_rotation=tuple(map(tuple, TILT.T)),
    ),
}


# Without noise and bias drift the perfect and the calibrated device differ only by the
# count resolution, so the comparison can be tight.
QUIET = {"gyr_bias_drift_dps_per_min": 0.0, "acc_noise_g": 0.0, "gyr_noise_dps": 0.0}


class _Collector:
    def __init__(self) -> None:
        self.blocks: dict[str, list[SampleBlock]] = defaultdict(list)
        self.infos: dict[str, StreamInfo] = {}

    def __call__(self, block: SampleBlock) -> None:
        self.blocks[block.stream_id].append(block)

    def values(self, kind: StreamKind, side: Side) -> np.ndarray:
        (sid,) = [s for s, i in self.infos.items() if i.kind == kind and i.side == side]
        return np.concatenate([b.values for b in self.blocks[sid]])


def _run(
    config: SimulationConfig, store: CalibrationStore | None = None
) -> tuple[SimulatedSession, _Collector, CalibratedSink | None]:
    session = SimulatedSession(config)
    collector = _Collector()
    wrapped = None if store is None else CalibratedSink(collector, store)

    def on_stream(info: StreamInfo) -> None:
        registered = info if wrapped is None else wrapped.on_stream(info)
        collector.infos[registered.stream_id] = registered

    sink = collector if wrapped is None else wrapped
    decoders = [
        LinkDecoder(sink=sink, on_stream=on_stream, latency_floor_s=session.latency_floor_s)
        for _ in session.devices
    ]
    t = session.now_s
    while t < session.end_s:
        t = min(t + 0.5, session.end_s)
        for delivery in session.advance(t):
            decoder = decoders[delivery.device_index]
            for arrival, payload in zip(
                delivery.arrival_s.tolist(), delivery.payloads, strict=True
            ):
                decoder.feed(payload, arrival)
                decoder.poll(arrival)
    for decoder in decoders:
        decoder.poll(session.end_s + 10.0)
    return session, collector, wrapped


def _imu_config(errors: tuple[SensorErrors, ...]) -> SimulationConfig:
    return SimulationConfig(duration_s=6.0, seed=77, insoles=False, sensor_errors=errors)


def test_imu_blocks_recover_the_perfect_sensor() -> None:
    perfect = tuple(
        SensorErrors(
            StreamKind.IMU,
            side,
            acc_bias_g=(0, 0, 0),
            gyr_bias_dps=(0, 0, 0),
            **QUIET,  # type: ignore[arg-type]
        )
        for side in (Side.LEFT, Side.RIGHT)
    )
    skewed = tuple(
        SensorErrors(StreamKind.IMU, side, **QUIET, **IMU_ERRORS[side])  # type: ignore[arg-type]
        for side in (Side.LEFT, Side.RIGHT)
    )
    _, reference, _ = _run(_imu_config(perfect))
    session, _, _ = _run(_imu_config(skewed))  # to learn the device ids
    store = CalibrationStore()
    for device in session.devices:
        e = IMU_ERRORS[device.spec.side]
        store.add(
            ImuCalibration(
                device_id=device.spec.device_id,
                accel_offset_g=e["acc_bias_g"],
                accel_scale=1.0 / np.asarray(e["acc_scale"]),
                gyro_bias_dps=e["gyr_bias_dps"],
                alignment=np.asarray(e["mount_rotation"]).T,
            )
        )
    _, calibrated, sink = _run(_imu_config(skewed), store)
    _, raw, _ = _run(_imu_config(skewed))
    assert sink is not None
    assert not sink.problems
    for side in (Side.LEFT, Side.RIGHT):
        assert all(i.calibrated for i in calibrated.infos.values())
        want = reference.values(StreamKind.IMU, side)
        got = calibrated.values(StreamKind.IMU, side)
        before = raw.values(StreamKind.IMU, side)
        n = min(len(want), len(got))
        unclipped = np.all(np.abs(want[:n, :3]) < 15.0, axis=1)
        error = np.abs(got[:n] - want[:n])[unclipped]
        # Within the count resolution (0.5 mg, 0.06 deg/s) times the errors' gain.
        assert error[:, :3].max() < 0.005
        assert error[:, 3:].max() < 0.3
        assert np.abs(before[:n] - want[:n])[unclipped][:, 3:].mean() > 10.0


def test_insole_blocks_recover_the_true_total() -> None:
    rng = np.random.default_rng(5)
    offsets = {side: tuple(rng.uniform(8.0, 20.0, 16)) for side in (Side.LEFT, Side.RIGHT)}
    gains = {Side.LEFT: 0.8, Side.RIGHT: 1.15}
    skewed = tuple(
        SensorErrors(
            StreamKind.INSOLE, side, zero_offset_n=offsets[side], cell_gain=(gains[side],) * 16
        )
        for side in (Side.LEFT, Side.RIGHT)
    )
    config = SimulationConfig(duration_s=6.0, seed=78, imus=False, sensor_errors=skewed)
    session, _, _ = _run(config)
    store = CalibrationStore()
    for device in session.devices:
        side = device.spec.side
        store.add(
            InsoleCalibration(
                device_id=device.spec.device_id,
                zero_n=np.asarray(offsets[side]),
                floor_n=np.full(16, 8.0),
                scale=1.0 / gains[side],
            )
        )
    _, calibrated, _ = _run(config, store)
    _, raw, _ = _run(config)
    reference_config = SimulationConfig(duration_s=6.0, seed=78, imus=False)
    _, reference, _ = _run(reference_config)
    for side in (Side.LEFT, Side.RIGHT):
        want = reference.values(StreamKind.INSOLE, side).sum(axis=1)
        got = calibrated.values(StreamKind.INSOLE, side).sum(axis=1)
        before = raw.values(StreamKind.INSOLE, side).sum(axis=1)
        n = min(len(want), len(got))
        loaded = want[:n] > 300.0
        assert np.max(np.abs(got[:n][loaded] / want[:n][loaded] - 1.0)) < 0.05
        assert abs(np.median(got[:n][loaded] / want[:n][loaded]) - 1.0) < 0.02
        assert np.median(got[:n][want[:n] == 0]) == 0.0
        assert np.median(np.abs(before[:n] - want[:n])[loaded]) > 50.0


def test_mismatched_calibration_is_reported_not_applied() -> None:
    info = StreamInfo(
        "insole-left-00000007",
        7,
        StreamKind.INSOLE,
        Side.LEFT,
        Mount.INSOLE,
        200.0,
        tuple(f"cell{i}" for i in range(8)),
        ("N",) * 8,
    )
    cal = ImuCalibration(
        device_id=7, accel_offset_g=[0, 0, 0], accel_scale=[1, 1, 1], gyro_bias_dps=[0, 0, 0]
    )
    problems: list[str] = []
    blocks: list[SampleBlock] = []
    sink = CalibratedSink(blocks.append, CalibrationStore([cal]), on_problem=problems.append)
    out = sink.on_stream(info)
    assert not out.calibrated
    assert len(problems) == 1
    assert "calibrates an IMU" in problems[0]
    block = SampleBlock(info.stream_id, np.arange(3.0), np.ones((3, 8), np.float32))
    sink(block)
    assert blocks[0] is block


def test_unknown_device_passes_through() -> None:
    info = StreamInfo(
        "imu-left-00000009",
        9,
        StreamKind.IMU,
        Side.LEFT,
        Mount.FOOT,
        1000.0,
        ("ax", "ay", "az", "gx", "gy", "gz"),
        ("g",) * 3 + ("deg/s",) * 3,
    )
    blocks: list[SampleBlock] = []
    sink = CalibratedSink(blocks.append, CalibrationStore())
    assert sink.on_stream(info) is info
    assert not sink.is_calibrated(info.stream_id)


@pytest.mark.parametrize("rows", [1, 7, 500])
def test_insole_calibrator_matches_a_direct_computation(rows: int) -> None:
    rng = np.random.default_rng(rows)
    cal = InsoleCalibration(
        device_id=1, zero_n=rng.uniform(0, 10, 16), floor_n=np.full(16, 5.0), scale=1.1
    )
    values = rng.uniform(0, 900, (rows, 16)).astype(np.float32)
    above = values - cal.zero_n
    want = np.where(above >= cal.floor_n, above, 0.0) * 1.1
    got = InsoleCalibrator(cal)(values)
    # Exact except within one table step of the floor.
    near_floor = np.abs(above - cal.floor_n) < 1.0
    np.testing.assert_allclose(got[~near_floor], want[~near_floor], rtol=1e-4, atol=1e-3)


def test_imu_calibrator_is_the_formula() -> None:
    rng = np.random.default_rng(3)
    cal = ImuCalibration(
        device_id=1,
        accel_offset_g=rng.normal(0, 0.05, 3),
        accel_scale=1 + rng.normal(0, 0.02, 3),
        gyro_bias_dps=rng.normal(0, 3, 3),
        alignment=TILT,
    )
    v = rng.normal(0, 2, (100, 6)).astype(np.float32)
    got = ImuCalibrator(cal)(v)
    acc = (TILT @ (cal.accel_scale * (v[:, :3] - cal.accel_offset_g)).T).T
    gyr = (TILT @ (v[:, 3:] - cal.gyro_bias_dps).T).T
    np.testing.assert_allclose(got, np.column_stack([acc, gyr]), atol=1e-4)
    assert got.dtype == np.float32


class _Buffers:
    """Stands in for a ring-buffer set: a sink that registers streams and takes notices."""

    def __init__(self) -> None:
        self.infos: list[StreamInfo] = []
        self.blocks: list[SampleBlock] = []
        self.notices = 0

    def __call__(self, block: SampleBlock) -> None:
        self.blocks.append(block)

    def add(self, info: StreamInfo) -> None:
        self.infos.append(info)

    def notify(self) -> None:
        self.notices += 1


def test_wrapper_stands_in_for_a_buffer_set() -> None:
    info = StreamInfo(
        "imu-left-0000000a",
        10,
        StreamKind.IMU,
        Side.LEFT,
        Mount.FOOT,
        1000.0,
        ("ax", "ay", "az", "gx", "gy", "gz"),
        ("g",) * 3 + ("deg/s",) * 3,
    )
    cal = ImuCalibration(
        device_id=10, accel_offset_g=[0, 0, 0.5], accel_scale=[1, 1, 1], gyro_bias_dps=[0, 0, 0]
    )
    buffers = _Buffers()
    sink = CalibratedSink(buffers, CalibrationStore([cal]))
    sink.add(info)
    sink(SampleBlock(info.stream_id, np.arange(2.0), np.ones((2, 6), np.float32)))
    sink.notify()
    assert buffers.infos[0].calibrated
    np.testing.assert_allclose(buffers.blocks[0].values[:, 2], 0.5)
    assert buffers.notices == 1
