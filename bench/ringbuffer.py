"""Ring buffer throughput: in-place writes against a buffer that shifts itself on every write.

Workload: an insole stream at 200 Hz with 16 cells, 60 s of history (12 000 samples), fed
10-sample blocks (50 ms of data, a typical packet). Measured for both buffers:

- ``writes_per_s``: 10-sample writes per second;
- ``read_new_per_s``: reads of the 10 newest samples (what the processing thread does after
  each block);
- ``read_window_per_s``: copies of the newest 2 s (400 samples, a plot panel's trace);
- for the ring only, ``copy_latest_per_s``: the same 2 s into caller-owned arrays.

The comparison buffer keeps the newest sample in its last row and makes room for each block
with ``np.roll`` (a copy of the whole history per write). Prints one JSON object.

Run from the repository root: ``python bench/ringbuffer.py``.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from realtime.ringbuffer import RingBuffer  # noqa: E402

RATE_HZ = 200.0
HISTORY_S = 60.0
N_CHANNELS = 16
BLOCK = 10
WINDOW = 400
REPEATS = 3
MIN_TIME_S = 0.3


class RollingBuffer:
    """The naive design: newest sample in the last row, shifted with ``np.roll`` per write."""

    def __init__(self, *, capacity: int, n_channels: int) -> None:
        self.t_host_s = np.zeros(capacity, dtype=np.float64)
        self.values = np.zeros((capacity, n_channels), dtype=np.float32)
        self.gap_before_s = np.zeros(capacity, dtype=np.float32)
        self.written = 0

    def write(
        self, t_host_s: npt.NDArray[np.float64], values: npt.NDArray[np.float32], gap_s: float
    ) -> None:
        n = t_host_s.shape[0]
        self.t_host_s = np.roll(self.t_host_s, -n)
        self.values = np.roll(self.values, -n, axis=0)
        self.gap_before_s = np.roll(self.gap_before_s, -n)
        self.t_host_s[-n:] = t_host_s
        self.values[-n:] = values
        self.gap_before_s[-n:] = 0.0
        self.gap_before_s[-n] = gap_s
        self.written += n

    def latest(
        self, n: int
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        return (
            self.t_host_s[-n:].copy(),
            self.values[-n:].copy(),
            self.gap_before_s[-n:].copy(),
        )


def rate_per_s(action: Callable[[], object]) -> float:
    """Best of ``REPEATS`` timings of ``action`` called in a loop for >= ``MIN_TIME_S``."""
    best = 0.0
    for _ in range(REPEATS):
        calls = 0
        batch = 64
        start = time.perf_counter()
        while True:
            for _ in range(batch):
                action()
            calls += batch
            elapsed = time.perf_counter() - start
            if elapsed >= MIN_TIME_S:
                break
        best = max(best, calls / elapsed)
    return best


def main() -> None:
    capacity = round(RATE_HZ * HISTORY_S)
    rng = np.random.default_rng(0)
    n_blocks = 1024
    t = (np.arange(n_blocks * BLOCK, dtype=np.float64) / RATE_HZ).reshape(n_blocks, BLOCK)
    values = rng.standard_normal((n_blocks, BLOCK, N_CHANNELS)).astype(np.float32)

    ring = RingBuffer(capacity=capacity, n_channels=N_CHANNELS)
    rolling = RollingBuffer(capacity=capacity, n_channels=N_CHANNELS)
    for i in range(capacity // BLOCK + 1):  # start from a full history: the steady state
        ring.write(t[i % n_blocks], values[i % n_blocks])
        rolling.write(t[i % n_blocks], values[i % n_blocks], 0.0)

    counter = [0]

    def ring_write() -> None:
        i = counter[0] = (counter[0] + 1) % n_blocks
        ring.write(t[i], values[i])

    def rolling_write() -> None:
        i = counter[0] = (counter[0] + 1) % n_blocks
        rolling.write(t[i], values[i], 0.0)

    out_t = np.zeros(WINDOW, dtype=np.float64)
    out_values = np.zeros((WINDOW, N_CHANNELS), dtype=np.float32)
    out_gap = np.zeros(WINDOW, dtype=np.float32)

    ring_figures = {
        "writes_per_s": rate_per_s(ring_write),
        "read_new_per_s": rate_per_s(lambda: ring.read_since(ring.written - BLOCK)),
        "read_window_per_s": rate_per_s(lambda: ring.latest(WINDOW)),
        "copy_latest_per_s": rate_per_s(lambda: ring.copy_latest(out_t, out_values, out_gap)),
    }
    rolling_figures = {
        "writes_per_s": rate_per_s(rolling_write),
        "read_new_per_s": rate_per_s(lambda: rolling.latest(BLOCK)),
        "read_window_per_s": rate_per_s(lambda: rolling.latest(WINDOW)),
    }
    for figures in (ring_figures, rolling_figures):
        figures["samples_written_per_s"] = figures["writes_per_s"] * BLOCK
    write_speedup = ring_figures["writes_per_s"] / rolling_figures["writes_per_s"]
    result = {
        "bench": "ringbuffer",
        "capacity_samples": capacity,
        "rate_hz": RATE_HZ,
        "history_s": HISTORY_S,
        "n_channels": N_CHANNELS,
        "block_samples": BLOCK,
        "window_samples": WINDOW,
        "ring": {k: round(v) for k, v in ring_figures.items()},
        "np_roll": {k: round(v) for k, v in rolling_figures.items()},
        "write_speedup": round(write_speedup, 1),
        "read_new_ratio": round(
            ring_figures["read_new_per_s"] / rolling_figures["read_new_per_s"], 2
        ),
        "read_window_ratio": round(
            ring_figures["read_window_per_s"] / rolling_figures["read_window_per_s"], 2
        ),
        # One stream at 200 Hz needs 20 writes/s: share of one core spent writing.
        "ring_write_cpu_share_at_rate": round(RATE_HZ / BLOCK / ring_figures["writes_per_s"], 6),
        "np_roll_write_cpu_share_at_rate": round(
            RATE_HZ / BLOCK / rolling_figures["writes_per_s"], 6
        ),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
