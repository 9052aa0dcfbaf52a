"""Insole model: force shape, cell loading sequence, CoP and FSR imperfections."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side
from firmware_bridge.simulator.gait import (
    STRIKE_INDEX_BANDS,
    FootStrike,
    RunnerConfig,
    StepPlan,
    plan_steps,
)
from firmware_bridge.simulator.insole_model import (
    InsoleLayout,
    InsoleSensorModel,
    cell_forces_n,
    centre_of_pressure,
    vertical_force_n,
)


def _plan(strike: FootStrike = FootStrike.REARFOOT, seed: int = 0, **kw: float) -> StepPlan:
    config = RunnerConfig(foot_strike=strike, **kw)  # type: ignore[arg-type]
    return plan_steps(config, 20.0, np.random.default_rng(seed), t0_s=50.0)


def _cell_cop(forces: np.ndarray, layout: InsoleLayout) -> np.ndarray:
    total = forces.sum(axis=1)
    return np.column_stack([forces @ layout.x / total, forces @ layout.y / total])


@pytest.mark.parametrize("n_cells", [8, 16])
@pytest.mark.parametrize("strike", list(FootStrike))
def test_cells_sum_to_the_vertical_force(n_cells: int, strike: FootStrike) -> None:
    plan = _plan(strike)
    layout = InsoleLayout.default(n_cells)
    t = np.arange(50.0, 60.0, 1 / 200)
    total = vertical_force_n(plan, Side.RIGHT, t)
    cells = cell_forces_n(plan, Side.RIGHT, t, layout)
    assert cells.shape == (t.size, n_cells)
    assert np.all(cells >= 0.0)
    np.testing.assert_allclose(cells.sum(axis=1), total, rtol=1e-12, atol=1e-9)
    assert np.count_nonzero(total) > 0.3 * t.size


def test_force_is_zero_outside_support_and_positive_inside() -> None:
    plan = _plan()
    left = plan.for_side(Side.LEFT)
    t = np.arange(49.0, 70.0, 1e-3)
    force = vertical_force_n(plan, Side.LEFT, t)
    k = np.searchsorted(left.on_s, t, side="right") - 1
    inside = (k >= 0) & (t > left.on_s[np.maximum(k, 0)]) & (t < left.off_s[np.maximum(k, 0)])
    assert np.all(force[~inside] == 0.0)
    assert np.all(force[inside] > 0.0)
    assert np.all(np.isnan(centre_of_pressure(plan, Side.LEFT, t[~inside])))


def _step_traces(plan: StepPlan, side: Side, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    steps = plan.for_side(side)
    u = np.linspace(0.0, 1.0, n)
    t = steps.on_s[:, None] + u[None, :] * (steps.off_s - steps.on_s)[:, None]
    force = vertical_force_n(plan, side, t.ravel()).reshape(t.shape)
    return u, force


@pytest.mark.parametrize("strike", list(FootStrike))
def test_active_peak_matches_plan_and_body_weight(strike: FootStrike) -> None:
    plan = _plan(strike, body_mass_kg=80.0, peak_force_bw=2.6)
    _, force = _step_traces(plan, Side.LEFT)
    steps = plan.for_side(Side.LEFT)
    np.testing.assert_allclose(force.max(axis=1), steps.peak_force_n, rtol=2e-3)
    bw = 80.0 * 9.80665
    assert force.max(axis=1).mean() == pytest.approx(2.6 * bw, rel=0.03)


def test_rearfoot_has_an_impact_peak_and_forefoot_does_not() -> None:
    u, rear = _step_traces(_plan(FootStrike.REARFOOT), Side.LEFT)
    early = u < 0.3
    for trace, impact in zip(
        rear, _plan(FootStrike.REARFOOT).for_side(Side.LEFT).impact_peak_n, strict=True
    ):
        d = np.diff(trace[early])
        local_max = np.flatnonzero((d[:-1] > 0) & (d[1:] <= 0)) + 1
        assert local_max.size == 1
        i = local_max[0]
        assert 0.08 < u[i] < 0.16
        assert trace[i] == pytest.approx(impact, rel=0.03)
        assert 1.4 < trace[i] / (70 * 9.80665) < 2.3
    _, fore = _step_traces(_plan(FootStrike.FOREFOOT), Side.LEFT)
    for trace in fore:
        rising = trace[: int(np.argmax(trace))]
        assert np.all(np.diff(rising) >= 0.0)


def test_walking_force_has_two_humps() -> None:
    plan = _plan(cadence_spm=110.0, gct_ms=650.0, speed_m_s=1.3, peak_force_bw=1.1)
    u, force = _step_traces(plan, Side.RIGHT)
    trace = force[2]
    first, second = trace[u < 0.5].max(), trace[u > 0.5].max()
    valley = trace[np.abs(u - 0.5) < 0.01].min()
    assert first == pytest.approx(second, rel=0.05)
    assert 0.65 < valley / first < 0.85
    assert first / (70 * 9.80665) == pytest.approx(1.1, rel=0.05)


@pytest.mark.parametrize("strike", list(FootStrike))
def test_cop_at_contact_falls_in_the_strike_band(strike: FootStrike) -> None:
    plan = _plan(strike, seed=3)
    low, high = STRIKE_INDEX_BANDS[strike]
    for side in (Side.LEFT, Side.RIGHT):
        steps = plan.for_side(side)
        cop = centre_of_pressure(plan, side, steps.ic_s)
        assert np.all((cop[:, 0] > low) & (cop[:, 0] < high))
        np.testing.assert_allclose(cop[:, 0], steps.strike_index, atol=0.01)


@pytest.mark.parametrize("n_cells", [8, 16])
@pytest.mark.parametrize("strike", list(FootStrike))
def test_cop_from_cells_reads_strike_class_early_in_contact(
    n_cells: int, strike: FootStrike
) -> None:
    plan = _plan(strike, seed=4)
    layout = InsoleLayout.default(n_cells)
    low, high = STRIKE_INDEX_BANDS[strike]
    steps = plan.for_side(Side.LEFT)
    t = steps.ic_s + 0.005  # first 200 Hz sample after contact, roughly
    cop = _cell_cop(cell_forces_n(plan, Side.LEFT, t, layout), layout)
    assert np.all((cop[:, 0] > low) & (cop[:, 0] < high))
    np.testing.assert_allclose(cop, centre_of_pressure(plan, Side.LEFT, t), atol=0.01)


def test_cop_path_heel_to_toe_for_rearfoot_and_back_then_forward_for_forefoot() -> None:
    for strike in (FootStrike.REARFOOT, FootStrike.FOREFOOT):
        plan = _plan(strike, seed=5)
        steps = plan.for_side(Side.LEFT)
        u = np.linspace(0.001, 0.999, 200)
        t = steps.on_s[2] + u * (steps.off_s[2] - steps.on_s[2])
        x = centre_of_pressure(plan, Side.LEFT, t)[:, 0]
        assert x[-1] > 0.85
        if strike is FootStrike.REARFOOT:
            assert np.all(np.diff(x) >= 0.0)
            assert x[0] < 0.3
        else:
            assert x[0] > 0.7
            assert x[u < 0.35].min() < x[0] - 0.05


def test_heel_cells_load_first_for_rearfoot_and_forefoot_cells_for_forefoot() -> None:
    layout = InsoleLayout.default(16)
    heel = layout.x < 0.2
    forefoot = layout.x > 0.6

    def shares(strike: FootStrike, u: float) -> tuple[np.ndarray, np.ndarray]:
        steps = _plan(strike, seed=6).for_side(Side.RIGHT)
        t = steps.on_s + u * (steps.off_s - steps.on_s)
        cells = cell_forces_n(_plan(strike, seed=6), Side.RIGHT, t, layout)
        total = cells.sum(axis=1)
        return cells[:, heel].sum(axis=1) / total, cells[:, forefoot].sum(axis=1) / total

    rear_heel, rear_fore = shares(FootStrike.REARFOOT, 0.04)
    assert np.all(rear_heel > 0.45)
    assert np.all(rear_fore < 0.02)
    late_heel, late_fore = shares(FootStrike.REARFOOT, 0.8)
    assert np.all(late_fore > 0.9)
    assert np.all(late_heel < 0.01)
    fore_heel, fore_fore = shares(FootStrike.FOREFOOT, 0.04)
    assert np.all(fore_fore > 0.6)
    assert np.all(fore_heel < 0.01)


def test_chunked_evaluation_equals_one_call() -> None:
    plan = _plan(FootStrike.MIDFOOT, seed=7)
    layout = InsoleLayout.default(16)
    t = np.arange(50.0, 62.0, 1 / 200)
    whole = cell_forces_n(plan, Side.LEFT, t, layout)
    edges = [0, 1, 37, 200, 201, 999, 1500, t.size]
    parts = [cell_forces_n(plan, Side.LEFT, t[a:b], layout) for a, b in pairwise(edges)]
    np.testing.assert_array_equal(np.vstack(parts), whole)
    np.testing.assert_array_equal(cell_forces_n(plan, Side.LEFT, t[:0], layout), np.zeros((0, 16)))


def test_layout_default_covers_the_foot_and_rejects_other_sizes() -> None:
    for n in (8, 16):
        layout = InsoleLayout.default(n)
        assert layout.n_cells == n
        assert layout.x.min() < 0.15
        assert layout.x.max() > 0.85
        assert np.any((layout.x > 0.3) & (layout.x < 0.5))
        assert np.all(layout.area_cm2 > 0)
        np.testing.assert_allclose(layout.share_table.sum(axis=2), 1.0)
    with pytest.raises(ConfigurationError, match="8 or 16"):
        InsoleLayout.default(12)


# ------------------------------------------------------------------------- sensor model
def _sensor(seed: int = 0, **kw: float) -> InsoleSensorModel:
    return InsoleSensorModel(rng=np.random.default_rng(seed), **kw)


def test_sensor_floor_and_saturation() -> None:
    t = np.arange(0.0, 1.0, 1 / 200)
    true = np.zeros((t.size, 3))
    true[:, 0] = 2.0  # below the floor
    true[:, 1] = 5000.0  # beyond saturation
    true[:, 2] = 300.0
    out = _sensor(noise_n=2.0, baseline_drift_n_per_min=0.0).apply(t, true)
    assert np.all(out[:, 0] == 0.0)
    assert np.all(out[:, 1] == 1500.0)
    assert np.all((out[:, 2] > 280.0) & (out[:, 2] < 340.0))


def test_sensor_noise_level() -> None:
    t = np.arange(0.0, 10.0, 1 / 200)
    true = np.full((t.size, 2), 400.0)
    out = _sensor(creep_per_s=0.0, hysteresis_frac=0.0, baseline_drift_n_per_min=0.0).apply(t, true)
    assert out.mean() == pytest.approx(400.0, abs=0.2)
    assert out.std() == pytest.approx(2.0, rel=0.05)


def test_sensor_creep_grows_under_sustained_load_and_resets() -> None:
    t = np.arange(0.0, 6.0, 1 / 200)
    true = np.where((t < 5.0)[:, None], 500.0, 0.0) * np.ones((1, 1))
    true = np.vstack([true, true])  # load, release, load again
    t2 = np.concatenate([t, t + 6.0])
    model = _sensor(noise_n=0.0, hysteresis_frac=0.0, baseline_drift_n_per_min=0.0)
    out = model.apply(t2, true)[:, 0]
    assert out[0] == pytest.approx(500.0)
    assert out[int(4.9 * 200)] > 500.0 * 1.05
    assert out[t.size] == pytest.approx(500.0)  # reset after unloading


def test_sensor_hysteresis_reads_higher_on_unloading() -> None:
    t = np.arange(0.0, 0.4, 1 / 1000)
    ramp = 1000.0 * np.sin(np.pi * t / 0.4)
    model = _sensor(
        noise_n=0.0, creep_per_s=0.0, baseline_drift_n_per_min=0.0, hysteresis_frac=0.05
    )
    out = model.apply(t, ramp[:, None])[:, 0]
    rising, falling = t < 0.2, (t > 0.2) & (ramp > 3.0)
    np.testing.assert_allclose(out[rising], np.where(ramp[rising] > 3.0, ramp[rising], 0.0))
    assert np.all(out[falling] >= ramp[falling] - 1e-9)
    half = np.argmin(np.abs(ramp - 500.0) + rising * 1e9)
    assert out[half] == pytest.approx(500.0 + 0.05 * 1000.0, rel=0.01)


def test_sensor_drift_eventually_lifts_unloaded_cells_above_floor() -> None:
    t = np.arange(0.0, 600.0, 0.5)
    model = _sensor(noise_n=0.0, baseline_drift_n_per_min=2.0)
    out = model.apply(t, np.zeros((t.size, 16)))
    assert np.all(out[:10] == 0.0)
    assert np.any(out[-1] > 3.0)


def test_sensor_chunks_continue_each_other() -> None:
    plan = _plan(seed=8)
    layout = InsoleLayout.default(8)
    t = np.arange(50.0, 58.0, 1 / 200)
    true = cell_forces_n(plan, Side.LEFT, t, layout)
    whole = _sensor(seed=3).apply(t, true)
    chunked_model = _sensor(seed=3)
    edges = [0, 1, 150, 151, 700, 1234, t.size]
    parts = [chunked_model.apply(t[a:b], true[a:b]) for a, b in pairwise(edges)]
    np.testing.assert_allclose(np.vstack(parts), whole, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("field", "value"), [("noise_n", -1.0), ("hysteresis_frac", 0.9), ("saturation_n", 1.0)]
)
def test_sensor_rejects_bad_settings(field: str, value: float) -> None:
    with pytest.raises(ConfigurationError, match=field):
        _sensor(**{field: value})  # type: ignore[arg-type]
