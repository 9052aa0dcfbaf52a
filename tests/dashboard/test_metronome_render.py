"""Offline rendering: onsets found in the audio itself against schedules computed here."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dashboard.metronome import (
    BeatSchedule,
    ClickBank,
    CueMode,
    FadedConfig,
    MetronomeEngine,
    MetronomeSettings,
    render,
    render_offline,
)

FS = 48_000.0
THRESHOLD = 0.02  # well above silence (exact zeros), well below any click's first sample
GAP_S = 0.005  # a click has no sub-threshold run this long before it dies out


def detect_onsets(samples: np.ndarray, fs: float = FS) -> np.ndarray:
    """Sample numbers where the sound first exceeds THRESHOLD after at least GAP_S of quiet."""
    mag = np.abs(samples).max(axis=1)
    loud = np.flatnonzero(mag > THRESHOLD)
    if loud.size == 0:
        return loud
    gap = int(GAP_S * fs)
    keep = np.concatenate([[True], np.diff(loud) > gap])
    return loud[keep]


def ideal_onsets(bpm: float, start_s: float, duration_s: float, fs: float = FS) -> np.ndarray:
    """round((start + k·60/bpm)·fs) for every beat inside the rendering."""
    k = np.arange(0, int((duration_s - start_s) * bpm / 60.0) + 2)
    onsets = np.round((start_s + k * 60.0 / bpm) * fs).astype(np.int64)
    return onsets[onsets < round(duration_s * fs)]


@pytest.mark.parametrize(
    ("bpm", "start_s", "fs"),
    [(170.0, 0.0, 48_000.0), (163.7, 0.0123, 44_100.0), (200.0, 0.5, 48_000.0)],
)
def test_onsets_within_one_sample_of_the_schedule(bpm: float, start_s: float, fs: float) -> None:
    duration_s = 20.0
    r = render_offline(MetronomeSettings(bpm=bpm), duration_s, sample_rate_hz=fs, start_s=start_s)
    found = detect_onsets(r.samples, fs)
    ideal = ideal_onsets(bpm, start_s, duration_s, fs)
    assert found.shape == ideal.shape
    assert np.abs(found - ideal).max() <= 1
    assert r.samples.shape == (round(duration_s * fs), 2)


def test_block_size_does_not_change_a_sample() -> None:
    settings = MetronomeSettings(bpm=177.0, accent_every=3, alternate=True)
    a = render_offline(settings, 4.0, block_frames=4096).samples
    b = render_offline(settings, 4.0, block_frames=37).samples
    assert np.array_equal(a, b)


def test_pure_render_is_what_the_engine_plays() -> None:
    settings = MetronomeSettings(bpm=181.0, accent_every=4)
    played = render_offline(settings, 3.0, start_s=0.2).samples
    schedule = BeatSchedule.starting(0.2, settings, cue_on=True)
    bank = ClickBank(FS)
    whole = render(schedule, bank, start_frame=0, n_frames=played.shape[0])
    assert np.array_equal(whole, played)
    # Arbitrary cuts: the pure function of (schedule, start frame, length) agrees.
    cuts = [0, 1, 777, 20_000, 20_001, 95_000, played.shape[0]]
    parts = [
        render(schedule, bank, start_frame=a, n_frames=b - a) for a, b in itertools.pairwise(cuts)
    ]
    assert np.array_equal(np.concatenate(parts), played)


@pytest.mark.parametrize("change_at_s", [3.1, 3.37, 3.374, 3.376])
def test_tempo_change_takes_effect_on_the_next_beat(change_at_s: float) -> None:
    block = 480  # 10 ms buffers; the change reaches the engine at the next buffer start
    old_bpm, new_bpm = 160.0, 190.0
    r = render_offline(
        MetronomeSettings(bpm=old_bpm),
        8.0,
        block_frames=block,
        actions=[(change_at_s, lambda e: e.set_bpm(new_bpm))],
    )
    found = detect_onsets(r.samples)
    # Independent expectation: the change is made at the first buffer boundary at or after
    # change_at_s; the first beat not yet started by then keeps its old-tempo onset, and
    # the new interval runs from it.
    made_at = np.ceil(change_at_s * FS / block) * block
    old = np.round(np.arange(0, 40) * 60.0 / old_bpm * FS)
    pivot = old[old >= made_at][0]
    expected = np.concatenate(
        [old[old < pivot], pivot + np.round(np.arange(0, 40) * 60.0 / new_bpm * FS)]
    )
    expected = expected[expected < r.samples.shape[0]]
    assert found.shape == expected.shape
    assert np.abs(found - expected).max() <= 1
    gaps = np.diff(found)
    assert gaps.min() >= round(60.0 / new_bpm * FS) - 1  # nothing jumps back in time


def peak(samples: np.ndarray, onset: int, n: int = 48) -> float:
    return float(np.abs(samples[onset : onset + n]).max())


def tone_hz(samples: np.ndarray, onset: int, fs: float = FS) -> float:
    """Frequency from zero crossings over the first 8 ms of a click (mono mix)."""
    x = samples[onset : onset + int(0.008 * fs)].sum(axis=1)
    crossings = np.flatnonzero(np.signbit(x[1:]) != np.signbit(x[:-1]))
    return float((crossings.size - 1) / 2.0 / ((crossings[-1] - crossings[0]) / fs))


def test_accents_are_louder_and_higher() -> None:
    r = render_offline(MetronomeSettings(bpm=180.0, accent_every=4), 6.0)
    found = detect_onsets(r.samples)
    assert found.size == 18
    accented = np.arange(found.size) % 4 == 0
    levels = np.array([peak(r.samples, o) for o in found])
    pitches = np.array([tone_hz(r.samples, o) for o in found])
    assert levels[accented].min() > 1.5 * levels[~accented].max()
    assert pitches[accented].min() > 1.4 * pitches[~accented].max()
    assert np.array_equal(r.beats.accent, accented)


def test_alternation_pans_left_then_right() -> None:
    r = render_offline(MetronomeSettings(bpm=170.0, alternate=True), 5.0)
    found = detect_onsets(r.samples)
    for k, onset in enumerate(found):
        seg = np.abs(r.samples[onset : onset + 1000])
        left, right = seg[:, 0].max(), seg[:, 1].max()
        if k % 2 == 0:
            assert left > 0.1
            assert right == 0.0
        else:
            assert right > 0.1
            assert left == 0.0
    centred = render_offline(MetronomeSettings(bpm=170.0), 1.0).samples
    assert np.array_equal(centred[:, 0], centred[:, 1])


def test_volume_scales_the_clicks() -> None:
    loud = render_offline(MetronomeSettings(bpm=170.0, volume=1.0), 2.0).samples
    quiet = render_offline(MetronomeSettings(bpm=170.0, volume=0.25), 2.0).samples
    np.testing.assert_allclose(quiet, 0.25 * loud, atol=1e-6)
    r = render_offline(
        MetronomeSettings(bpm=170.0, volume=1.0),
        4.0,
        actions=[(2.0, lambda e: e.set_volume(0.5))],
    )
    found = detect_onsets(r.samples)
    levels = np.array([peak(r.samples, o) for o in found])
    before, after = levels[found < 2.0 * FS], levels[found > 2.4 * FS]
    np.testing.assert_allclose(after, 0.5 * before.mean(), rtol=1e-3)


def test_faded_schedule_proportions_from_the_audio() -> None:
    bpm = 180.0
    faded = FadedConfig(levels=(1.0, 0.75, 0.5, 0.25, 0.0), block_beats=8)
    r = render_offline(MetronomeSettings(bpm=bpm, mode=CueMode.FADED, faded=faded), 16.0)
    beat = np.round(detect_onsets(r.samples) / (60.0 / bpm * FS)).astype(int)
    per_block = np.bincount(beat // 8, minlength=6)
    assert per_block[:6].tolist() == [8, 6, 4, 2, 0, 0]
    assert beat[(beat >= 16) & (beat < 24)].tolist() == [16, 18, 20, 22]
    assert len(r.beats) == 48  # every beat is logged, heard or not
    assert int(r.beats.cued.sum()) == 20


def test_faded_mode_switched_on_starts_its_first_block_on_the_next_beat() -> None:
    bpm = 150.0  # 0.4 s per beat
    r = render_offline(
        MetronomeSettings(bpm=bpm),
        12.0,
        actions=[(2.1, lambda e: e.set_mode("faded", faded=FadedConfig(block_s=2.0)))],
    )
    beat = np.round(detect_onsets(r.samples) / (0.4 * FS)).astype(int)
    # Beats 0..5 before the switch, first faded beat 6 (2.4 s): 100 % until 4.4 s, then
    # 75 % of 5 beats, 50 %, 25 %, then silence from 10.4 s.
    assert beat[:11].tolist() == list(range(11))
    assert np.count_nonzero((beat >= 11) & (beat < 16)) in (3, 4)
    assert np.count_nonzero(beat >= 26) == 0


def test_out_of_band_cues_from_fed_cadence() -> None:
    bpm = 170.0
    feed_hz = 10.0

    def cadence(t: float) -> float:  # in band, 6 spm slow from 5 s to 25 s, then in band
        return 164.0 if 5.0 <= t < 25.0 else 170.0

    actions = [
        (k / feed_hz, lambda e, t=k / feed_hz: e.update_cadence(t, cadence(t)))
        for k in range(int(40 * feed_hz))
    ]
    settings = MetronomeSettings(bpm=bpm, mode=CueMode.OUT_OF_BAND)
    r = render_offline(settings, 40.0, block_frames=480, actions=actions)
    found = detect_onsets(r.samples)
    interval = 60.0 / bpm * FS
    beat = np.round(found / interval).astype(int)
    # Cue on at 9.0 s (4 s out of band), off at 29.0 s (4 s back in), from the next beat.
    first, last = int(np.ceil(9.0 * FS / interval)), int(np.ceil(29.0 * FS / interval)) - 1
    assert beat.tolist() == list(range(first, last + 1))
    assert np.abs(found - np.round(beat * interval)).max() <= 1
    assert len(r.beats) == 114  # all beats of the grid are logged, heard or not


def test_engine_needs_start_before_sound() -> None:
    engine = MetronomeEngine(MetronomeSettings(bpm=170.0))
    engine.set_bpm(180.0)  # before start: only the settings change
    assert engine.schedule is None
    assert engine.settings.bpm == 180.0
    engine.start(10.0)
    assert engine.schedule is not None
    assert engine.schedule.time_s(3) == pytest.approx(11.0)
