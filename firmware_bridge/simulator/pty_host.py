"""Serve simulated devices on pseudo-terminals, so any serial client can read them.

Each virtual device gets a pseudo-terminal pair; the simulator writes its frames to the
master end at their simulated arrival times and a client opens the slave path (printed by
``gaitcue simulate --pty``) exactly like a USB-serial port. POSIX only: Windows has no
pseudo-terminals (use ``gaitcue live --simulate`` there).

One thread generates the devices' bytes a little ahead of time into a queue; another writes
them when due, so generation never delays delivery.

Back-pressure. A pseudo-terminal holds a few kB; a client that falls behind for a moment
(a busy machine, a fast simulated clock) fills it. The writer then waits for the terminal to
take bytes again, as a USB-serial device waits for the host, instead of dropping them: the
time spent waiting is counted (``PtyStats.wait_s``) and the writes after it are late
(``max_lateness_s``). Bytes are dropped only for a muted device, a port that is closed, or a
port that nobody has read for ``reader_timeout_s`` (no client, or one that stopped reading);
such a port is written without waiting until it takes a whole packet again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from firmware_bridge.errors import TransportError
from firmware_bridge.hostclock import ScaledClock
from firmware_bridge.samples import Side, StreamKind
from firmware_bridge.simulator.session import SimulatedSession

WAIT_SLICE_S = 0.05
"""Longest single wait (wall s) for a full pseudo-terminal, so that ``stop`` is seen soon."""


@dataclass
class PtyStats:
    """What the writer did.

    Attributes:
        bytes_written: bytes the pseudo-terminals took.
        bytes_dropped: bytes not delivered (muted device, closed port, or no client reading).
        max_lateness_s: how late writes were behind their scheduled arrival (simulated s).
        wait_s: wall time the writer waited for a full pseudo-terminal to take bytes (s).
        waits: how many times it had to wait.
    """

    bytes_written: int = 0
    bytes_dropped: int = 0
    max_lateness_s: float = 0.0
    wait_s: float = 0.0
    waits: int = 0


class PtyDeviceHost:
    """The simulated devices of ``session``, each on its own pseudo-terminal.

    Args:
        session: the simulated devices and their bytes.
        clock: the host clock the arrival times are on.
        chunk_s: simulated seconds generated at a time.
        reader_timeout_s: how long (wall s) a full pseudo-terminal is waited for before its
            client is taken as gone and its bytes are dropped.
    """

    def __init__(
        self,
        session: SimulatedSession,
        clock: ScaledClock,
        *,
        chunk_s: float = 0.1,
        reader_timeout_s: float = 2.0,
    ):
        if sys.platform == "win32":
            raise TransportError("pseudo-terminals need Linux or macOS; use --simulate on Windows")
        import tty

        self.session = session
        self.clock = clock
        self._chunk_s = chunk_s
        self._reader_timeout_s = reader_timeout_s
        self._unread: set[int] = set()
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
                if not self.clock.sleep_until(arrival_s, self._stop):
                    return
                lateness = self.clock() - arrival_s
                self.stats.max_lateness_s = max(self.stats.max_lateness_s, lateness)
                self._write_now(device_index, payload)
        self.finished.set()

    def _write_now(self, device_index: int, payload: bytes) -> None:
        """Deliver one packet's bytes, waiting while the client catches up (see the module
        docstring for when bytes are dropped instead)."""
        if device_index in self._muted:
            self.stats.bytes_dropped += len(payload)
            return
        fd = self._masters[device_index]
        wait = device_index not in self._unread
        pending = memoryview(payload)
        while pending:
            written = _write_some(fd, pending)
            if written < 0:  # the port is closed
                break
            self.stats.bytes_written += written
            pending = pending[written:]
            if pending and not (wait and self._wait_writable(fd)):
                if wait and not self._stop.is_set():
                    self._unread.add(device_index)
                break
        if not pending:
            self._unread.discard(device_index)
        self.stats.bytes_dropped += len(pending)

    def _wait_writable(self, fd: int) -> bool:
        """Wait until ``fd`` takes bytes again; False when ``stop`` is set or nobody has read
        it for ``reader_timeout_s``. The wait counts in the stats."""
        start = time.monotonic()
        deadline = start + self._reader_timeout_s
        self.stats.waits += 1
        try:
            while not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0.0:
                    return False
                try:
                    _, ready, _ = select.select([], [fd], [], min(left, WAIT_SLICE_S))
                except (OSError, ValueError):  # closed meanwhile
                    return False
                if ready:
                    return True
            return False
        finally:
            self.stats.wait_s += time.monotonic() - start


def _write_some(fd: int, data: memoryview) -> int:
    """Write what ``fd`` takes now of ``data``: the byte count (0 when it is full), or -1 when
    the port is closed."""
    try:
        return os.write(fd, data)
    except BlockingIOError:
        return 0
    except OSError as exc:
        if exc.errno in (errno.EIO, errno.EBADF):
            return -1
        raise


class ServedSpec(Protocol):
    """What is announced of a served device."""

    @property
    def kind(self) -> StreamKind: ...
    @property
    def side(self) -> Side: ...
    @property
    def rate_hz(self) -> int: ...
    @property
    def device_id(self) -> int: ...


class ServedDevice(Protocol):
    """A served device (a ``VirtualDevice``, or one a child simulator announced)."""

    @property
    def spec(self) -> ServedSpec: ...


class ServedSession(Protocol):
    """What callers read of the session behind served devices."""

    @property
    def latency_floor_s(self) -> float: ...
    @property
    def devices(self) -> Sequence[ServedDevice]: ...


class SimulatorHost(Protocol):
    """Simulated devices served on pseudo-terminals, in this process (:class:`PtyDeviceHost`)
    or in a child (:class:`PtyHostProcess`)."""

    paths: list[str]
    finished: threading.Event

    @property
    def session(self) -> ServedSession: ...

    def stop(self) -> None: ...


CLOCK_ORIGIN_ENV = "GAITCUE_SIMULATOR_CLOCK_ORIGIN_S"
"""Set for a simulator in a child process: the parent's ``ScaledClock`` origin (monotonic s),
so that both processes run on one simulated timeline."""
CHILD_STOP_WAIT_S = 15.0
"""How long (s) a child simulator may take to stop and write its truth before it is killed."""


def clock_of_parent(clock: ScaledClock) -> ScaledClock:
    """In a simulator started by :class:`PtyHostProcess`: the parent's clock (``clock``'s
    speed, the parent's origin), and a watcher that stops this process with SIGTERM (as
    Ctrl-C would) once its standard input closes, i.e. once the parent is gone however it
    ended. Elsewhere: ``clock`` itself."""
    origin = os.environ.get(CLOCK_ORIGIN_ENV)
    if origin is None:
        return clock

    def stop_when_orphaned() -> None:
        sys.stdin.read()  # returns at end of file: the parent closed the pipe, or died
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_when_orphaned, name="parent-watch", daemon=True).start()
    return ScaledClock(clock.speed, _origin_s=float(origin))


@dataclass(frozen=True)
class AnnouncedSpec:
    """A device as a child simulator announced it: kind, side, rate (Hz) and device id."""

    kind: StreamKind
    side: Side
    rate_hz: int
    device_id: int


@dataclass(frozen=True)
class AnnouncedDevice:
    """A device served by a child simulator (its ``spec``, like a ``VirtualDevice``'s)."""

    spec: AnnouncedSpec

    @classmethod
    def parse(cls, line: str) -> AnnouncedDevice:
        """From ``gaitcue simulate --pty``'s line: path, kind, side, ``N Hz``, ``device HEX``
        (tab-separated)."""
        _, kind, side, rate, device = line.rstrip("\n").split("\t")
        return cls(
            AnnouncedSpec(
                kind=StreamKind[kind.upper()],
                side=Side[side.upper()],
                rate_hz=int(rate.split()[0]),
                device_id=int(device.split()[-1], 16),
            )
        )


class PtyHostProcess:
    """Simulated devices served on pseudo-terminals by a child process (``gaitcue simulate
    --pty``), on the caller's clock, so that they have a core of their own.

    The child prints one line per device, its pseudo-terminal path first; it writes the
    truth to :attr:`truth_path` when it stops. Start it with :meth:`spawn`; :meth:`stop` ends
    it (killing it if needed) and :meth:`cleanup` removes its folder.

    Attributes:
        process: the child.
        paths: its pseudo-terminals, one per device.
        devices: the devices as it announced them, in the same order.
        latency_floor_s: the simulated link's latency floor (s), for the clock mapping.
        finished: set once the child has ended.
    """

    def __init__(
        self,
        process: subprocess.Popen[str],
        folder: Path,
        *,
        latency_floor_s: float,
    ) -> None:
        self.process = process
        self.paths: list[str] = []
        self.devices: list[AnnouncedDevice] = []
        self.latency_floor_s = latency_floor_s
        self._folder = folder
        self.finished = threading.Event()

    @property
    def session(self) -> PtyHostProcess:
        """Stands for ``PtyDeviceHost.session`` where callers read ``latency_floor_s`` and
        ``devices``."""
        return self

    @property
    def truth_path(self) -> Path:
        """Where the child writes the true events when it stops."""
        return self._folder / "truth.csv"

    @classmethod
    def spawn(
        cls,
        argv_for: Callable[[Path], list[str]],
        clock: ScaledClock,
        *,
        n_devices: int = 4,
        latency_floor_s: float | None = None,
    ) -> PtyHostProcess:
        """Start the child ``argv_for(truth_path)`` on ``clock`` and wait for its
        ``n_devices`` pseudo-terminal paths.

        Args:
            argv_for: the child's command line, given where it must write the truth.
            clock: the clock the child shares (speed and origin).
            n_devices: lines (devices) the child announces.
            latency_floor_s: the link's latency floor (s); None: the simulated serial link's.

        Raises:
            TransportError: the child did not start (its last error line).
        """
        folder = Path(tempfile.mkdtemp(prefix="gaitcue-simulator-"))
        env = {**os.environ, CLOCK_ORIGIN_ENV: repr(clock._origin_s)}
        with open(folder / "stderr.txt", "w", encoding="utf-8") as errors:
            process = subprocess.Popen(
                argv_for(folder / "truth.csv"),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                env=env,
            )
        floor_s = latency_floor_s if latency_floor_s is not None else _serial_floor_s()
        host = cls(process, folder, latency_floor_s=floor_s)
        try:
            host._read_devices(n_devices)
        except BaseException:
            host.stop()
            host.cleanup()
            raise

        def wait_for_the_end() -> None:
            process.wait()
            host.finished.set()

        threading.Thread(target=wait_for_the_end, name="simulator-wait", daemon=True).start()
        return host

    def _read_devices(self, n_devices: int) -> None:
        assert self.process.stdout is not None
        for _ in range(n_devices):
            line = self.process.stdout.readline()
            if not line:
                self.process.wait(CHILD_STOP_WAIT_S)
                text = (self._folder / "stderr.txt").read_text(encoding="utf-8").strip()
                last = text.splitlines()[-1] if text else f"status {self.process.returncode}"
                raise TransportError(f"the simulator process did not start: {last}")
            self.paths.append(line.split("\t")[0])
            self.devices.append(AnnouncedDevice.parse(line))

    def stop(self) -> None:
        """Stop the child as Ctrl-C would (it writes the truth), killing it if it has not
        ended within ``CHILD_STOP_WAIT_S``."""
        process = self.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(CHILD_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def cleanup(self) -> None:
        """Remove the child's folder (its truth and messages)."""
        shutil.rmtree(self._folder, ignore_errors=True)


def _serial_floor_s() -> float:
    """The latency floor (s) of the simulated USB-serial link."""
    from firmware_bridge.simulator.link_timing import SerialTiming, latency_floor_s

    return latency_floor_s(SerialTiming())
