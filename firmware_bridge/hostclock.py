"""Injected host clocks: real monotonic time, or simulated time running ``speed`` × faster.

Every component that stamps or waits takes one of these, so a simulated session can run
faster than real time through the whole pipeline. Latency, CPU and frame-rate figures are
only meaningful at ``speed == 1``.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from firmware_bridge.errors import ConfigurationError


class HostClock(Protocol):
    """Host seconds (monotonic, float64)."""

    def __call__(self) -> float: ...


@dataclass
class ScaledClock:
    """A monotonic clock that runs ``speed`` times faster than real time.

    At ``speed == 1`` it reads exactly ``time.monotonic()``, so other processes on the same
    machine share its timeline (truth files written by the simulator line up with arrival
    times stamped by a reader in another process).
    """

    speed: float = 1.0
    _origin_s: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if not math.isfinite(self.speed) or self.speed <= 0:
            raise ConfigurationError(f"speed must be a positive number, got {self.speed}")

    def __call__(self) -> float:
        now = time.monotonic()
        return self._origin_s + (now - self._origin_s) * self.speed

    def sleep_until(self, t_s: float, stop: threading.Event | None = None) -> bool:
        """Sleep until this clock reads ``t_s``; return False if ``stop`` was set meanwhile."""
        while True:
            remaining = (t_s - self()) / self.speed
            if remaining <= 0:
                return True
            if stop is not None:
                if stop.wait(min(remaining, 0.05)):
                    return False
            else:
                time.sleep(min(remaining, 0.05))
