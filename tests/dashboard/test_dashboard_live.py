"""The dashboard on the live path: simulated devices on pseudo-terminals, the serial
bridge, the processing thread, and the window's own timer, all in real time."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from dashboard.acquisition import Acquisition
from dashboard.live_session import LiveSession
from dashboard.readouts import NO_VALUE, Level
from dashboard.window import DashboardConfig, DashboardWindow
from firmware_bridge.hostclock import ScaledClock
from firmware_bridge.samples import Side
from firmware_bridge.simulator.pty_host import PtyDeviceHost
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig
from realtime.pipeline import GaitPipeline
from realtime.processing import ProcessingThread

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals need POSIX")


@pytest.fixture
def live(qtbot: QtBot) -> Iterator[tuple[DashboardWindow, PtyDeviceHost]]:
    clock = ScaledClock(1.0)
    session = SimulatedSession(SimulationConfig(duration_s=30.0, seed=5, start_s=clock() + 0.3))
    host = PtyDeviceHost(session, clock)
    acquisition = Acquisition(clock=clock, latency_floor_s=session.latency_floor_s)
    for path in host.paths:
        acquisition.add_serial(path)
    processing = ProcessingThread(acquisition.buffers, GaitPipeline(clock=clock))
    host.start()
    acquisition.start()
    processing.start()
    window = DashboardWindow(
        acquisition,
        processing,
        LiveSession(clock=clock),
        config=DashboardConfig(target_spm=170.0),
    )
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    try:
        yield window, host
    finally:
        window.timer.stop()
        processing.stop()
        acquisition.stop()
        host.stop()


def test_a_vanished_device_greys_its_side_within_two_seconds(
    qtbot: QtBot, live: tuple[DashboardWindow, PtyDeviceHost]
) -> None:
    window, host = live
    qtbot.waitUntil(
        lambda: (
            window.gct_tiles[Side.LEFT].value_text() != NO_VALUE
            and window.gct_tiles[Side.RIGHT].value_text() != NO_VALUE
        ),
        timeout=8000,
    )
    # Live numbers in colour (amber, not green, when a loaded machine delays packets into gaps).
    assert window.cadence_tile.readout.level in (Level.OK, Level.WARN)
    left = [i for i, d in enumerate(host.session.devices) if d.spec.side == Side.LEFT]
    for index in left:
        host.mute(index)
    muted_at = time.monotonic()
    # 2 s without a step, plus one number refresh (0.1 s); the wait's bound leaves room for a
    # loaded machine (the exact 2 s rule is checked on a controlled clock in the readout tests).
    qtbot.waitUntil(lambda: window.gct_tiles[Side.LEFT].readout.level is Level.STALE, timeout=4000)
    assert time.monotonic() - muted_at >= 1.0  # not greyed while its last steps are recent
    assert window.balance_tile.readout.level is Level.STALE
    # The right side keeps running and keeps its numbers.
    assert window.gct_tiles[Side.RIGHT].value_text() != NO_VALUE
    # Silent after 2 s without a packet, plus one table refresh (0.25 s).
    qtbot.waitUntil(lambda: window.device_table.state_of("insole-left") == "silent", timeout=4000)
    assert window.device_table.state_of("insole-right") == "connected"
