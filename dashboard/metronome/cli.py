"""``gaitcue metronome``: play the cadence metronome, or render exactly that audio to a WAV.

``--render out.wav`` drives the live engine's callback with an ideal stream and writes
16-bit PCM (stereo unless ``--mono``); without it the metronome plays on the audio device
until ``--duration`` ends or Ctrl-C.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from dashboard.metronome.gating import BandConfig, CueMode, FadedConfig
from dashboard.metronome.offline import OfflineRenderer
from dashboard.metronome.schedule import MAX_BPM, MIN_BPM, MetronomeSettings
from dashboard.metronome.wav import write_wav_blocks
from firmware_bridge.errors import ConfigurationError

__all__ = ["add_parser", "cmd_metronome"]

MAX_RENDER_S = 6 * 3600.0
"""Longest rendering (s): a 16-bit stereo WAV at 48 kHz stays under the 4 GB format limit."""


def add_parser(subparsers: Any) -> None:
    """Register the ``metronome`` subcommand on an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "metronome",
        help="play the cadence metronome, or render it to a WAV file",
        description="Play the cadence metronome (one beat per step), or render the exact "
        "audio the live engine plays to a WAV file.",
    )
    p.add_argument(
        "--bpm",
        type=float,
        default=170.0,
        metavar="N",
        help=f"tempo in beats = steps per minute ({MIN_BPM:.0f}–{MAX_BPM:.0f}, default 170)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="seconds to render (required with --render) or to play (default: until Ctrl-C)",
    )
    p.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="WAV",
        help="write the audio to this 16-bit PCM WAV file instead of playing it",
    )
    p.add_argument(
        "--accent-every",
        type=int,
        default=0,
        metavar="K",
        help="accent every Kth beat (louder, higher pitch); 0 = none (default)",
    )
    p.add_argument(
        "--alternate", action="store_true", help="alternate beats between left and right ear"
    )
    p.add_argument(
        "--volume", type=float, default=0.8, metavar="V", help="volume 0..1 (default 0.8)"
    )
    p.add_argument(
        "--mode",
        default="every",
        metavar="MODE",
        help="every (default) or faded (out_of_band needs live cadence: dashboard only)",
    )
    p.add_argument(
        "--fade-levels",
        default="100,75,50,25,0",
        metavar="PCT,…",
        help="faded mode: cue-on percentage of each block (default 100,75,50,25,0)",
    )
    fade_block = p.add_mutually_exclusive_group()
    fade_block.add_argument(
        "--fade-block",
        type=float,
        default=None,
        metavar="S",
        help="faded mode: block length in seconds (default 60)",
    )
    fade_block.add_argument(
        "--fade-block-beats",
        type=int,
        default=None,
        metavar="N",
        help="faded mode: block length in beats",
    )
    p.add_argument(
        "--sample-rate",
        type=float,
        default=None,
        metavar="HZ",
        help="sample rate (default: 48000 when rendering, the device's own when playing)",
    )
    p.add_argument("--mono", action="store_true", help="render one channel instead of two")
    p.add_argument(
        "--audio-device",
        default=None,
        metavar="NAME|INDEX",
        help="output device (index, or a part of its name); default: the system's",
    )
    p.add_argument(
        "--list-audio-devices", action="store_true", help="list the audio outputs and exit"
    )
    p.set_defaults(func=cmd_metronome)


def _parse_fade_levels(text: str) -> tuple[float, ...]:
    levels = []
    for part in text.split(","):
        try:
            pct = float(part.strip())
        except ValueError:
            raise ConfigurationError(
                f"--fade-levels takes percentages separated by commas (e.g. 100,75,50,25,0), "
                f"got {text!r}"
            ) from None
        if not 0.0 <= pct <= 100.0:
            raise ConfigurationError(f"--fade-levels percentages must be 0 to 100, got {pct:g}")
        levels.append(pct / 100.0)
    return tuple(levels)


def settings_from_args(args: argparse.Namespace) -> MetronomeSettings:
    """The metronome settings the options describe.

    Raises:
        ConfigurationError: an option value that cannot be used (the message names it).
    """
    if not (math.isfinite(args.bpm) and MIN_BPM <= args.bpm <= MAX_BPM):
        raise ConfigurationError(
            f"--bpm must be {MIN_BPM:.0f} to {MAX_BPM:.0f} beats (steps) per minute, "
            f"got {args.bpm:g}"
        )
    if args.accent_every < 0:
        raise ConfigurationError(
            f"--accent-every must be 0 (no accents) or a positive whole number, "
            f"got {args.accent_every}"
        )
    if not (math.isfinite(args.volume) and 0.0 <= args.volume <= 1.0):
        raise ConfigurationError(f"--volume must be from 0 to 1, got {args.volume:g}")
    mode = CueMode.parse(args.mode)
    if mode is CueMode.OUT_OF_BAND:
        raise ConfigurationError(
            "--mode out_of_band cues from the runner's live cadence, which only the dashboard "
            "has; use --mode every or faded here"
        )
    if args.fade_block is not None and not (math.isfinite(args.fade_block) and args.fade_block > 0):
        raise ConfigurationError(
            f"--fade-block must be a positive number of seconds, got {args.fade_block:g}"
        )
    if args.fade_block_beats is not None and args.fade_block_beats < 1:
        raise ConfigurationError(
            f"--fade-block-beats must be a whole number >= 1, got {args.fade_block_beats}"
        )
    faded = FadedConfig(
        levels=_parse_fade_levels(args.fade_levels),
        block_s=args.fade_block,
        block_beats=args.fade_block_beats,
    )
    return MetronomeSettings(
        bpm=float(args.bpm),
        accent_every=int(args.accent_every),
        alternate=bool(args.alternate),
        volume=float(args.volume),
        mode=mode,
        faded=faded,
        band=BandConfig(),
    )


def _check_sample_rate(rate: float | None) -> None:
    if rate is not None and not (math.isfinite(rate) and 8000 <= rate <= 192_000):
        raise ConfigurationError(f"--sample-rate must be 8000 to 192000 Hz, got {rate:g}")


def cmd_metronome(args: argparse.Namespace) -> int:
    """Render (``--render``) or play the metronome; returns the exit status."""
    if args.list_audio_devices:
        return _list_devices()
    settings = settings_from_args(args)
    _check_sample_rate(args.sample_rate)
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise ConfigurationError(
            f"--duration must be a positive number of seconds, got {args.duration:g}"
        )
    if args.render is not None:
        return _render(args, settings)
    return _play(args, settings)


def _render(args: argparse.Namespace, settings: MetronomeSettings) -> int:
    if args.duration is None:
        raise ConfigurationError("--render needs --duration S (seconds to render)")
    if args.duration > MAX_RENDER_S:
        raise ConfigurationError(
            f"--duration for --render is at most {MAX_RENDER_S:.0f} s (a WAV file's 4 GB limit)"
        )
    path: Path = args.render
    if not path.parent.is_dir():
        raise ConfigurationError(f"cannot write {path}: the folder {path.parent} does not exist")
    rate = args.sample_rate if args.sample_rate is not None else 48_000.0
    channels = 1 if args.mono else 2
    renderer = OfflineRenderer(settings, sample_rate_hz=rate, channels=channels)
    frames = write_wav_blocks(
        path,
        renderer.blocks(args.duration, block_frames=4096),
        rate,
        n_channels=channels,
    )
    beats = renderer.engine.beats_since(0)
    print(
        f"rendered {frames / rate:.3f} s at {rate:.0f} Hz, {len(beats)} beats "
        f"({int(beats.cued.sum())} heard) to {path}"
    )
    return 0


def _list_devices() -> int:
    from dashboard.metronome.output import list_output_devices

    devices, default = list_output_devices()
    if not devices:
        print("no audio output devices")
    for d in devices:
        mark = "*" if d.index == default else " "
        print(
            f"{mark} {d.index}\t{d.name}\t{d.host_api}\t{d.channels} ch\t"
            f"{d.default_sample_rate_hz:.0f} Hz"
        )
    return 0


def _play(args: argparse.Namespace, settings: MetronomeSettings) -> int:
    from dashboard.metronome.output import AudioOutput

    output = AudioOutput.open(settings, device=args.audio_device, sample_rate_hz=args.sample_rate)
    if output.warning is not None:
        print(f"warning: {output.warning}", file=sys.stderr)
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    output.start()
    try:
        print(
            f"playing {settings.bpm:g} spm on {output.device.describe()}, "
            f"{output.engine.sample_rate_hz:.0f} Hz, output latency "
            f"{output.output_latency_s * 1e3:.0f} ms; Ctrl-C stops",
            file=sys.stderr,
        )
        stop.wait(args.duration)
    finally:
        output.stop()
    engine = output.engine
    print(f"played {engine.beat_count} beats, {engine.underflows} underflows")
    return 0
