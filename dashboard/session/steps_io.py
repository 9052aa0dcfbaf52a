"""Steps as CSV rows (the columns of ``gaitcue analyze``'s ``steps.csv``) and back."""

from __future__ import annotations

import csv
import enum
import math
from pathlib import Path

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side
from realtime.events import EventSource, FootStrike, Gait, Step, StepFlag
from realtime.offline import STEP_COLUMNS

STEPS_HEADER = ",".join(STEP_COLUMNS) + "\n"

_SIDES = {"left": Side.LEFT, "right": Side.RIGHT}
_FLOAT_COLUMNS = (
    "ic_s",
    "to_s",
    "gct_ms",
    "flight_ms",
    "step_time_ms",
    "stride_time_ms",
    "double_support_ms",
    "strike_index",
    "peak_force_n",
    "loading_rate_bw_s",
    "peak_accel_g",
)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.6f}" if abs(value) < 1e4 else f"{value:.3f}"
    if isinstance(value, enum.Enum) and not isinstance(value, int):
        return str(value.value)
    return str(value)


def step_row(step: Step) -> list[str]:
    """One step as the cells of a ``steps.csv`` row."""
    row: list[str] = []
    for column in STEP_COLUMNS:
        if column == "side":
            row.append(step.side.name.lower())
        elif column == "flags":
            row.append(
                "|".join(f.name.lower() for f in StepFlag if f and f in step.flags and f.name)
            )
        else:
            row.append(_cell(getattr(step, column)))
    return row


def steps_csv_text(steps: list[Step]) -> str:
    """Rows (no header) of ``steps``, each ending in a newline."""
    return "".join(",".join(step_row(s)) + "\n" for s in steps)


def _float(text: str) -> float:
    return float(text) if text else math.nan


def read_steps_csv(path: Path) -> list[Step]:
    """Read a ``steps.csv``; a torn last line (a recording that was killed) is left out.

    Raises:
        ConfigurationError: the header is not the steps header, or a complete row is broken.
    """
    with path.open(newline="", encoding="utf-8") as handle:
        text = handle.read()
    complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
    lines = complete.splitlines()
    if not lines:
        return []
    reader = csv.reader(lines)
    header = next(reader)
    if tuple(header) != STEP_COLUMNS:
        raise ConfigurationError(f"{path}: not a steps file (header {','.join(header)[:60]}…)")
    steps: list[Step] = []
    for line, row in enumerate(reader, start=2):
        try:
            cells = dict(zip(STEP_COLUMNS, row, strict=True))
            flags = StepFlag.NONE
            for name in filter(None, cells["flags"].split("|")):
                flags |= StepFlag[name.upper()]
            floats = {c: _float(cells[c]) for c in _FLOAT_COLUMNS}
            steps.append(
                Step(
                    side=_SIDES[cells["side"]],
                    gait=Gait(cells["gait"]),
                    foot_strike=FootStrike(cells["foot_strike"]),
                    source=EventSource(cells["source"]),
                    flags=flags,
                    **floats,
                )
            )
        except (KeyError, ValueError) as exc:
            raise ConfigurationError(f"{path}, line {line}: not a valid step row ({exc})") from None
    return steps


def write_steps(steps: list[Step], path: Path) -> None:
    """Write a complete ``steps.csv`` (header and rows)."""
    path.write_text(STEPS_HEADER + steps_csv_text(steps), encoding="utf-8")
