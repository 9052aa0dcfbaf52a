"""Fixtures of the dashboard tests; Qt renders offscreen."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from firmware_bridge.simulator.faults import FaultSpec
from firmware_bridge.simulator.session import SimulationConfig
from tests.dashboard.replaying import Recording, Replay, make_replay, record


@pytest.fixture(scope="session")
def recording() -> Recording:
    """30 s of the default runner (170 spm, rearfoot), no faults."""
    return record(SimulationConfig(duration_s=30.0, seed=11))


@pytest.fixture(scope="session")
def lossy_recording() -> Recording:
    """30 s with 5 % packet loss."""
    return record(SimulationConfig(duration_s=30.0, seed=12, faults=FaultSpec(loss=0.05)))


@pytest.fixture
def replay(recording: Recording) -> Replay:
    return make_replay(recording)


@pytest.fixture
def lossy_replay(lossy_recording: Recording) -> Replay:
    return make_replay(lossy_recording)
