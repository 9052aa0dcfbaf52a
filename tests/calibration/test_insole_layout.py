"""Insole layouts: the defaults match the simulated insoles; files are read or refused in one
line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from calibration.insole_layout import InsoleLayout
from firmware_bridge.errors import ConfigurationError, GaitcueError
from firmware_bridge.simulator.insole_model import InsoleLayout as SimulatedLayout


@pytest.mark.parametrize("n_cells", [8, 16])
def test_default_layout_is_the_simulated_one(n_cells: int) -> None:
    ours = InsoleLayout.default(n_cells)
    simulated = SimulatedLayout.default(n_cells)
    assert ours.n_cells == n_cells
    np.testing.assert_array_equal(ours.x, simulated.x)
    np.testing.assert_array_equal(ours.y, simulated.y)
    np.testing.assert_array_equal(ours.area_cm2, simulated.area_cm2)


@pytest.mark.parametrize("n_cells", [8, 16])
def test_default_layout_covers_heel_midfoot_and_toes(n_cells: int) -> None:
    layout = InsoleLayout.default(n_cells)
    assert np.all((layout.x >= 0) & (layout.x <= 1) & (layout.y >= 0) & (layout.y <= 1))
    assert np.all(layout.area_cm2 > 0)
    assert layout.x.min() < 0.15  # heel
    assert np.any((layout.x > 0.3) & (layout.x < 0.55))  # midfoot
    assert layout.x.max() > 0.85  # toes
    with pytest.raises(ValueError, match="read-only"):
        layout.x[0] = 0.5


@pytest.mark.parametrize("n_cells", [0, 12, 32])
def test_other_default_sizes_are_refused(n_cells: int) -> None:
    with pytest.raises(ConfigurationError, match="8 or 16"):
        InsoleLayout.default(n_cells)


def test_json_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "layout.json"
    InsoleLayout.default(16).to_json(path)
    again = InsoleLayout.from_json(path)
    assert again.same_as(InsoleLayout.default(16))
    assert not again.same_as(InsoleLayout.default(8))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cells.json"
    path.write_text(text, encoding="utf-8")
    return path


def _cells(**override: object) -> str:
    cells: list[dict[str, object]] = [
        {"x": 0.1, "y": 0.5, "area_cm2": 5.0},
        {"x": 0.5, "y": 0.7, "area_cm2": 4.0},
        {"x": 0.8, "y": 0.3, "area_cm2": 3.0},
    ]
    cells[1].update(override)
    return json.dumps({"cells": cells})


def test_a_valid_file_is_read(tmp_path: Path) -> None:
    layout = InsoleLayout.from_json(_write(tmp_path, _cells()))
    np.testing.assert_array_equal(layout.x, [0.1, 0.5, 0.8])
    np.testing.assert_array_equal(layout.area_cm2, [5.0, 4.0, 3.0])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "cells"),
        ('{"cells": []}', "cells"),
        ('{"cells": [1, 2]}', "cell 0 is not an object"),
        (_cells(x=float("nan")), "cell 1 x"),
        (_cells(y=1.5), "cell 1 y = 1.5 lies outside 0–1"),
        (_cells(x=-0.1), "cell 1 x"),
        (_cells(area_cm2=0.0), "cell 1 area_cm2"),
        (_cells(area_cm2=float("inf")), "cell 1 area_cm2"),
        (_cells(x="0.5"), "must be a number"),
        (_cells(x=True), "must be a number"),
        (json.dumps({"cells": [{"x": 0.1, "y": 0.2}]}), "cell 0 has no area_cm2"),
    ],
)
def test_bad_files_are_refused_in_one_line(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigurationError) as caught:
        InsoleLayout.from_json(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert problem in message
    assert isinstance(caught.value, GaitcueError)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    with pytest.raises(ConfigurationError, match="does not exist") as caught:
        InsoleLayout.from_json(path)
    assert str(path) in str(caught.value)


def test_a_directory_is_not_a_layout(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="Cannot read"):
        InsoleLayout.from_json(tmp_path)


def test_direct_construction_checks_values() -> None:
    with pytest.raises(ConfigurationError, match="one x, y and area per cell"):
        InsoleLayout(x=np.array([0.1, 0.2]), y=np.array([0.5]), area_cm2=np.array([1.0, 1.0]))
    with pytest.raises(ConfigurationError, match="outside"):
        InsoleLayout(x=np.array([1.2]), y=np.array([0.5]), area_cm2=np.array([1.0]))
