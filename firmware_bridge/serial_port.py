"""The serial transport: one reader thread per port, bytes into a ``LinkDecoder``.

The thread stamps every read with the injected host clock straight after it returns, feeds
the bytes to the decoder (which emits sample blocks to the sink), and lets the decoder give
up on overdue packets between reads. If the port vanishes (a USB cable pulled), it reports
the fault, keeps everything already decoded, and reopens the port with backoff.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import serial

from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.errors import TransportError
from firmware_bridge.hostclock import HostClock

StateListener = Callable[[str, str], None]
"""Told (port, state) on every change: ``connected``, ``reconnecting``, ``closed``."""


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
    """Reads one serial port on its own thread and feeds a ``LinkDecoder``."""

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
    ) -> None:
        self.port = port
        self.decoder = decoder
        self._clock = clock
        self._baudrate = baudrate
        self._timeout_s = read_timeout_s
        self._reconnect = reconnect
        self._on_state = on_state
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

    def open(self) -> None:
        """Open the port now, so that a wrong port fails before any thread starts."""
        self._serial = open_serial(self.port, baudrate=self._baudrate, timeout_s=self._timeout_s)
        self._set_state("connected")

    def start(self) -> None:
        """Open (if not yet open) and start the reader thread."""
        if self._serial is None:
            self.open()
        self._thread = threading.Thread(target=self._run, name=f"serial:{self.port}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the thread and close the port."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._serial is not None:
            self._serial.close()
            self._serial = None
        self._set_state("closed")

    def read_timing(self) -> ReadTiming:
        """The recorded gaps between reads (s)."""
        return ReadTiming(tuple(self._read_gaps))

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            if self._on_state is not None:
                self._on_state(self.port, state)

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
                self.last_error = f"{self.port}: {exc}"
                self._serial = None
                with contextlib.suppress(serial.SerialException, OSError):
                    port.close()
                if not self._reconnect:
                    self._set_state("closed")
                    return
                self._set_state("reconnecting")
                continue
            now = self._clock()
            self._read_gaps.append(now - last_read)
            last_read = now
            try:
                if data:
                    self.bytes_read += len(data)
                    self.decoder.feed(data, now)
                self.decoder.poll(now)
            except Exception as exc:  # keep reading; the device panel shows the fault
                self.errors += 1
                self.last_error = f"{self.port}: {type(exc).__name__}: {exc}"

    def _reopen(self) -> bool:
        delay_s = 0.1
        while not self._stop.wait(delay_s):
            try:
                self._serial = open_serial(
                    self.port, baudrate=self._baudrate, timeout_s=self._timeout_s
                )
            except TransportError as exc:
                self.last_error = str(exc)
                delay_s = min(delay_s * 2, 2.0)
                continue
            self.reconnects += 1
            self.decoder.resync()
            self._set_state("connected")
            return True
        return False
