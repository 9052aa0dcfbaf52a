"""End to end: the metronome through PortAudio → ALSA → a PulseAudio null sink, recorded back.

Needs the Debian packages pulseaudio, pulseaudio-utils (parec) and libasound2-plugins (the
ALSA ``pulse`` device PortAudio plays to). Skips, saying what is missing, without them.
A private PulseAudio server runs for the test (its own socket, no D-Bus, no real device);
``GAITCUE_PULSE_PREFIX`` may point at an unpacked tree (``dpkg -x``) of those packages
instead of installed ones.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.realtime

ROOT = Path(__file__).resolve().parents[2]
RATE_HZ = 48_000
BPM = 180.0
PLAY_S = 2.5

PLAYER = """
import json, sys, time
from dashboard.metronome import AudioOutput, MetronomeSettings
out = AudioOutput.open(MetronomeSettings(bpm=float(sys.argv[1])), device="pulse")
out.start()
time.sleep(float(sys.argv[2]))
out.stop()
log = out.engine.beats_since(0)
print(json.dumps({"underflows": out.engine.underflows, "beats": len(log),
                  "rate_hz": out.engine.sample_rate_hz}))
"""


def _find_alsa_plugin(prefix: Path | None) -> Path | None:
    dirs = [Path("/usr/lib/x86_64-linux-gnu/alsa-lib"), Path("/usr/lib/alsa-lib")]
    dirs += [Path("/usr/lib/aarch64-linux-gnu/alsa-lib"), Path("/usr/lib64/alsa-lib")]
    if prefix is not None:
        dirs = [prefix / str(d).lstrip("/") for d in dirs[:1]] + dirs
    for d in dirs:
        if (d / "libasound_module_pcm_pulse.so").exists():
            return d
    return None


@pytest.fixture
def pulse_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private PulseAudio server with a null sink; yields the environment to reach it."""
    env = os.environ.copy()
    prefix_text = env.get("GAITCUE_PULSE_PREFIX")
    prefix = Path(prefix_text) if prefix_text else None
    extra_args: list[str] = []
    if prefix is not None:
        libdir = prefix / "usr/lib/x86_64-linux-gnu"
        modules = sorted(prefix.glob("usr/lib/pulse-*/modules"))
        libs = [str(libdir), str(libdir / "pulseaudio"), *map(str, modules)]
        env["LD_LIBRARY_PATH"] = os.pathsep.join([*libs, env.get("LD_LIBRARY_PATH", "")])
        env["PATH"] = os.pathsep.join([str(prefix / "usr/bin"), env.get("PATH", "")])
        if modules:
            extra_args.append(f"--dl-search-path={modules[-1]}")
    pulseaudio = shutil.which("pulseaudio", path=env["PATH"])
    parec = shutil.which("parec", path=env["PATH"])
    if pulseaudio is None or parec is None:
        pytest.skip("pulseaudio/parec not installed (apt: pulseaudio pulseaudio-utils)")
    plugin_dir = _find_alsa_plugin(prefix)
    if plugin_dir is None:
        pytest.skip("the ALSA pulse plugin is not installed (apt: libasound2-plugins)")
    home, run = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    run.mkdir(mode=0o700)
    (home / ".asoundrc").write_text(
        f'pcm_type.pulse {{ lib "{plugin_dir}/libasound_module_pcm_pulse.so" }}\n'
        f'ctl_type.pulse {{ lib "{plugin_dir}/libasound_module_ctl_pulse.so" }}\n'
        "pcm.pulse { type pulse }\nctl.pulse { type pulse }\n",
        encoding="utf-8",
    )
    socket = run / "native"
    env.update(
        HOME=str(home),
        XDG_RUNTIME_DIR=str(run),
        PULSE_SERVER=f"unix:{socket}",
        PYTHONPATH=str(ROOT),
    )
    log = tmp_path / "pulseaudio.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            [
                pulseaudio,
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--disable-shm=yes",
                *extra_args,
                f"--load=module-native-protocol-unix auth-anonymous=1 socket={socket}",
                f"--load=module-null-sink sink_name=gaitcue_null rate={RATE_HZ} channels=2",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        deadline = time.monotonic() + 5.0
        while not socket.exists() and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if not socket.exists():
            lines = log.read_text(errors="replace").strip().splitlines()
            pytest.skip(f"pulseaudio could not start: {lines[-1] if lines else 'no output'}")
        env["PAREC"] = parec
        yield env
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


def test_null_sink_recording_has_every_beat_on_time(
    pulse_env: dict[str, str], tmp_path: Path
) -> None:
    raw = tmp_path / "monitor.raw"
    with raw.open("wb") as sink:
        recorder = subprocess.Popen(
            [
                pulse_env["PAREC"],
                "-d",
                "gaitcue_null.monitor",
                "--format=s16le",
                f"--rate={RATE_HZ}",
                "--channels=2",
                "--latency-msec=20",
            ],
            env=pulse_env,
            stdout=sink,
            stderr=subprocess.DEVNULL,
        )
        try:
            player = subprocess.run(
                [sys.executable, "-c", PLAYER, str(BPM), str(PLAY_S)],
                cwd=ROOT,
                env=pulse_env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            time.sleep(0.3)  # let the last click reach the monitor
        finally:
            recorder.terminate()
            recorder.wait(5)
    assert player.returncode == 0, player.stderr
    report = json.loads(player.stdout.strip().splitlines()[-1])
    pcm = np.fromfile(raw, dtype="<i2")
    pcm = pcm[: pcm.size - pcm.size % 2].reshape(-1, 2).astype(np.int32)
    loud = np.flatnonzero(np.abs(pcm).max(axis=1) > 655)  # 2 % of full scale
    assert loud.size > 0, "nothing reached the null sink"
    onsets = loud[np.concatenate([[True], np.diff(loud) > RATE_HZ // 200])]
    assert report["underflows"] == 0
    assert report["beats"] >= int(PLAY_S * BPM / 60.0) - 1
    # The last logged beat may be cut off when the stream stops.
    assert report["beats"] - 1 <= onsets.size <= report["beats"]
    intervals_s = np.diff(onsets) / RATE_HZ
    assert np.abs(intervals_s - 60.0 / BPM).max() <= 1e-3
