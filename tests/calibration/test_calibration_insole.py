"""Insole calibration against the simulator's truth: zero offsets, body-weight scale (total
within 2 %), per-cell curves within ±2 % over 10–100 % of the range, dead cells."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.insole import BodyWeightScale, CellCurveFit, CellHealth, InsoleZero
from calibration.procedures import Recording, calibrate_insoles
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side
from firmware_bridge.simulator.calibration_routines import (
    DEFAULT_LOADS_N,
    InsoleTruth,
    body_weight_routine,
    known_load_routine,
)


def _stance_truths(rng: np.random.Generator, n_cells: int = 16) -> dict[Side, InsoleTruth]:
    # Offsets above the FSR floor (3 N), so that an unloaded cell shows them.
    return {
        side: InsoleTruth(
            cell_gain=np.full(n_cells, rng.uniform(0.75, 1.25)),
            zero_offset_n=rng.uniform(6.0, 20.0, n_cells),
        )
        for side in (Side.LEFT, Side.RIGHT)
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_zero_and_body_weight_scale(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truths = _stance_truths(rng)
    mass = float(rng.uniform(55.0, 95.0))
    routine = body_weight_routine(truths, rng, body_mass_kg=mass)
    stance = {
        name.split("_")[0]: Recording(routine.t_s[name], routine.values[name])
        for name in routine.values
    }
    cals = calibrate_insoles(stance, device_ids={"left": 1, "right": 2}, body_mass_kg=mass)
    for side in (Side.LEFT, Side.RIGHT):
        cal = cals[side.name.lower()]
        truth = truths[side]
        # Zero within the noise and drift; the insole total within 2 % of the true force.
        np.testing.assert_allclose(cal.zero_n, truth.zero_offset_n, atol=1.5)
        assert abs(cal.scale * truth.cell_gain[0] - 1.0) < 0.02
        assert cal.quality["body_weight_residual_pct"] < 2.0


def test_single_insole_uses_its_single_leg_stance() -> None:
    rng = np.random.default_rng(4)
    truths = _stance_truths(rng)
    routine = body_weight_routine(truths, rng, body_mass_kg=70.0)
    t, v = routine.t_s["left_insole"], routine.values["left_insole"]
    zero = InsoleZero().fit(t, v)
    total = np.where(v - zero.zero_n_ >= zero.floor_n_, v - zero.zero_n_, 0.0).sum(axis=1)
    fit = BodyWeightScale(body_mass_kg=70.0).fit(t, total, None)
    assert abs(fit.scale_["left"] * truths[Side.LEFT].cell_gain[0] - 1.0) < 0.02
    assert [p[0] for p in fit.poses_] == ["left"]


@pytest.mark.parametrize(("seed", "exponent"), [(5, 0.75), (6, 1.0), (7, 1.25)])
def test_known_load_curves_within_two_percent(seed: int, exponent: float) -> None:
    rng = np.random.default_rng(seed)
    n_cells = 8
    truth = InsoleTruth(
        cell_gain=rng.uniform(0.7, 1.3, n_cells),
        zero_offset_n=np.zeros(n_cells),
        response_exponent=exponent,
    )
    routine = known_load_routine(truth, rng, n_cells=n_cells)
    fit = CellCurveFit(loads_n=DEFAULT_LOADS_N).fit(routine.t_s["insole"], routine.values["insole"])
    top = max(DEFAULT_LOADS_N)
    force = np.linspace(0.1 * top, top, 60)
    for cell, curve in enumerate(fit.curves_):
        assert curve is not None
        reading = truth.cell_gain[cell] * 400.0 * (force / 400.0) ** exponent
        np.testing.assert_allclose(curve(reading), force, rtol=0.02)
    assert fit.dead_cells_ == []


def test_dead_cell_is_found_and_others_still_fit() -> None:
    rng = np.random.default_rng(8)
    truth = InsoleTruth(cell_gain=np.ones(8), zero_offset_n=np.zeros(8))
    routine = known_load_routine(truth, rng, n_cells=8, dead_cells=(3,))
    fit = CellCurveFit(loads_n=DEFAULT_LOADS_N).fit(routine.t_s["insole"], routine.values["insole"])
    assert fit.dead_cells_ == [3]
    assert fit.curves_[3] is None
    health = CellHealth().check(routine.values["insole"])
    assert 3 in health.dead_cells_


def test_saturation_is_found() -> None:
    rng = np.random.default_rng(9)
    truth = InsoleTruth(cell_gain=np.full(8, 3.0), zero_offset_n=np.zeros(8))
    routine = known_load_routine(truth, rng, n_cells=8)
    # The device's readings stop at 1500 N (the FSR model's saturation).
    fit = CellCurveFit(loads_n=DEFAULT_LOADS_N).fit(
        routine.t_s["insole"], routine.values["insole"], saturation_n=1500.0
    )
    assert fit.saturated_cells_ == list(range(8))


def test_wrong_press_count_is_named() -> None:
    rng = np.random.default_rng(10)
    truth = InsoleTruth(cell_gain=np.ones(8), zero_offset_n=np.zeros(8))
    routine = known_load_routine(truth, rng, n_cells=8)
    with pytest.raises(ConfigurationError, match="Cell 0 was pressed 8 times"):
        CellCurveFit(loads_n=(*DEFAULT_LOADS_N, 800.0)).fit(
            routine.t_s["insole"], routine.values["insole"]
        )


def test_no_unloaded_time_is_refused() -> None:
    rng = np.random.default_rng(11)
    routine = body_weight_routine(_stance_truths(rng), rng)
    t = routine.t_s["left_insole"]
    standing = (t > 4.0) & (t < 7.0)  # inside the bilateral stance, 3–8 s
    with pytest.raises(ConfigurationError, match="unloaded"):
        InsoleZero().fit(t[standing], routine.values["left_insole"][standing])
