"""Where the cells of a pressure insole sit, in foot coordinates.

Foot coordinates are the same for both feet: ``x`` is the fraction of foot length from the
back of the heel (0) to the tip of the longest toe (1); ``y`` is the fraction of foot width
from the medial edge (0, big-toe side) to the lateral edge (1, little-toe side). A left and a
right insole with the same layout therefore list their cells in the same anatomical order, and
a centre of pressure computed with the layout is comparable between feet. The strike index of
a step is the ``x`` of its centre of pressure at initial contact.

A layout file is JSON::

    {"cells": [{"x": 0.08, "y": 0.35, "area_cm2": 6.0}, ...]}

with one entry per cell, in the order the device streams them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from firmware_bridge.errors import ConfigurationError

__all__ = ["InsoleLayout"]

FloatArray = npt.NDArray[np.float64]

# (x, y, area_cm2) of the default layouts, cell by cell in streaming order.
_DEFAULT_CELLS: dict[int, tuple[tuple[float, float, float], ...]] = {
    8: (
        (0.08, 0.35, 6.0),
        (0.08, 0.65, 6.0),
        (0.40, 0.75, 5.0),
        (0.68, 0.22, 4.0),
        (0.71, 0.48, 4.0),
        (0.66, 0.80, 4.0),
        (0.90, 0.25, 4.0),
        (0.88, 0.60, 4.0),
    ),
    16: (
        (0.06, 0.50, 5.0),
        (0.13, 0.33, 5.0),
        (0.13, 0.67, 5.0),
        (0.28, 0.70, 4.0),
        (0.42, 0.76, 4.0),
        (0.48, 0.52, 4.0),
        (0.66, 0.20, 3.0),
        (0.70, 0.38, 3.0),
        (0.71, 0.55, 3.0),
        (0.68, 0.71, 3.0),
        (0.63, 0.86, 3.0),
        (0.88, 0.22, 2.5),
        (0.91, 0.42, 2.5),
        (0.90, 0.57, 2.5),
        (0.87, 0.71, 2.5),
        (0.82, 0.84, 2.5),
    ),
}


def _read_only(values: Any, name: str) -> FloatArray:
    array = np.array(values, dtype=np.float64)
    if array.ndim != 1:
        raise ConfigurationError(
            f"An insole layout's {name} must be one value per cell, got shape {array.shape}."
        )
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class InsoleLayout:
    """Cell positions and areas of one insole.

    Attributes:
        x: ``(n_cells,)`` float64, cell centre as a fraction of foot length from the heel
            (0–1).
        y: ``(n_cells,)`` float64, cell centre as a fraction of foot width from the medial
            edge (0–1).
        area_cm2: ``(n_cells,)`` float64, sensing area of each cell (cm², > 0).

    The arrays are read-only copies of what was given.

    Raises:
        ConfigurationError: lengths differ, no cell, or a value is not finite, a position is
            outside 0–1, or an area is not positive.
    """

    x: FloatArray
    y: FloatArray
    area_cm2: FloatArray

    def __post_init__(self) -> None:
        for name in ("x", "y", "area_cm2"):
            object.__setattr__(self, name, _read_only(getattr(self, name), name))
        n = self.x.shape[0]
        if n == 0 or self.y.shape != (n,) or self.area_cm2.shape != (n,):
            raise ConfigurationError(
                f"An insole layout needs at least one cell and one x, y and area per cell, got "
                f"{self.x.shape[0]} x, {self.y.shape[0]} y and {self.area_cm2.shape[0]} areas."
            )
        problem = _first_problem(self.x, self.y, self.area_cm2)
        if problem is not None:
            raise ConfigurationError(f"Invalid insole layout: {problem}.")

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return int(self.x.shape[0])

    def same_as(self, other: InsoleLayout) -> bool:
        """True when both layouts list the same cells, exactly, in the same order."""
        return (
            self.n_cells == other.n_cells
            and bool(np.array_equal(self.x, other.x))
            and bool(np.array_equal(self.y, other.y))
            and bool(np.array_equal(self.area_cm2, other.area_cm2))
        )

    @classmethod
    def default(cls, n_cells: int) -> InsoleLayout:
        """The standard 8- or 16-cell layout (the simulated insoles use the same).

        8 cells, in order: medial heel (x 0.08, y 0.35), lateral heel (0.08, 0.65), lateral
        midfoot (0.40, 0.75), first metatarsal head (0.68, 0.22), second/third metatarsal
        heads (0.71, 0.48), fifth metatarsal head (0.66, 0.80), hallux (0.90, 0.25), lesser
        toes (0.88, 0.60). Areas 6 cm² at the heel, 5 cm² at the midfoot, 4 cm² elsewhere.

        16 cells, in order: posterior heel (0.06, 0.50), medial heel (0.13, 0.33), lateral
        heel (0.13, 0.67), lateral midfoot rear (0.28, 0.70) and front (0.42, 0.76), central
        midfoot (0.48, 0.52), metatarsal heads one to five (0.66, 0.20), (0.70, 0.38),
        (0.71, 0.55), (0.68, 0.71), (0.63, 0.86), then hallux (0.88, 0.22) and toes two to
        five (0.91, 0.42), (0.90, 0.57), (0.87, 0.71), (0.82, 0.84). Areas 5 cm² at the heel,
        4 cm² at the midfoot, 3 cm² under the metatarsal heads and 2.5 cm² under the toes.

        Raises:
            ConfigurationError: ``n_cells`` is neither 8 nor 16.
        """
        cells = _DEFAULT_CELLS.get(n_cells) if isinstance(n_cells, int) else None
        if cells is None:
            raise ConfigurationError(
                f"The default insole layout has 8 or 16 cells, got n_cells={n_cells!r}; "
                f"give a layout file for other insoles."
            )
        table = np.asarray(cells, dtype=np.float64)
        return cls(x=table[:, 0], y=table[:, 1], area_cm2=table[:, 2])

    @classmethod
    def from_json(cls, path: str | Path) -> InsoleLayout:
        """Read a layout file ``{"cells": [{"x": .., "y": .., "area_cm2": ..}, ...]}``.

        Raises:
            ConfigurationError: the file is missing or unreadable, is not valid JSON, lacks
                ``cells`` or a field, or holds a value that is not a finite number in range
                (x and y within 0–1, area > 0). The one-line message names the file.
        """
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigurationError(f"Insole layout file {where} does not exist.") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigurationError(f"Cannot read insole layout file {where}: {reason}.") from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"Insole layout file {where} is not valid JSON: {exc.msg} at line {exc.lineno}."
            ) from None
        cells = document.get("cells") if isinstance(document, dict) else None
        if not isinstance(cells, list) or not cells:
            raise ConfigurationError(
                f'Insole layout file {where} needs a non-empty "cells" list of '
                f'{{"x", "y", "area_cm2"}} objects.'
            )
        columns: dict[str, list[float]] = {"x": [], "y": [], "area_cm2": []}
        for number, cell in enumerate(cells):
            if not isinstance(cell, dict):
                raise ConfigurationError(
                    f"Insole layout file {where}: cell {number} is not an object with x, y "
                    f"and area_cm2."
                )
            for name, values in columns.items():
                if name not in cell:
                    raise ConfigurationError(
                        f"Insole layout file {where}: cell {number} has no {name}."
                    )
                value = cell[name]
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ConfigurationError(
                        f"Insole layout file {where}: cell {number} {name} must be a number, "
                        f"got {value!r}."
                    )
                values.append(float(value))
        problem = _first_problem(
            np.asarray(columns["x"]), np.asarray(columns["y"]), np.asarray(columns["area_cm2"])
        )
        if problem is not None:
            raise ConfigurationError(f"Insole layout file {where}: {problem}.")
        return cls(
            x=np.asarray(columns["x"]),
            y=np.asarray(columns["y"]),
            area_cm2=np.asarray(columns["area_cm2"]),
        )

    def to_json(self, path: str | Path) -> None:
        """Write the layout in the format ``from_json`` reads."""
        cells = [
            {"x": float(x), "y": float(y), "area_cm2": float(a)}
            for x, y, a in zip(self.x, self.y, self.area_cm2, strict=True)
        ]
        Path(path).write_text(json.dumps({"cells": cells}, indent=1) + "\n", encoding="utf-8")


def _first_problem(x: FloatArray, y: FloatArray, area_cm2: FloatArray) -> str | None:
    """A description of the first invalid value, or None when all are valid."""
    for name, values, low, high in (("x", x, 0.0, 1.0), ("y", y, 0.0, 1.0)):
        for cell, value in enumerate(values.tolist()):
            if not math.isfinite(value):
                return f"cell {cell} {name} is {value!r}, not a finite number"
            if not low <= value <= high:
                return f"cell {cell} {name} = {value!r} lies outside {low:g}–{high:g}"
    for cell, value in enumerate(area_cm2.tolist()):
        if not (math.isfinite(value) and value > 0.0):
            return f"cell {cell} area_cm2 = {value!r} must be a positive number of cm²"
    return None
