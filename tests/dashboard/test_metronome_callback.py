"""The live callback driven by a fake stream: variable blocks, jitter, underruns, no allocation."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from dashboard.metronome import MetronomeEngine, MetronomeSettings

FS = 48_000.0
THRESHOLD = 0.02
GAP_S = 0.005
HOST_OFFSET_S = 1234.5  # host clock = stream clock + this
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FakeTime:
    outputBufferDacTime: float  # PortAudio's name
    currentTime: float  # PortAudio's name


@dataclass(frozen=True)
class FakeStatus:
    output_underflow: bool = False


@dataclass
class FakeStream:
    """Drives an engine's callback like PortAudio would, and keeps the truth.

    Block sizes vary from 64 to 2048 frames. The callback runs ``latency_s`` (± jitter)
    before the buffer's DAC time; the DAC times follow the sample count exactly, except
    where an underrun inserts silence (the device played a gap, so later buffers are late),
    and except for optional DAC-time noise (``dac_noise_s``, as real drivers report it) and
    a sample clock that drifts against the stream clock (``drift_ppm``).
    """

    engine: MetronomeEngine
    seed: int
    start_s: float = 50.0
    latency_s: float = 0.030
    jitter_s: float = 0.004
    dac_noise_s: float = 0.0
    drift_ppm: float = 0.0
    host_now: float = 0.0
    true_time_s: list[np.ndarray] = field(default_factory=list)
    audio: list[np.ndarray] = field(default_factory=list)
    gaps: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.dac_s = self.start_s

    def clock(self) -> float:
        return self.host_now

    def run_block(
        self, frames: int | None = None, *, gap_frames: int = 0, flag: bool = False
    ) -> None:
        if frames is None:
            frames = int(self.rng.integers(64, 2049))
        if gap_frames:
            self.gaps.append((self.dac_s, self.dac_s + gap_frames / FS))
            self.dac_s += gap_frames / FS
        now = self.dac_s - self.latency_s + self.rng.uniform(-self.jitter_s, self.jitter_s)
        # The Python callback starts late by a scheduling delay (GIL, other threads):
        # usually a fraction of a millisecond, sometimes a full 5 ms switch interval or more.
        delay = self.rng.exponential(0.0003)
        if self.rng.random() < 0.05:
            delay += self.rng.uniform(0.005, 0.015)
        self.host_now = now + HOST_OFFSET_S + delay
        reported = self.dac_s + (self.rng.uniform(-1, 1) * self.dac_noise_s)
        out = np.full((frames, 2), np.nan, dtype=np.float32)  # the callback must fill it
        self.engine.callback(out, frames, FakeTime(reported, now), FakeStatus(flag))
        period_s = (1.0 + self.drift_ppm * 1e-6) / FS  # the DAC's sample clock vs stream time
        self.true_time_s.append(self.dac_s + np.arange(frames) * period_s)
        self.audio.append(out)
        self.dac_s += frames * period_s

    def onsets_s(self) -> np.ndarray:
        """True DAC times of the click onsets found in the audio."""
        samples = np.concatenate(self.audio)
        assert np.isfinite(samples).all()
        times = np.concatenate(self.true_time_s)
        mag = np.abs(samples).max(axis=1)
        loud = np.flatnonzero(mag > THRESHOLD)
        # A new onset: loud after >= GAP_S of quiet in the *played* timeline (a gap in the
        # device's output counts as quiet).
        keep = np.concatenate([[True], np.diff(times[loud]) > GAP_S])
        return times[loud[keep]]


def ideal_beats_s(bpm: float, start_s: float, until_s: float) -> np.ndarray:
    return start_s + np.arange(0, int((until_s - start_s) * bpm / 60.0) + 1) * 60.0 / bpm


def check_onsets(stream: FakeStream, ideal: np.ndarray, click_s: float) -> np.ndarray:
    """Every onset within ±1 ms of a beat; every beat not cut by a gap is heard."""
    found = stream.onsets_s()
    played_until = stream.true_time_s[-1][-1]
    ideal = ideal[ideal < played_until - click_s]
    found = found[found < played_until - click_s]
    # A click that started inside a device gap resumes mid-way after it: its first
    # audible sample is the gap's end, not an onset. Leave those out on both sides.
    cut = np.zeros(ideal.shape, dtype=bool)
    for a, b in stream.gaps:
        cut |= (ideal >= a) & (ideal < b)
    tails = np.array([any(abs(t - b) < 1e-9 for _, b in stream.gaps) for t in found], dtype=bool)
    found = found[~tails]
    expected = ideal[~cut]
    assert found.shape == expected.shape, (found.size, expected.size)
    err = found - expected
    assert np.abs(err).max() <= 1e-3
    return err


@pytest.mark.parametrize(
    ("seed", "dac_noise_s", "drift_ppm"),
    [(1, 0.0, 0.0), (2, 0.0, 0.0), (3, 0.0003, 0.0), (4, 0.0002, 150.0)],
)
def test_onsets_within_1_ms_with_jitter_variable_blocks_and_underruns(
    seed: int, dac_noise_s: float, drift_ppm: float
) -> None:
    bpm = 172.0
    clock_box: list[FakeStream] = []
    engine = MetronomeEngine(MetronomeSettings(bpm=bpm), clock=lambda: clock_box[0].clock())
    stream = FakeStream(engine, seed=seed, dac_noise_s=dac_noise_s, drift_ppm=drift_ppm)
    clock_box.append(stream)
    beat0 = stream.start_s + 0.1
    engine.start(stream.start_s, lead_s=0.1)
    n_blocks = 1500
    for k in range(n_blocks):
        if k == 400:
            stream.run_block(gap_frames=512, flag=True)  # underrun reported by PortAudio
        elif k == 900:
            stream.run_block(gap_frames=2048)  # a late buffer without the flag
        elif k == 1200:
            stream.run_block(gap_frames=int(0.3 * FS), flag=True)  # a long stall
        else:
            stream.run_block()
    err = check_onsets(stream, ideal_beats_s(bpm, beat0, stream.dac_s), engine.bank.length_s)
    assert err.size > 80  # about 33 s of audio at 172 spm
    assert engine.underflows == 2
    assert engine.callbacks == n_blocks
    # The beat log (host seconds) matches the ideal beats mapped to host time.
    log = engine.beats_since(0)
    assert np.all(np.diff(log.number) >= 1)
    expected_host = beat0 + log.number * 60.0 / bpm + HOST_OFFSET_S
    assert np.abs(log.host_s - expected_host).max() < 1e-3
    assert engine.host_offset_s == pytest.approx(HOST_OFFSET_S, abs=2e-4)


def test_tempo_change_between_callbacks_takes_effect_on_the_next_beat() -> None:
    box: list[FakeStream] = []
    engine = MetronomeEngine(MetronomeSettings(bpm=160.0), clock=lambda: box[0].clock())
    stream = FakeStream(engine, seed=11)
    box.append(stream)
    engine.start(stream.start_s, lead_s=0.05)
    while stream.dac_s < stream.start_s + 5.0:
        stream.run_block()
    frontier = engine.frontier_s
    engine.set_bpm(185.0)  # the control thread, between two callbacks
    while stream.dac_s < stream.start_s + 10.0:
        stream.run_block()
    old = ideal_beats_s(160.0, stream.start_s + 0.05, stream.start_s + 11.0)
    pivot = old[old >= frontier][0]
    ideal = np.concatenate([old[old < pivot], pivot + np.arange(0, 30) * 60.0 / 185.0])
    check_onsets(stream, ideal, engine.bank.length_s)


def test_the_callback_allocates_nothing_after_warm_up() -> None:
    box: list[FakeStream] = []
    engine = MetronomeEngine(
        MetronomeSettings(bpm=200.0, accent_every=3, alternate=True),
        clock=lambda: box[0].clock(),
    )
    stream = FakeStream(engine, seed=5)
    box.append(stream)
    engine.start(stream.start_s)
    rng = np.random.default_rng(9)
    # Blocks of 1024+ frames: an array the size of the buffer (>= 8 KiB) would show.
    sizes = rng.integers(1024, 2049, 400)
    outs = {int(n): np.zeros((int(n), 2), dtype=np.float32) for n in sizes}
    times = []
    dac = stream.start_s
    for n in sizes:
        times.append(FakeTime(dac, dac - 0.03 + rng.uniform(-0.004, 0.004)))
        dac += n / FS
    status = FakeStatus(False)
    for k in range(100):  # warm-up
        engine.callback(outs[int(sizes[k])], int(sizes[k]), times[k], status)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for k in range(100, 400):
            engine.callback(outs[int(sizes[k])], int(sizes[k]), times[k], status)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert engine.beat_count > 30  # clicks and log writes happened while traced
    assert after - before <= 256  # nothing kept
    assert peak - before <= 4096  # only small temporaries (array views), no sample arrays


def test_without_audio_the_visual_beat_follows_the_host_clock() -> None:
    now = [100.0]
    engine = MetronomeEngine(MetronomeSettings(bpm=150.0), clock=lambda: now[0])
    engine.start(now[0], lead_s=0.2)
    assert engine.last_beat() is None
    assert engine.next_beat_host_s() == pytest.approx(100.2)
    seen = []
    for k in range(1, 291):  # a 60 fps frame timer for 4.83 s
        now[0] = 100.0 + k / 60.0
        engine.advance()
        beat = engine.last_beat()
        if beat is not None and (not seen or seen[-1].number != beat.number):
            seen.append(beat)
    assert [b.number for b in seen] == list(range(12))
    assert [b.host_s for b in seen] == pytest.approx([100.2 + 0.4 * k for k in range(12)])
    engine.set_bpm(120.0)  # next beat keeps its time, then 0.5 s
    now[0] = 110.0
    engine.advance()
    log = engine.beats_since(0)
    assert log.host_s[12] == pytest.approx(100.2 + 0.4 * 12)
    np.testing.assert_allclose(np.diff(log.host_s)[12:], 0.5)
    assert engine.last_beat_host_s() == pytest.approx(log.host_s[-1])


def test_beat_log_reader_reports_overrun() -> None:
    now = [0.0]
    engine = MetronomeEngine(MetronomeSettings(bpm=300.0), clock=lambda: now[0], log_capacity=16)
    engine.start(0.0)
    engine.advance(9.99)  # 50 beats into a ring of 16
    log = engine.beats_since(0)
    assert len(log) == 16
    assert log.number.tolist() == list(range(34, 50))
    assert log.overrun == 34
    assert log.next_cursor == 50
    assert len(engine.beats_since(log.next_cursor)) == 0


def test_rendering_never_imports_sounddevice() -> None:
    code = (
        "import sys\n"
        "from dashboard.metronome import render_offline, MetronomeSettings\n"
        "render_offline(MetronomeSettings(), 0.5)\n"
        "assert 'sounddevice' not in sys.modules, 'sounddevice imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
