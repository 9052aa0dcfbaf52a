"""Clock check: the landing of a jump, seen by every stream, gives each stream's clock error
relative to the others within about a millisecond."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.clock_check import ClockCheck, LandingOnset, StreamEvent
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import StreamKind
from firmware_bridge.simulator.calibration_routines import jump_routine

NAMES = ("left_insole", "right_insole", "left_imu", "right_imu")


def _events(errors: dict[str, float], seed: int) -> list[StreamEvent]:
    routine = jump_routine(errors, np.random.default_rng(seed))
    return [
        StreamEvent(
            name,
            StreamKind.INSOLE if name.endswith("insole") else StreamKind.IMU,
            routine.t_s[name],
            routine.values[name],
        )
        for name in errors
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_offsets_between_streams(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    errors = {name: float(rng.uniform(-0.03, 0.03)) for name in NAMES}
    check = ClockCheck().check(_events(errors, seed))
    assert check.reference_ == "left_insole"
    for name in NAMES:
        true_ms = (errors[name] - errors["left_insole"]) * 1e3
        assert abs(check.offsets_ms_[name] - true_ms) < 1.0
    true_lr = (errors["right_insole"] - errors["left_insole"]) * 1e3
    assert abs(check.pairs_ms_["right vs left insole"] - true_lr) < 1.0
    assert set(check.pairs_ms_) == {
        "right vs left insole",
        "right vs left imu",
        "left imu vs insole",
        "right imu vs insole",
    }


def test_no_landing_is_refused() -> None:
    t = np.arange(100) / 100.0
    with pytest.raises(ConfigurationError, match="landing"):
        LandingOnset().detect(t, np.ones(100))
    with pytest.raises(ConfigurationError, match="two streams"):
        ClockCheck().check(_events({"left_insole": 0.0}, 1))
