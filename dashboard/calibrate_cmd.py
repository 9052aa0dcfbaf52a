"""``gaitcue calibrate``: calibration routines at the command line, and the options that apply
calibrations to live streams.

* ``add_parser(subparsers)`` registers ``gaitcue calibrate imu|insole|clock``:

  - ``imu --csv SIXFACE.csv [--mounting STAND_WALK.csv] [--base OLD.json] --device-id HEX
    -o cal.json``: from recorded routines (the CSV import format of ``gaitcue analyze``);
  - ``imu --serial PORT | --ble ADDR -o cal.json``: the live guided routine, which prompts
    each pose, shows progress and judges quality;
  - ``insole --csv STANCE.csv --device-id HEX -o cal.json [--csv … --device-id … -o …]
    --body-mass KG [--known-load LOADS.csv …] [--loads N,N,…] [--layout JSON]``, and
    ``insole --serial PORT [PORT] -o … --body-mass KG`` (guided, timed poses);
  - ``clock --left-insole F --right-insole F --left-imu F --right-imu F``: offsets at a
    shared jump or stomp, in ms.

* ``add_calibration_options(parser)`` adds ``--calibration FILE`` (repeatable: force a
  device's file) and ``--calibration-dir DIR`` to a live command; ``store_from_args(args)``
  reads them into a ``CalibrationStore`` at start-up, so a missing or broken file stops the
  command with one line before any device connects.

User errors raise ``ConfigurationError``; the ``gaitcue`` entry point prints ``error: …`` and
exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from calibration.apply import CalibrationStore
from calibration.clock_check import ClockCheck, StreamEvent
from calibration.files import (
    ImuCalibration,
    InsoleCalibration,
    load_calibration,
    parse_device_id,
    save_calibration,
)
from calibration.imu import SixFaceAccel
from calibration.insole import DEFAULT_LOADS_N
from calibration.insole_layout import InsoleLayout
from calibration.procedures import Recording, calibrate_imu, calibrate_insoles
from calibration.still import moving_sd
from firmware_bridge.csv_streams import read_csv_stream
from firmware_bridge.errors import ConfigurationError, GaitcueError
from firmware_bridge.samples import Mount, Side, StreamInfo, StreamKind

__all__ = [
    "DEFAULT_CALIBRATION_DIR",
    "GuidedImu",
    "GuidedInsoles",
    "add_calibration_options",
    "add_parser",
    "cmd_calibrate",
    "store_from_args",
]

FloatArray = npt.NDArray[np.float64]


def _default_dir() -> Path:
    env = os.environ.get("GAITCUE_CALIBRATION_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gaitcue" / "calibration"


DEFAULT_CALIBRATION_DIR = _default_dir()
"""Where calibration files are looked up by device id: ``$GAITCUE_CALIBRATION_DIR``, else
``$XDG_CONFIG_HOME/gaitcue/calibration`` (``~/.config/gaitcue/calibration``)."""


# ------------------------------------------------------------------ live-command options
def add_calibration_options(parser: argparse.ArgumentParser) -> None:
    """``--calibration FILE`` (repeatable) and ``--calibration-dir DIR`` for live commands."""
    group = parser.add_argument_group("calibration")
    group.add_argument(
        "--calibration",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="apply this calibration file to its device (repeatable); overrides the folder",
    )
    group.add_argument(
        "--calibration-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"calibration files by device id (default {DEFAULT_CALIBRATION_DIR})",
    )
    group.add_argument(
        "--no-calibration",
        action="store_true",
        help="stream nominal units only (streams show as uncalibrated)",
    )


def store_from_args(args: argparse.Namespace) -> CalibrationStore:
    """The calibrations a live command applies: the folder's files, then forced files.

    Raises:
        ConfigurationError: a named folder that does not exist, or a missing or broken file
            (one line naming it).
    """
    if getattr(args, "no_calibration", False):
        if getattr(args, "calibration", []):
            raise ConfigurationError("--no-calibration and --calibration exclude each other")
        return CalibrationStore()
    folder: Path | None = getattr(args, "calibration_dir", None)
    if folder is not None and not folder.is_dir():
        raise ConfigurationError(f"--calibration-dir {folder} is not a folder")
    store = CalibrationStore.from_directory(folder or DEFAULT_CALIBRATION_DIR)
    for path in getattr(args, "calibration", []) or []:
        store.add_file(path)
    return store


# ------------------------------------------------------------------------ the parser
def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register ``gaitcue calibrate``."""
    parser = subparsers.add_parser(
        "calibrate",
        help="calibrate an IMU or the insoles (recorded CSV or a live guided routine)",
        description="Calibrate sensors: see docs/calibration.md for the routines.",
    )
    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")

    imu = sub.add_parser("imu", help="gyroscope bias, accelerometer offset/scale, mounting")
    source = imu.add_mutually_exclusive_group()
    source.add_argument(
        "--csv", type=Path, default=None, metavar="FILE", help="six-face routine (CSV)"
    )
    source.add_argument("--serial", default=None, metavar="PORT", help="guided, over serial")
    source.add_argument("--ble", default=None, metavar="ADDR", help="guided, over Bluetooth LE")
    imu.add_argument(
        "--mounting",
        type=Path,
        default=None,
        metavar="FILE",
        help="quiet standing then a few steps, sensor strapped on (CSV)",
    )
    imu.add_argument(
        "--base",
        type=Path,
        default=None,
        metavar="JSON",
        help="an earlier calibration of the device: keep what this run does not measure",
    )
    imu.add_argument("--device-id", default=None, metavar="HEX", help="the device's id")
    imu.add_argument(
        "--skip-faces",
        action="store_true",
        help="guided: only the mounting routine (with --base for the accelerometer)",
    )
    imu.add_argument("-o", "--out", type=Path, required=True, metavar="JSON")
    imu.set_defaults(func=cmd_calibrate)

    insole = sub.add_parser("insole", help="zero, body-weight scale, per-cell curves")
    insole.add_argument(
        "--csv",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="stance routine of one insole (CSV); twice for left then right",
    )
    insole.add_argument(
        "--serial", nargs="+", default=[], metavar="PORT", help="guided, over serial"
    )
    insole.add_argument("--ble", default=None, metavar="ADDR", help="guided, over Bluetooth LE")
    insole.add_argument(
        "--device-id", action="append", default=[], metavar="HEX", help="one per --csv"
    )
    insole.add_argument(
        "-o", "--out", action="append", type=Path, default=[], metavar="JSON", help="one per insole"
    )
    insole.add_argument("--body-mass", type=float, default=None, metavar="KG")
    insole.add_argument(
        "--known-load",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="known-load routine of the insole (CSV), in the order of --csv",
    )
    insole.add_argument(
        "--loads",
        default=",".join(f"{x:g}" for x in DEFAULT_LOADS_N),
        metavar="N,N,…",
        help="the known loads in newtons, ascending (default %(default)s)",
    )
    insole.add_argument("--layout", type=Path, default=None, metavar="JSON", help="cell layout")
    insole.set_defaults(func=cmd_calibrate)

    clock = sub.add_parser("clock", help="left/right and IMU/insole time alignment at a jump")
    for name in ("left-insole", "right-insole", "left-imu", "right-imu"):
        clock.add_argument(f"--{name}", type=Path, default=None, metavar="FILE")
    clock.set_defaults(func=cmd_calibrate)
    return parser


def cmd_calibrate(args: argparse.Namespace, *, out: Callable[[str], None] | None = None) -> int:
    """Run ``gaitcue calibrate`` with parsed ``args``; returns the exit status."""
    say = out or (lambda line: print(line, flush=True))
    if args.what == "imu":
        return _cmd_imu(args, say)
    if args.what == "insole":
        return _cmd_insole(args, say)
    return _cmd_clock(args, say)


# --------------------------------------------------------------------------- helpers
def _check_out(path: Path) -> None:
    if not path.parent.is_dir():
        raise ConfigurationError(f"cannot write {path}: the folder {path.parent} does not exist")


def _recording(path: Path, kind: StreamKind) -> Recording:
    stream = read_csv_stream(path, kind=kind, side=Side.UNKNOWN, mount=Mount.FOOT)
    return Recording(stream.t_s, stream.values.astype(np.float64))


def _device_id(text: str | None, what: str) -> int:
    if text is None:
        raise ConfigurationError(
            f"give the {what}'s device id: --device-id HEX (shown in the device panel)"
        )
    return parse_device_id(text)


def _imu_summary(cal: ImuCalibration) -> str:
    def three(v: FloatArray) -> str:
        return ", ".join(f"{x:+.4f}" for x in v)

    q = cal.quality
    lines = [
        f"device {cal.device_id:08x}: {cal.routine}",
        f"  accel offset g  [{three(cal.accel_offset_g)}]",
        f"  accel scale     [{three(cal.accel_scale)}]",
        f"  gyro bias deg/s [{three(cal.gyro_bias_dps)}]",
    ]
    if "tilt_deg" in q:
        lines.append(
            f"  mounting: tilted {q['tilt_deg']:.1f}° from upright, off-axis rotation "
            f"{q['off_axis_pct']:.0f} %"
        )
    if "accel_residual_g" in q:
        lines.append(f"  six-face residual {q['accel_residual_g']:.4f} g")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- IMU
def _cmd_imu(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    _check_out(args.out)
    base = None
    if args.base is not None:
        loaded = load_calibration(args.base, kind="imu")
        assert isinstance(loaded, ImuCalibration)
        base = loaded
    if args.serial is not None or args.ble is not None:
        cal = _guided_imu(args, base, say)
    else:
        if args.csv is None and args.mounting is None:
            raise ConfigurationError(
                "give a recorded routine (--csv SIXFACE.csv and/or --mounting FILE) or a live "
                "device (--serial PORT or --ble ADDR)"
            )
        device_id = _device_id(args.device_id, "IMU") if base is None else base.device_id
        if args.device_id is not None and base is not None:
            wanted = parse_device_id(args.device_id)
            if wanted != base.device_id:
                raise ConfigurationError(
                    f"{args.base} is for device {base.device_id:08x}, not {wanted:08x}"
                )
        cal = calibrate_imu(
            device_id=device_id,
            six_face=None if args.csv is None else _recording(args.csv, StreamKind.IMU),
            mounting=None if args.mounting is None else _recording(args.mounting, StreamKind.IMU),
            base=base,
        )
    _judge_imu(cal, say)
    save_calibration(cal, args.out)
    say(_imu_summary(cal))
    say(f"written {args.out}")
    return 0


def _judge_imu(cal: ImuCalibration, say: Callable[[str], None]) -> None:
    q = cal.quality
    if q.get("accel_residual_g", 0.0) > 0.01:
        say(
            f"warning: the six faces disagree by {q['accel_residual_g']:.3f} g; repeat the "
            f"routine on a firm surface, holding each face still"
        )
    if q.get("off_axis_pct", 0.0) > 60.0:
        say(
            "warning: the steps rotated the sensor about more than one axis; repeat the "
            "mounting routine walking straight ahead"
        )
    if abs(q.get("standing_gravity_g", 1.0) - 1.0) > 0.02:
        say(
            f"warning: standing reads {q['standing_gravity_g']:.3f} g instead of 1 g; run the "
            f"six-face routine"
        )


class _Feed(Protocol):
    """New samples of the streams the guided routines watch."""

    def streams(self) -> list[StreamInfo]: ...

    def read(self, stream_id: str) -> tuple[FloatArray, FloatArray]: ...


class GuidedImu:
    """The guided IMU routine, fed samples as they arrive; it says what to do next.

    Six faces: rest the sensor on a face and hold it still for ``hold_s``; a face counts
    when it differs from the faces done by more than 45°. Then strap it on, stand still for
    ``stand_s`` and walk until ``walk_s`` of movement was seen.

    Call ``feed(t_s, values)`` with each new chunk; it returns the lines to show. ``done``
    tells when the routine is over; ``calibration(device_id)`` computes the result.
    """

    def __init__(
        self,
        *,
        hold_s: float = 2.5,
        stand_s: float = 3.0,
        walk_s: float = 4.0,
        skip_faces: bool = False,
        gyro_sd_dps: float = 1.5,
        accel_sd_g: float = 0.03,
    ) -> None:
        self.hold_s = hold_s
        self.stand_s = stand_s
        self.walk_s = walk_s
        self.gyro_sd_dps = gyro_sd_dps
        self.accel_sd_g = accel_sd_g
        self._t: list[FloatArray] = []
        self._v: list[FloatArray] = []
        self._n = 0
        self.faces: list[FloatArray] = []
        self.phase = "stand" if skip_faces else "faces"
        self._still_since: float | None = None
        self._face_end = 0
        self._stand_start = 0
        self._moving_s = 0.0
        self._last_hint = -1e9
        self._started = False
        self._captured = False  # a face was just taken: moving is expected now

    @property
    def done(self) -> bool:
        return self.phase == "done"

    def _all(self) -> tuple[FloatArray, FloatArray]:
        if len(self._t) > 1:
            self._t = [np.concatenate(self._t)]
            self._v = [np.concatenate(self._v)]
        return self._t[0], self._v[0]

    def feed(self, t_s: npt.ArrayLike, values: npt.ArrayLike) -> list[str]:
        t = np.asarray(t_s, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64)
        lines: list[str] = []
        if not self._started:
            self._started = True
            lines.append(
                "Rest the sensor on one face and hold it still (face 1 of 6)."
                if self.phase == "faces"
                else "Strap the sensor on, then stand still."
            )
        if t.shape[0] == 0 or self.done:
            return lines
        self._t.append(t)
        self._v.append(v)
        self._n += t.shape[0]
        all_t, all_v = self._all()
        rate = 1.0 / float(np.median(np.diff(all_t[-min(all_t.shape[0], 200) :])))
        window = max(5, round(0.5 * rate))
        if all_t.shape[0] < window:
            return lines
        tail = all_v[-window:]
        sd = moving_sd(tail, window)[0]
        still = bool(sd[3:].max() <= self.gyro_sd_dps and sd[:3].max() <= self.accel_sd_g)
        now = float(all_t[-1])
        if still and self._still_since is None:
            self._still_since = now - 0.5
        elif not still:
            interrupted = self._still_since is not None and now - self._still_since > 0.5
            holding = not self._captured and self.phase in ("faces", "stand")
            if interrupted and holding and now - self._last_hint > 2.0:
                lines.append("hold still")
                self._last_hint = now
            self._still_since = None
            self._captured = False
        held = 0.0 if self._still_since is None else now - self._still_since
        if self.phase == "faces":
            lines += self._faces_step(held, tail, now)
        elif self.phase == "stand":
            if held >= self.stand_s and not self._captured:
                self._stand_start = all_t.shape[0] - round(held * rate)
                self.phase = "walk"
                self._moving_s = 0.0
                lines.append("Standing done. Now walk 10–15 steps straight ahead.")
        elif self.phase == "walk":
            moving = np.linalg.norm(v[:, 3:], axis=1) > 50.0
            self._moving_s += float(moving.sum()) / rate
            if self._moving_s >= self.walk_s:
                self.phase = "done"
                lines.append("Steps done.")
        return lines

    def _faces_step(self, held: float, tail: FloatArray, now: float) -> list[str]:
        if held < self.hold_s or self._captured:
            return []
        up = tail[:, :3].mean(axis=0)
        up = up / max(float(np.linalg.norm(up)), 1e-9)
        if any(float(up @ f) > np.cos(np.radians(45.0)) for f in self.faces):
            if now - self._last_hint > 3.0:
                self._last_hint = now
                return ["This face is done already: turn the sensor onto another face."]
            return []
        self.faces.append(up)
        self._face_end = self._n
        self._captured = True
        self._still_since = None
        k = len(self.faces)
        if k == 6:
            self.phase = "stand"
            return [
                "face 6 of 6 done.",
                "Strap the sensor on the foot (or shank), then stand still.",
            ]
        return [f"face {k} of 6 done. Turn the sensor onto another face and hold still."]

    def calibration(self, device_id: int, base: ImuCalibration | None = None) -> ImuCalibration:
        """The calibration from what was fed (six faces and/or the mounting routine)."""
        t, v = self._all()
        six = None
        if self.faces:
            six = Recording(t[: self._face_end], v[: self._face_end])
            SixFaceAccel().fit(six.t_s, six.values)  # refuses an incomplete set of faces
        mounting = None
        if self.phase == "done":
            mounting = Recording(t[self._stand_start :], v[self._stand_start :])
        return calibrate_imu(device_id=device_id, six_face=six, mounting=mounting, base=base)


class GuidedInsoles:
    """The guided insole routine: timed poses with a countdown.

    Poses: sit with the feet lifted, stand still on both feet, sit (feet lifted), stand on
    the left foot, sit, stand on the right foot, sit. ``feed(now_s)`` returns the prompts and
    countdown lines due at host time ``now_s``; ``done`` once the last pose is over.
    """

    POSES: tuple[tuple[str, float], ...] = (
        ("Sit and lift both feet off the floor.", 5.0),
        ("Stand still on both feet, weight even.", 6.0),
        ("Sit and lift both feet off the floor.", 4.0),
        ("Stand on your LEFT foot only (hold a rail for balance, not your weight).", 6.0),
        ("Sit and lift both feet off the floor.", 4.0),
        ("Stand on your RIGHT foot only (hold a rail for balance, not your weight).", 6.0),
        ("Sit and lift both feet off the floor.", 4.0),
    )

    def __init__(self, *, single_side: str | None = None) -> None:
        if single_side is None:
            self.poses = self.POSES
        else:
            keep = {"left": (0, 3, 4), "right": (0, 5, 6)}[single_side]
            self.poses = tuple(self.POSES[i] for i in keep)
        self._start: float | None = None
        self._pose = -1
        self._last_count = -1
        self.done = False

    def feed(self, now_s: float) -> list[str]:
        if self.done:
            return []
        if self._start is None:
            self._start = now_s
        elapsed = now_s - self._start
        ends = np.cumsum([d for _, d in self.poses])
        pose = int(np.searchsorted(ends, elapsed, side="right"))
        lines: list[str] = []
        if pose >= len(self.poses):
            self.done = True
            return ["All poses done."]
        if pose != self._pose:
            self._pose = pose
            self._last_count = -1
            lines.append(f"pose {pose + 1} of {len(self.poses)}: {self.poses[pose][0]}")
        left = int(np.ceil(ends[pose] - elapsed))
        if left != self._last_count:
            self._last_count = left
            lines.append(f"  {left} s")
        return lines


class _BufferFeed:
    """New samples from an acquisition's stream buffers (``Acquisition.buffers``)."""

    def __init__(self, buffers: Any) -> None:
        self.buffers = buffers
        self._cursor: dict[str, int] = {}

    def streams(self) -> list[StreamInfo]:
        return [self.buffers.info(s) for s in self.buffers.stream_ids()]

    def read(self, stream_id: str) -> tuple[FloatArray, FloatArray]:
        buffer = self.buffers[stream_id]
        snap = buffer.read_since(self._cursor.get(stream_id, 0))
        self._cursor[stream_id] = snap.next_cursor
        return snap.t_host_s, snap.values.astype(np.float64)


def _open_live(args: argparse.Namespace, ports: Sequence[str]) -> tuple[Any, Callable[[], None]]:
    """An acquisition on the given serial ports or BLE address, started; and its closer."""
    from dashboard.acquisition import Acquisition

    acquisition = Acquisition(clock=time.monotonic)
    closers: list[Callable[[], None]] = []
    try:
        for port in ports:
            acquisition.add_serial(port)
        if getattr(args, "ble", None):
            from dashboard.ble_cmd import open_ble_links

            ble = open_ble_links(acquisition, [args.ble], clock=time.monotonic)
            for link in ble.links:
                link.start()
            closers.append(ble.close)
    except GaitcueError:
        acquisition.stop()
        for closer in closers:
            closer()
        raise
    acquisition.start()

    def close_all() -> None:
        acquisition.stop()
        for closer in closers:
            closer()

    return acquisition, close_all


def _wait_for_streams(
    feed: _Feed, kind: StreamKind, count: int, say: Callable[[str], None], timeout_s: float
) -> list[StreamInfo]:
    say(f"waiting for {count} {kind.name.lower()} stream{'s' if count > 1 else ''} …")
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        found = [i for i in feed.streams() if i.kind == kind]
        if len(found) >= count:
            return found[:count]
        time.sleep(0.2)
    raise ConfigurationError(
        f"no {kind.name.lower()} stream arrived within {timeout_s:.0f} s: check the device is "
        f"on and the port or address is right"
    )


def _guided_imu(
    args: argparse.Namespace, base: ImuCalibration | None, say: Callable[[str], None]
) -> ImuCalibration:
    ports = [args.serial] if args.serial else []
    acquisition, close = _open_live(args, ports)
    try:
        feed = _BufferFeed(acquisition.buffers)
        (info,) = _wait_for_streams(feed, StreamKind.IMU, 1, say, 15.0)
        if info.calibrated:
            raise ConfigurationError(
                f"{info.stream_id} arrives already calibrated, but the routine needs its raw "
                f"readings: start it without a calibration applied"
            )
        device_id = info.device_id
        if args.device_id is not None and parse_device_id(args.device_id) != device_id:
            raise ConfigurationError(
                f"the device on the link is {device_id:08x}, not {args.device_id}"
            )
        if base is not None and base.device_id != device_id:
            raise ConfigurationError(
                f"{args.base} is for device {base.device_id:08x}, not {device_id:08x}"
            )
        if args.skip_faces and base is None:
            raise ConfigurationError("--skip-faces needs --base FILE for the accelerometer")
        say(f"calibrating {info.stream_id}")
        routine = GuidedImu(skip_faces=args.skip_faces)
        deadline = time.monotonic() + 600.0
        while not routine.done:
            if time.monotonic() > deadline:
                raise ConfigurationError("the guided routine took over 10 minutes; start again")
            time.sleep(0.1)
            t, v = feed.read(info.stream_id)
            for line in routine.feed(t, v):
                say(line)
        return routine.calibration(device_id, base)
    finally:
        close()


# ---------------------------------------------------------------------------- insoles
def _cmd_insole(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    try:
        loads = tuple(float(x) for x in str(args.loads).split(",") if x.strip())
    except ValueError:
        raise ConfigurationError(
            f"--loads must be newtons separated by commas, got {args.loads!r}"
        ) from None
    layout = None if args.layout is None else InsoleLayout.from_json(args.layout)
    if args.serial or args.ble:
        return _guided_insoles(args, loads, layout, say)
    files: list[Path] = args.csv
    if not files:
        raise ConfigurationError(
            "give the stance routine: --csv FILE (twice for left then right), or a live "
            "device (--serial PORT [PORT] or --ble ADDR)"
        )
    if len(files) > 2:
        raise ConfigurationError("give at most two insoles (--csv LEFT --csv RIGHT)")
    if len(args.device_id) != len(files) or len(args.out) != len(files):
        raise ConfigurationError(
            f"give one --device-id and one -o per --csv ({len(files)} insole"
            f"{'s' if len(files) > 1 else ''})"
        )
    if args.known_load and len(args.known_load) != len(files):
        raise ConfigurationError("give one --known-load per --csv, in the same order")
    for path in args.out:
        _check_out(path)
    sides = ["left", "right"][: len(files)]
    stance = {s: _recording(p, StreamKind.INSOLE) for s, p in zip(sides, files, strict=True)}
    device_ids = {s: parse_device_id(d) for s, d in zip(sides, args.device_id, strict=True)}
    known = (
        {s: _recording(p, StreamKind.INSOLE) for s, p in zip(sides, args.known_load, strict=True)}
        if args.known_load
        else None
    )
    cals = calibrate_insoles(
        stance,
        device_ids=device_ids,
        body_mass_kg=args.body_mass,
        known_load=known,
        loads_n=loads,
        layouts=None if layout is None else dict.fromkeys(sides, layout),
    )
    for side, path in zip(sides, args.out, strict=True):
        _finish_insole(cals[side], path, side, say)
    return 0


def _finish_insole(
    cal: InsoleCalibration, path: Path, side: str, say: Callable[[str], None]
) -> None:
    q = cal.quality
    if cal.dead_cells:
        say(
            f"warning: {side} insole cells {', '.join(map(str, cal.dead_cells))} did not "
            f"respond (dead, or not loaded by the routine); they read 0"
        )
    if cal.saturated_cells:
        say(
            f"warning: {side} insole cells {', '.join(map(str, cal.saturated_cells))} "
            f"saturated; forces there are underestimated"
        )
    if q.get("body_weight_residual_pct", 0.0) > 3.0:
        say(
            f"warning: the stance poses disagree by {q['body_weight_residual_pct']:.1f} %; "
            f"stand stiller, or check the body mass"
        )
    save_calibration(cal, path)
    say(
        f"{side} insole {cal.device_id:08x}: scale {cal.scale:.4f}, zero "
        f"{float(np.mean(cal.zero_n)):.1f} N per cell on average, still noise "
        f"{q.get('still_noise_n', float('nan')):.1f} N"
        + ("" if cal.curves is None else ", per-cell curves")
        + f": written {path}"
    )


def _guided_insoles(
    args: argparse.Namespace,
    loads: tuple[float, ...],
    layout: InsoleLayout | None,
    say: Callable[[str], None],
) -> int:
    del loads
    if args.body_mass is None:
        raise ConfigurationError("the guided insole routine needs --body-mass KG")
    acquisition, close = _open_live(args, args.serial)
    try:
        feed = _BufferFeed(acquisition.buffers)
        expected = max(1, len(args.out))
        infos = _wait_for_streams(feed, StreamKind.INSOLE, expected, say, 15.0)
        infos.sort(key=lambda i: i.side)
        if len(args.out) != len(infos):
            raise ConfigurationError(f"give one -o per insole ({len(infos)})")
        for path in args.out:
            _check_out(path)
        sides = [i.side.name.lower() for i in infos]
        if len(infos) == 2 and sorted(sides) != ["left", "right"]:
            raise ConfigurationError("the two insoles must report a left and a right side")
        single = None if len(infos) == 2 else sides[0]
        if single not in (None, "left", "right"):
            raise ConfigurationError("the insole does not report its side; use a recorded CSV")
        routine = GuidedInsoles(single_side=single)
        data: dict[str, list[tuple[FloatArray, FloatArray]]] = {i.stream_id: [] for i in infos}
        for info in infos:
            feed.read(info.stream_id)  # start from now
        while not routine.done:
            for line in routine.feed(time.monotonic()):
                say(line)
            time.sleep(0.1)
            for info in infos:
                data[info.stream_id].append(feed.read(info.stream_id))
        stance = {
            side: Recording(
                np.concatenate([t for t, _ in data[info.stream_id]]),
                np.concatenate([v for _, v in data[info.stream_id]]),
            )
            for side, info in zip(sides, infos, strict=True)
        }
        cals = calibrate_insoles(
            stance,
            device_ids={s: i.device_id for s, i in zip(sides, infos, strict=True)},
            body_mass_kg=args.body_mass,
            layouts=None if layout is None else dict.fromkeys(sides, layout),
        )
    finally:
        close()
    for side, path in zip(sides, args.out, strict=True):
        _finish_insole(cals[side], path, side, say)
    return 0


# ------------------------------------------------------------------------------ clock
def _cmd_clock(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    events = []
    for name in ("left_insole", "right_insole", "left_imu", "right_imu"):
        path = getattr(args, name)
        if path is None:
            continue
        kind = StreamKind.INSOLE if name.endswith("insole") else StreamKind.IMU
        rec = _recording(path, kind)
        events.append(StreamEvent(name, kind, rec.t_s, rec.values))
    if len(events) < 2:
        raise ConfigurationError(
            "give at least two recordings of the same jump: --left-insole/--right-insole/"
            "--left-imu/--right-imu FILE"
        )
    check = ClockCheck().check(events)
    say(
        json.dumps(
            {
                "reference": check.reference_,
                "offsets_ms": {k: round(v, 2) for k, v in check.offsets_ms_.items()},
                "pairs_ms": {k: round(v, 2) for k, v in check.pairs_ms_.items()},
            },
            indent=1,
        )
    )
    worst = max((abs(v) for v in check.pairs_ms_.values()), default=0.0)
    if worst > 10.0:
        say(
            f"warning: streams disagree by up to {worst:.0f} ms at the shared event; check the "
            f"device clocks (and that every sensor saw the same jump)"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dashboard.calibrate_cmd …``: the calibrate command on its own."""
    parser = argparse.ArgumentParser(prog="gaitcue")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except GaitcueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
