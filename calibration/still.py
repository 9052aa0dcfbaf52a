"""Still periods of an IMU recording, found from the signals themselves.

A sample is still when, over a window around it, every gyroscope axis and every accelerometer
axis varies no more than sensor noise allows. The spread is measured as a standard deviation,
so a constant gyroscope bias (which is what still periods are used to measure) does not
hide stillness.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from firmware_bridge.errors import ConfigurationError

if TYPE_CHECKING:
    from typing import Self

__all__ = ["StillDetector", "moving_sd"]

FloatArray = npt.NDArray[np.float64]


def moving_sd(values: npt.ArrayLike, window: int) -> FloatArray:
    """Standard deviation of each column over windows of ``window`` samples.

    ``values`` is ``(n, ch)``; the result is ``(n − window + 1, ch)``, row i covering samples
    i … i + window − 1. Cumulative sums of the mean-removed signal keep it exact enough for
    long recordings.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x - x.mean(axis=0)
    zero = np.zeros((1, x.shape[1]))
    c1 = np.concatenate([zero, np.cumsum(x, axis=0)])
    c2 = np.concatenate([zero, np.cumsum(x * x, axis=0)])
    s1 = c1[window:] - c1[:-window]
    s2 = c2[window:] - c2[:-window]
    var = np.maximum(s2 / window - (s1 / window) ** 2, 0.0)
    out: FloatArray = np.sqrt(var)
    return out


class StillDetector:
    """Finds the still periods of an IMU recording.

    Parameters:
        window_s: length of the window over which the spread is measured (s).
        gyro_sd_dps: largest gyroscope standard deviation (deg/s, any axis) of a still
            window; raised to three times the recording's quietest windows when its noise is
            higher.
        accel_sd_g: largest accelerometer standard deviation (g, any axis) of a still window;
            adapted the same way.
        min_still_s: shortest still period kept (s).

    Results (after ``detect``):
        still_: ``(n,)`` bool, True for samples inside a kept still period.
        segments_: ``(k, 2)`` int, start and stop (exclusive) sample index of each period.
        gyro_sd_dps_, accel_sd_g_: the thresholds that were used.
    """

    def __init__(
        self,
        *,
        window_s: float = 0.5,
        gyro_sd_dps: float = 1.5,
        accel_sd_g: float = 0.03,
        min_still_s: float = 1.0,
    ) -> None:
        self.window_s = window_s
        self.gyro_sd_dps = gyro_sd_dps
        self.accel_sd_g = accel_sd_g
        self.min_still_s = min_still_s

    def detect(self, t_s: npt.ArrayLike, acc_g: npt.ArrayLike, gyr_dps: npt.ArrayLike) -> Self:
        """Find the still periods of samples at times ``t_s`` ``(n,)`` with accelerometer
        ``(n, 3)`` (g) and gyroscope ``(n, 3)`` (deg/s) readings."""
        t = np.asarray(t_s, dtype=np.float64)
        acc = np.asarray(acc_g, dtype=np.float64)
        gyr = np.asarray(gyr_dps, dtype=np.float64)
        n = t.shape[0]
        if n < 3:
            raise ConfigurationError("A still-period search needs a recording of a few seconds.")
        rate_hz = 1.0 / float(np.median(np.diff(t)))
        window = max(3, round(self.window_s * rate_hz))
        still = np.zeros(n, dtype=bool)
        self.gyro_sd_dps_ = self.gyro_sd_dps
        self.accel_sd_g_ = self.accel_sd_g
        if n > window:
            sd_g = moving_sd(gyr, window).max(axis=1)
            sd_a = moving_sd(acc, window).max(axis=1)
            self.gyro_sd_dps_ = max(self.gyro_sd_dps, 3.0 * float(np.percentile(sd_g, 5)))
            self.accel_sd_g_ = max(self.accel_sd_g, 3.0 * float(np.percentile(sd_a, 5)))
            quiet = (sd_g <= self.gyro_sd_dps_) & (sd_a <= self.accel_sd_g_)
            # A sample is still when a quiet window covers it.
            cover = np.zeros(n + 1, dtype=np.int64)
            starts = np.flatnonzero(quiet)
            np.add.at(cover, starts, 1)
            np.add.at(cover, starts + window, -1)
            still = np.cumsum(cover[:-1]) > 0
        edges = np.diff(np.concatenate([[0], still.astype(np.int8), [0]]))
        begin = np.flatnonzero(edges == 1)
        end = np.flatnonzero(edges == -1)
        keep = (end - begin) >= max(1, round(self.min_still_s * rate_hz))
        self.segments_ = np.column_stack([begin[keep], end[keep]]).astype(np.intp)
        self.still_ = np.zeros(n, dtype=bool)
        for a, b in self.segments_:
            self.still_[a:b] = True
        return self
