"""One thread that reads every serial port at once, instead of one thread per port.

Why. On the laptops gaitcue runs on, and even more in virtual machines, waking a thread
costs tens of microseconds of CPU. One reader thread per port, each waking on its own
packets and on a 5 ms read timeout, made the acquisition cost more than decoding the data.
A ``SerialHub`` waits on all ports with one ``selectors`` call, so a wake-up serves every
port that has bytes, and a quiet port costs nothing.

What a wake-up does:

1. read everything waiting on each ready port (one non-blocking ``os.read``), stamp it with
   the injected host clock straight after the read, and feed the port's decoder;
2. let every decoder give up on overdue packets (``LinkDecoder.poll``);
3. try to reopen ports that vanished whose backoff has passed;
4. tell ``on_batch`` once (the app layer wakes the processing thread with it).

The hub never waits longer than ``max_wait_s`` (5 ms, the timeout a per-port reader used),
so the gaps between its wake-ups (``read_timing``) measure stalls exactly as before: a gap
much longer than ``max_wait_s`` means the thread was not scheduled or not given the GIL.

Ports are ``SerialReader``s; ``SerialReader.start`` attaches one and ``stop`` detaches it.
The thread starts with the first attached port and ends when the last one is detached.
Selectors cannot wait on serial handles on Windows: there, readers keep their own threads
(``SerialHub.supported()`` says which).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from firmware_bridge.hostclock import HostClock

if TYPE_CHECKING:
    from collections.abc import Callable

    from firmware_bridge.serial_port import ReadTiming, SerialReader

_READ_BYTES = 65536
"""The most bytes taken from one port per wake-up (more than a pseudo-terminal holds)."""


class SerialHub:
    """Serves any number of ``SerialReader``s from one thread.

    Args:
        clock: stamps every read (host seconds).
        max_wait_s: longest wait for bytes before the thread wakes anyway (s).
        on_batch: called on the hub's thread after each wake-up that decoded bytes.
        keep_read_gaps: how many gaps between wake-ups are kept for ``read_timing``.
    """

    def __init__(
        self,
        *,
        clock: HostClock = time.monotonic,
        max_wait_s: float = 0.005,
        on_batch: Callable[[], None] | None = None,
        keep_read_gaps: int = 100_000,
        name: str = "serial-hub",
    ) -> None:
        self._clock = clock
        self._max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._name = name
        self._lock = threading.Lock()
        self._commands: list[tuple[str, SerialReader, threading.Event | None]] = []
        self._thread: threading.Thread | None = None
        self._wake_w: int | None = None
        self._read_gaps: deque[float] = deque(maxlen=keep_read_gaps)

    @staticmethod
    def supported() -> bool:
        """Whether serial ports can be waited on together here (POSIX: yes; Windows: no)."""
        return sys.platform != "win32"

    def attach(self, reader: SerialReader) -> None:
        """Start serving ``reader`` (open); starts the thread if it is not running."""
        self._command("attach", reader, None)

    def detach(self, reader: SerialReader, timeout_s: float = 2.0) -> None:
        """Stop serving ``reader``; returns once the thread no longer touches it."""
        done = threading.Event()
        if self._command("detach", reader, done):
            done.wait(timeout_s)

    def read_timing(self) -> ReadTiming:
        """Gaps between the thread's wake-ups (s): each is at most ``max_wait_s`` unless the
        thread was stalled (or busy decoding)."""
        from firmware_bridge.serial_port import ReadTiming

        return ReadTiming(tuple(self._read_gaps))

    @property
    def running(self) -> bool:
        return self._thread is not None

    # ----------------------------------------------------------------- internals
    def _command(self, what: str, reader: SerialReader, done: threading.Event | None) -> bool:
        """Queue a change for the thread; return whether the thread will carry it out."""
        with self._lock:
            if self._thread is None:
                if what == "detach":
                    return False  # nothing serves it: nothing to undo
                read_w, self._wake_w = _wake_pipe()
                self._commands.append((what, reader, done))
                self._thread = threading.Thread(
                    target=self._run, args=(read_w,), name=self._name, daemon=True
                )
                self._thread.start()
                return True
            self._commands.append((what, reader, done))
            self._wake()
            return True

    def _wake(self) -> None:
        if self._wake_w is not None:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._wake_w, b"\x01")

    def _run(self, wake_r: int) -> None:
        selector = selectors.DefaultSelector()
        selector.register(wake_r, selectors.EVENT_READ, None)
        readers: list[SerialReader] = []
        retry_at: dict[SerialReader, float] = {}  # vanished ports: when to try again (monotonic)
        clock = self._clock
        gaps = self._read_gaps
        last = clock()
        polled_all = last
        try:
            while True:
                if self._commands and not self._apply(selector, readers, retry_at):
                    return
                timeout = self._max_wait_s
                if retry_at:
                    timeout = min(timeout, max(0.0, min(retry_at.values()) - time.monotonic()))
                events = selector.select(timeout)
                now = clock()
                gaps.append(now - last)
                last = now
                fed: list[SerialReader] = []
                for key, _ in events:
                    reader = key.data
                    if reader is None:
                        with contextlib.suppress(BlockingIOError, OSError):
                            os.read(wake_r, 4096)
                    elif self._read(selector, key.fd, reader, retry_at):
                        fed.append(reader)
                now = clock()
                # Decoders give up on overdue packets: after each read, and every port at
                # least every ``max_wait_s`` (as a reader of its own would on its timeout).
                if now - polled_all >= self._max_wait_s:
                    polled_all = now
                    fed = readers
                for reader in fed:
                    if reader.is_open:
                        reader.poll(now)
                if retry_at:
                    self._retry(selector, retry_at)
                if fed and self._on_batch is not None:
                    self._on_batch()
        finally:
            selector.close()
            with contextlib.suppress(OSError):
                os.close(wake_r)
            with self._lock:
                if self._thread is threading.current_thread():  # ended by an exception
                    self._close_wake_w()
                    self._thread = None

    def _read(
        self,
        selector: selectors.BaseSelector,
        fd: int,
        reader: SerialReader,
        retry_at: dict[SerialReader, float],
    ) -> bool:
        """Read what one ready port (file descriptor ``fd``) holds and feed it; return
        whether bytes came."""
        try:
            data = os.read(fd, _READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self._lost(selector, reader, retry_at, f"read failed: {exc}")
            return False
        if not data:
            # A vanished device (at least on Linux) reads as always ready with no data.
            self._lost(
                selector,
                reader,
                retry_at,
                "device reports readiness to read but returned no data "
                "(device disconnected or multiple access on port?)",
            )
            return False
        reader.feed(data, self._clock())
        return True

    def _lost(
        self,
        selector: selectors.BaseSelector,
        reader: SerialReader,
        retry_at: dict[SerialReader, float],
        reason: str,
    ) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            selector.unregister(reader.fileno())
        if reader.lost(reason):
            retry_at[reader] = time.monotonic() + reader.retry_delay_s()

    def _retry(self, selector: selectors.BaseSelector, retry_at: dict[SerialReader, float]) -> None:
        now = time.monotonic()
        for reader, due in list(retry_at.items()):
            if due > now:
                continue
            if reader.try_reopen():
                del retry_at[reader]
                selector.register(reader.fileno(), selectors.EVENT_READ, reader)
            else:
                retry_at[reader] = now + reader.retry_delay_s()

    def _apply(
        self,
        selector: selectors.BaseSelector,
        readers: list[SerialReader],
        retry_at: dict[SerialReader, float],
    ) -> bool:
        """Carry out queued attach/detach; return False (and forget the thread) once no
        port is left to serve."""
        with self._lock:
            commands, self._commands = self._commands, []
            for what, reader, _ in commands:
                if what == "attach" and reader not in readers:
                    readers.append(reader)
                    if reader.is_open:
                        selector.register(reader.fileno(), selectors.EVENT_READ, reader)
                    else:
                        retry_at[reader] = time.monotonic()
                elif what == "detach" and reader in readers:
                    readers.remove(reader)
                    retry_at.pop(reader, None)
                    if reader.is_open:
                        with contextlib.suppress(KeyError, ValueError, OSError):
                            selector.unregister(reader.fileno())
            if not readers:
                # Last port gone: this thread ends; a later attach starts a new one.
                self._close_wake_w()
                self._thread = None
            for _, _, done in commands:
                if done is not None:
                    done.set()
            return bool(readers)

    def _close_wake_w(self) -> None:
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                os.close(self._wake_w)
            self._wake_w = None


def _wake_pipe() -> tuple[int, int]:
    """A non-blocking pipe whose write end wakes the hub's selector."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    return read_fd, write_fd
