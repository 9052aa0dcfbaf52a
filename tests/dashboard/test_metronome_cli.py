"""``gaitcue metronome``: rendering to WAV, option errors, no audio device."""

from __future__ import annotations

import argparse
import wave
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dashboard.metronome import cli, output
from firmware_bridge.errors import ConfigurationError, GaitcueError

THRESHOLD_PCM = 655  # 2 % of full scale
GAP_FRAMES = 240


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gaitcue")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_parser(sub)
    return parser.parse_args(argv)


def run(argv: list[str]) -> int:
    """Like the main CLI: user errors print one line and give status 2."""
    args = parse(argv)
    try:
        return int(args.func(args))
    except GaitcueError as exc:
        print(f"error: {exc}")
        return 2


def read_pcm(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return data.reshape(-1, w.getnchannels()), w.getframerate()


def onsets(pcm: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)).max(axis=1) > THRESHOLD_PCM)
    return loud[np.concatenate([[True], np.diff(loud) > GAP_FRAMES])]


def test_render_writes_the_schedule_to_a_wav(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.wav"
    rc = run(
        [
            "metronome",
            "--bpm",
            "180",
            "--duration",
            "6",
            "--render",
            str(out),
            "--accent-every",
            "3",
            "--alternate",
            "--volume",
            "0.9",
        ]
    )
    assert rc == 0
    assert "18 beats" in capsys.readouterr().out
    pcm, rate = read_pcm(out)
    assert rate == 48_000
    assert pcm.shape == (6 * 48_000, 2)
    found = onsets(pcm)
    ideal = np.round(np.arange(18) * 60.0 / 180.0 * rate)
    assert found.shape == ideal.shape
    assert np.abs(found - ideal).max() <= 1
    peaks = np.array([np.abs(pcm[o : o + 48].astype(np.int32)).max() for o in found])
    assert peaks[::3].min() > 1.5 * np.delete(peaks, np.s_[::3]).max()  # accents
    assert pcm[found[0] : found[0] + 500, 1].max() == 0  # beat 0 left only
    assert pcm[found[1] : found[1] + 500, 0].max() == 0  # beat 1 right only


def test_render_faded_mono_at_another_rate(tmp_path: Path) -> None:
    out = tmp_path / "f.wav"
    assert (
        run(
            [
                "metronome",
                "--bpm",
                "150",
                "--duration",
                "8",
                "--render",
                str(out),
                "--mode",
                "faded",
                "--fade-block-beats",
                "5",
                "--fade-levels",
                "100,40,0",
                "--sample-rate",
                "44100",
                "--mono",
            ]
        )
        == 0
    )
    pcm, rate = read_pcm(out)
    assert (rate, pcm.shape) == (44_100, (8 * 44_100, 1))
    beat = np.round(onsets(pcm) / (0.4 * rate)).astype(int)
    assert beat.tolist() == [0, 1, 2, 3, 4, 5, 7]  # 40 % of beats 5..9: 5 and 7


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bpm", "0"], "--bpm"),
        (["--bpm", "500"], "--bpm"),
        (["--bpm", "nan"], "--bpm"),
        (["--volume", "1.5"], "--volume"),
        (["--accent-every", "-1"], "--accent-every"),
        (["--mode", "sometimes"], "every, out_of_band, faded"),
        (["--mode", "out_of_band"], "dashboard"),
        (["--fade-levels", "100,half"], "--fade-levels"),
        (["--fade-levels", "100,150"], "--fade-levels"),
        (["--fade-block", "0"], "--fade-block"),
        (["--fade-block-beats", "0"], "--fade-block-beats"),
        (["--sample-rate", "100"], "--sample-rate"),
        (["--duration", "-1"], "--duration"),
    ],
)
def test_bad_options_are_one_line_configuration_errors(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    args = parse(["metronome", "--duration", "1", "--render", str(tmp_path / "x.wav"), *argv])
    with pytest.raises(ConfigurationError, match=message) as info:
        args.func(args)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "x.wav").exists()


def test_render_needs_a_duration_and_a_folder(tmp_path: Path) -> None:
    args = parse(["metronome", "--render", str(tmp_path / "x.wav")])
    with pytest.raises(ConfigurationError, match="--duration"):
        args.func(args)
    args = parse(["metronome", "--duration", "1", "--render", str(tmp_path / "no" / "x.wav")])
    with pytest.raises(ConfigurationError, match="does not exist"):
        args.func(args)


def fake_sounddevice(devices: list[dict[str, object]], default_out: int) -> SimpleNamespace:
    class PortAudioError(Exception):
        pass

    return SimpleNamespace(
        PortAudioError=PortAudioError,
        query_devices=lambda: devices,
        query_hostapis=lambda: [{"name": "ALSA"}],
        default=SimpleNamespace(device=[-1, default_out]),
    )


def test_playing_without_a_device_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(output, "_sounddevice", lambda: fake_sounddevice([], -1))
    assert run(["metronome", "--bpm", "170", "--duration", "1"]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: no audio output device found; ")


def test_playing_on_this_machine_either_plays_or_reports_no_device() -> None:
    try:
        engine_output = output.AudioOutput.open()
    except output.NoAudioDeviceError as exc:
        message = str(exc)
    else:
        message = "no audio output device found; (a device exists here)"
        assert engine_output.engine.sample_rate_hz > 0
    assert message.startswith("no audio output device found; ")
