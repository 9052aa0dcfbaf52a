"""Running the Qt dashboard: display detection, the event loop, screenshots.

The dashboard runs in the main thread; acquisition and processing are already running in
their own threads when it starts. ``stop`` (set by Ctrl-C, a duration or the caller) ends
the event loop; closing the window does too.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from dashboard.acquisition import Acquisition
from dashboard.live_session import LiveSession
from dashboard.recording import RecordingControl
from dashboard.window import DashboardConfig, DashboardWindow, MetronomeControl
from firmware_bridge.errors import ConfigurationError
from realtime.processing import ProcessingThread

SCREEN_SIZE = (1920, 1080)
"""Window size when no screen decides it (offscreen, screenshots) (px)."""


def has_display() -> bool:
    """Whether a graphical display is available to open a window on.

    Windows and macOS laptops always have one; on Linux and other X11/Wayland systems the
    ``DISPLAY`` or ``WAYLAND_DISPLAY`` variable says so. ``QT_QPA_PLATFORM=offscreen``
    counts as a display (it renders to memory), for screenshots and tests.
    """
    if sys.platform in ("win32", "darwin"):
        return True
    if os.environ.get("QT_QPA_PLATFORM", "").startswith("offscreen"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def use_offscreen_for_screenshot() -> None:
    """Render to memory when asked for a screenshot on a machine without a display."""
    if not has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"


def run_dashboard(
    acquisition: Acquisition,
    processing: ProcessingThread,
    session: LiveSession,
    *,
    stop: threading.Event,
    metronome: MetronomeControl | None = None,
    recording: RecordingControl | None = None,
    config: DashboardConfig | None = None,
    screenshot: Path | None = None,
) -> DashboardWindow:
    """Show the dashboard until ``stop`` is set or the window is closed.

    Args:
        acquisition: running transports and ring buffers.
        processing: the running analysis thread.
        session: the live session state (targets, baseline, events).
        stop: ends the event loop when set.
        metronome: the metronome to control, if any.
        recording: the record button's logic, if recording is possible.
        config: look and refresh.
        screenshot: save a PNG of the window here when the loop ends.

    Returns:
        The window (closed), for its figures (frames, fps).

    Raises:
        ConfigurationError: the screenshot could not be written.
    """
    from PySide6 import QtCore, QtWidgets

    existing = QtWidgets.QApplication.instance()
    app = (
        existing
        if isinstance(existing, QtWidgets.QApplication)
        else QtWidgets.QApplication([sys.argv[0]])
    )
    window = DashboardWindow(acquisition, processing, session, metronome=metronome, config=config)
    window.resize(*SCREEN_SIZE)
    window.show()

    def check_stop() -> None:
        if stop.is_set():
            app.quit()

    watcher = QtCore.QTimer(window)
    watcher.timeout.connect(check_stop)
    watcher.start(50)
    app.lastWindowClosed.connect(stop.set)
    app.exec()
    saved = True
    if screenshot is not None:
        window.refresh(everything=True)
        saved = window.screenshot(str(screenshot))
    watcher.stop()
    window.timer.stop()
    window.close()
    if not saved:
        raise ConfigurationError(f"cannot write the screenshot {screenshot}: check the folder")
    return window
