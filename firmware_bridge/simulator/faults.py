"""Link faults for the simulated devices: loss, corruption, reordering, duplicates, outages.

Each packet suffers at most one fault, drawn independently per packet, so the injected
counts are exact and a decoder's counters can be checked against them:

* ``loss``: the packet is never sent;
* ``corrupt``: one bit inside its frame (never the delimiter) is flipped on the wire;
* ``duplicate``: the frame is sent twice in a row;
* ``reorder``: the packet swaps places with the next one;
* ``disconnect_every_s`` / ``disconnect_s``: the device drops off the link for that long
  (with ``reset_on_reconnect`` it reboots, restarting its clock and sequence counter);
* ``clock_jump_ms`` / ``clock_jump_every_s``: the device's timestamp counter steps by
  ±``clock_jump_ms`` (sign drawn at random) about every ``clock_jump_every_s`` seconds,
  as a firmware that re-synchronises its timer would; the sampling itself runs on, so only
  the stamps move.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from firmware_bridge.cobs import frame
from firmware_bridge.errors import ConfigurationError


@dataclass(frozen=True)
class FaultSpec:
    """Probabilities per packet (0–1) and outage timing (s)."""

    loss: float = 0.0
    corrupt: float = 0.0
    reorder: float = 0.0
    duplicate: float = 0.0
    disconnect_every_s: float = 0.0
    disconnect_s: float = 2.0
    reset_on_reconnect: bool = False
    clock_jump_ms: float = 0.0
    clock_jump_every_s: float = 120.0

    def __post_init__(self) -> None:
        probs = (self.loss, self.corrupt, self.reorder, self.duplicate)
        if any(not 0.0 <= p <= 1.0 for p in probs) or sum(probs) > 1.0:
            raise ConfigurationError(
                "fault probabilities must each lie in 0..1 and add up to at most 1, got "
                f"loss={self.loss}, corrupt={self.corrupt}, reorder={self.reorder}, "
                f"duplicate={self.duplicate}"
            )
        if self.disconnect_every_s < 0 or self.disconnect_s < 0:
            raise ConfigurationError("disconnect times must not be negative")
        if not (self.clock_jump_ms >= 0 and self.clock_jump_every_s > 0):
            raise ConfigurationError(
                "clock_jump must be a size in ms ≥ 0 and clock_jump_every a positive number "
                f"of seconds, got clock_jump={self.clock_jump_ms}, "
                f"clock_jump_every={self.clock_jump_every_s}"
            )

    @classmethod
    def parse(cls, spec: str) -> FaultSpec:
        """Parse ``"loss=0.05,corrupt=0.001,disconnect_every=60"`` (empty string: no faults)."""
        names = {f.name for f in fields(cls)}
        aliases = {
            "disconnect_every": "disconnect_every_s",
            "disconnect": "disconnect_s",
            "clock_jump": "clock_jump_ms",
            "clock_jump_every": "clock_jump_every_s",
        }
        values: dict[str, float | bool] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key, sep, raw = item.partition("=")
            key = aliases.get(key.strip(), key.strip())
            if not sep or key not in names:
                raise ConfigurationError(
                    f"cannot read fault '{item}': use name=value with names "
                    "loss, corrupt, reorder, duplicate, disconnect_every, disconnect, "
                    "reset_on_reconnect, clock_jump, clock_jump_every"
                )
            try:
                values[key] = (
                    raw.strip().lower() in ("1", "true", "yes")
                    if key == "reset_on_reconnect"
                    else float(raw)
                )
            except ValueError:
                raise ConfigurationError(f"fault '{key}' needs a number, got '{raw}'") from None
        return cls(**values)  # type: ignore[arg-type]


@dataclass
class InjectedFaults:
    """What was actually injected on one link (exact counts)."""

    sent: int = 0
    lost: int = 0
    corrupted: int = 0
    duplicated: int = 0
    reordered: int = 0
    disconnects: int = 0
    lost_in_outages: int = 0
    intact: list[tuple[int, int, int]] = field(default_factory=list)
    """(boot number, ordinal, n_samples) of every packet delivered intact at least once;
    the ordinal counts packets since the boot and, unlike the 16-bit seq, never wraps."""
    lost_seqs: list[tuple[int, int]] = field(default_factory=list)
    """(boot number, ordinal) of every packet dropped by ``loss``."""
    corrupted_seqs: list[tuple[int, int]] = field(default_factory=list)
    """(boot number, ordinal) of every packet sent with a flipped bit."""
    outages_s: list[tuple[float, float]] = field(default_factory=list)
    """(start, end) host times (s) of every disconnect."""
    clock_jumps: list[tuple[float, float]] = field(default_factory=list)
    """(host time s, step s) of every device timestamp step."""

    def missing_detectable(self) -> int:
        """Packets (lost or corrupted) a receiver can know are missing: those between two
        intact packets of the same boot. Nothing marks a loss before the first packet a
        receiver sees, or after the last one."""
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for boot, ordinal, _ in self.intact:
            first[boot] = min(first.get(boot, ordinal), ordinal)
            last[boot] = max(last.get(boot, ordinal), ordinal)
        return sum(
            1
            for boot, ordinal in self.lost_seqs + self.corrupted_seqs
            if boot in first and first[boot] < ordinal < last[boot]
        )


@dataclass(frozen=True)
class WireChunk:
    """Frames in the order they leave the device (bytes) with their send-ready times (s)."""

    ready_s: np.ndarray
    frames: list[bytes]


def apply_faults(
    packets: list[tuple[float, bytes, int]],
    spec: FaultSpec,
    rng: np.random.Generator,
    counts: InjectedFaults,
    *,
    boot: int = 0,
) -> WireChunk:
    """Frame ``packets`` (ready time s, packet bytes, ordinal) and inject the per-packet faults.

    Returns the frames in wire order with non-decreasing send-ready times (a packet swapped
    behind its successor is sent when both are ready).
    """
    n = len(packets)
    draws = rng.random(n)
    edges = np.cumsum([spec.loss, spec.corrupt, spec.duplicate, spec.reorder])
    fault = np.searchsorted(edges, draws, side="right")  # 0 loss,1 corrupt,2 dup,3 reorder,4 ok
    order: list[int] = []
    i = 0
    while i < n:
        if fault[i] == 3 and i + 1 < n and fault[i + 1] == 4:
            order.extend((i + 1, i))
            counts.reordered += 1
            i += 2
            continue
        if fault[i] == 3:
            fault[i] = 4
        order.append(i)
        i += 1
    frames: list[bytes] = []
    ready: list[float] = []
    latest = -np.inf
    for idx in order:
        t_ready, data, ordinal = packets[idx]
        latest = max(latest, t_ready)
        counts.sent += 1
        kind = fault[idx]
        if kind == 0:
            counts.lost += 1
            counts.lost_seqs.append((boot, ordinal))
            continue
        framed = frame(data)
        if kind == 1:
            damaged = bytearray(framed)
            pos = int(rng.integers(0, len(damaged) - 1))
            damaged[pos] ^= 1 << int(rng.integers(0, 8))
            frames.append(bytes(damaged))
            ready.append(latest)
            counts.corrupted += 1
            counts.corrupted_seqs.append((boot, ordinal))
            continue
        frames.append(framed)
        ready.append(latest)
        counts.intact.append((boot, ordinal, data[12]))
        if kind == 2:
            frames.append(framed)
            ready.append(latest)
            counts.duplicated += 1
    return WireChunk(np.asarray(ready, dtype=np.float64), frames)
