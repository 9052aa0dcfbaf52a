"""The simulated devices at high speed: a client that falls behind for a moment loses no
bytes (the writer waits for the pseudo-terminal), and ``gaitcue live --simulate`` far faster
than real time (simulator in a child process) sees every packet."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.hostclock import ScaledClock
from firmware_bridge.simulator.pty_host import PtyDeviceHost
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig

ROOT = Path(__file__).resolve().parents[2]
SPEED = 20.0
STALL_S = 0.5

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


class StallingReader:
    """Reads every pseudo-terminal into its own buffer, but stops reading for ``stall_s``
    (wall s) once ``stall_after_bytes`` have arrived, and longer if need be (up to 10 s)
    until ``writer_waited()`` says the writer found a pseudo-terminal full."""

    def __init__(
        self,
        paths: list[str],
        *,
        stall_after_bytes: int,
        stall_s: float,
        writer_waited: Callable[[], bool],
    ) -> None:
        self.fds = [os.open(p, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK) for p in paths]
        self.received = [bytearray() for _ in paths]
        self.stall_after_bytes = stall_after_bytes
        self.stall_s = stall_s
        self.writer_waited = writer_waited
        self.stalled = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        for fd in self.fds:
            os.close(fd)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.stalled and sum(map(len, self.received)) >= self.stall_after_bytes:
                self.stalled = True
                time.sleep(self.stall_s)
                give_up = time.monotonic() + 10.0
                while not self.writer_waited() and time.monotonic() < give_up:
                    time.sleep(0.05)
            ready, _, _ = select.select(self.fds, [], [], 0.05)
            for fd in ready:
                index = self.fds.index(fd)
                try:
                    self.received[index] += os.read(fd, 65536)
                except BlockingIOError:
                    continue


def generated(config: SimulationConfig, chunk_s: float = 0.1) -> list[list[bytes]]:
    """The packets each device of a session with ``config`` sends, in arrival order."""
    session = SimulatedSession(config)
    out: list[list[tuple[float, bytes]]] = [[] for _ in session.devices]
    t = session.now_s
    while t < session.end_s:
        t = min(t + chunk_s, session.end_s)
        for delivery in session.advance(t):
            out[delivery.device_index] += zip(
                delivery.arrival_s.tolist(), delivery.payloads, strict=True
            )
    return [[p for _, p in sorted(items, key=lambda x: x[0])] for items in out]


def test_a_client_stalled_for_half_a_second_at_20x_loses_no_bytes() -> None:
    clock = ScaledClock(SPEED)
    config = SimulationConfig(duration_s=20.0, seed=71, start_s=clock() + 0.5 * SPEED)
    host = PtyDeviceHost(SimulatedSession(config), clock)
    reader = StallingReader(
        host.paths,
        stall_after_bytes=100_000,
        stall_s=STALL_S,
        writer_waited=lambda: host.stats.waits > 0,
    )
    try:
        reader.start()
        host.start()
        assert host.finished.wait(config.duration_s / SPEED + 20.0)
        deadline = time.monotonic() + 5.0
        packets = generated(config)
        expected = [b"".join(p) for p in packets]
        while time.monotonic() < deadline and list(map(len, reader.received)) != list(
            map(len, expected)
        ):
            time.sleep(0.05)
    finally:
        reader.stop()
        host.stop()

    assert reader.stalled
    assert host.stats.waits > 0  # the client's pseudo-terminal was full: the writer waited
    assert host.stats.bytes_dropped == 0
    assert host.stats.bytes_written == sum(map(len, expected))
    for received, sent, sent_packets in zip(reader.received, expected, packets, strict=True):
        assert bytes(received) == sent
        decoder = LinkDecoder(sink=lambda block: None)
        decoder.feed(bytes(received), 0.0)
        decoder.poll(1e9)
        (device,) = decoder.devices.values()
        assert decoder.corrupt == 0
        assert device.stats.missing == 0
        assert device.stats.packets == len(sent_packets)


def _terminal_rows(stdout: str) -> dict[str, str]:
    """The device rows of the last block the terminal view printed, by stream id."""
    block = stdout.strip().split("\n\n")
    rows: dict[str, str] = {}
    for text in reversed(block):
        found = {
            line.split()[0]: line
            for line in text.splitlines()
            if line.startswith(("insole-", "imu-"))
        }
        if len(found) >= 4:
            rows = found
            break
    return rows


def _live_env() -> dict[str, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


@pytest.mark.realtime
def test_live_simulate_at_20x_for_two_minutes_misses_no_packet() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dashboard.cli",
            "live",
            "--simulate",
            "--terminal",
            "--no-metronome",
            "--speed",
            "20",
            "--duration",
            "120",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env=_live_env(),
    )
    assert result.returncode == 0, result.stderr
    rows = _terminal_rows(result.stdout)
    assert len(rows) == 4, result.stdout[-3000:]
    for stream_id, line in rows.items():
        # columns of dashboard.terminal_view's header: loss% and resets
        assert float(line[45:52]) == 0.0, f"{stream_id} lost packets: {line}"
        assert int(line[74:78]) == 0, f"{stream_id} was reset: {line}"
    assert int(result.stdout.rsplit("steps ", 1)[1].split()[0].rstrip(",")) > 0


@pytest.mark.realtime
def test_the_simulator_process_ends_with_its_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dashboard.cli",
            "live",
            "--simulate",
            "--terminal",
            "--no-metronome",
            "--speed",
            "10",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        env={**_live_env(), "TMPDIR": str(tmp_path)},  # what a killed parent leaves behind
    )
    try:
        children: list[psutil.Process] = []
        deadline = time.monotonic() + 90.0  # imports are slow on a busy machine
        while not children and time.monotonic() < deadline:
            time.sleep(0.2)
            children = psutil.Process(parent.pid).children()
        assert children, "live --simulate at 10× started no simulator process"
        assert "simulate" in children[0].cmdline()
        time.sleep(1.0)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        _, alive = psutil.wait_procs(children, timeout=60)
        assert not alive
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for child in children:
            if child.is_running():
                child.kill()
