"""Click waveforms and the one function that turns a beat schedule into samples.

:func:`render_into` is the synthesis used everywhere: the live audio callback, the offline
renderer (WAV files) and the tests. Its output depends only on its arguments (the schedule,
the absolute frame number of the buffer's first frame, the buffer length, and the stream
time of frame 0), so a stream cut into buffers of any sizes gives exactly the samples of
one long buffer, and a test can call it directly.

It writes into a caller-owned buffer and allocates no arrays: the click templates and the
mixing scratch live in a :class:`ClickBank` made once, outside the callback.

Sample placement: beat ``i`` with onset ``t_i`` (stream seconds) starts at absolute frame
``round((t_i - frame0_s) · rate)``; the click's first sample is its loudest, so the onset in
the audio is that exact frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dashboard.metronome.schedule import BeatSchedule, Pan

__all__ = ["ClickBank", "ClickSound", "RenderedBeats", "render", "render_into"]

_HALF_POWER = math.sqrt(0.5)


@dataclass(frozen=True)
class ClickSound:
    """One click: a decaying tone that starts at its peak.

    Attributes:
        freq_hz: tone frequency (Hz).
        level: peak amplitude before volume and panning (0..1).
        decay_ms: time constant of the exponential decay (ms).
        length_ms: total length; the last ``fade_ms`` taper to exact zero (ms).
        fade_ms: raised-cosine taper at the end (ms).
    """

    freq_hz: float
    level: float
    decay_ms: float = 6.0
    length_ms: float = 30.0
    fade_ms: float = 4.0

    def waveform(self, sample_rate_hz: float) -> npt.NDArray[np.float32]:
        """The click sampled at ``sample_rate_hz``; shape ``(n,)`` float32, sample 0 = peak."""
        n = max(2, round(self.length_ms * 1e-3 * sample_rate_hz))
        t_s = np.arange(n, dtype=np.float64) / sample_rate_hz
        wave = np.cos(2.0 * np.pi * self.freq_hz * t_s) * np.exp(-t_s / (self.decay_ms * 1e-3))
        n_fade = min(n - 1, max(1, round(self.fade_ms * 1e-3 * sample_rate_hz)))
        taper = 0.5 * (1.0 + np.cos(np.pi * np.arange(1, n_fade + 1) / n_fade))
        wave[n - n_fade :] *= taper
        return (self.level * wave).astype(np.float32)


NORMAL_CLICK = ClickSound(freq_hz=1000.0, level=0.6)
"""The ordinary beat: 1 kHz at 60 % of full scale."""
ACCENT_CLICK = ClickSound(freq_hz=1600.0, level=1.0)
"""The accented beat: higher (1.6 kHz) and louder (full scale)."""


class ClickBank:
    """Preallocated click templates at one sample rate, plus the mixing scratch.

    Args:
        sample_rate_hz: output sample rate (Hz).
        normal: the ordinary click.
        accent: the accented click.

    Both templates have the same length (``length`` frames). The scratch makes
    :func:`render_into` allocation-free, so one bank must not be rendered from two threads
    at once (each engine owns its own).
    """

    def __init__(
        self,
        sample_rate_hz: float,
        *,
        normal: ClickSound = NORMAL_CLICK,
        accent: ClickSound = ACCENT_CLICK,
    ) -> None:
        if not math.isfinite(sample_rate_hz) or sample_rate_hz < 1000:
            raise ValueError(f"sample rate must be at least 1000 Hz, got {sample_rate_hz}")
        self.sample_rate_hz = float(sample_rate_hz)
        a = normal.waveform(self.sample_rate_hz)
        b = accent.waveform(self.sample_rate_hz)
        n = max(a.shape[0], b.shape[0])
        self.normal = np.zeros(n, dtype=np.float32)
        self.accent = np.zeros(n, dtype=np.float32)
        self.normal[: a.shape[0]] = a
        self.accent[: b.shape[0]] = b
        self.scratch = np.zeros(n, dtype=np.float32)
        self.length = n

    @property
    def length_s(self) -> float:
        """Click length (s)."""
        return self.length / self.sample_rate_hz


class RenderedBeats:
    """Caller-owned record of the beats a :func:`render_into` call touched (no allocation).

    Row ``k < count`` describes one beat whose click overlaps the buffer: ``index`` (beat
    number), ``time_s`` (onset, stream seconds), ``onset_frame`` (absolute frame), ``cued``
    (1 = heard), ``accent`` (1 = accented), ``pan`` (-1 left, 0 centre, +1 right).
    Beats beyond ``capacity`` are rendered but not recorded.
    """

    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self.index = np.zeros(capacity, dtype=np.int64)
        self.time_s = np.zeros(capacity, dtype=np.float64)
        self.onset_frame = np.zeros(capacity, dtype=np.int64)
        self.cued = np.zeros(capacity, dtype=np.int8)
        self.accent = np.zeros(capacity, dtype=np.int8)
        self.pan = np.zeros(capacity, dtype=np.int8)


def render_into(
    out: npt.NDArray[np.float32],
    schedule: BeatSchedule | None,
    bank: ClickBank,
    *,
    start_frame: int,
    frame0_s: float,
    beats: RenderedBeats | None = None,
) -> int:
    """Fill ``out`` with the clicks of ``schedule`` for frames ``[start_frame, start_frame + n)``.

    Args:
        out: shape ``(n_frames, n_channels)`` float32, 1 or 2 channels; every sample is
            overwritten (silence where no click sounds).
        schedule: the beat grid, or None for silence.
        bank: click templates at the output sample rate.
        start_frame: absolute frame number of ``out[0]``.
        frame0_s: stream time of absolute frame 0 (s).
        beats: if given, receives the beats whose clicks overlap the buffer.

    Returns:
        Number of beats whose clicks overlap the buffer (heard or not).
    """
    out.fill(0.0)
    if schedule is None:
        return 0
    fs = bank.sample_rate_hz
    length = bank.length
    n_frames = out.shape[0]
    n_channels = out.shape[1]
    end_frame = start_frame + n_frames
    scratch = bank.scratch
    i = schedule.first_index_at_or_after(frame0_s + (start_frame - length) / fs)
    count = 0
    while True:
        seg = schedule.segment(i)
        t_s = seg.time_s(i)
        onset = math.floor((t_s - frame0_s) * fs + 0.5)
        if onset >= end_frame:
            break
        if onset + length > start_frame:
            cued = seg.cued(i, t_s)
            accent = seg.accented(i)
            pan = seg.pan(i)
            if cued and seg.volume > 0.0:
                template = bank.accent if accent else bank.normal
                a = start_frame - onset if onset < start_frame else 0
                b = end_frame - onset if end_frame - onset < length else length
                o = onset + a - start_frame
                m = b - a
                for ch in range(n_channels):
                    if n_channels == 1:
                        gain = seg.volume
                    elif pan == Pan.CENTRE:
                        gain = seg.volume * _HALF_POWER
                    elif (pan == Pan.LEFT) == (ch == 0):
                        gain = seg.volume
                    else:
                        continue
                    np.multiply(template[a:b], gain, out=scratch[:m])
                    dest = out[o : o + m, ch]
                    np.add(dest, scratch[:m], out=dest)
            if beats is not None and count < beats.capacity:
                beats.index[count] = i
                beats.time_s[count] = t_s
                beats.onset_frame[count] = onset
                beats.cued[count] = cued
                beats.accent[count] = accent
                beats.pan[count] = pan
            count += 1
        i += 1
    return count


def render(
    schedule: BeatSchedule | None,
    bank: ClickBank,
    *,
    start_frame: int,
    n_frames: int,
    frame0_s: float = 0.0,
    n_channels: int = 2,
) -> npt.NDArray[np.float32]:
    """:func:`render_into` a new ``(n_frames, n_channels)`` float32 array and return it."""
    out = np.empty((n_frames, n_channels), dtype=np.float32)
    render_into(out, schedule, bank, start_frame=start_frame, frame0_s=frame0_s)
    return out
