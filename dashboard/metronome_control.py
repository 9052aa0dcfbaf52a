"""The dashboard's handle on the metronome: on/off, tempo, mode, sound, beats for adherence.

``LiveMetronome`` keeps what the PT chose while the metronome is off and applies it when it
starts. Turning it on starts a :class:`~dashboard.metronome.Metronome` (audio where a device
opens, otherwise the same engine silently, so the visual beat and the beat log go on);
turning it off stops it, so no beat is logged while nothing is cued.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import replace

from dashboard.metronome import (
    CueMode,
    Metronome,
    MetronomeEngine,
    MetronomeSettings,
    NoAudioDeviceError,
    choose_output_device,
    list_output_devices,
)
from firmware_bridge.errors import TransportError


class LiveMetronome:
    """The metronome as the dashboard drives it (the window's ``MetronomeControl``).

    Args:
        clock: host clock (s), the pipeline's.
        device: ``--audio-device`` (name, index) or None for the default output.
        target_spm: initial tempo (steps/min).

    Raises:
        ConfigurationError: ``device`` names no output (or several).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        device: str | int | None = None,
        target_spm: float = 170.0,
    ) -> None:
        self._clock = clock
        self._device = device
        self._settings = MetronomeSettings(bpm=target_spm)
        self._metronome: Metronome | None = None
        self._engine: MetronomeEngine | None = None
        self._cursor = 0
        self.status_text = ""
        try:
            devices, default = list_output_devices()
            chosen = choose_output_device(devices, device, default)
        except NoAudioDeviceError as exc:
            self.audio_available = False
            self.status_text = str(exc)
        else:
            self.audio_available = True
            self.status_text = f"audio: {chosen.name}"

    @property
    def enabled(self) -> bool:
        return self._metronome is not None

    @property
    def settings(self) -> MetronomeSettings:
        """The settings the next start uses (and the running engine follows)."""
        return self._settings

    @property
    def engine(self) -> MetronomeEngine | None:
        """The running (or last) engine, None before the first start."""
        return self._engine

    def set_enabled(self, enabled: bool) -> None:
        if enabled == self.enabled:
            return
        if not enabled:
            assert self._metronome is not None
            self._metronome.stop()
            self._metronome = None
            return
        metronome = Metronome(self._settings, device=self._device, clock=self._clock)
        metronome.start()
        self._metronome = metronome
        self._engine = metronome.engine
        self._cursor = 0
        if metronome.message:
            self.audio_available = False
            self.status_text = metronome.message
        elif metronome.warning:
            self.status_text = metronome.warning

    def _change(self, **changes: object) -> None:
        self._settings = replace(self._settings, **changes)  # type: ignore[arg-type]

    def set_target_spm(self, target_spm: float) -> None:
        self._change(bpm=target_spm)
        if self._metronome is not None:
            self._metronome.engine.set_bpm(target_spm)

    def set_mode(self, mode: str) -> None:
        self._change(mode=CueMode.parse(mode))
        if self._metronome is not None:
            self._metronome.engine.set_mode(mode)

    def set_volume(self, volume: float) -> None:
        volume = min(1.0, max(0.0, volume))
        self._change(volume=volume)
        if self._metronome is not None:
            self._metronome.engine.set_volume(volume)

    def set_accent_every(self, n: int) -> None:
        self._change(accent_every=n)
        if self._metronome is not None:
            self._metronome.engine.set_accent_every(n)

    def set_alternate(self, alternate: bool) -> None:
        self._change(alternate=alternate)
        if self._metronome is not None:
            self._metronome.engine.set_alternate(alternate)

    def feed_cadence(self, t_host_s: float, cadence_spm: float) -> None:
        """The rolling 8-step cadence (spm) at host time ``t_host_s``, for the out-of-band
        mode."""
        if self._metronome is not None and math.isfinite(cadence_spm):
            self._metronome.engine.update_cadence(t_host_s, cadence_spm)

    def new_beats(self) -> tuple[float, ...]:
        """Host times (s) of the beats heard since the last call."""
        if self._metronome is None:
            return ()
        self._metronome.tick()
        log = self._metronome.engine.beats_since(self._cursor)
        self._cursor = log.next_cursor
        return tuple(log.host_s[log.cued].tolist())

    def last_beat_s(self) -> float | None:
        """Host time (s) of the latest heard beat up to now, None if none."""
        engine = self._metronome.engine if self._metronome is not None else None
        if engine is None:
            return None
        beat = engine.last_beat(self._clock(), cued_only=True)
        return None if beat is None else beat.host_s

    def close(self) -> None:
        """Stop the audio stream, if any."""
        with contextlib.suppress(TransportError):
            self.set_enabled(False)
