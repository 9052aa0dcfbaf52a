"""Import of a Moticon OpenGo text export into a session (mapping: ``docs/import.md``).

The export is tab-separated text. Lines starting with ``#`` are header lines; the last of
them that names the columns (its first name is ``time``) is the column header; a plain
first line of names works too. Columns are matched by name, case-insensitively, ignoring
units in brackets and the difference between spaces and underscores:

* ``time`` — seconds (``time [ms]`` — milliseconds);
* ``left pressure 1`` … ``left pressure 16`` (and ``right …``) — N/cm² per sensor;
* ``left acceleration x|y|z`` — g; ``left angular x|y|z`` (or ``angular rate``,
  ``gyro``) — deg/s;
* ``left total force`` — N; ``left center of pressure x|y`` (or ``cop x``) — kept for
  reference, not needed.

Forces: cell force (N) = pressure (N/cm²) × sensor area (cm²). The export does not give
the areas, so they are fitted per sensor by non-negative least squares so that the cell
forces add up to the export's total force (the fit's error is kept in ``session.json``); a
file without total force uses the areas of gaitcue's default 16-cell layout. Cell positions
are those of the default layout (``calibration/insole_layout.py``), so the strike index is
approximate unless the cells are in that order.

IMU columns are imported only when their axes are mapped to the gaitcue frame (x anterior,
y left, z up): ``imu_axes="x,y,z"`` takes them as they are, ``"y,-x,z"`` makes the export's
y the anterior axis, and so on. Rows with an empty or non-numeric cell on one side are a
gap on that side.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import nnls

from calibration.insole_layout import InsoleLayout
from dashboard.session.importing import ImportedStream, create_imported_session
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import IMU_CHANNELS, IMU_UNITS, Mount, Side, StreamInfo, StreamKind

__all__ = ["MoticonFile", "import_moticon", "parse_imu_axes", "read_moticon"]

_SIDE = r"(?P<side>left|right)"
_PATTERNS = {
    "pressure": re.compile(_SIDE + r" pressure (?P<index>\d+)$"),
    "acc": re.compile(_SIDE + r" acc(?:eleration)? (?P<axis>[xyz])$"),
    "gyr": re.compile(_SIDE + r" (?:angular(?: rate| velocity)?|gyro) (?P<axis>[xyz])$"),
    "total": re.compile(_SIDE + r" total force$"),
    "cop": re.compile(_SIDE + r" (?:cent(?:er|re) of pressure|cop) (?P<axis>[xy])$"),
}
_MIN_LOADED_N_PER_CM2 = 0.5
_FIT_ROWS = 20_000


def _normalise(name: str) -> tuple[str, str]:
    """(name without units, unit) — ``"Left Pressure 1 [N/cm²]"`` → ``("left pressure 1",
    "n/cm²")``."""
    unit = ""
    match = re.search(r"[\[(]([^\])]*)[\])]", name)
    if match:
        unit = match.group(1).strip().lower()
    plain = re.sub(r"[\[(][^\])]*[\])]", " ", name).lower().replace("_", " ").replace("-", " ")
    return " ".join(plain.split()), unit


@dataclass(frozen=True)
class MoticonFile:
    """A parsed export: time (s), named columns, the ``#`` header lines."""

    path: Path
    t_s: npt.NDArray[np.float64]
    columns: dict[str, npt.NDArray[np.float64]]
    header_lines: tuple[str, ...]

    def side_columns(self, kind: str, side: str) -> dict[str, npt.NDArray[np.float64]]:
        """Columns of one kind (``pressure``, ``acc``, ``gyr``, ``total``, ``cop``) and
        side, keyed by sensor number or axis."""
        out: dict[str, npt.NDArray[np.float64]] = {}
        for name, values in self.columns.items():
            match = _PATTERNS[kind].match(name)
            if match and match.group("side") == side:
                key = match.groupdict().get("index") or match.groupdict().get("axis") or ""
                out[key] = values
        return out


def read_moticon(path: Path) -> MoticonFile:
    """Parse a Moticon OpenGo text export.

    Raises:
        ConfigurationError: one line naming the file (and line) and the problem.
    """
    try:
        text = path.read_text(encoding="utf-8-sig", errors="strict")
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read it as text ({type(exc).__name__})") from None
    lines = text.splitlines()
    header: list[str] | None = None
    comments: list[str] = []
    first_data = 0
    for number, line in enumerate(lines):
        if line.startswith("#"):
            comments.append(line)
            names = [c.strip() for c in line.lstrip("#").split("\t")]
            if names and _normalise(names[0])[0] == "time" and len(names) > 1:
                header = names
            continue
        if not line.strip():
            continue
        first = line.split("\t")[0].strip()
        try:
            float(first)
        except ValueError:
            header = [c.strip() for c in line.split("\t")]
            first_data = number + 1
            break
        first_data = number
        break
    if header is None:
        raise ConfigurationError(
            f"{path}: no column header (a '#' line or first line starting with 'time')"
        )
    parsed = [_normalise(h) for h in header]
    rows = [
        line.split("\t") for line in lines[first_data:] if line.strip() and not line.startswith("#")
    ]
    if len(rows) < 2:
        raise ConfigurationError(f"{path}: fewer than two data rows")
    try:
        table = np.array(rows, dtype=np.float64)
        if table.ndim != 2 or table.shape[1] < len(parsed):
            raise ValueError("ragged")
        table = table[:, : len(parsed)]
    except ValueError:
        table = _slow_table(path, rows, len(parsed), first_data)
    t = table[:, 0]
    if parsed[0][1] == "ms":
        t = t / 1000.0
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        bad = int(np.flatnonzero(~np.isfinite(t) | np.r_[False, np.diff(t) <= 0])[0])
        raise ConfigurationError(f"{path}, line {first_data + bad + 1}: time does not increase")
    columns = {name: table[:, j] for j, (name, _) in enumerate(parsed) if j > 0}
    return MoticonFile(path, t, columns, tuple(comments))


def _slow_table(
    path: Path, rows: list[list[str]], n_columns: int, first_data: int
) -> npt.NDArray[np.float64]:
    """Cell by cell, for files with empty or non-numeric cells (NaN there)."""
    table = np.full((len(rows), n_columns), np.nan)
    for i, row in enumerate(rows):
        for j, cell in enumerate(row[:n_columns]):
            cell = cell.strip()
            if cell:
                try:
                    table[i, j] = float(cell)
                except ValueError:
                    if j == 0:
                        raise ConfigurationError(
                            f"{path}, line {first_data + i + 1}: time '{cell}' is not a number"
                        ) from None
    return table


def parse_imu_axes(spec: str) -> list[tuple[int, float]]:
    """``"y,-x,z"`` → for each gaitcue axis (x, y, z), the export axis index and sign."""
    parts = [p.strip().lower() for p in spec.split(",")]
    if len(parts) != 3 or sorted(p.lstrip("+-") for p in parts) != ["x", "y", "z"]:
        raise ConfigurationError(
            f"--imu-axes must map x, y, z once each, like 'x,y,z' or 'y,-x,z', got '{spec}'"
        )
    return [("xyz".index(p.lstrip("+-")), -1.0 if p.startswith("-") else 1.0) for p in parts]


def _fit_areas(
    pressure: npt.NDArray[np.float64], total: npt.NDArray[np.float64] | None, n: int
) -> tuple[npt.NDArray[np.float64], float, str]:
    """Sensor areas (cm²), the fit's RMS error (N) and how they were found."""
    default = InsoleLayout.default(n).area_cm2 if n in (8, 16) else np.full(n, 3.0)
    if total is None:
        return np.asarray(default, dtype=np.float64), math.nan, "default layout areas"
    ok = np.all(np.isfinite(pressure), axis=1) & np.isfinite(total)
    ok &= pressure.sum(axis=1) > _MIN_LOADED_N_PER_CM2
    rows = np.flatnonzero(ok)
    if rows.size < 4 * n:
        return np.asarray(default, dtype=np.float64), math.nan, "default layout areas"
    rows = rows[:: max(1, rows.size // _FIT_ROWS)]
    areas, _ = nnls(pressure[rows], total[rows])
    if not np.all(areas > 0):
        # A sensor that never carries load cannot be fitted: give it the median area.
        areas = np.where(
            areas > 0, areas, float(np.median(areas[areas > 0])) if np.any(areas > 0) else 3.0
        )
    rms = float(np.sqrt(np.mean((pressure[rows] @ areas - total[rows]) ** 2)))
    return areas, rms, "fitted to the total force"


def import_moticon(
    path: Path,
    out: Path,
    *,
    imu_axes: str | None = None,
    runner: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """A session from a Moticon OpenGo text export (see the module docstring)."""
    data = read_moticon(path)
    axes = parse_imu_axes(imu_axes) if imu_axes is not None else None
    streams: dict[str, ImportedStream] = {}
    fits: dict[str, Any] = {}
    for side_name, side in (("left", Side.LEFT), ("right", Side.RIGHT)):
        pressure_cols = data.side_columns("pressure", side_name)
        if pressure_cols:
            order = sorted(pressure_cols, key=int)
            pressure = np.column_stack([pressure_cols[k] for k in order])
            total = data.side_columns("total", side_name).get("")
            areas, rms, how = _fit_areas(pressure, total, len(order))
            ok = np.all(np.isfinite(pressure), axis=1)
            t = data.t_s[ok]
            forces = (pressure[ok] * areas).astype(np.float32)
            rate = 1.0 / float(np.median(np.diff(t)))
            info = StreamInfo(
                f"insole-{side_name}-moticon",
                0,
                StreamKind.INSOLE,
                side,
                Mount.INSOLE,
                rate,
                tuple(f"cell{i}" for i in range(len(order))),
                ("N",) * len(order),
                calibrated=True,
                cell_area_cm2=tuple(float(a) for a in areas),
            )
            streams[f"{side_name}_insole"] = (info, t, forces)
            fits[side_name] = {
                "cell_area_cm2": [round(float(a), 4) for a in areas],
                "areas": how,
                "rms_error_n": None if math.isnan(rms) else round(rms, 3),
            }
        acc = data.side_columns("acc", side_name)
        gyr = data.side_columns("gyr", side_name)
        if axes is not None and len(acc) == 3 and len(gyr) == 3:
            raw_acc = np.column_stack([acc[a] for a in "xyz"])
            raw_gyr = np.column_stack([gyr[a] for a in "xyz"])
            mapped = np.column_stack(
                [sign * raw_acc[:, i] for i, sign in axes]
                + [sign * raw_gyr[:, i] for i, sign in axes]
            )
            ok = np.all(np.isfinite(mapped), axis=1)
            t = data.t_s[ok]
            rate = 1.0 / float(np.median(np.diff(t)))
            info = StreamInfo(
                f"imu-{side_name}-moticon",
                0,
                StreamKind.IMU,
                side,
                Mount.FOOT,
                rate,
                IMU_CHANNELS,
                IMU_UNITS,
                calibrated=True,
            )
            streams[f"{side_name}_imu"] = (info, t, mapped[ok].astype(np.float32))
    if not streams:
        raise ConfigurationError(
            f"{path}: no 'left pressure N' / 'right pressure N' columns (nor mapped IMU columns)"
        )
    created = _dt.datetime.fromtimestamp(path.stat().st_mtime).astimezone()
    meta = {
        "import": {
            "format": "moticon-opengo-txt",
            "from": path.name,
            "insoles": fits,
            "imu_axes": imu_axes,
            "header": list(data.header_lines[:20]),
        },
        **(metadata or {}),
    }
    return create_imported_session(out, streams, created=created, runner=runner, metadata=meta)
