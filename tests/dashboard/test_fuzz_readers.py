"""Hostile files for the readers: CSV streams and session directories with random and
mutated bytes. Each reader either succeeds or raises ``ConfigurationError`` with a one-line
message; never another exception, never a hang (the suite's per-test timeout)."""

from __future__ import annotations

import functools
import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.session.reader import iter_packets, load_session
from dashboard.session.simulated import record_simulated
from firmware_bridge.csv_streams import read_csv_stream, write_csv_stream
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import IMU_CHANNELS, IMU_UNITS, Mount, Side, StreamInfo, StreamKind
from firmware_bridge.simulator.faults import FaultSpec
from firmware_bridge.simulator.session import SimulationConfig

_CACHE = Path(tempfile.mkdtemp(prefix="gaitcue-fuzz-"))

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.integers(1, 200)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=32)),
    st.tuples(
        st.just("text"),
        st.integers(0, 10**6),
        st.sampled_from([",", "\n", "nan", "inf", "-", "1e309", '"', "\x00", "\r", "é", "{}"]),
    ),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
)


def mutate(data: bytes, ops: list[tuple]) -> bytes:  # type: ignore[type-arg]
    out = bytearray(data)
    for op in ops:
        pos = op[1] % (len(out) + 1)
        if op[0] == "flip" and out:
            out[pos % len(out)] ^= 1 << op[2]
        elif op[0] == "cut":
            del out[pos : pos + op[2]]
        elif op[0] == "insert":
            out[pos:pos] = op[2]
        elif op[0] == "text":
            out[pos:pos] = op[2].encode()
        elif op[0] == "truncate":
            del out[pos:]
    return bytes(out)


def one_line(exc: ConfigurationError) -> None:
    message = str(exc)
    assert message
    assert "\n" not in message


# ----------------------------------------------------------------------------- CSV
@functools.cache
def csv_files() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    t = np.arange(50) / 200.0
    imu = StreamInfo(
        "imu", 1, StreamKind.IMU, Side.LEFT, Mount.FOOT, 200.0, IMU_CHANNELS, IMU_UNITS
    )
    cells = ("c0", "c1", "c2")
    insole = StreamInfo(
        "insole", 2, StreamKind.INSOLE, Side.LEFT, Mount.INSOLE, 200.0, cells, ("N",) * 3
    )
    out = {}
    for name, info in (("imu", imu), ("insole", insole)):
        path = _CACHE / f"{name}.csv"
        write_csv_stream(path, info, t, rng.normal(size=(t.size, info.n_channels)))
        out[name] = path.read_bytes()
    return out


@settings(deadline=None)
@given(st.sampled_from(["imu", "insole"]), st.lists(mutation, min_size=1, max_size=8))
def test_mutated_csv_streams_load_or_fail_in_one_line(name: str, ops: list[tuple]) -> None:  # type: ignore[type-arg]
    kind = StreamKind.IMU if name == "imu" else StreamKind.INSOLE
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.csv"
        path.write_bytes(mutate(csv_files()[name], ops))
        try:
            stream = read_csv_stream(path, kind=kind, side=Side.LEFT)
        except ConfigurationError as exc:
            one_line(exc)
            return
        assert np.all(np.diff(stream.t_s) > 0)
        assert np.all(np.isfinite(stream.values))
        assert math.isfinite(stream.info.rate_hz)
        assert stream.info.rate_hz > 0
        for block in stream.blocks():
            assert block.gap_before_s >= 0.0


@settings(deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_as_a_csv_stream(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "left_imu.csv"
        path.write_bytes(data)
        for kind in (StreamKind.IMU, StreamKind.INSOLE):
            try:
                read_csv_stream(path, kind=kind, side=Side.RIGHT)
            except ConfigurationError as exc:
                one_line(exc)


# ------------------------------------------------------------------------- sessions
@functools.cache
def session_dir() -> Path:
    path = _CACHE / "session"
    config = SimulationConfig(
        duration_s=3.0, seed=8, n_cells=8, imu_rate_hz=500, faults=FaultSpec(loss=0.02)
    )
    record_simulated(
        config,
        path,
        runner={"runner_id": "R-7", "name": "Test Runner"},
        events=[(1.0, "marker", "new shoes", None)],
        target_spm=170.0,
    )
    return path


SESSION_FILES = [
    "session.json",
    "runner.json",
    "devices.jsonl",
    "events.jsonl",
    "steps.csv",
    "beats.csv",
    "truth.csv",
    "packets.bin",
]


def open_and_read(path: Path) -> None:
    """Everything a user command does with a session: open, facts, decode."""
    session = load_session(path)
    _ = (session.source, session.interrupted, session.duration_s, session.runner_id)
    _ = (session.body_mass_kg, session.involved_side, session.treadmill_speed_m_s())
    decoded = session.decode()
    for info, blocks in decoded.streams():
        for block in blocks:
            assert block.values.shape[1] == info.n_channels
    decoded.joined()


def test_the_unmutated_session_reads() -> None:
    open_and_read(session_dir())


@settings(deadline=None, max_examples=40)
@given(st.sampled_from(SESSION_FILES), st.lists(mutation, min_size=1, max_size=6))
def test_mutated_session_files_load_or_fail_in_one_line(name: str, ops: list[tuple]) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s"
        shutil.copytree(session_dir(), path)
        target = path / name
        target.write_bytes(mutate(target.read_bytes(), ops))
        try:
            open_and_read(path)
        except ConfigurationError as exc:
            one_line(exc)


@settings(deadline=None, max_examples=30)
@given(st.sampled_from(SESSION_FILES), st.binary(max_size=600))
def test_session_files_replaced_by_random_bytes(name: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s"
        shutil.copytree(session_dir(), path)
        (path / name).write_bytes(data)
        try:
            open_and_read(path)
        except ConfigurationError as exc:
            one_line(exc)


@settings(deadline=None)
@given(st.lists(mutation, min_size=1, max_size=8))
def test_iter_packets_yields_whole_records_or_fails_in_one_line(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    original = (session_dir() / "packets.bin").read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "packets.bin"
        path.write_bytes(mutate(original, ops))
        size = path.stat().st_size
        try:
            total = 0
            for t_s, link_id, payload in iter_packets(path):
                assert isinstance(t_s, float)
                assert 0 <= link_id < 1 << 16
                total += len(payload)
                assert total <= size
        except ConfigurationError as exc:
            one_line(exc)


@pytest.mark.parametrize("name", ["session.json", "devices.jsonl", "events.jsonl"])
def test_wrong_json_types_fail_in_one_line(name: str, tmp_path: Path) -> None:
    path = tmp_path / "s"
    shutil.copytree(session_dir(), path)
    for value in ("[]", "1", '"x"', "null", '{"format": 3}'):
        (path / name).write_text(value + "\n", encoding="utf-8")
        try:
            open_and_read(path)
        except ConfigurationError as exc:
            one_line(exc)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("links", [{"link_id": "x"}]),
        ("links", [{"name": "no id"}]),
        ("links", "abc"),
        ("links", [1]),
        ("latency_floor_s", "a"),
        ("latency_floor_s", None),
        ("latency_floor_s", -1),
        ("host_t0_s", "b"),
        ("host_t0_s", [1]),
        ("ended_s", "c"),
        ("body_mass_kg", "x"),
        ("imu_mount", 3),
    ],
)
def test_session_json_fields_of_the_wrong_type(key: str, value: object, tmp_path: Path) -> None:
    path = tmp_path / "s"
    shutil.copytree(session_dir(), path)
    meta = json.loads((path / "session.json").read_text(encoding="utf-8"))
    meta[key] = value
    (path / "session.json").write_text(json.dumps(meta), encoding="utf-8")
    try:
        open_and_read(path)
    except ConfigurationError as exc:
        one_line(exc)
