"""A short soak (``bench/soak.py``): one simulated minute with every fault, through the live
path at 5× real time, recorded, and checked against what the simulator sent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAULTS = (
    "loss=0.05,corrupt=0.001,reorder=0.01,duplicate=0.01,disconnect_every=20,disconnect=3,"
    "clock_jump=5,clock_jump_every=30"
)

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals need POSIX"),
    pytest.mark.realtime,
]


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict:
    workdir = tmp_path_factory.mktemp("soak")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "soak.py"),
            "--duration",
            "60",
            "--speed",
            "5",
            "--warmup",
            "10",
            "--sample-every",
            "1",
            "--faults",
            FAULTS,
            "--keep",
            str(workdir),
        ],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=ROOT,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return json.loads(done.stdout)


def test_every_intact_packet_is_recorded(figures: dict) -> None:
    assert figures["simulator"]["bytes_dropped"] == 0, "the simulator fell behind"
    assert figures["recorder_error"] is None
    for row in figures["packets_sent_vs_recorded"]:
        assert row["recorded"] == row["intact_sent"], row


def test_fault_counters_match_what_was_injected(figures: dict) -> None:
    assert figures["fault_counter_worst_error_pp"] <= 1.0
    for row in figures["faults_injected_vs_counted"]:
        assert row["injected"]["disconnects"] >= 2
        assert row["counted_live"] == row["counted_recording"]


def test_steps_are_still_found(figures: dict) -> None:
    steps = figures["steps"]
    assert steps["true"] > 100
    assert steps["precision_pct"] >= 98.0
    assert steps["recall_outside_insole_outages_pct"] >= 95.0


def test_numbers_are_never_old_values_while_a_side_is_silent(figures: dict) -> None:
    assert figures["readouts"]["stale_samples_showing_a_value"] == 0


def test_memory_and_descriptors_stay_bounded(figures: dict) -> None:
    memory = figures["memory"]
    assert memory["samples"] >= 3
    assert memory["rss_growth_mb"] <= 50.0
    assert memory["open_fds_max"] <= memory["open_fds_start"] + 4
