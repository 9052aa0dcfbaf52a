"""Session commands of the ``gaitcue`` command line: ``export``, ``report``, ``import`` and
``sessions``, and ``analyze_session`` for ``gaitcue analyze DIR`` on a session directory.

``add_parsers(subparsers)`` registers the commands on the CLI's subparsers; each command's
function returns the exit status and raises ``ConfigurationError`` (one line) for what a
user can get wrong.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calibration.insole_layout import InsoleLayout
from dashboard.session.analysis import analyse
from dashboard.session.export import FORMATS, export_session
from dashboard.session.format import SESSION_JSON
from dashboard.session.importing import import_csv
from dashboard.session.listing import format_rows, list_sessions
from dashboard.session.moticon import import_moticon
from dashboard.session.reader import load_session
from dashboard.session.report import write_pdf, write_report
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Mount
from realtime.offline import AnalysisResult, write_steps_csv, write_summary_json

__all__ = ["add_parsers", "analyze_session", "is_session_dir", "progress_bar"]

LONG_SESSION_S = 120.0
"""Sessions longer than this (s) show a progress bar on a terminal."""


def is_session_dir(path: Path) -> bool:
    """Whether ``path`` looks like a session directory (has ``session.json``)."""
    return path.is_dir() and (path / SESSION_JSON).is_file()


def progress_bar(label: str, *, enabled: bool | None = None) -> Callable[[float], None] | None:
    """A one-line progress bar on stderr (None when stderr is not a terminal)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    shown = [-1]

    def show(fraction: float) -> None:
        done = int(max(0.0, min(1.0, fraction)) * 30)
        if done == shown[0] and fraction < 1.0:
            return
        shown[0] = done
        end = "\n" if fraction >= 1.0 else ""
        print(
            f"\r{label} [{'#' * done}{'.' * (30 - done)}] {fraction:5.0%}",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return show


def _mount(value: str | None) -> Mount | None:
    return None if value is None else (Mount.SHANK if value == "shank" else Mount.FOOT)


def analyze_session(
    directory: Path,
    out: Path,
    *,
    threshold_n: float = 20.0,
    body_mass_kg: float | None = None,
    speed_kmh: float | None = None,
    insole_layout: Path | None = None,
    imu_mount: str | None = None,
    progress: Callable[[float], None] | None = None,
) -> AnalysisResult:
    """``gaitcue analyze`` of a session directory: writes ``out/steps.csv`` and
    ``out/summary.json`` as for CSV streams, and returns the result. The session's body
    mass and (constant) treadmill speed apply unless given here."""
    session = load_session(directory)
    if progress is None and session.duration_s > LONG_SESSION_S:
        progress = progress_bar("analysing")
    analysis = analyse(
        session,
        threshold_n=threshold_n,
        body_mass_kg=body_mass_kg,
        speed_m_s=None if speed_kmh is None else speed_kmh / 3.6,
        insole_layout=None if insole_layout is None else InsoleLayout.from_json(insole_layout),
        imu_mount=_mount(imu_mount),
        progress=progress,
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create {out}: {exc.strerror or exc}") from None
    write_steps_csv(analysis.result.steps, out / "steps.csv")
    write_summary_json(analysis.result.summary, out / "summary.json")
    return analysis.result


def cmd_export(args: argparse.Namespace) -> int:
    """Export a session as CSV streams, HDF5, C3D or a (de-identified) session copy."""
    start = time.perf_counter()
    session = load_session(args.session)
    bar = progress_bar("exporting") if session.duration_s > LONG_SESSION_S else None
    notes: list[str] = []
    out = export_session(
        args.session,
        args.format,
        args.output,
        anonymise=args.anonymise,
        imu_mount=_mount(args.imu_mount),
        progress=bar,
        notes=notes,
    )
    for line in notes:
        print(f"note: {line}", file=sys.stderr)
    note = " (de-identified)" if args.anonymise else ""
    print(
        f"exported {args.session} as {args.format}{note} to {out} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """The HTML report of one session, or the comparison of two."""
    if len(args.sessions) > 2:
        raise ConfigurationError("give one session, or two to compare")
    analyses = [analyse(load_session(path)) for path in args.sessions]
    out = write_report(analyses, args.output)
    print(f"report written to {out}")
    if args.pdf:
        pdf = write_pdf(out, out.with_suffix(".pdf"))
        print(f"PDF written to {pdf}")
    return 0


def _identity(args: argparse.Namespace) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    runner = {"runner_id": args.runner_id} if args.runner_id else None
    meta: dict[str, Any] = {}
    if args.body_mass is not None:
        meta["body_mass_kg"] = args.body_mass
    if args.involved_side is not None:
        meta["involved_side"] = args.involved_side
    return runner, meta


def cmd_import(args: argparse.Namespace) -> int:
    """A session from a Moticon OpenGo text export or from analyze-format CSV streams."""
    if (args.moticon is None) == (args.csv is None):
        raise ConfigurationError("give one of --moticon FILE.txt or --csv DIR")
    runner, meta = _identity(args)
    if args.moticon is not None:
        out = import_moticon(
            args.moticon, args.output, imu_axes=args.imu_axes, runner=runner, metadata=meta
        )
    else:
        out = import_csv(
            args.csv,
            args.output,
            imu_mount=_mount(args.imu_mount) or Mount.FOOT,
            runner=runner,
            metadata=meta,
        )
    session = load_session(out)
    print(f"imported {len(session.live_steps)} steps, {session.duration_s:.1f} s, into {out}")
    return 0


def cmd_sessions(args: argparse.Namespace) -> int:
    """List the sessions under a folder."""
    print(format_rows(list_sessions(args.folder)))
    return 0


def add_parsers(subparsers: Any) -> None:
    """Register ``export``, ``report``, ``import`` and ``sessions`` on the CLI's
    ``add_subparsers()`` object."""
    export = subparsers.add_parser("export", help="export a session (CSV, HDF5, C3D)")
    export.add_argument("session", type=Path, help="session directory")
    export.add_argument("--format", choices=FORMATS, required=True)
    export.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="PATH",
        help="a folder for csv and session, a file for hdf5 and c3d",
    )
    export.add_argument(
        "--anonymise",
        "--anonymize",
        action="store_true",
        help="leave out the runner's identity (runner.json)",
    )
    export.add_argument("--imu-mount", choices=("foot", "shank"), default=None)
    export.set_defaults(func=cmd_export)

    report = subparsers.add_parser("report", help="one-page HTML report (two sessions: compare)")
    report.add_argument("sessions", nargs="+", type=Path, metavar="SESSION")
    report.add_argument("-o", "--output", type=Path, required=True, metavar="HTML")
    report.add_argument(
        "--pdf", action="store_true", help="also print it to PDF (needs Chromium installed)"
    )
    report.set_defaults(func=cmd_report)

    imp = subparsers.add_parser("import", help="make a session from files recorded elsewhere")
    imp.add_argument(
        "--moticon",
        type=Path,
        default=None,
        metavar="FILE.txt",
        help="a Moticon OpenGo text export",
    )
    imp.add_argument(
        "--csv",
        type=Path,
        default=None,
        metavar="DIR",
        help="a folder of analyze-format CSV streams",
    )
    imp.add_argument(
        "-o", "--output", type=Path, required=True, metavar="DIR", help="the new session directory"
    )
    imp.add_argument(
        "--imu-axes",
        default=None,
        metavar="MAP",
        help="Moticon IMU axes in the gaitcue frame, e.g. 'x,y,z' or 'y,-x,z' "
        "(without it the IMU columns are not imported)",
    )
    imp.add_argument("--imu-mount", choices=("foot", "shank"), default=None)
    imp.add_argument("--runner-id", default=None, metavar="ID")
    imp.add_argument("--body-mass", type=float, default=None, metavar="KG")
    imp.add_argument("--involved-side", choices=("left", "right"), default=None)
    imp.set_defaults(func=cmd_import)

    sessions = subparsers.add_parser("sessions", help="list recorded sessions")
    sessions.add_argument("folder", nargs="?", type=Path, default=Path("."), metavar="DIR")
    sessions.set_defaults(func=cmd_sessions)
