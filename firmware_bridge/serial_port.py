"""The serial transport: a ``SerialReader`` per port, its bytes into a ``LinkDecoder``.

A reader is served either by a ``SerialHub`` (one thread that waits on every port at once;
the default on POSIX, see ``firmware_bridge.serial_hub``) or by a thread of its own (where
serial ports cannot be waited on together, e.g. Windows). Either way, every read is stamped
with the injected host clock straight after it returns, the bytes go to the decoder (which
emits sample blocks to the sink), and the decoder gives up on overdue packets between
reads. If the port vanishes (a USB cable pulled), the reader reports the fault, keeps
everything already decoded, and reopens the port with backoff.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import serial

from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.errors import TransportError
from firmware_bridge.hostclock import HostClock

if TYPE_CHECKING:
    from firmware_bridge.serial_hub import SerialHub

StateListener = Callable[[str, str], None]
"""Told (port, state) on every change: ``connected``, ``reconnecting``, ``closed``."""
BatchListener = Callable[[], None]
"""Called after the bytes of one wake-up were decoded (so consumers can look once per batch)."""

FIRST_RETRY_S = 0.1
"""Wait before the first attempt to reopen a vanished port (s); doubled per failure."""
MAX_RETRY_S = 2.0
"""Longest wait between attempts to reopen a vanished port (s)."""


def open_serial(port: str, *, baudrate: int = 921_600, timeout_s: float = 0.005) -> serial.Serial:
    """Open ``port`` for reading raw bytes.

    Raises:
        TransportError: ``cannot open <port>: <reason>`` when the port does not exist, is
            busy, or is not a serial device.
    """
    try:
        return serial.Serial(port, baudrate=baudrate, timeout=timeout_s, **_exclusive())
    except (serial.SerialException, OSError, ValueError) as exc:
        raise TransportError(f"cannot open {port}: {_reason(exc)}") from None


def _exclusive() -> dict[str, bool]:
    """Lock the port on POSIX so that two programs cannot split one device's bytes."""
    return {"exclusive": True} if os.name == "posix" else {}


def _reason(exc: BaseException) -> str:
    """The operating system's words for why a port would not open."""
    errno_value = getattr(exc, "errno", None)
    if isinstance(errno_value, int) and errno_value:
        return os.strerror(errno_value)
    text = str(exc)
    if "Inappropriate ioctl" in text or "Could not configure port" in text:
        return "not a serial port"
    if "exclusively lock" in text or "Resource temporarily unavailable" in text:
        return "in use by another program"
    return text.split(": ", 1)[-1] if text.startswith("could not open port") else text


@dataclass(frozen=True)
class ReadTiming:
    """Gaps between successive reads of the reader thread (s), for stall measurements."""

    gaps_s: tuple[float, ...]


class SerialReader:
    """Reads one serial port and feeds a ``LinkDecoder``.

    With ``hub``, the hub's thread serves the port (``start`` attaches it, ``stop`` detaches
    it); without, ``start`` runs a thread of its own. ``on_batch`` is told after each read
    that was fed to the decoder (a hub tells its own listener once per wake-up instead).
    ``on_raw(data, t_s)`` sees every read as it arrived, before decoding (for recording).
    """

    def __init__(
        self,
        port: str,
        decoder: LinkDecoder,
        *,
        clock: HostClock = time.monotonic,
        baudrate: int = 921_600,
        read_timeout_s: float = 0.005,
        reconnect: bool = True,
        on_state: StateListener | None = None,
        keep_read_gaps: int = 100_000,
        hub: SerialHub | None = None,
        on_batch: BatchListener | None = None,
        on_raw: Callable[[bytes, float], None] | None = None,
    ) -> None:
        self.port = port
        self.decoder = decoder
        self.hub = hub
        self._clock = clock
        self._baudrate = baudrate
        self._timeout_s = read_timeout_s
        self._reconnect = reconnect
        self._on_state = on_state
        self._on_batch = on_batch
        self.on_raw = on_raw
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._serial: serial.Serial | None = None
        self.state = "closed"
        self.bytes_read = 0
        self.reconnects = 0
        self.errors = 0
        """Exceptions raised while decoding; counted, shown, and never fatal to the thread."""
        self.last_error: str | None = None
        self._read_gaps: deque[float] = deque(maxlen=keep_read_gaps)
        self._retry_s = FIRST_RETRY_S

    def open(self) -> None:
        """Open the port now, so that a wrong port fails before any thread starts."""
        self._serial = open_serial(self.port, baudrate=self._baudrate, timeout_s=self._timeout_s)
        self._set_state("connected")

    def start(self) -> None:
        """Open (if not yet open) and start reading: on the hub, or on a thread of its own."""
        if self._serial is None:
            self.open()
        self._stop.clear()
        if self.hub is not None:
            self.hub.attach(self)
            return
        self._thread = threading.Thread(target=self._run, name=f"serial:{self.port}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop reading and close the port."""
        self._stop.set()
        if self.hub is not None:
            self.hub.detach(self, timeout_s)
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._serial is not None:
            self._serial.close()
            self._serial = None
        self._set_state("closed")

    def read_timing(self) -> ReadTiming:
        """The recorded gaps between reads (s) of the thread that serves this port."""
        if self.hub is not None:
            return self.hub.read_timing()
        return ReadTiming(tuple(self._read_gaps))

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            if self._on_state is not None:
                self._on_state(self.port, state)

    # ------------------------------------------- used by whichever thread serves the port
    def fileno(self) -> int:
        """The open port's file descriptor (for a hub's selector)."""
        assert self._serial is not None
        return int(self._serial.fileno())

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def feed(self, data: bytes, now: float) -> None:
        """Decode bytes read at host time ``now``; a decoding fault is counted, not raised."""
        try:
            self.bytes_read += len(data)
            if self.on_raw is not None:
                self.on_raw(data, now)
            self.decoder.feed(data, now)
        except Exception as exc:  # keep reading; the device panel shows the fault
            self.errors += 1
            self.last_error = f"{self.port}: {type(exc).__name__}: {exc}"

    def poll(self, now: float) -> None:
        """Let the decoder give up on overdue packets; a fault is counted, not raised."""
        try:
            self.decoder.poll(now)
        except Exception as exc:  # keep reading; the device panel shows the fault
            self.errors += 1
            self.last_error = f"{self.port}: {type(exc).__name__}: {exc}"

    def lost(self, reason: str) -> bool:
        """The port failed: close it and report; return whether it will be reopened."""
        port, self._serial = self._serial, None
        self.last_error = f"{self.port}: {reason}"
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()
        if not self._reconnect:
            self._set_state("closed")
            return False
        self._retry_s = FIRST_RETRY_S
        self._set_state("reconnecting")
        return True

    def retry_delay_s(self) -> float:
        """How long to wait before the next attempt to reopen (s)."""
        return self._retry_s

    def try_reopen(self) -> bool:
        """One attempt to reopen a vanished port; on failure the next wait doubles."""
        try:
            self._serial = open_serial(
                self.port, baudrate=self._baudrate, timeout_s=self._timeout_s
            )
        except TransportError as exc:
            self.last_error = str(exc)
            self._retry_s = min(self._retry_s * 2, MAX_RETRY_S)
            return False
        self.reconnects += 1
        self.decoder.resync()
        self._set_state("connected")
        return True

    # ------------------------------------------------------------- a thread of its own
    def _run(self) -> None:
        last_read = self._clock()
        while not self._stop.is_set():
            port = self._serial
            if port is None:
                if not self._reopen():
                    return
                continue
            try:
                data = port.read(1)
                if data and port.in_waiting:
                    data += port.read(port.in_waiting)
            except (serial.SerialException, OSError, TypeError) as exc:
                if not self.lost(str(exc)):
                    return
                continue
            now = self._clock()
            self._read_gaps.append(now - last_read)
            last_read = now
            if data:
                self.feed(data, now)
            self.poll(now)
            if data and self._on_batch is not None:
                self._on_batch()

    def _reopen(self) -> bool:
        while not self._stop.wait(self.retry_delay_s()):
            if self.try_reopen():
                return True
        return False
