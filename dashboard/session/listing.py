"""``gaitcue sessions [DIR]``: the sessions under a folder, one line each.

Date, runner, duration, steps and cadence come from the small files (``session.json``,
``runner.json``, ``steps.csv``); nothing is decoded, so listing hundreds of sessions is
quick. A folder that is not a session is skipped; a damaged session is listed as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from dashboard.session.format import SESSION_JSON
from dashboard.session.reader import load_session
from firmware_bridge.errors import ConfigurationError, GaitcueError
from realtime.metrics import compute_metrics

__all__ = ["SessionRow", "format_rows", "list_sessions"]


@dataclass(frozen=True)
class SessionRow:
    """One session of the list (``problem`` set for a damaged one)."""

    path: Path
    created: str
    runner: str
    source: str
    duration_s: float
    steps: int
    cadence_spm: float
    interrupted: bool
    problem: str = ""


def list_sessions(folder: Path) -> list[SessionRow]:
    """Sessions in ``folder`` (and ``folder`` itself if it is one), oldest first.

    Raises:
        ConfigurationError: ``folder`` does not exist or is not a folder.
    """
    if not folder.is_dir():
        raise ConfigurationError(f"{folder}: no such folder of sessions")
    candidates = [folder] if (folder / SESSION_JSON).exists() else []
    candidates += sorted(p for p in folder.iterdir() if p.is_dir() and (p / SESSION_JSON).exists())
    rows = []
    for path in candidates:
        try:
            session = load_session(path)
            m = compute_metrics(session.live_steps)
            rows.append(
                SessionRow(
                    path,
                    str(session.meta.get("created", "")),
                    session.runner_id,
                    session.source,
                    session.duration_s,
                    m.n_steps,
                    m.cadence_spm,
                    session.interrupted,
                )
            )
        except GaitcueError as exc:
            rows.append(SessionRow(path, "", "", "", math.nan, 0, math.nan, False, str(exc)))
    rows.sort(key=lambda r: (r.created, str(r.path)))
    return rows


def format_rows(rows: list[SessionRow]) -> str:
    """A plain-text table of ``rows``."""
    if not rows:
        return "no sessions found"
    header = ("date", "runner", "duration", "steps", "cadence", "source", "session")
    lines = [header]
    for r in rows:
        if r.problem:
            lines.append(("?", "?", "?", "?", "?", "damaged", f"{r.path}: {r.problem}"))
            continue
        minutes, seconds = divmod(round(r.duration_s), 60)
        lines.append(
            (
                r.created.replace("T", " ")[:16],
                r.runner,
                f"{minutes}:{seconds:02d}" + ("*" if r.interrupted else ""),
                str(r.steps),
                "—" if not math.isfinite(r.cadence_spm) else f"{r.cadence_spm:.0f} spm",
                r.source,
                str(r.path),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = [
        "  ".join(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True))
        + "  "
        + line[-1]
        for line in lines
    ]
    if any(r.interrupted for r in rows):
        out.append("* interrupted recording (ends at its last saved data)")
    return "\n".join(out)
