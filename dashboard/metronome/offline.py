"""Offline rendering: the live engine's callback driven by an ideal, jitter-free stream.

:func:`render_offline` runs :meth:`MetronomeEngine.callback` block after block with DAC
times that match the sample count exactly (stream time 0 = the first sample), so the
result is, sample for sample, what the live engine plays for the same settings and
control actions. Host time equals stream time here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dashboard.metronome.engine import BeatLog, MetronomeEngine
from dashboard.metronome.schedule import MetronomeSettings

__all__ = ["OfflineRenderer", "Rendering", "render_offline"]

Action = Callable[[MetronomeEngine], object]
"""A control call made during a rendering, e.g. ``lambda e: e.set_bpm(180)``."""


@dataclass(frozen=True)
class StreamTime:
    """Callback time info of an ideal stream (stream seconds)."""

    outputBufferDacTime: float
    currentTime: float


@dataclass(frozen=True)
class StreamStatus:
    """Callback flags of a stream (only the one the engine reads)."""

    output_underflow: bool = False


@dataclass(frozen=True, eq=False)
class Rendering:
    """Audio rendered offline.

    Attributes:
        samples: shape ``(n_frames, n_channels)`` float32, full scale ±1.
        sample_rate_hz: sample rate (Hz).
        beats: every beat rendered, onsets in seconds since the first sample.
    """

    samples: npt.NDArray[np.float32]
    sample_rate_hz: float
    beats: BeatLog

    @property
    def duration_s(self) -> float:
        """Length (s)."""
        return self.samples.shape[0] / self.sample_rate_hz


class OfflineRenderer:
    """The live callback driven by an ideal stream, one block after another.

    Args:
        settings: tempo, accents, panning, volume and cue mode at the start.
        sample_rate_hz: sample rate (Hz).
        channels: 1 or 2.
        start_s: onset of beat 0 (s after the first sample).
        actions: ``(t_s, action)`` pairs: each action is called with the engine just before
            the first buffer that starts at or after ``t_s``, as a control thread would at
            that moment.

    Attributes:
        engine: the :class:`MetronomeEngine` being driven; its clock reads the stream time.
    """

    def __init__(
        self,
        settings: MetronomeSettings,
        *,
        sample_rate_hz: float = 48_000.0,
        channels: int = 2,
        start_s: float = 0.0,
        actions: Sequence[tuple[float, Action]] = (),
    ) -> None:
        self._now_s = 0.0
        self.sample_rate_hz = float(sample_rate_hz)
        self.engine = MetronomeEngine(
            settings, sample_rate_hz=sample_rate_hz, channels=channels, clock=self._clock
        )
        self.engine.start(0.0, lead_s=start_s)
        self._actions = sorted(actions, key=lambda item: item[0])
        self._next_action = 0
        self._pos = 0

    def _clock(self) -> float:
        return self._now_s

    def blocks(
        self, duration_s: float, *, block_frames: int = 1024
    ) -> Iterator[npt.NDArray[np.float32]]:
        """Yield the next ``duration_s`` seconds as ``(n, channels)`` float32 blocks.

        Each block is a fresh array of at most ``block_frames`` frames (the callback's
        buffer size; the samples do not depend on it).
        """
        if not duration_s > 0:
            raise ValueError(f"duration must be positive, got {duration_s} s")
        if block_frames < 1:
            raise ValueError(f"block_frames must be at least 1, got {block_frames}")
        fs = self.sample_rate_hz
        end = self._pos + round(duration_s * fs)
        status = StreamStatus()
        while self._pos < end:
            t_s = self._pos / fs
            while (
                self._next_action < len(self._actions)
                and self._actions[self._next_action][0] <= t_s
            ):
                self._actions[self._next_action][1](self.engine)
                self._next_action += 1
            m = min(block_frames, end - self._pos)
            out = np.empty((m, self.engine.channels), dtype=np.float32)
            self._now_s = t_s
            self.engine.callback(out, m, StreamTime(t_s, t_s), status)
            self._pos += m
            yield out


def render_offline(
    settings: MetronomeSettings,
    duration_s: float,
    *,
    sample_rate_hz: float = 48_000.0,
    channels: int = 2,
    start_s: float = 0.0,
    block_frames: int = 1024,
    actions: Sequence[tuple[float, Action]] = (),
) -> Rendering:
    """Render ``duration_s`` seconds of the metronome through the live callback.

    Arguments as for :class:`OfflineRenderer`; ``block_frames`` is the callback buffer size.
    """
    renderer = OfflineRenderer(
        settings,
        sample_rate_hz=sample_rate_hz,
        channels=channels,
        start_s=start_s,
        actions=actions,
    )
    blocks = list(renderer.blocks(duration_s, block_frames=block_frames))
    return Rendering(
        samples=np.concatenate(blocks),
        sample_rate_hz=float(sample_rate_hz),
        beats=renderer.engine.beats_since(0),
    )
