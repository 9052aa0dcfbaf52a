"""Privacy: a live session opens no network socket unless the user asks for one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals need POSIX"),
    pytest.mark.realtime,
]


def inet_sockets(pid: int) -> list[str]:
    """Every TCP/UDP socket (IPv4 or IPv6) of the process and its children."""
    process = psutil.Process(pid)
    found = []
    for proc in [process, *process.children(recursive=True)]:
        lister = getattr(proc, "net_connections", None) or proc.connections
        try:
            conns = lister(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found += [f"{c.type.name} {c.laddr} {c.status}" for c in conns]
    return found


def test_the_check_sees_a_listening_socket() -> None:
    code = (
        "import socket, sys, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "print('up', flush=True); time.sleep(5)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "up"
        assert any("LISTEN" in s for s in inet_sockets(child.pid))
    finally:
        child.kill()
        child.wait()


def test_a_recorded_live_simulated_run_opens_no_network_socket(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dashboard.cli",
            "live",
            "--simulate",
            "--terminal",
            "--no-metronome",
            "--duration",
            "6",
            "--speed",
            "3",
            "--faults",
            "loss=0.05,disconnect_every=2,disconnect=0.5",
            "--record",
            str(tmp_path / "session"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    seen: list[str] = []
    looks = 0
    try:
        deadline = time.monotonic() + 30.0
        while child.poll() is None and time.monotonic() < deadline:
            seen += inet_sockets(child.pid)
            looks += 1
            time.sleep(0.2)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, stderr.decode()[-2000:]
    assert looks >= 5
    assert seen == []
    assert (tmp_path / "session" / "packets.bin").stat().st_mode & 0o077 == 0
