"""16-bit PCM WAV files (stdlib ``wave``)."""

from __future__ import annotations

import wave
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from firmware_bridge.errors import ConfigurationError

__all__ = ["read_wav", "to_pcm16", "write_wav", "write_wav_blocks"]

_FULL_SCALE = 32767.0


def to_pcm16(samples: npt.NDArray[np.floating]) -> bytes:
    """Little-endian 16-bit PCM bytes of ``samples`` (full scale ±1; beyond is clipped)."""
    pcm = np.clip(np.round(samples.astype(np.float64) * _FULL_SCALE), -32768, 32767)
    return pcm.astype("<i2").tobytes()


def write_wav(path: Path, samples: npt.NDArray[np.floating], sample_rate_hz: float) -> None:
    """Write ``samples`` (shape ``(n_frames, n_channels)``, full scale ±1) as 16-bit PCM.

    Raises:
        ConfigurationError: the file cannot be written.
    """
    if samples.ndim != 2:
        raise ValueError(f"samples must be (n_frames, n_channels), got shape {samples.shape}")
    write_wav_blocks(path, [samples], sample_rate_hz, n_channels=int(samples.shape[1]))


def write_wav_blocks(
    path: Path,
    blocks: Iterable[npt.NDArray[np.floating]],
    sample_rate_hz: float,
    *,
    n_channels: int,
) -> int:
    """Stream ``(n, n_channels)`` blocks (full scale ±1) into a 16-bit PCM WAV; returns frames.

    Raises:
        ConfigurationError: the file cannot be written.
    """
    frames = 0
    try:
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(n_channels)
            wav.setsampwidth(2)
            wav.setframerate(round(sample_rate_hz))
            for block in blocks:
                wav.writeframes(to_pcm16(block))
                frames += int(block.shape[0])
    except OSError as exc:
        raise ConfigurationError(f"cannot write {path}: {exc.strerror or exc}") from None
    return frames


def read_wav(path: Path) -> tuple[npt.NDArray[np.float32], int]:
    """Read a 16-bit PCM WAV: ``(samples (n_frames, n_channels) float32 ±1, rate in Hz)``."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path} is not 16-bit PCM")
        n_channels = wav.getnchannels()
        rate = wav.getframerate()
        data = wav.readframes(wav.getnframes())
    pcm = np.frombuffer(data, dtype="<i2").reshape(-1, n_channels)
    return (pcm.astype(np.float32) / np.float32(_FULL_SCALE)), rate
