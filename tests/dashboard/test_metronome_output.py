"""Device choice, the Bluetooth warning, and the stream wiring (with a stand-in sounddevice)."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest

from dashboard.metronome import MetronomeEngine, MetronomeSettings, output
from dashboard.metronome.output import (
    AudioOutput,
    Metronome,
    NoAudioDeviceError,
    OutputDevice,
    choose_output_device,
    looks_like_bluetooth,
)
from firmware_bridge.errors import ConfigurationError


def device(index: int, name: str, channels: int = 2) -> OutputDevice:
    return OutputDevice(
        index=index,
        name=name,
        host_api="ALSA",
        channels=channels,
        default_sample_rate_hz=44_100.0,
        default_high_latency_s=0.05,
    )


DEVICES = [
    device(0, "HDA Intel PCH: ALC3246 Analog (hw:0,0)"),
    device(3, "HDA Intel PCH: HDMI 0 (hw:0,3)"),
    device(7, "pulse"),
    device(8, "default"),
    device(9, "WH-1000XM4 (bluez_output.A0_B1.a2dp-sink)"),
]


@pytest.mark.parametrize(
    ("spec", "index"),
    [(None, 8), ("", 8), (3, 3), ("7", 7), ("pulse", 7), ("ALC3246", 0), ("default", 8)],
)
def test_choose_by_index_or_name(spec: str | int | None, index: int) -> None:
    assert choose_output_device(DEVICES, spec, default_index=8).index == index


def test_choose_reports_what_exists() -> None:
    with pytest.raises(ConfigurationError, match=r"not an audio output.*pulse"):
        choose_output_device(DEVICES, 5)
    with pytest.raises(ConfigurationError, match="no audio output matches --audio-device 'usb'"):
        choose_output_device(DEVICES, "usb")
    with pytest.raises(ConfigurationError, match=r"several outputs.*give its index"):
        choose_output_device(DEVICES, "hda intel")
    with pytest.raises(NoAudioDeviceError, match=r"^no audio output device found; "):
        choose_output_device([], None)
    assert choose_output_device(DEVICES, None, default_index=None).index == 0


@pytest.mark.parametrize(
    ("name", "bluetooth"),
    [
        ("bluez_output.A0_B1_C2.a2dp-sink", True),
        ("AirPods Pro", True),
        ("Headset (Jabra Hands-Free AG Audio)", True),
        ("Galaxy Buds2", True),
        ("BT speaker", True),
        ("HDA Intel PCH: ALC3246 Analog (hw:0,0)", False),
        ("USB Audio CODEC", False),
        ("Speakers (Realtek(R) Audio)", False),
    ],
)
def test_bluetooth_names(name: str, bluetooth: bool) -> None:
    assert looks_like_bluetooth(name) is bluetooth


class FakeStream:
    """Stands in for sounddevice.OutputStream: keeps the callback, reports time/latency."""

    made: ClassVar[list[FakeStream]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.callback = kwargs["callback"]
        self.time = 500.0
        self.latency = 0.08
        self.active = False
        self.closed = False
        self.prefill = True
        FakeStream.made.append(self)

    def start(self) -> None:
        """Like a driver: four buffers at once (prefill), then playback begins."""
        self.active = True
        if self.prefill:
            rate = self.kwargs["samplerate"]
            for k in range(5):
                now = self.time if k < 4 else self.time + 0.01
                info = SimpleNamespace(
                    outputBufferDacTime=self.time + k * 256 / rate, currentTime=now
                )
                buf = np.zeros((256, self.kwargs["channels"]), dtype=np.float32)
                self.callback(buf, 256, info, SimpleNamespace(output_underflow=False))

    def stop(self) -> None:
        self.active = False

    def close(self) -> None:
        self.closed = True


def fake_sd(devices: list[dict[str, Any]], default_out: int) -> SimpleNamespace:
    class PortAudioError(Exception):
        pass

    return SimpleNamespace(
        PortAudioError=PortAudioError,
        query_devices=lambda: devices,
        query_hostapis=lambda: [{"name": "ALSA"}, {"name": "PulseAudio"}],
        default=SimpleNamespace(device=[-1, default_out]),
        OutputStream=FakeStream,
    )


def raw(index: int, name: str, outputs: int, rate: float = 44_100.0) -> dict[str, Any]:
    return {
        "index": index,
        "name": name,
        "hostapi": 1,
        "max_output_channels": outputs,
        "default_samplerate": rate,
        "default_high_output_latency": 0.05,
    }


def test_open_start_stop_wires_the_engine_callback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sd = fake_sd([raw(0, "mic", 0), raw(1, "bluez_output.XX.a2dp-sink", 2, 48_000.0)], 1)
    monkeypatch.setattr(output, "_sounddevice", lambda: sd)
    with caplog.at_level(logging.WARNING, logger=output.__name__):
        out = AudioOutput.open(MetronomeSettings(bpm=180.0), device="bluez")
    assert out.warning is not None
    assert "100–300 ms" in out.warning
    assert [r.getMessage() for r in caplog.records] == [out.warning]
    assert out.device.host_api == "PulseAudio"
    assert out.engine.sample_rate_hz == 48_000.0
    out.start(lead_s=0.1)
    stream = FakeStream.made[-1]
    assert stream.kwargs["device"] == 1
    assert stream.kwargs["channels"] == 2
    assert stream.kwargs["samplerate"] == 48_000.0
    assert stream.callback == out.engine.callback
    assert out.running
    # Beat 0 sounds 0.1 s after the audio rendered once playback began (5 × 256 frames).
    assert out.engine.schedule is not None
    assert out.engine.schedule.time_s(0) == pytest.approx(500.0 + 5 * 256 / 48_000 + 0.1)
    assert out.engine.host_offset_s == pytest.approx(-500.0 + out.engine.clock(), abs=1.0)
    out.stop()
    assert stream.closed
    assert not out.running


def test_a_stream_that_never_calls_back_still_gets_a_beat_grid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(output, "_sounddevice", lambda: fake_sd([raw(0, "speakers", 2)], 0))
    monkeypatch.setattr(FakeStream, "start", lambda self: setattr(self, "active", True))
    out = AudioOutput.open(MetronomeSettings(bpm=180.0))
    out.start(lead_s=0.1, wait_s=0.05)
    assert out.engine.schedule is not None
    assert out.engine.schedule.time_s(0) == pytest.approx(500.0 + 0.08 + 0.1)
    assert out.warning is None
    out.stop()


def test_mono_device_and_missing_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "_sounddevice", lambda: fake_sd([raw(0, "speaker", 1)], 0))
    assert AudioOutput.open().engine.channels == 1
    monkeypatch.setattr(output, "_sounddevice", lambda: fake_sd([raw(0, "mic", 0)], -1))
    with pytest.raises(NoAudioDeviceError, match=r"^no audio output device found; "):
        AudioOutput.open()


def test_app_metronome_without_a_device_runs_the_visual_beat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(output, "_sounddevice", lambda: fake_sd([], -1))
    now = [10.0]
    metronome = Metronome(MetronomeSettings(bpm=120.0), clock=lambda: now[0])
    metronome.engine.set_accent_every(2)  # before start: carried into the grid
    metronome.start(lead_s=0.25)
    assert not metronome.audible
    assert metronome.message is not None
    assert metronome.message.startswith("no audio output device found; ")
    now[0] = 12.0
    assert metronome.tick() == 4  # beats at 10.25, 10.75, 11.25, 11.75
    beat = metronome.engine.last_beat()
    assert beat is not None
    assert (beat.number, beat.host_s) == (3, pytest.approx(11.75))
    assert metronome.engine.beats_since(0).accent.tolist() == [True, False, True, False]
    metronome.stop()


def test_app_metronome_with_a_device_plays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "_sounddevice", lambda: fake_sd([raw(4, "USB Audio", 2)], 4))
    metronome = Metronome(MetronomeSettings(bpm=150.0))
    metronome.engine.set_volume(0.3)
    metronome.start()
    assert metronome.audible
    assert metronome.message is None
    assert metronome.warning is None
    assert metronome.output is not None
    assert metronome.engine is metronome.output.engine
    assert metronome.engine.settings.volume == 0.3
    assert metronome.engine.sample_rate_hz == 44_100.0
    assert metronome.tick() == 0
    metronome.stop()
    assert FakeStream.made[-1].closed


def test_restart_keeps_numbering_and_resets_the_stream_clock() -> None:
    now = [0.0]
    engine = MetronomeEngine(MetronomeSettings(bpm=300.0), clock=lambda: now[0])
    engine.start(0.0)
    engine.advance(1.0)  # beats 0..4
    engine.reset_stream()
    assert engine.schedule is None
    assert engine.frontier_s == float("-inf")
    engine.start(100.0)
    engine.advance(101.0)
    log = engine.beats_since(0)
    assert log.number.tolist() == list(range(10))
    assert log.host_s[5] == pytest.approx(100.0)


def test_non_blocking_start_places_beat_0_from_a_helper_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(output, "_sounddevice", lambda: fake_sd([raw(0, "speakers", 2)], 0))
    monkeypatch.setattr(FakeStream, "start", lambda self: setattr(self, "active", True))
    out = AudioOutput.open(MetronomeSettings(bpm=180.0))
    out.start(block=False)
    assert out.engine.schedule is None  # the driver has not asked for audio yet
    stream = FakeStream.made[-1]
    info = SimpleNamespace(outputBufferDacTime=500.2, currentTime=500.05)
    buf = np.zeros((512, 2), dtype=np.float32)
    stream.callback(buf, 512, info, SimpleNamespace(output_underflow=False))
    deadline = time.monotonic() + 2.0
    while out.engine.schedule is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert out.engine.schedule is not None
    assert out.engine.schedule.time_s(0) == pytest.approx(500.2 + 512 / 44_100 + 0.1)
    out.stop()
