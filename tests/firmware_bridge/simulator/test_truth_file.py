"""The truth file: round trip, and one clear line for a damaged one."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig
from firmware_bridge.simulator.truth import read_truth_csv, write_truth_csv


def test_truth_round_trips(tmp_path: Path) -> None:
    truth = SimulatedSession(SimulationConfig(duration_s=5.0, seed=3)).truth
    write_truth_csv(truth, tmp_path / "truth.csv")
    back = read_truth_csv(tmp_path / "truth.csv")
    assert back.side.tolist() == truth.side.tolist()
    assert back.ic_s.tolist() == pytest.approx(truth.ic_s.tolist(), abs=1e-6)


@pytest.mark.parametrize("damage", ["cut", "word"])
def test_a_damaged_row_is_one_line_naming_file_and_line(tmp_path: Path, damage: str) -> None:
    truth = SimulatedSession(SimulationConfig(duration_s=5.0, seed=3)).truth
    path = tmp_path / "truth.csv"
    write_truth_csv(truth, path)
    lines = path.read_text().splitlines()
    lines[3] = lines[3].split(",")[0] if damage == "cut" else "left,soon,later"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigurationError, match=r"truth\.csv line 4 is not a valid truth row"):
        read_truth_csv(path)
