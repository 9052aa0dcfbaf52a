"""Cue rules: out-of-band hysteresis on synthetic cadence series, faded-schedule decisions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dashboard.metronome.gating import BandConfig, BandGate, CueMode, FadedConfig
from firmware_bridge.errors import ConfigurationError

TARGET_SPM = 170.0
RATE_HZ = 10.0  # cadence samples per second, as the processing thread would send them


def cadence_series(
    plateaus: list[tuple[float, float]], *, seed: int, noise_spm: float = 0.4
) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) and a rolling cadence (spm): ``(until_s, level_spm)`` plateaus plus noise.

    The noise stays well inside the ±2 spm band so each plateau is clearly in or out.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, plateaus[-1][0], 1.0 / RATE_HZ)
    level = np.empty_like(t)
    start = 0.0
    for until, value in plateaus:
        level[(t >= start) & (t < until)] = value
        start = until
    return t, level + rng.uniform(-noise_spm, noise_spm, t.shape)


def switches(t: np.ndarray, cadence: np.ndarray, gate: BandGate) -> list[tuple[float, bool]]:
    out = []
    before = gate.cueing_
    for ti, ci in zip(t, cadence, strict=True):
        now = gate.update(float(ti), float(ci)).cueing_
        if now != before:
            out.append((float(ti), now))
            before = now
    return out


def test_cues_after_4_s_out_of_band_and_stops_after_4_s_back_in() -> None:
    # In band until 10 s, 6 spm slow until 30 s (with a 1.5 s return into the band at
    # 20 s that must not stop the cue), back in band from 30 s.
    t, cad = cadence_series(
        [(10.0, 170.0), (20.0, 164.0), (21.5, 170.0), (30.0, 164.0), (45.0, 170.5)], seed=3
    )
    gate = BandGate(target_spm=TARGET_SPM)
    assert switches(t, cad, gate) == [
        (pytest.approx(14.0), True),
        (pytest.approx(34.0), False),
    ]
    assert gate.changed_at_s_ == pytest.approx(34.0)


def test_short_excursions_never_cue() -> None:
    plateaus = [(5.0, 170.0)]
    for _ in range(6):  # 3.5 s out (fast), 2 s in, repeated
        end = plateaus[-1][0]
        plateaus += [(end + 3.5, 176.0), (end + 5.5, 170.0)]
    t, cad = cadence_series(plateaus, seed=5)
    assert switches(t, cad, BandGate(target_spm=TARGET_SPM)) == []


def test_band_edges_and_configured_width() -> None:
    gate = BandGate(target_spm=TARGET_SPM, config=BandConfig(tolerance_spm=3.0))
    assert gate.in_band(173.0)
    assert gate.in_band(167.0)
    assert not gate.in_band(173.01)
    gate = BandGate(target_spm=180.0, config=BandConfig(tolerance_spm=2.0, enter_s=1.0, exit_s=2.0))
    t, cad = cadence_series([(3.0, 180.0), (8.0, 184.0), (15.0, 180.0)], seed=7)
    assert switches(t, cad, gate) == [(pytest.approx(4.0), True), (pytest.approx(10.0), False)]


def test_missing_cadence_restarts_the_hold_time() -> None:
    gate = BandGate(target_spm=TARGET_SPM)
    for k in range(30):  # 3 s out of band
        gate.update(k / RATE_HZ, 160.0)
    gate.update(3.0, math.nan)  # steps lost: no evidence either way
    for k in range(31, 70):  # out again from 3.1 s: cueing must wait until 7.1 s
        gate.update(k / RATE_HZ, 160.0)
    assert not gate.cueing_
    gate.update(7.1, 160.0)
    assert gate.cueing_


def test_retarget_restarts_the_timers_and_keeps_the_decision() -> None:
    gate = BandGate(target_spm=TARGET_SPM)
    for k in range(60):
        gate.update(k / RATE_HZ, 160.0)
    assert gate.cueing_
    gate.retarget(160.0)  # the runner is now on target, but needs 4 s in band to stop
    gate.update(6.0, 160.0)
    assert gate.cueing_
    gate.update(10.0, 160.0)
    assert not gate.cueing_


def test_time_must_not_go_backwards() -> None:
    gate = BandGate(target_spm=TARGET_SPM).update(5.0, 170.0)
    with pytest.raises(ValueError, match="time order"):
        gate.update(4.0, 170.0)


@pytest.mark.parametrize(
    ("levels", "block_beats"),
    [((1.0, 0.75, 0.5, 0.25, 0.0), 8), ((1.0, 0.6, 0.3, 0.1), 20), ((0.5,), 10)],
)
def test_faded_blocks_by_beats_have_exact_proportions(
    levels: tuple[float, ...], block_beats: int
) -> None:
    plan = FadedConfig(levels=levels, block_beats=block_beats).plan(origin_index=5, origin_s=2.0)
    for b, level in enumerate(levels):
        idx = range(5 + b * block_beats, 5 + (b + 1) * block_beats)
        played = [plan.plays(i, 0.0) for i in idx]
        assert sum(played) == round(level * block_beats)
        assert played[0] == (level > 0)
    # After the last block the last level holds.
    tail = [plan.plays(i, 0.0) for i in range(5 + len(levels) * block_beats, 5 + 400)]
    assert abs(sum(tail) - levels[-1] * len(tail)) <= 1


def test_faded_half_plays_every_other_beat_and_quarter_every_fourth() -> None:
    plan = FadedConfig(levels=(0.5, 0.25), block_beats=12).plan(origin_index=0, origin_s=0.0)
    assert [plan.plays(i, 0.0) for i in range(12)] == [True, False] * 6
    assert [plan.plays(i, 0.0) for i in range(12, 24)] == [True, False, False, False] * 3


def test_faded_blocks_by_seconds() -> None:
    interval_s = 0.4
    plan = FadedConfig(block_s=4.0).plan(origin_index=0, origin_s=1.0)
    counts = [0] * 6
    for i in range(60):
        t = 1.0 + i * interval_s
        counts[plan.block(i, t)] += plan.plays(i, t)
    # 10 beats per 4 s block: 75 % and 25 % of them are 7.5 and 2.5 beats.
    assert counts[0] == 10
    assert counts[1] in (7, 8)
    assert counts[2] == 5
    assert counts[3] in (2, 3)
    assert counts[4:] == [0, 0]


def test_mode_names_and_bad_configurations() -> None:
    assert CueMode.parse("out-of-band") is CueMode.OUT_OF_BAND
    assert CueMode.parse("Faded") is CueMode.FADED
    with pytest.raises(ConfigurationError, match="every, out_of_band, faded"):
        CueMode.parse("sometimes")
    with pytest.raises(ConfigurationError, match="not both"):
        FadedConfig(block_s=10.0, block_beats=8)
    with pytest.raises(ConfigurationError, match="fractions"):
        FadedConfig(levels=(1.0, 1.5))
    with pytest.raises(ConfigurationError, match="tolerance"):
        BandConfig(tolerance_spm=0.0)
