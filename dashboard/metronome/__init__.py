"""The cadence metronome: sample-accurate clicks, cue modes, beat log, WAV rendering.

One beat is one step: a tempo in beats per minute is a cadence in steps per minute (spm).

- :class:`MetronomeEngine` holds the settings and the beat schedule, runs the audio
  callback body and keeps the beat log (host seconds) for adherence and the visual beat.
- :class:`AudioOutput` plays an engine on a sound device (sounddevice is imported only
  there, lazily); :class:`NoAudioDeviceError` says there is none. :class:`Metronome` is
  what the app starts: audio when a device opens, otherwise the same engine silently,
  for the visual beat.
- :class:`BandGate` and :class:`FadedPlan` decide which beats are heard (out-of-band
  hysteresis, faded schedule); :class:`BeatSchedule` is the immutable beat grid.
- :func:`render_into` is the click synthesis every path uses; :func:`render_offline` and
  :func:`write_wav` render files.
"""

from dashboard.metronome.clicks import ClickBank, ClickSound, RenderedBeats, render, render_into
from dashboard.metronome.engine import Beat, BeatLog, MetronomeEngine
from dashboard.metronome.gating import BandConfig, BandGate, CueMode, FadedConfig, FadedPlan
from dashboard.metronome.offline import OfflineRenderer, Rendering, render_offline
from dashboard.metronome.output import (
    AudioOutput,
    Metronome,
    NoAudioDeviceError,
    OutputDevice,
    choose_output_device,
    list_output_devices,
    looks_like_bluetooth,
)
from dashboard.metronome.schedule import (
    MAX_BPM,
    MIN_BPM,
    BeatSchedule,
    BeatSegment,
    MetronomeSettings,
    Pan,
)
from dashboard.metronome.wav import read_wav, write_wav

__all__ = [
    "MAX_BPM",
    "MIN_BPM",
    "AudioOutput",
    "BandConfig",
    "BandGate",
    "Beat",
    "BeatLog",
    "BeatSchedule",
    "BeatSegment",
    "ClickBank",
    "ClickSound",
    "CueMode",
    "FadedConfig",
    "FadedPlan",
    "Metronome",
    "MetronomeEngine",
    "MetronomeSettings",
    "NoAudioDeviceError",
    "OfflineRenderer",
    "OutputDevice",
    "Pan",
    "RenderedBeats",
    "Rendering",
    "choose_output_device",
    "list_output_devices",
    "looks_like_bluetooth",
    "read_wav",
    "render",
    "render_into",
    "render_offline",
    "write_wav",
]
