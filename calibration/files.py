"""Calibration files: one versioned JSON file per device id.

An IMU file::

    {
      "format": "gaitcue-calibration",
      "version": 1,
      "kind": "imu",
      "device_id": "6a01c0de",
      "created_utc": "2026-11-23T15:40:00Z",
      "routine": "six-face + standing and steps",
      "quality": {"accel_residual_g": 0.001, "still_noise_dps": 0.3, ...},
      "accel_offset_g": [ax, ay, az],
      "accel_scale": [sx, sy, sz],
      "gyro_bias_dps": [bx, by, bz],
      "alignment": [[r11, r12, r13], [r21, r22, r23], [r31, r32, r33]]
    }

``alignment`` turns sensor axes into the segment frame of DESIGN.md (rows: the segment's
x, y, z axes in sensor coordinates); calibrated values are
``alignment · (accel_scale · (a − accel_offset_g))`` and ``alignment · (g − gyro_bias_dps)``.

An insole file has ``"kind": "insole"``, ``n_cells``, ``zero_n`` and ``floor_n`` (one per
cell, N: readings below zero + floor become 0), ``scale`` (the body-weight scale of the
insole), ``curves`` (null, or per cell null or ``{"reading_n": [...], "force_n": [...]}``,
the monotone curve from a known-load routine), ``dead_cells``, ``saturated_cells`` and an
optional ``layout`` (``{"cells": [{"x", "y", "area_cm2"}, ...]}``).

Every problem with a file — missing, unreadable, not JSON, another format or version, a
missing or malformed value, NaN, another device — raises ``ConfigurationError`` with one
line that names the file.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from calibration.insole import CellCurve
from calibration.insole_layout import InsoleLayout
from firmware_bridge.errors import ConfigurationError

__all__ = [
    "FORMAT",
    "VERSION",
    "Calibration",
    "ImuCalibration",
    "InsoleCalibration",
    "load_calibration",
    "parse_device_id",
    "save_calibration",
]

FORMAT = "gaitcue-calibration"
VERSION = 1
FloatArray = npt.NDArray[np.float64]


def _now_utc() -> str:
    return (
        _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )


def _frozen(values: Any, shape: tuple[int, ...]) -> FloatArray:
    array = np.array(values, dtype=np.float64).reshape(shape)
    array.flags.writeable = False
    return array


def parse_device_id(text: str) -> int:
    """A device id given as hex (``6a01c0de`` or ``0x6a01c0de``).

    Raises:
        ConfigurationError: not a 32-bit hexadecimal number.
    """
    try:
        value = int(str(text).strip().lower().removeprefix("0x"), 16)
    except ValueError:
        raise ConfigurationError(
            f"A device id is 8 hexadecimal digits (as in the device panel), got {text!r}."
        ) from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise ConfigurationError(f"A device id is a 32-bit number, got {text!r}.")
    return value


@dataclass(frozen=True, eq=False)
class ImuCalibration:
    """An IMU's calibration.

    Attributes:
        device_id: the device's 32-bit id.
        accel_offset_g: ``(3,)`` accelerometer offset (g).
        accel_scale: ``(3,)`` accelerometer scale per axis.
        gyro_bias_dps: ``(3,)`` gyroscope bias (deg/s).
        alignment: ``(3, 3)`` segment-from-sensor rotation.
        quality: the routine's quality figures (residuals, still-period noise, angles).
        created_utc: when the routine ran (ISO 8601, UTC).
        routine: what was recorded.
    """

    device_id: int
    accel_offset_g: FloatArray
    accel_scale: FloatArray
    gyro_bias_dps: FloatArray
    alignment: FloatArray = field(default_factory=lambda: np.eye(3))
    quality: Mapping[str, float] = field(default_factory=dict)
    created_utc: str = field(default_factory=_now_utc)
    routine: str = ""

    kind = "imu"

    def __post_init__(self) -> None:
        for name, shape in (
            ("accel_offset_g", (3,)),
            ("accel_scale", (3,)),
            ("gyro_bias_dps", (3,)),
            ("alignment", (3, 3)),
        ):
            object.__setattr__(self, name, _frozen(getattr(self, name), shape))
        problem = _imu_problem(self)
        if problem is not None:
            raise ConfigurationError(f"Invalid IMU calibration: {problem}.")


@dataclass(frozen=True, eq=False)
class InsoleCalibration:
    """An insole's calibration.

    Attributes:
        device_id: the device's 32-bit id.
        zero_n: ``(n_cells,)`` unloaded reading of each cell (N).
        floor_n: ``(n_cells,)`` readings below ``zero + floor`` become 0 (N).
        scale: body-weight scale of the insole (1 when not measured).
        curves: per cell the reading-to-force curve of a known-load routine, or None.
        dead_cells, saturated_cells: cells found dead or saturating.
        layout: cell positions and areas, when given.
        quality, created_utc, routine: as for ``ImuCalibration``.
    """

    device_id: int
    zero_n: FloatArray
    floor_n: FloatArray
    scale: float = 1.0
    curves: tuple[CellCurve | None, ...] | None = None
    dead_cells: tuple[int, ...] = ()
    saturated_cells: tuple[int, ...] = ()
    layout: InsoleLayout | None = None
    quality: Mapping[str, float] = field(default_factory=dict)
    created_utc: str = field(default_factory=_now_utc)
    routine: str = ""

    kind = "insole"

    def __post_init__(self) -> None:
        zero = np.array(self.zero_n, dtype=np.float64).ravel()
        object.__setattr__(self, "zero_n", _frozen(zero, zero.shape))
        object.__setattr__(self, "floor_n", _frozen(self.floor_n, zero.shape))
        problem = _insole_problem(self)
        if problem is not None:
            raise ConfigurationError(f"Invalid insole calibration: {problem}.")

    @property
    def n_cells(self) -> int:
        return int(self.zero_n.shape[0])


Calibration = ImuCalibration | InsoleCalibration


def _finite(values: FloatArray) -> bool:
    return bool(np.all(np.isfinite(values)))


def _imu_problem(cal: ImuCalibration) -> str | None:
    for name in ("accel_offset_g", "accel_scale", "gyro_bias_dps", "alignment"):
        if not _finite(getattr(cal, name)):
            return f"{name} holds a value that is not a finite number"
    if np.any(cal.accel_scale <= 0.0):
        return "accel_scale must be positive"
    r = cal.alignment
    if not np.allclose(r @ r.T, np.eye(3), atol=1e-4) or np.linalg.det(r) <= 0.0:
        return "alignment is not a rotation matrix"
    return None


def _insole_problem(cal: InsoleCalibration) -> str | None:
    n = cal.zero_n.shape[0]
    if n == 0:
        return "zero_n is empty"
    if not (_finite(cal.zero_n) and _finite(cal.floor_n)):
        return "zero_n or floor_n holds a value that is not a finite number"
    if np.any(cal.floor_n < 0.0):
        return "floor_n must not be negative"
    if not (math.isfinite(cal.scale) and cal.scale > 0.0):
        return f"scale must be a positive number, got {cal.scale!r}"
    if cal.curves is not None:
        if len(cal.curves) != n:
            return f"curves has {len(cal.curves)} entries for {n} cells"
        for cell, curve in enumerate(cal.curves):
            if curve is None:
                continue
            r, f = np.asarray(curve.reading_n), np.asarray(curve.force_n)
            if r.shape != f.shape or r.ndim != 1 or r.size < 2:
                return f"cell {cell}'s curve needs matching reading_n and force_n lists"
            if not (_finite(r) and _finite(f)):
                return f"cell {cell}'s curve holds a value that is not a finite number"
            if np.any(np.diff(r) <= 0) or np.any(np.diff(f) < 0) or r[0] <= 0:
                return f"cell {cell}'s curve is not increasing"
    for name in ("dead_cells", "saturated_cells"):
        for cell in getattr(cal, name):
            if not 0 <= cell < n:
                return f"{name} names cell {cell}, but there are {n} cells"
    if cal.layout is not None and cal.layout.n_cells != n:
        return f"the layout has {cal.layout.n_cells} cells for {n} calibrated cells"
    return None


# ----------------------------------------------------------------------------- writing
def _document(cal: Calibration) -> dict[str, Any]:
    head: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "kind": cal.kind,
        "device_id": f"{cal.device_id:08x}",
        "created_utc": cal.created_utc,
        "routine": cal.routine,
        "quality": {k: float(v) for k, v in cal.quality.items()},
    }
    if isinstance(cal, ImuCalibration):
        return {
            **head,
            "accel_offset_g": cal.accel_offset_g.tolist(),
            "accel_scale": cal.accel_scale.tolist(),
            "gyro_bias_dps": cal.gyro_bias_dps.tolist(),
            "alignment": cal.alignment.tolist(),
        }
    return {
        **head,
        "n_cells": cal.n_cells,
        "zero_n": cal.zero_n.tolist(),
        "floor_n": cal.floor_n.tolist(),
        "scale": float(cal.scale),
        "curves": None
        if cal.curves is None
        else [
            None
            if c is None
            else {
                "reading_n": np.asarray(c.reading_n).tolist(),
                "force_n": np.asarray(c.force_n).tolist(),
            }
            for c in cal.curves
        ],
        "dead_cells": list(cal.dead_cells),
        "saturated_cells": list(cal.saturated_cells),
        "layout": None
        if cal.layout is None
        else {
            "cells": [
                {"x": float(x), "y": float(y), "area_cm2": float(a)}
                for x, y, a in zip(cal.layout.x, cal.layout.y, cal.layout.area_cm2, strict=True)
            ]
        },
    }


def calibration_document(cal: Calibration) -> dict[str, Any]:
    """The JSON document of ``cal``, as its file holds it (e.g. to record it with a session)."""
    return _document(cal)


def save_calibration(cal: Calibration, path: str | Path) -> None:
    """Write ``cal`` as JSON to ``path``.

    Raises:
        ConfigurationError: the folder does not exist or the file cannot be written.
    """
    target = Path(path)
    text = json.dumps(_document(cal), indent=1, allow_nan=False) + "\n"
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot write calibration file {target}: {exc.strerror or exc}."
        ) from None


# ----------------------------------------------------------------------------- reading
class _Reader:
    """Typed access to a parsed document; every failure is one line naming the file."""

    def __init__(self, where: str, document: dict[str, Any]) -> None:
        self.where = where
        self.doc = document

    def fail(self, problem: str) -> ConfigurationError:
        return ConfigurationError(f"Calibration file {self.where}: {problem}.")

    def get(self, key: str) -> Any:
        if key not in self.doc:
            raise self.fail(f'"{key}" is missing')
        return self.doc[key]

    def numbers(self, key: str, shape: tuple[int, ...] | None = None) -> FloatArray:
        value = self.get(key)
        try:
            array = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise self.fail(f'"{key}" must hold numbers') from None
        if _has_non_number(value):
            raise self.fail(f'"{key}" must hold numbers')
        if shape is not None and array.shape != shape:
            want = " × ".join(str(s) for s in shape)
            raise self.fail(f'"{key}" must hold {want} numbers, got shape {array.shape}')
        if not _finite(array):
            raise self.fail(f'"{key}" holds a value that is not a finite number (NaN or ∞)')
        return array

    def text(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise self.fail(f'"{key}" must be text')
        return value

    def cells(self, key: str) -> tuple[int, ...]:
        value = self.doc.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in value
        ):
            raise self.fail(f'"{key}" must be a list of cell numbers')
        return tuple(value)


def _has_non_number(value: Any) -> bool:
    if isinstance(value, list):
        return any(_has_non_number(v) for v in value)
    return isinstance(value, bool) or not isinstance(value, int | float)


def _quality(reader: _Reader) -> dict[str, float]:
    value = reader.doc.get("quality", {})
    if not isinstance(value, dict):
        raise reader.fail('"quality" must be an object of numbers')
    out: dict[str, float] = {}
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise reader.fail(f'quality "{key}" must be a number')
        if not math.isfinite(number):
            raise reader.fail(f'quality "{key}" is not a finite number')
        out[str(key)] = float(number)
    return out


def _parse_constant(name: str) -> float:
    """JSON's NaN and Infinity are refused (Python's json accepts them by default)."""
    raise ValueError(f"{name} is not a number")


def load_calibration(
    path: str | Path, *, device_id: int | None = None, kind: str | None = None
) -> Calibration:
    """Read and check a calibration file.

    Args:
        path: the JSON file.
        device_id: when given, the file must be for this device.
        kind: when given (``"imu"`` or ``"insole"``), the file must be of this kind.

    Raises:
        ConfigurationError: one line naming the file and the problem: missing, unreadable,
            not JSON, another format, another version, a missing key, a malformed or
            non-finite value, another device or kind.
    """
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"Calibration file {where} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigurationError(f"Cannot read calibration file {where}: {reason}.") from None
    try:
        document = json.loads(text, parse_constant=_parse_constant)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"Calibration file {where} is not valid JSON: {exc.msg} at line {exc.lineno}."
        ) from None
    except ValueError as exc:
        raise ConfigurationError(
            f"Calibration file {where}: {exc} (NaN and Infinity are not allowed)."
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ConfigurationError(
            f'Calibration file {where} is not a gaitcue calibration (no "format": "{FORMAT}").'
        )
    reader = _Reader(where, document)
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise reader.fail('"version" must be a whole number')
    if version != VERSION:
        newer = "a newer" if version > VERSION else "an older"
        raise reader.fail(
            f"version {version} was written by {newer} gaitcue; this one reads version "
            f"{VERSION}: run the calibration again"
        )
    file_kind = reader.text("kind")
    if file_kind not in ("imu", "insole"):
        raise reader.fail(f'"kind" must be "imu" or "insole", got "{file_kind}"')
    file_device = reader.text("device_id")
    try:
        file_id = parse_device_id(file_device)
    except ConfigurationError:
        raise reader.fail(f'"device_id" must be 8 hex digits, got "{file_device}"') from None
    if device_id is not None and file_id != device_id:
        raise reader.fail(
            f"it is for device {file_id:08x}, not {device_id:08x}: use that device's file"
        )
    if kind is not None and file_kind != kind:
        raise reader.fail(f"it calibrates an {file_kind}, not an {kind}")
    created = reader.text("created_utc")
    routine = str(document.get("routine", ""))
    quality = _quality(reader)
    try:
        if file_kind == "imu":
            return ImuCalibration(
                device_id=file_id,
                accel_offset_g=reader.numbers("accel_offset_g", (3,)),
                accel_scale=reader.numbers("accel_scale", (3,)),
                gyro_bias_dps=reader.numbers("gyro_bias_dps", (3,)),
                alignment=reader.numbers("alignment", (3, 3)),
                quality=quality,
                created_utc=created,
                routine=routine,
            )
        zero = reader.numbers("zero_n")
        if zero.ndim != 1:
            raise reader.fail('"zero_n" must be one number per cell')
        n = zero.shape[0]
        n_cells = reader.get("n_cells")
        if n_cells != n:
            raise reader.fail(f'"n_cells" is {n_cells!r} but "zero_n" has {n} values')
        scale = reader.numbers("scale", ())
        curves = _curves(reader, n)
        layout_doc = document.get("layout")
        layout = None
        if layout_doc is not None:
            layout = _layout(reader, layout_doc)
        return InsoleCalibration(
            device_id=file_id,
            zero_n=zero,
            floor_n=reader.numbers("floor_n", (n,)),
            scale=float(scale),
            curves=curves,
            dead_cells=reader.cells("dead_cells"),
            saturated_cells=reader.cells("saturated_cells"),
            layout=layout,
            quality=quality,
            created_utc=created,
            routine=routine,
        )
    except ConfigurationError as exc:
        message = str(exc)
        if message.startswith(f"Calibration file {where}"):
            raise
        raise reader.fail(message.rstrip(".")) from None


def _curves(reader: _Reader, n: int) -> tuple[CellCurve | None, ...] | None:
    value = reader.doc.get("curves")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != n:
        raise reader.fail(f'"curves" must be null or a list of {n} entries (one per cell)')
    out: list[CellCurve | None] = []
    for cell, entry in enumerate(value):
        if entry is None:
            out.append(None)
            continue
        if not isinstance(entry, dict):
            raise reader.fail(f"cell {cell}'s curve must be an object with reading_n and force_n")
        sub = _Reader(reader.where, entry)
        r = sub.numbers("reading_n")
        f = sub.numbers("force_n")
        out.append(CellCurve(reading_n=r, force_n=f))
    return tuple(out)


def _layout(reader: _Reader, doc: Any) -> InsoleLayout:
    cells = doc.get("cells") if isinstance(doc, dict) else None
    if not isinstance(cells, list) or not cells:
        raise reader.fail('"layout" must be {"cells": [{"x", "y", "area_cm2"}, ...]}')
    try:
        columns = {name: [float(c[name]) for c in cells] for name in ("x", "y", "area_cm2")}
    except (KeyError, TypeError, ValueError):
        raise reader.fail('every layout cell needs numbers "x", "y" and "area_cm2"') from None
    try:
        return InsoleLayout(
            x=np.asarray(columns["x"]),
            y=np.asarray(columns["y"]),
            area_cm2=np.asarray(columns["area_cm2"]),
        )
    except ConfigurationError as exc:
        raise reader.fail(f"layout: {str(exc).rstrip('.')}") from None
