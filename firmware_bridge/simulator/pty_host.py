"""Serve simulated devices on pseudo-terminals, so any serial client can read them.

Each virtual device gets a pseudo-terminal pair; the simulator writes its frames to the
master end at their simulated arrival times and a client opens the slave path (printed by
``gaitcue simulate --pty``) exactly like a USB-serial port. POSIX only: Windows has no
pseudo-terminals (use ``gaitcue live --simulate`` there).

One thread generates the devices' bytes a little ahead of time into a queue; another writes
them when due, so generation never delays delivery.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import sys
import threading
from dataclasses import dataclass

from firmware_bridge.errors import TransportError
from firmware_bridge.hostclock import ScaledClock
from firmware_bridge.simulator.session import SimulatedSession


@dataclass
class PtyStats:
    """What the writer did: bytes written, bytes dropped because no client was reading,
    and how late writes were behind their scheduled arrival (s)."""

    bytes_written: int = 0
    bytes_dropped: int = 0
    max_lateness_s: float = 0.0


class PtyDeviceHost:
    """The simulated devices of ``session``, each on its own pseudo-terminal."""

    def __init__(self, session: SimulatedSession, clock: ScaledClock, *, chunk_s: float = 0.1):
        if sys.platform == "win32":
            raise TransportError("pseudo-terminals need Linux or macOS; use --simulate on Windows")
        import tty

        self.session = session
        self._clock = clock
        self._chunk_s = chunk_s
        self._masters: list[int] = []
        self._slaves: list[int] = []
        self.paths: list[str] = []
        for _ in session.devices:
            master, slave = os.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._masters.append(master)
            self._slaves.append(slave)
            self.paths.append(os.ttyname(slave))
        self.stats = PtyStats()
        self._queue: queue.Queue[list[tuple[float, int, bytes]] | None] = queue.Queue(maxsize=4)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.finished = threading.Event()
        self._muted: set[int] = set()

    def mute(self, device_index: int) -> None:
        """Stop sending device ``device_index``'s bytes from now on, as if it vanished
        (battery dead, out of range); the port stays open."""
        self._muted.add(device_index)

    def start(self) -> None:
        """Start generating and writing."""
        self._threads = [
            threading.Thread(target=self._generate, name="sim-generate", daemon=True),
            threading.Thread(target=self._write, name="sim-write", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop the threads and close the pseudo-terminals."""
        self._stop.set()
        for thread in self._threads:
            thread.join(2.0)
        for fd in self._masters + self._slaves:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._masters, self._slaves = [], []

    def _generate(self) -> None:
        t = self.session.now_s
        while not self._stop.is_set() and t < self.session.end_s:
            t = min(t + self._chunk_s, self.session.end_s)
            items: list[tuple[float, int, bytes]] = []
            for delivery in self.session.advance(t):
                items.extend(
                    zip(
                        delivery.arrival_s.tolist(),
                        [delivery.device_index] * len(delivery.payloads),
                        delivery.payloads,
                        strict=True,
                    )
                )
            items.sort(key=lambda item: item[0])
            self._put(items)
        self._put(None)

    def _put(self, items: list[tuple[float, int, bytes]] | None) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(items, timeout=0.1)
                return
            except queue.Full:
                continue

    def _write(self) -> None:
        while not self._stop.is_set():
            try:
                items = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if items is None:
                break
            for arrival_s, device_index, payload in items:
                if not self._clock.sleep_until(arrival_s, self._stop):
                    return
                lateness = self._clock() - arrival_s
                self.stats.max_lateness_s = max(self.stats.max_lateness_s, lateness)
                self._write_now(device_index, payload)
        self.finished.set()

    def _write_now(self, device_index: int, payload: bytes) -> None:
        if device_index in self._muted:
            self.stats.bytes_dropped += len(payload)
            return
        try:
            written = os.write(self._masters[device_index], payload)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EBADF):
                written = 0
            else:
                raise
        self.stats.bytes_written += written
        self.stats.bytes_dropped += len(payload) - written
