"""``gaitcue replay DIR``: a recorded session played through the live pipeline.

The session's recorded transport deliveries go through fresh link decoders, the ring
buffers and the processing of a live session (``dashboard.session.replay``), into the
dashboard (with a replay bar: play/pause, position, speed; Space, Left/Right) or the
terminal view. ``--speed X`` paces it X times real time, ``--start S`` begins S seconds into
the session, ``--duration S`` stops after S seconds of session time. At the end the view
keeps the end state (the dashboard stays open unless ``--duration`` or ``--screenshot``
was given; the terminal view stops). ``--lsl`` also streams it to Lab Streaming Layer.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

from dashboard.app import has_display, run_dashboard, use_offscreen_for_screenshot
from dashboard.lsl_outlets import LslOutlets
from dashboard.session.replay import ReplayController, ReplayEngine
from dashboard.terminal_view import run_terminal_view
from dashboard.widgets.replay_bar import time_text
from dashboard.window import DashboardConfig
from firmware_bridge.errors import ConfigurationError, GaitcueError

__all__ = ["add_parser", "cmd_replay"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``replay`` to the ``gaitcue`` sub-commands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "replay",
        help="play a recorded session through the live view",
        description="Play a recorded session (gaitcue live/demo --record, simulate --record) "
        "through the live pipeline into the dashboard or the terminal view.",
    )
    parser.add_argument("session", type=Path, metavar="DIR", help="the session directory")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="play X times faster than real time (default 1)",
    )
    parser.add_argument(
        "--start",
        type=float,
        default=0.0,
        metavar="S",
        help="start S seconds into the session (default 0)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds of session time (default: at the end of the recording)",
    )
    parser.add_argument(
        "--terminal",
        action="store_true",
        help="use the terminal view even where a display exists",
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        metavar="PNG",
        help="render the dashboard (offscreen without a display) and save it when the "
        "replay stops; use with --duration",
    )
    parser.add_argument(
        "--lsl",
        action="store_true",
        help="also stream the raw streams and the steps to Lab Streaming Layer outlets",
    )
    parser.set_defaults(func=cmd_replay)
    return parser


def _check_options(args: argparse.Namespace) -> None:
    if args.screenshot is not None:
        if not args.screenshot.parent.is_dir():
            raise ConfigurationError(
                f"cannot write {args.screenshot}: the folder {args.screenshot.parent} "
                "does not exist"
            )
        if args.duration is None:
            raise ConfigurationError("--screenshot needs a --duration in seconds")
        if args.terminal:
            raise ConfigurationError("--screenshot draws the dashboard: leave out --terminal")


def _initial_target(controller: ReplayController) -> float | None:
    """The first target cadence the recorded session set (spm), if any."""
    for event in controller.session.events_of("target"):
        if 60.0 <= event.value <= 260.0:
            return event.value
    return None


def _shank(controller: ReplayController) -> bool:
    return controller.session.meta.get("imu_mount") == "shank" or any(
        device.get("mount") == "shank" for device in controller.session.devices
    )


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay a session into the dashboard or the terminal view."""
    from dashboard.cli import _stop_on_signals

    _check_options(args)
    controller = ReplayController(
        args.session, speed=args.speed, start_s=args.start, duration_s=args.duration
    )
    engine = controller.engine
    target = _initial_target(controller)
    if target is not None:
        engine.session.set_target_spm(target)
    outlets = (
        LslOutlets(engine.acquisition.buffers, engine.processing.view, controller.clock)
        if args.lsl
        else None
    )
    if args.screenshot is not None:
        use_offscreen_for_screenshot()
    graphical = not args.terminal and has_display()
    stop = threading.Event()
    _stop_on_signals(stop)
    if not graphical or args.duration is not None:
        controller.on_finished.append(stop.set)
    if outlets is not None:

        def follow(new: ReplayEngine) -> None:
            outlets.rebind(new.acquisition.buffers, new.processing.view)

        controller.on_rebuilt.append(follow)
        outlets.start()
    wall0 = time.monotonic()
    controller.start()
    try:
        if graphical:
            _run_window(controller, args, stop, target_spm=target)
        else:
            run_terminal_view(
                engine.acquisition,
                stop=stop,
                processing=engine.processing,
                session=engine.session,
                target_spm=target,
                title=lambda: _title(controller),
            )
    finally:
        controller.close()
        if outlets is not None:
            outlets.stop()
    wall_s = max(1e-9, time.monotonic() - wall0)
    print(
        f"replayed {args.session} from {time_text(args.start)} to "
        f"{time_text(controller.position_s)} in {wall_s:.1f} s; "
        f"{controller.processing.view().n_steps} steps",
        file=sys.stderr,
    )
    if controller.error is not None:
        raise GaitcueError(controller.error)
    return 0


def _title(controller: ReplayController) -> str:
    state = "end" if controller.finished else ("playing" if controller.playing else "paused")
    return (
        f"gaitcue replay of {controller.session.path.name} — "
        f"{time_text(controller.position_s)} / {time_text(controller.end_position_s)} "
        f"×{controller.speed:g} ({state}) — Ctrl-C to stop"
    )


def _run_window(
    controller: ReplayController,
    args: argparse.Namespace,
    stop: threading.Event,
    *,
    target_spm: float | None,
) -> None:
    from PySide6 import QtCore, QtWidgets

    from dashboard.widgets.replay_bar import ReplayBar, attach_replay_bar
    from dashboard.window import DashboardWindow

    existing = QtWidgets.QApplication.instance()
    app = (
        existing
        if isinstance(existing, QtWidgets.QApplication)
        else QtWidgets.QApplication([sys.argv[0]])
    )

    def attach() -> None:
        # The window is created inside run_dashboard: give it the bar once it exists,
        # unless it already placed one itself.
        for widget in app.topLevelWidgets():
            if isinstance(widget, DashboardWindow) and widget.findChild(ReplayBar) is None:
                attach_replay_bar(widget, controller)

    QtCore.QTimer.singleShot(0, attach)
    engine = controller.engine
    config = DashboardConfig(
        title=f"gaitcue — replay of {controller.session.path.name}",
        target_spm=target_spm,
        tibial=_shank(controller),
    )
    window = run_dashboard(
        engine.acquisition,
        engine.processing,
        engine.session,
        stop=stop,
        metronome=None,
        config=config,
        screenshot=args.screenshot,
    )
    if args.screenshot is not None:
        print(
            f"screenshot written to {args.screenshot} ({window.frames} frames drawn)",
            file=sys.stderr,
        )
