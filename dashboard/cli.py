"""The ``gaitcue`` command line.

Errors a user can cause (a wrong port, a bad option value) print one line,
``error: <what happened and what to do>``, and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import numpy as np

from calibration.insole_layout import InsoleLayout
from dashboard.acquisition import Acquisition
from dashboard.app import has_display, run_dashboard, use_offscreen_for_screenshot
from dashboard.ble_cmd import add_ble_live_options, add_scan_parser, open_ble_from_args
from dashboard.calibrate_cmd import add_calibration_options, store_from_args
from dashboard.calibrate_cmd import add_parser as add_calibrate_parser
from dashboard.live_session import LiveSession
from dashboard.lsl_outlets import LslOutlets, require_pylsl
from dashboard.metronome.cli import add_parser as add_metronome_parser
from dashboard.metronome_control import LiveMetronome
from dashboard.recording import RecordingControl
from dashboard.replay_cmd import add_parser as add_replay_parser
from dashboard.session.simulated import record_simulated
from dashboard.session_cmd import add_parsers as add_session_parsers
from dashboard.session_cmd import analyze_session, is_session_dir
from dashboard.terminal_view import run_terminal_view
from dashboard.window import DashboardConfig
from firmware_bridge.csv_streams import read_csv_stream, write_csv_stream
from firmware_bridge.errors import ConfigurationError, GaitcueError
from firmware_bridge.hostclock import ScaledClock
from firmware_bridge.samples import Mount, Side, StreamKind
from firmware_bridge.simulator.faults import FaultSpec
from firmware_bridge.simulator.gait import FootStrike, RunnerConfig
from firmware_bridge.simulator.offline import decode_session
from firmware_bridge.simulator.pty_host import (
    PtyDeviceHost,
    PtyHostProcess,
    SimulatorHost,
    clock_of_parent,
)
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig
from firmware_bridge.simulator.truth import write_truth_csv
from realtime.offline import analyze_blocks, interleave, write_steps_csv, write_summary_json
from realtime.pipeline import AnalysisConfig, GaitPipeline
from realtime.processing import ProcessingThread

EXIT_USER_ERROR = 2
DEFAULT_SIMULATION_S = 4 * 3600.0
"""How long a simulated session runs when no --duration is given (s)."""


def _add_simulation_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("simulated runner")
    group.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds of simulated time (default: run until Ctrl-C)",
    )
    group.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="run the simulated clock X times faster than real time",
    )
    group.add_argument("--seed", type=int, default=1, help="random seed (reproducible sessions)")
    group.add_argument(
        "--cadence",
        type=float,
        default=170.0,
        metavar="SPM",
        help="cadence in steps per minute (default 170)",
    )
    group.add_argument(
        "--gct",
        type=float,
        default=250.0,
        metavar="MS",
        help="mean ground contact time in ms (default 250)",
    )
    group.add_argument(
        "--gct-asymmetry",
        type=float,
        default=0.0,
        metavar="PCT",
        help="GCT symmetry index 100·(L−R)/mean in %% (default 0)",
    )
    group.add_argument("--strike", choices=[s.value for s in FootStrike], default="rearfoot")
    group.add_argument("--insole-rate", type=int, choices=(100, 200), default=200)
    group.add_argument("--cells", type=int, choices=(8, 16), default=16)
    group.add_argument("--imu-rate", type=int, choices=(500, 1000), default=1000)
    group.add_argument("--imu-mount", choices=("foot", "shank"), default="foot")
    group.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="e.g. loss=0.05,corrupt=0.001,reorder=0.01,duplicate=0.01,disconnect_every=60",
    )
    group.add_argument(
        "--truth",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the true initial contacts and toe-offs (host s) to FILE",
    )


def _check_output_path(path: Path | None) -> None:
    if path is not None and not path.parent.is_dir():
        raise ConfigurationError(f"cannot write {path}: the folder {path.parent} does not exist")


def _simulation_config(args: argparse.Namespace, start_s: float) -> SimulationConfig:
    if not math.isfinite(args.speed) or args.speed <= 0:
        raise ConfigurationError(f"--speed must be a positive number, got {args.speed}")
    runner = RunnerConfig(
        cadence_spm=args.cadence,
        gct_ms=args.gct,
        gct_si_pct=args.gct_asymmetry,
        foot_strike=FootStrike(args.strike),
    )
    duration = args.duration if args.duration is not None else DEFAULT_SIMULATION_S
    if duration <= 0:
        raise ConfigurationError(f"--duration must be positive, got {args.duration}")
    return SimulationConfig(
        runner=runner,
        duration_s=duration,
        seed=args.seed,
        insole_rate_hz=args.insole_rate,
        n_cells=args.cells,
        imu_rate_hz=args.imu_rate,
        imu_mount=Mount.FOOT if args.imu_mount == "foot" else Mount.SHANK,
        faults=FaultSpec.parse(args.faults),
        start_s=start_s,
    )


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


CHILD_SIMULATOR_ABOVE_SPEED = 3.0
"""``live --simulate`` / ``demo`` faster than this run the simulated devices in a child
process (``gaitcue simulate --pty``) on their own core, instead of competing with the live
pipeline for this interpreter."""


def _start_simulator(args: argparse.Namespace, clock: ScaledClock) -> SimulatorHost:
    """The simulated devices on pseudo-terminals: in a child process for a live view faster
    than ``CHILD_SIMULATOR_ABOVE_SPEED``, else in this one (on the parent's clock when this is
    such a child)."""
    _check_output_path(args.truth)
    if getattr(args, "simulated", False) and clock.speed > CHILD_SIMULATOR_ABOVE_SPEED:
        return PtyHostProcess.spawn(lambda truth: _child_simulator_argv(args, truth), clock)
    clock = clock_of_parent(clock)
    # The step plan is drawn before streaming starts (about 0.2 s per simulated hour):
    # start the devices after that, so that the first packets are not a burst.
    hours = (args.duration if args.duration is not None else DEFAULT_SIMULATION_S) / 3600.0
    lead_s = (0.3 + 0.3 * hours) * clock.speed
    session = SimulatedSession(_simulation_config(args, start_s=clock() + lead_s))
    host = PtyDeviceHost(session, clock)
    host.start()
    return host


def _child_simulator_argv(args: argparse.Namespace, truth_path: Path) -> list[str]:
    """``gaitcue simulate --pty`` with the simulated runner's options of ``args``, writing
    the truth to ``truth_path``."""
    argv = [sys.executable, "-m", "dashboard.cli", "simulate", "--pty"]
    options = {
        "--speed": args.speed,
        "--seed": args.seed,
        "--cadence": args.cadence,
        "--gct": args.gct,
        "--gct-asymmetry": args.gct_asymmetry,
        "--strike": args.strike,
        "--insole-rate": args.insole_rate,
        "--cells": args.cells,
        "--imu-rate": args.imu_rate,
        "--imu-mount": args.imu_mount,
        "--faults": args.faults,
        "--truth": truth_path,
    }
    if args.duration is not None:
        options["--duration"] = args.duration
    for name, value in options.items():
        argv += [name, repr(value) if isinstance(value, float) else str(value)]
    return argv


def _finish_simulator(host: SimulatorHost, truth_path: Path | None, clock: ScaledClock) -> None:
    """Stop the simulated devices and write their truth to ``truth_path`` (if given)."""
    host.stop()
    try:
        if truth_path is not None:
            try:
                _write_truth(host, truth_path)
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot write {truth_path}: {exc.strerror or exc}"
                ) from None
            print(f"truth written to {truth_path}", file=sys.stderr)
    finally:
        if isinstance(host, PtyHostProcess):
            host.cleanup()


def _write_truth(host: SimulatorHost, truth_path: Path) -> None:
    """The true events until now: the child's file, or drawn from the in-process session."""
    if isinstance(host, PtyHostProcess):
        if not host.truth_path.is_file():
            raise ConfigurationError("the simulator process ended without writing the truth")
        truth_path.write_bytes(host.truth_path.read_bytes())
    elif isinstance(host, PtyDeviceHost):
        write_truth_csv(host.session.truth_until(host.clock()), truth_path)


def cmd_simulate(args: argparse.Namespace) -> int:
    """Serve the simulated devices on pseudo-terminals until the duration ends or Ctrl-C."""
    if args.csv is not None:
        if args.duration is None:
            raise ConfigurationError("--csv needs a --duration in seconds")
        _write_simulated_csv(args)
        return 0
    if args.record is not None:
        if args.duration is None:
            raise ConfigurationError("--record needs a --duration in seconds")
        recorded = record_simulated(_simulation_config(args, start_s=0.0), args.record)
        print(f"simulated {args.duration:.0f} s recorded in {recorded}")
        return 0
    if not args.pty:
        raise ConfigurationError(
            "say where the devices go: gaitcue simulate --pty, --csv DIR or --record DIR "
            "(the last two with --duration S)"
        )
    clock = ScaledClock(args.speed)
    host = _start_simulator(args, clock)
    for path, device in zip(host.paths, host.session.devices, strict=True):
        spec = device.spec
        print(
            f"{path}\t{spec.kind.name.lower()}\t{spec.side.name.lower()}\t"
            f"{spec.rate_hz} Hz\tdevice {spec.device_id:08x}",
            flush=True,
        )
    stop = threading.Event()
    _stop_on_signals(stop)
    while not stop.wait(0.2) and not host.finished.is_set():
        pass
    _finish_simulator(host, args.truth, clock)
    return 0


def _add_view_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("live view")
    group.add_argument(
        "--terminal",
        action="store_true",
        help="use the terminal view even where a display exists",
    )
    group.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        metavar="PNG",
        help="render the dashboard (offscreen without a display) and save it when the run "
        "ends; use with --duration",
    )
    group.add_argument(
        "--target",
        type=float,
        default=None,
        metavar="SPM",
        help="target cadence in steps per minute (the metronome's tempo)",
    )
    group.add_argument(
        "--metronome",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start with the metronome playing (needs --target; demo: on)",
    )
    group.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="DIR",
        help="record the session (raw packets, steps, beats, events) into a new folder DIR",
    )
    group.add_argument(
        "--lsl",
        action="store_true",
        help="also stream the raw streams and the steps to Lab Streaming Layer "
        "(gaitcue[lsl]); no network listener is opened without it",
    )
    group.add_argument(
        "--sessions-folder",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the dashboard's record button puts sessions (default ~/gaitcue-sessions)",
    )
    group.add_argument("--runner", default=None, metavar="ID", help="runner id for the record")
    group.add_argument("--body-mass", type=float, default=None, metavar="KG")
    group.add_argument("--involved-side", choices=("left", "right"), default=None)
    group.add_argument("--shoe", default=None, metavar="TEXT")
    group.add_argument(
        "--audio-device",
        default=None,
        metavar="NAME|INDEX",
        help="audio output for the metronome (default: the system's default output)",
    )


def _check_view_options(args: argparse.Namespace, duration_s: float | None) -> None:
    if args.screenshot is not None:
        _check_output_path(args.screenshot)
        if duration_s is None:
            raise ConfigurationError("--screenshot needs a --duration in seconds")
        if args.terminal:
            raise ConfigurationError("--screenshot draws the dashboard: leave out --terminal")
    if args.target is not None and not (60.0 <= args.target <= 260.0):
        raise ConfigurationError(f"--target must be 60–260 steps per minute, got {args.target}")


def _recording_control(
    args: argparse.Namespace,
    acquisition: Acquisition,
    session: LiveSession,
    clock: ScaledClock,
    *,
    source: str,
) -> RecordingControl:
    """The record button's logic, with the runner facts given on the command line; started
    at once with ``--record DIR``."""
    metadata = {
        key: value
        for key, value in (
            ("body_mass_kg", args.body_mass),
            ("involved_side", args.involved_side),
            ("shoe", args.shoe),
        )
        if value is not None
    }
    control = RecordingControl(
        acquisition,
        session,
        clock=clock,
        folder=args.sessions_folder,
        source=source,
        runner=None if args.runner is None else {"runner_id": args.runner},
        metadata=metadata,
    )
    if args.record is not None:
        control.start(args.record)
    return control


def _run_live(
    acquisition: Acquisition,
    args: argparse.Namespace,
    clock: ScaledClock,
    *,
    target_spm: float | None = None,
    metronome_on: bool = False,
    tibial: bool = False,
    source: str = "live",
) -> None:
    duration_s: float | None = args.duration
    if args.lsl:
        require_pylsl()
    stop = threading.Event()
    _stop_on_signals(stop)
    if duration_s is not None:
        end = clock() + duration_s

        def stop_at_end() -> None:
            clock.sleep_until(end, stop)
            stop.set()

        threading.Thread(target=stop_at_end, daemon=True).start()
    processing = ProcessingThread(acquisition.buffers, GaitPipeline(clock=clock))
    session = LiveSession(clock=clock)
    recording = _recording_control(args, acquisition, session, clock, source=source)
    outlets = LslOutlets(acquisition.buffers, processing.view, clock) if args.lsl else None
    if args.screenshot is not None:
        use_offscreen_for_screenshot()
    graphical = not args.terminal and has_display()
    acquisition.start()
    processing.start()
    if outlets is not None:
        outlets.start()
    try:
        if graphical:
            _run_graphical(
                acquisition,
                processing,
                session,
                args,
                clock,
                stop,
                target_spm=target_spm,
                metronome_on=metronome_on,
                tibial=tibial,
                recording=recording,
            )
        else:
            if target_spm is not None:
                session.set_target_spm(target_spm)
            run_terminal_view(
                acquisition,
                stop=stop,
                processing=processing,
                session=session,
                target_spm=target_spm,
                status=lambda: recording.error,
            )
    finally:
        if outlets is not None:
            outlets.stop()
        acquisition.stop()
        processing.stop()  # drains the buffers, releases the last steps
        if recording.writer is not None:
            session.ingest(processing.view())
            error = recording.error
            directory = recording.stop()
            print(
                f"session recorded in {directory}"
                + (f" (stopped early: {error})" if error else ""),
                file=sys.stderr,
            )


def _run_graphical(
    acquisition: Acquisition,
    processing: ProcessingThread,
    session: LiveSession,
    args: argparse.Namespace,
    clock: ScaledClock,
    stop: threading.Event,
    *,
    target_spm: float | None,
    metronome_on: bool,
    tibial: bool,
    recording: RecordingControl,
) -> None:
    config = DashboardConfig(
        title="gaitcue — " + ("simulated runner" if getattr(args, "simulated", False) else "live"),
        target_spm=target_spm,
        metronome_on=metronome_on,
        tibial=tibial,
    )
    metronome = LiveMetronome(clock=clock, device=args.audio_device, target_spm=target_spm or 170.0)
    try:
        window = run_dashboard(
            acquisition,
            processing,
            session,
            stop=stop,
            metronome=metronome,
            recording=recording,
            config=config,
            screenshot=args.screenshot,
        )
    finally:
        metronome.close()
    if args.screenshot is not None:
        print(
            f"screenshot written to {args.screenshot} ({window.frames} frames drawn)",
            file=sys.stderr,
        )


def cmd_live(args: argparse.Namespace) -> int:
    """Stream from serial ports, BLE devices (or the simulated runner) into the live view."""
    if args.simulate:
        return _run_simulated(args)
    if not (args.serial or args.ble or args.ble_sim):
        raise ConfigurationError(
            "name a sensor: --serial PORT …, --ble ADDR …|auto, --ble-sim, or --simulate"
        )
    _check_view_options(args, args.duration)
    store = store_from_args(args)
    problems: list[str] = []
    clock = ScaledClock(1.0)
    acquisition = Acquisition(
        clock=clock, calibration=store, on_calibration_problem=problems.append
    )
    ble = None
    try:
        for port in args.serial:
            acquisition.add_serial(port)
        ble = open_ble_from_args(acquisition, args, clock)
    except GaitcueError:
        acquisition.stop()
        raise
    if ble is not None:
        acquisition.add_transports(ble.links)
    try:
        _run_live(
            acquisition, args, clock, target_spm=args.target, metronome_on=bool(args.metronome)
        )
    finally:
        if ble is not None:
            ble.close()
    if problems:
        raise ConfigurationError(problems[0])
    unused = set(store.device_ids()) - acquisition.sink.applied_device_ids
    for device_id in sorted(unused):
        print(
            f"note: no device {device_id:08x} connected; its calibration was not used",
            file=sys.stderr,
        )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The simulated runner through the real serial bridge on pseudo-terminals."""
    return _run_simulated(args)


def _run_simulated(args: argparse.Namespace) -> int:
    """The simulated runner on pseudo-terminals, read back through the serial bridge.

    The target cadence defaults to the runner's own and the metronome plays unless
    ``--no-metronome``.
    """
    _check_view_options(args, args.duration)
    args.simulated = True
    clock = ScaledClock(args.speed)
    host = _start_simulator(args, clock)
    truth = args.truth
    if truth is None and args.record is not None:
        truth = args.record / "truth.csv"
    try:
        acquisition = Acquisition(clock=clock, latency_floor_s=host.session.latency_floor_s)
        for path in host.paths:
            acquisition.add_serial(path)
        _run_live(
            acquisition,
            args,
            clock,
            target_spm=args.target if args.target is not None else round(args.cadence),
            metronome_on=args.metronome is not False,
            tibial=args.imu_mount == "shank",
            source="simulated",
        )
    finally:
        _finish_simulator(host, truth, clock)
    return 0


_STREAM_FILES = {
    "left_insole": (StreamKind.INSOLE, Side.LEFT),
    "right_insole": (StreamKind.INSOLE, Side.RIGHT),
    "left_imu": (StreamKind.IMU, Side.LEFT),
    "right_imu": (StreamKind.IMU, Side.RIGHT),
}


def _progress_printer(enabled: bool) -> Callable[[float], None] | None:
    if not enabled:
        return None

    def show(fraction: float) -> None:
        done = int(fraction * 30)
        end = "\n" if fraction >= 1.0 else ""
        print(
            f"\ranalysing [{'#' * done}{'.' * (30 - done)}] {fraction:5.0%}",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return show


def cmd_analyze(args: argparse.Namespace) -> int:
    """Offline analysis of CSV streams (a directory of them, or files named one by one)."""
    files: dict[str, Path] = {}
    if args.input is not None and is_session_dir(args.input):
        result = analyze_session(
            args.input,
            args.out,
            threshold_n=args.threshold,
            body_mass_kg=args.body_mass,
            speed_kmh=args.speed_kmh,
            insole_layout=args.insole_layout,
            imu_mount=args.imu_mount,
        )
        print(f"{len(result.steps)} steps: {args.out / 'steps.csv'}, {args.out / 'summary.json'}")
        return 0
    if args.input is not None:
        if not args.input.is_dir():
            raise ConfigurationError(
                f"{args.input} is not a directory of CSV streams "
                "(left_insole.csv, right_insole.csv, left_imu.csv, right_imu.csv)"
            )
        files = {
            name: args.input / f"{name}.csv"
            for name in _STREAM_FILES
            if (args.input / f"{name}.csv").exists()
        }
    for name in _STREAM_FILES:
        given = getattr(args, name)
        if given is not None:
            files[name] = given
    if not files:
        raise ConfigurationError(
            "give CSV streams: a directory, or --left-insole/--right-insole/--left-imu/--right-imu"
        )
    mount = Mount.SHANK if args.imu_mount == "shank" else Mount.FOOT
    layouts = None
    if args.insole_layout is not None:
        layout = InsoleLayout.from_json(args.insole_layout)
        layouts = {Side.LEFT: layout, Side.RIGHT: layout}
    streams = []
    for name, path in files.items():
        kind, side = _STREAM_FILES[name]
        streams.append(read_csv_stream(path, kind=kind, side=side, mount=mount))
    duration = max(float(s.t_s[-1] - s.t_s[0]) for s in streams)
    config = AnalysisConfig(
        insole_threshold_n=args.threshold,
        body_mass_kg=args.body_mass,
        insole_layouts=layouts,
        treadmill_speed_m_s=None if args.speed_kmh is None else args.speed_kmh / 3.6,
    )
    blocks = interleave((s.info, s.blocks()) for s in streams)
    result = analyze_blocks(
        [s.info for s in streams],
        blocks,
        config=config,
        progress=_progress_printer(duration > 120.0 and sys.stderr.isatty()),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    write_steps_csv(result.steps, args.out / "steps.csv")
    write_summary_json(result.summary, args.out / "summary.json")
    print(
        f"{len(result.steps)} steps from {duration:.1f} s of data: "
        f"{args.out / 'steps.csv'}, {args.out / 'summary.json'}"
    )
    return 0


def _write_simulated_csv(args: argparse.Namespace) -> None:
    session = SimulatedSession(_simulation_config(args, start_s=0.0))
    run = decode_session(session)
    args.csv.mkdir(parents=True, exist_ok=True)
    for index, decoder in enumerate(run.decoders):
        device = session.devices[index].spec
        name = (
            f"{device.side.name.lower()}_{'insole' if device.kind == StreamKind.INSOLE else 'imu'}"
        )
        for dev in decoder.devices.values():
            if dev.info is None:
                continue
            blocks = run.blocks.get(dev.info.stream_id, [])
            if not blocks:
                continue
            t = np.concatenate([b.t_host_s for b in blocks])
            values = np.concatenate([b.values for b in blocks])
            write_csv_stream(args.csv / f"{name}.csv", dev.info, t, values)
    write_truth_csv(session.truth, args.csv / "truth.csv")
    print(f"simulated {session.config.duration_s:.0f} s written to {args.csv}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gaitcue",
        description="Real-time running gait feedback from pressure insoles and IMUs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="simulated treadmill session through the serial bridge")
    _add_simulation_options(demo)
    _add_view_options(demo)
    demo.set_defaults(func=cmd_demo)

    live = sub.add_parser("live", help="stream from sensors into the live view")
    live.add_argument(
        "--serial",
        nargs="+",
        metavar="PORT",
        default=[],
        help="serial ports (e.g. /dev/ttyACM0, COM3)",
    )
    live.add_argument(
        "--simulate",
        action="store_true",
        help="the simulated runner (on pseudo-terminals) instead of sensors",
    )
    _add_simulation_options(live)
    _add_view_options(live)
    add_ble_live_options(live)
    add_calibration_options(live)
    live.set_defaults(func=cmd_live)

    simulate = sub.add_parser("simulate", help="serve simulated devices on pseudo-terminals")
    simulate.add_argument("--pty", action="store_true", help="one pseudo-terminal per device")
    simulate.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="DIR",
        help="record a session directory (with truth.csv) to DIR, as fast as possible",
    )
    simulate.add_argument(
        "--csv",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the decoded streams as CSV (the analyze format) and "
        "truth.csv to DIR, as fast as possible",
    )
    _add_simulation_options(simulate)
    simulate.set_defaults(func=cmd_simulate)

    analyze = sub.add_parser("analyze", help="offline analysis of recorded streams")
    analyze.add_argument(
        "input",
        nargs="?",
        type=Path,
        default=None,
        help="directory holding left_insole.csv, right_insole.csv, "
        "left_imu.csv, right_imu.csv (any subset)",
    )
    for name in _STREAM_FILES:
        analyze.add_argument(
            f"--{name.replace('_', '-')}", dest=name, type=Path, default=None, metavar="F"
        )
    analyze.add_argument(
        "--insole-layout",
        type=Path,
        default=None,
        metavar="JSON",
        help="cell positions (x, y fractions) and areas; default layout by cell count otherwise",
    )
    analyze.add_argument(
        "--imu-mount",
        choices=("foot", "shank"),
        default=None,
        help="where the IMUs are (default: what the session says, else foot)",
    )
    analyze.add_argument(
        "--threshold",
        type=float,
        default=20.0,
        metavar="N",
        help="insole contact threshold in newtons (default 20)",
    )
    analyze.add_argument("--body-mass", type=float, default=None, metavar="KG")
    analyze.add_argument(
        "--speed-kmh",
        type=float,
        default=None,
        metavar="KMH",
        help="treadmill speed, for step and stride length",
    )
    analyze.add_argument("--out", type=Path, required=True, metavar="DIR")
    analyze.set_defaults(func=cmd_analyze)
    add_metronome_parser(sub)
    add_scan_parser(sub)
    add_calibrate_parser(sub)
    add_session_parsers(sub)
    add_replay_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gaitcue`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except GaitcueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
