"""The serial bridge on real pseudo-terminal pairs: pyserial on the slave end, the simulated
devices writing to the master end, at real-time pace and faster."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from dashboard.acquisition import Acquisition
from firmware_bridge.errors import TransportError
from firmware_bridge.hostclock import ScaledClock
from firmware_bridge.serial_port import open_serial
from firmware_bridge.simulator.faults import FaultSpec
from firmware_bridge.simulator.pty_host import PtyDeviceHost
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


def stream_over_ptys(config: SimulationConfig, speed: float) -> tuple[PtyDeviceHost, Acquisition]:
    clock = ScaledClock(speed)
    session = SimulatedSession(SimulationConfig(**{**config.__dict__, "start_s": clock() + 0.3}))
    host = PtyDeviceHost(session, clock)
    acquisition = Acquisition(clock=clock, latency_floor_s=session.latency_floor_s)
    try:
        for path in host.paths:
            acquisition.add_serial(path)
        acquisition.start()
        host.start()
        assert host.finished.wait(config.duration_s / speed + 10.0)
        time.sleep(0.3)
    finally:
        acquisition.stop()
        host.stop()
    return host, acquisition


@pytest.mark.realtime
def test_real_time_stream_arrives_whole_and_in_order() -> None:
    config = SimulationConfig(duration_s=3.0, seed=21)
    host, acquisition = stream_over_ptys(config, speed=1.0)
    assert host.stats.bytes_dropped == 0
    rows = {row.stream_id: row for row in acquisition.device_rows()}
    assert len(rows) == 4
    for stream_id in acquisition.buffers.stream_ids():
        info = acquisition.buffers.info(stream_id)
        snap = acquisition.buffers[stream_id].latest(100_000)
        expected = info.rate_hz * config.duration_s
        assert snap.n_samples >= expected - 3 * info.rate_hz * 0.01 - info.rate_hz * 0.02
        assert np.all(np.diff(snap.t_host_s) > 0)
        assert rows[stream_id].loss_pct == 0.0
        assert not np.any(snap.gap_before_s > 0)


def test_faster_than_real_time_with_faults_counts_what_was_injected() -> None:
    faults = FaultSpec(loss=0.05, corrupt=0.001, reorder=0.01, duplicate=0.01)
    config = SimulationConfig(duration_s=20.0, seed=22, faults=faults)
    host, acquisition = stream_over_ptys(config, speed=8.0)
    assert host.stats.bytes_dropped == 0
    for index, reader in enumerate(acquisition.readers):
        injected = host.session.injected(index)
        stats = reader.decoder.stats()
        assert (stats.missing, stats.corrupt, stats.duplicate, stats.reordered) == (
            injected.missing_detectable(),
            injected.corrupted,
            injected.duplicated,
            injected.reordered,
        )


def test_wrong_port_is_one_clear_error() -> None:
    with pytest.raises(TransportError) as missing:
        open_serial("/dev/gaitcue-missing")
    assert str(missing.value) == "cannot open /dev/gaitcue-missing: No such file or directory"
    with pytest.raises(TransportError) as not_serial:
        open_serial("/dev/null")
    assert str(not_serial.value) == "cannot open /dev/null: not a serial port"


def test_cli_wrong_port_prints_one_line_and_fails() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "live", "--serial", "/dev/gaitcue-missing"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == "error: cannot open /dev/gaitcue-missing: No such file or directory\n"
    assert "Traceback" not in result.stderr
