"""Audio output: device choice and the sounddevice stream that plays a metronome engine.

This is the only module that imports sounddevice, and only when a device is listed or a
stream is opened, so rendering and the tests run without PortAudio.

No output device (PortAudio missing, no sound card, a headless machine) raises
:class:`NoAudioDeviceError` once, with a one-line message the app shows before falling back
to the visual beat (:meth:`MetronomeEngine.advance`).

Bluetooth headphones add 100–300 ms of output delay and share the 2.4 GHz radio with BLE
sensors; choosing a device whose name looks like Bluetooth logs a one-line warning (also
kept in :attr:`AudioOutput.warning`). The beats stay on time in the log, because they are
placed by the stream's DAC time, but the runner hears them late relative to the dashboard.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from dashboard.metronome.engine import MetronomeEngine
from dashboard.metronome.schedule import MetronomeSettings
from firmware_bridge.errors import ConfigurationError, TransportError

__all__ = [
    "DEFAULT_LATENCY_S",
    "AudioOutput",
    "Metronome",
    "NoAudioDeviceError",
    "OutputDevice",
    "bluetooth_warning",
    "choose_output_device",
    "list_output_devices",
    "looks_like_bluetooth",
]

logger = logging.getLogger(__name__)

NO_DEVICE = "no audio output device found"

DEFAULT_LATENCY_S = 0.2
"""Output buffering asked of PortAudio by default (s).

A scheduled metronome loses no timing by buffering ahead (clicks are placed by DAC time,
and the beat log and the visual beat use the time each click is heard), while a short
buffer underruns whenever the machine is busy: on a loaded 2-core machine through ALSA's
PulseAudio plugin, PortAudio's "high" default (35 ms) gave 65 underflows in 10 minutes.
The cost is that a change waits for the audio already buffered: it takes effect on the
first beat after it, up to this much later than at a short latency.
"""

_FLOWING_S = 0.005
"""The stream clock must have moved this far past the start before beat 0 is placed (s)."""

_BLUETOOTH = re.compile(
    r"bluez|bluetooth|\bbt\b|a2dp|hands[- ]?free|airpods|\bbuds|wh-1000|wf-1000",
    re.IGNORECASE,
)


class NoAudioDeviceError(TransportError):
    """There is no audio output to play the metronome on (the app shows a visual beat)."""


@dataclass(frozen=True)
class OutputDevice:
    """An audio output as PortAudio lists it.

    Attributes:
        index: PortAudio device index.
        name: device name.
        host_api: host API name (ALSA, PulseAudio, Core Audio, WASAPI…).
        channels: maximum output channels.
        default_sample_rate_hz: the device's default sample rate (Hz).
        default_high_latency_s: PortAudio's default high output latency (s).
    """

    index: int
    name: str
    host_api: str
    channels: int
    default_sample_rate_hz: float
    default_high_latency_s: float

    def describe(self) -> str:
        """``index 'name' (host API)``, for messages."""
        return f"{self.index} {self.name!r} ({self.host_api})"


def looks_like_bluetooth(name: str) -> bool:
    """Whether a device name suggests Bluetooth audio (BlueZ, A2DP, hands-free, AirPods…)."""
    return _BLUETOOTH.search(name) is not None


def bluetooth_warning(device: OutputDevice) -> str | None:
    """The one-line warning for a Bluetooth-looking device, or None."""
    if not looks_like_bluetooth(device.name):
        return None
    return (
        f"audio device {device.name!r} looks like Bluetooth: it adds 100–300 ms of delay "
        "and shares the radio with BLE sensors; wired headphones are better"
    )


def _sounddevice() -> ModuleType:
    """Import sounddevice, turning a missing PortAudio into :class:`NoAudioDeviceError`."""
    try:
        import sounddevice
    except OSError:
        raise NoAudioDeviceError(
            f"{NO_DEVICE}; the PortAudio library is missing (Debian/Ubuntu: apt install "
            "libportaudio2), so the metronome shows a visual beat only"
        ) from None
    except ImportError:
        raise NoAudioDeviceError(
            f"{NO_DEVICE}; the sounddevice package is missing (pip install sounddevice), "
            "so the metronome shows a visual beat only"
        ) from None
    return sounddevice


def _no_device_message() -> str:
    return (
        f"{NO_DEVICE}; connect headphones or speakers (or pick one with --audio-device), "
        "or render to a file with --render out.wav; the dashboard shows a visual beat"
    )


def list_output_devices() -> tuple[list[OutputDevice], int | None]:
    """The output devices PortAudio sees, and the index of the default one (or None).

    Raises:
        NoAudioDeviceError: PortAudio or sounddevice is missing.
    """
    sd = _sounddevice()
    try:
        raw = sd.query_devices()
        host_apis = [api["name"] for api in sd.query_hostapis()]
        default = int(sd.default.device[1])
    except sd.PortAudioError as exc:
        raise NoAudioDeviceError(f"{NO_DEVICE}; PortAudio says: {exc}") from None
    devices = [
        OutputDevice(
            index=int(info["index"]),
            name=str(info["name"]),
            host_api=str(host_apis[info["hostapi"]]) if info["hostapi"] < len(host_apis) else "",
            channels=int(info["max_output_channels"]),
            default_sample_rate_hz=float(info["default_samplerate"]),
            default_high_latency_s=float(info["default_high_output_latency"]),
        )
        for info in raw
        if int(info["max_output_channels"]) > 0
    ]
    return devices, (default if default >= 0 else None)


def choose_output_device(
    devices: Sequence[OutputDevice], spec: str | int | None, default_index: int | None = None
) -> OutputDevice:
    """Pick the output named by ``spec`` (``--audio-device``).

    Args:
        devices: the outputs available.
        spec: a device index (int or digits), a name or part of one (case-insensitive; an
            exact name wins over partial matches), or None for the default output.
        default_index: the system's default output, if any.

    Raises:
        NoAudioDeviceError: there is no output at all.
        ConfigurationError: ``spec`` names no output, or several.
    """
    if not devices:
        raise NoAudioDeviceError(_no_device_message())
    listing = "; ".join(d.describe() for d in devices)
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        for device in devices:
            if device.index == default_index:
                return device
        return devices[0]
    if isinstance(spec, int) or spec.strip().isdigit():
        index = int(spec)
        for device in devices:
            if device.index == index:
                return device
        raise ConfigurationError(
            f"--audio-device {index} is not an audio output; the outputs are: {listing}"
        )
    wanted = spec.strip().casefold()
    exact = [d for d in devices if d.name.casefold() == wanted]
    if len(exact) == 1:
        return exact[0]
    partial = exact or [d for d in devices if wanted in d.name.casefold()]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        raise ConfigurationError(
            f"no audio output matches --audio-device {spec!r}; the outputs are: {listing}"
        )
    names = "; ".join(d.describe() for d in partial)
    raise ConfigurationError(
        f"--audio-device {spec!r} matches several outputs ({names}); give its index"
    )


class AudioOutput:
    """A metronome engine playing on one audio output device.

    Args:
        engine: the engine whose callback fills the stream; its sample rate and channel
            count are the stream's.
        device: the output to open.
        latency: PortAudio output latency (s), or ``"high"``/``"low"`` (PortAudio's
            device defaults); see :data:`DEFAULT_LATENCY_S`.

    Use :meth:`open` to choose a device and make the engine at its sample rate. Then
    :meth:`start` (beat 0 sounds shortly after the audio starts flowing), and :meth:`stop`;
    or use it as a context manager.
    """

    def __init__(
        self,
        engine: MetronomeEngine,
        device: OutputDevice,
        *,
        latency: float | str = DEFAULT_LATENCY_S,
    ) -> None:
        self.engine = engine
        self.device = device
        self.latency = latency
        self.warning = bluetooth_warning(device)
        if self.warning is not None:
            logger.warning(self.warning)
        self._stream: Any = None

    @classmethod
    def open(
        cls,
        settings: MetronomeSettings | None = None,
        *,
        device: str | int | None = None,
        sample_rate_hz: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        latency: float | str = DEFAULT_LATENCY_S,
    ) -> AudioOutput:
        """Choose the output (``--audio-device``) and make an engine for it (not started).

        Args:
            settings: the metronome's settings.
            device: index or (part of a) name; None = the default output.
            sample_rate_hz: stream rate; None = the device's default rate.
            clock: host clock for the beat log.
            latency: PortAudio output latency (s) or ``"high"``/``"low"``.

        Raises:
            NoAudioDeviceError: no output device (or no PortAudio): show the message once
                and use the visual beat.
            ConfigurationError: ``device`` names no output, or several.
        """
        devices, default_index = list_output_devices()
        chosen = choose_output_device(devices, device, default_index)
        rate = sample_rate_hz if sample_rate_hz is not None else chosen.default_sample_rate_hz
        engine = MetronomeEngine(
            settings,
            sample_rate_hz=rate,
            channels=2 if chosen.channels >= 2 else 1,
            clock=clock,
        )
        return cls(engine, chosen, latency=latency)

    @property
    def running(self) -> bool:
        """Whether the stream is open and started."""
        return self._stream is not None and bool(self._stream.active)

    @property
    def output_latency_s(self) -> float:
        """The stream's reported output latency (s); NaN when not open."""
        return float(self._stream.latency) if self._stream is not None else float("nan")

    def start(self, *, lead_s: float = 0.1, wait_s: float = 3.0, block: bool = True) -> None:
        """Open and start the stream; beat 0 sounds ``lead_s`` after the audio starts flowing.

        Some drivers ask for a few buffers at once and then pause before playback really
        begins (PortAudio on ALSA's PulseAudio plugin stalls for up to 2 s), so beat 0 is
        placed only once the stream clock has moved on from the start, after the audio
        rendered by then: normally within milliseconds, at most ``wait_s`` (then the
        stream's own time is used). With ``block=False`` a helper thread waits for that and
        this returns at once (for the GUI thread); the engine is silent until then.

        Raises:
            NoAudioDeviceError: PortAudio is missing.
            TransportError: the device cannot be opened at this rate or channel count.
        """
        if self._stream is not None:
            return
        sd = _sounddevice()
        self.engine.reset_stream()
        try:
            stream = sd.OutputStream(
                samplerate=self.engine.sample_rate_hz,
                blocksize=0,
                device=self.device.index,
                channels=self.engine.channels,
                dtype="float32",
                latency=self.latency,
                callback=self.engine.callback,
            )
            stream.start()
        except sd.PortAudioError as exc:
            raise TransportError(
                f"cannot open audio device {self.device.describe()} at "
                f"{self.engine.sample_rate_hz:.0f} Hz: {exc}; try another --audio-device "
                "or --sample-rate"
            ) from None
        self._stream = stream
        started_s = float(stream.time)
        if block:
            self._place_first_beat(stream, started_s, lead_s, wait_s)
        else:
            threading.Thread(
                target=self._place_first_beat,
                args=(stream, started_s, lead_s, wait_s),
                name="metronome-start",
                daemon=True,
            ).start()

    def _place_first_beat(
        self, stream: Any, started_s: float, lead_s: float, wait_s: float
    ) -> None:
        engine = self.engine
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self._stream is not stream:
                return  # stopped meanwhile
            if engine.stream_now_s >= started_s + _FLOWING_S and math.isfinite(engine.frontier_s):
                engine.start(engine.frontier_s, lead_s=lead_s)
                return
            time.sleep(0.002)
        if self._stream is stream:
            engine.start(float(stream.time), lead_s=float(stream.latency) + lead_s)

    def stop(self) -> None:
        """Stop and close the stream (idempotent)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
            finally:
                stream.close()

    def __enter__(self) -> AudioOutput:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Metronome:
    """The metronome as the app runs it: audible when a device opens, otherwise visual only.

    Args:
        settings: initial tempo, accents, panning, volume and cue mode.
        device: ``--audio-device`` (index or part of a name); None = the default output.
        sample_rate_hz: stream rate; None = the device's default.
        clock: host clock (s) for the beat log.
        latency: PortAudio output latency (s) or ``"high"``/``"low"``.

    Settings changed on :attr:`engine` before :meth:`start` carry over to the engine made
    for the device. :meth:`start` tries the audio device once. Without one (no device, no
    PortAudio, or a device that will not open) it keeps the reason in :attr:`message`, for
    the app to show once, and runs the engine silently: call :meth:`tick` from a timer so
    the beat log (and so the visual beat) advances. A bad ``device`` name is a
    :class:`ConfigurationError` and is raised. Take :attr:`engine` again after
    :meth:`start`: with a device it is a new engine at the device's sample rate.

    Attributes:
        engine: the :class:`MetronomeEngine`; use its setters and readers.
        output: the :class:`AudioOutput`, or None when silent.
        message: why there is no sound (one line), or None.
        warning: the Bluetooth latency warning (one line), or None.
    """

    def __init__(
        self,
        settings: MetronomeSettings | None = None,
        *,
        device: str | int | None = None,
        sample_rate_hz: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        latency: float | str = DEFAULT_LATENCY_S,
    ) -> None:
        self._device = device
        self._sample_rate_hz = sample_rate_hz
        self._clock = clock
        self._latency = latency
        self.output: AudioOutput | None = None
        self.engine = MetronomeEngine(settings, clock=clock)
        self.message: str | None = None
        self.warning: str | None = None

    @property
    def audible(self) -> bool:
        """Whether the clicks go to an audio device."""
        return self.output is not None

    def start(self, *, lead_s: float = 0.1) -> None:
        """Start playing, or start the silent visual beat if there is no usable device."""
        try:
            output = AudioOutput.open(
                self.engine.settings,
                device=self._device,
                sample_rate_hz=self._sample_rate_hz,
                clock=self._clock,
                latency=self._latency,
            )
            self.warning = output.warning
            output.start(lead_s=lead_s, block=False)
        except TransportError as exc:  # includes NoAudioDeviceError
            self.message = str(exc)
            self.output = None
            self.engine.start(self._clock(), lead_s=lead_s)
            return
        self.output = output
        self.engine = output.engine

    def tick(self) -> int:
        """Advance the silent visual beat to now (no-op when audible); returns beats logged."""
        if self.output is not None:
            return 0
        return self.engine.advance()

    def stop(self) -> None:
        """Stop the audio stream, if any."""
        if self.output is not None:
            self.output.stop()
