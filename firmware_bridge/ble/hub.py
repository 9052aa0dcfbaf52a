"""One asyncio loop, on its own thread, for all bleak work.

bleak is asyncio-only and its callbacks arrive on the loop that made the client. gaitcue
runs every BLE link (and scans) on a single loop in a single daemon thread, never on the Qt
thread: links stay independent tasks, notifications of all devices are decoded on that one
thread (so each stream still has one writer), and other threads talk to it only through
``run`` (block for a result) and ``submit`` (fire and watch a future).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from firmware_bridge.errors import TransportError
from firmware_bridge.hostclock import HostClock

T = TypeVar("T")


def clock_speed(clock: HostClock) -> float:
    """How many clock seconds pass per real second (``ScaledClock.speed``, else 1)."""
    speed = getattr(clock, "speed", 1.0)
    return float(speed) if isinstance(speed, int | float) and speed > 0 else 1.0


async def sleep_clock(clock: HostClock, duration_s: float) -> None:
    """Sleep ``duration_s`` seconds of ``clock`` (real time divided by its speed)."""
    await asyncio.sleep(max(0.0, duration_s) / clock_speed(clock))


async def sleep_until(clock: HostClock, t_s: float) -> None:
    """Sleep until ``clock`` reads ``t_s``."""
    await asyncio.sleep(max(0.0, t_s - clock()) / clock_speed(clock))


class BleHub:
    """The BLE thread: an asyncio loop that runs until ``stop``.

    Args:
        name: the thread's name.
    """

    def __init__(self, *, name: str = "ble") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The hub's loop (starting the hub if needed)."""
        self.start()
        assert self._loop is not None
        return self._loop

    def start(self) -> None:
        """Start the thread and its loop (idempotent)."""
        with self._lock:
            if self.running:
                return
            self._ready.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def in_hub_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the hub's loop; returns a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run ``coro`` on the hub and wait for its result (from any other thread).

        Raises:
            TransportError: the hub did not finish it within ``timeout_s`` (s, real time).
        """
        if self.in_hub_thread():
            coro.close()
            raise RuntimeError("BleHub.run called from the hub's own thread would deadlock")
        future = self.submit(coro)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TransportError(
                f"Bluetooth did not answer within {timeout_s:g} s: check the adapter"
            ) from None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Cancel what still runs, stop the loop and join the thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None:
                return
            if loop.is_running():
                loop.call_soon_threadsafe(loop.stop)
            self._thread = None
        deadline = time.monotonic() + timeout_s
        thread.join(max(0.0, deadline - time.monotonic()))
