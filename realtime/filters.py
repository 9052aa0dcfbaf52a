"""Causal IIR filters that run chunk by chunk and give the same output for any chunking.

:class:`StreamingSOS` wraps a Butterworth design in second-order sections
(``scipy.signal.butter(..., output="sos")``) and runs ``scipy.signal.sosfilt`` with the filter
state ``zi`` carried from one chunk to the next, so filtering a stream in chunks of any size
reproduces filtering it in one call (the same arithmetic in the same order: bit for bit).

Start and restart. The first sample of a stream, and the first sample after missing data
longer than ``restart_gap_s`` (50 ms by default), (re)initialise the state with
``sosfilt_zi`` scaled by that sample: the filter starts as if the signal had been constant
at that value forever, which removes the start-up step. Missing data is never filled in;
after a short gap (at most ``restart_gap_s``) the state simply carries on. The output after a
(re)start still contains a transient while the filter meets the real signal, so callers
flag results within :attr:`StreamingSOS.settling_s` of :attr:`StreamingSOS.restart_t_s`.

Small chunks. A live stream arrives a few samples at a time, and ``sosfilt``'s argument
handling costs far more than filtering a handful of samples. A chunk with at most
``_SMALL_WORK`` sample-sections runs through the same direct-form-II-transposed recursion in
Python floats instead: the same operations in the same order as ``sosfilt``, so the output
is identical bit for bit and the chunking still does not matter (the tests check both).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import signal

from firmware_bridge.errors import ConfigurationError

__all__ = ["FilterType", "StreamingSOS"]

FloatArray = npt.NDArray[np.float64]
FilterType = Literal["lowpass", "highpass", "bandpass", "bandstop"]

_SETTLE_HORIZON_S = 20.0
"""Longest step response simulated to measure the settling time (s)."""
_SMALL_WORK = 96
"""Chunks with at most this many samples × sections × channels are filtered in Python."""


class StreamingSOS:
    """A causal Butterworth filter in second-order sections, for chunked streams.

    Args:
        order: Butterworth order (1–10; a band filter has twice as many poles).
        cutoff_hz: corner frequency (Hz); a ``(low, high)`` pair for band filters. Every
            corner must lie strictly between 0 and the Nyquist frequency ``rate_hz / 2``.
        rate_hz: sample rate of the stream (Hz).
        btype: ``"lowpass"``, ``"highpass"``, ``"bandpass"`` or ``"bandstop"``.
        n_channels: number of columns filtered side by side; 0 filters a 1-D signal.
        restart_gap_s: missing data longer than this (s) restarts the filter (default
            0.05 s); shorter gaps are bridged without filling.
        settle_tolerance: the step response counts as settled once its error stays below
            this fraction of the step (default 0.01) — it defines :attr:`settling_s`.

    Attributes:
        sos: ``(n_sections, 6)`` second-order sections of the design.

    Raises:
        ConfigurationError: a parameter the filter cannot use (named in the message).
    """

    def __init__(
        self,
        *,
        order: int,
        cutoff_hz: float | tuple[float, float],
        rate_hz: float,
        btype: FilterType = "lowpass",
        n_channels: int = 0,
        restart_gap_s: float = 0.05,
        settle_tolerance: float = 0.01,
    ) -> None:
        self.order = order
        self.cutoff_hz = cutoff_hz
        self.rate_hz = rate_hz
        self.btype = btype
        self.n_channels = n_channels
        self.restart_gap_s = restart_gap_s
        self.settle_tolerance = settle_tolerance
        self._validate()
        self.sos: FloatArray = np.asarray(
            signal.butter(order, cutoff_hz, btype=btype, fs=rate_hz, output="sos"),
            dtype=np.float64,
        )
        self._zi_unit: FloatArray = np.asarray(signal.sosfilt_zi(self.sos), dtype=np.float64)
        self._zi: FloatArray | None = None
        # The state while small chunks run in Python: per channel, the flat (z0, z1) pairs of
        # every section; it supersedes ``_zi`` while it is not None.
        self._z_py: list[list[float]] | None = None
        self._coefs: list[tuple[float, float, float, float, float]] = [
            (b0, b1, b2, a1, a2) for b0, b1, b2, _, a1, a2 in self.sos.tolist()
        ]
        self._n_sections = len(self._coefs)
        self._width = max(1, int(n_channels)) * self._n_sections
        self._restart_pending = False
        self._restart_t_s = math.nan
        self._restarts = 0
        self._settling_s: float | None = None

    # ------------------------------------------------------------------ checks
    def _validate(self) -> None:
        if isinstance(self.order, bool) or not isinstance(self.order, int | np.integer):
            raise ConfigurationError(f"The filter order must be an integer, got {self.order!r}.")
        if not 1 <= int(self.order) <= 10:
            raise ConfigurationError(
                f"The filter order must be between 1 and 10, got {self.order}."
            )
        if not (isinstance(self.rate_hz, int | float) and math.isfinite(self.rate_hz)):
            raise ConfigurationError(
                f"The filter's rate_hz must be a number, got {self.rate_hz!r}."
            )
        if self.rate_hz <= 0.0:
            raise ConfigurationError(f"The filter's rate_hz must be positive, got {self.rate_hz}.")
        if self.btype not in ("lowpass", "highpass", "bandpass", "bandstop"):
            raise ConfigurationError(
                "The filter type must be 'lowpass', 'highpass', 'bandpass' or 'bandstop', "
                f"got {self.btype!r}."
            )
        band = self.btype in ("bandpass", "bandstop")
        corners = np.atleast_1d(np.asarray(self.cutoff_hz, dtype=np.float64))
        if corners.shape != ((2,) if band else (1,)):
            want = "a (low, high) pair" if band else "one frequency"
            raise ConfigurationError(
                f"A {self.btype} filter needs {want} as cutoff_hz, got {self.cutoff_hz!r}."
            )
        nyquist = 0.5 * float(self.rate_hz)
        if not np.all(np.isfinite(corners) & (corners > 0.0) & (corners < nyquist)):
            raise ConfigurationError(
                f"Filter corners must lie strictly between 0 and {nyquist:g} Hz (half of "
                f"rate_hz), got {self.cutoff_hz!r}."
            )
        if band and not corners[0] < corners[1]:
            raise ConfigurationError(
                f"A {self.btype} filter needs low < high, got cutoff_hz={self.cutoff_hz!r}."
            )
        if isinstance(self.n_channels, bool) or not isinstance(self.n_channels, int | np.integer):
            raise ConfigurationError(
                f"The filter's n_channels must be an integer, got {self.n_channels!r}."
            )
        if self.n_channels < 0:
            raise ConfigurationError(
                f"The filter's n_channels must be 0 (1-D) or more, got {self.n_channels}."
            )
        if not (math.isfinite(self.restart_gap_s) and self.restart_gap_s >= 0.0):
            raise ConfigurationError(
                f"The filter's restart_gap_s must be a non-negative number of seconds, got "
                f"{self.restart_gap_s!r}."
            )
        if not (math.isfinite(self.settle_tolerance) and 0.0 < self.settle_tolerance < 1.0):
            raise ConfigurationError(
                f"The filter's settle_tolerance must lie between 0 and 1, got "
                f"{self.settle_tolerance!r}."
            )

    # -------------------------------------------------------------- properties
    @property
    def settling_s(self) -> float:
        """Settling time after a (re)start (s).

        The last time at which the error of the filter's step response exceeds
        ``settle_tolerance`` times the step (its final value is the DC gain: 1 for a low-pass,
        0 for a high-pass). Output later than this after a restart carries less than that
        share of the start-up transient.
        """
        if self._settling_s is None:
            n = max(math.ceil(_SETTLE_HORIZON_S * float(self.rate_hz)), 2)
            step = signal.sosfilt(self.sos, np.ones(n))
            final = float(np.prod(self.sos[:, :3].sum(axis=1) / self.sos[:, 3:].sum(axis=1)))
            outside = np.flatnonzero(np.abs(step - final) > self.settle_tolerance)
            last = int(outside[-1]) + 1 if outside.size else 0
            self._settling_s = last / float(self.rate_hz)
        return self._settling_s

    @property
    def restart_t_s(self) -> float:
        """Host time (s) of the first sample after the latest (re)start; NaN before any data
        (or when ``process`` was never given times)."""
        return self._restart_t_s

    @property
    def settled_from_s(self) -> float:
        """Host time (s) from which output is outside the settling time of the latest
        (re)start: ``restart_t_s + settling_s``."""
        return self._restart_t_s + self.settling_s

    @property
    def restarts(self) -> int:
        """How many times the state was (re)initialised, the first sample included."""
        return self._restarts

    # ----------------------------------------------------------------- actions
    def reset(self) -> None:
        """Forget the state: the next sample starts the filter again."""
        self._zi = None
        self._z_py = None
        self._restart_pending = False

    def process(
        self,
        values: npt.ArrayLike,
        *,
        t_s: npt.ArrayLike | None = None,
        gap_before_s: float = 0.0,
    ) -> FloatArray:
        """Filter one chunk and carry the state to the next.

        Args:
            values: ``(n,)`` samples (``n_channels == 0``) or ``(n, n_channels)``.
            t_s: ``(n,)`` host times of the samples (s); only used to report
                :attr:`restart_t_s`.
            gap_before_s: missing data just before the first sample (s); more than
                ``restart_gap_s`` restarts the filter from the first sample.

        Returns:
            The filtered chunk, float64, the same shape as ``values``.
        """
        x = values if isinstance(values, np.ndarray) else np.asarray(values)
        if x.dtype != np.float64:
            x = x.astype(np.float64)
        want_ndim = 1 if self.n_channels == 0 else 2
        if x.ndim != want_ndim or (want_ndim == 2 and x.shape[1] != self.n_channels):
            want = "(n,)" if want_ndim == 1 else f"(n, {self.n_channels})"
            raise ValueError(f"StreamingSOS.process wants values of shape {want}, got {x.shape}")
        if gap_before_s > self.restart_gap_s:
            self._restart_pending = True
        n = x.shape[0]
        if n == 0:
            return x.copy()
        if (self._zi is None and self._z_py is None) or self._restart_pending:
            self._zi = self._scaled_zi(x[0])
            self._z_py = None
            self._restart_pending = False
            self._restarts += 1
            self._restart_t_s = math.nan if t_s is None else float(np.asarray(t_s)[0])
        if n * self._width <= _SMALL_WORK:
            return self._process_small(x)
        if self._z_py is not None:
            self._zi = self._state_array(self._z_py)
            self._z_py = None
        y, self._zi = signal.sosfilt(self.sos, x, axis=0, zi=self._zi)
        out: FloatArray = np.asarray(y, dtype=np.float64)
        return out

    def _state_array(self, z_py: list[list[float]]) -> FloatArray:
        """The Python state as ``sosfilt``'s ``zi``: ``(n_sections, 2[, n_channels])``."""
        z = np.array(z_py, dtype=np.float64).reshape(len(z_py), self._n_sections, 2)
        if self.n_channels == 0:
            return z[0]
        out: FloatArray = np.ascontiguousarray(z.transpose(1, 2, 0))
        return out

    def _process_small(self, x: FloatArray) -> FloatArray:
        """Filter a short chunk in Python floats with ``sosfilt``'s recursion (direct form II
        transposed; the same operations in the same order, so the same bits)."""
        z_all = self._z_py
        if z_all is None:
            zi = self._zi
            assert zi is not None
            if self.n_channels == 0:
                z_all = [zi.reshape(-1).tolist()]
            else:
                z_all = zi.transpose(2, 0, 1).reshape(self.n_channels, -1).tolist()
            self._z_py = z_all
            self._zi = None
        coefs = self._coefs
        if self.n_channels == 0:
            return np.array(_run_sections(coefs, x.tolist(), z_all[0]), dtype=np.float64)
        columns = x.T.tolist()
        out = [_run_sections(coefs, columns[c], z_all[c]) for c in range(self.n_channels)]
        result: FloatArray = np.array(out, dtype=np.float64).T
        return result

    def _scaled_zi(self, first: FloatArray) -> FloatArray:
        """State of a filter that has seen ``first`` forever (``sosfilt_zi`` scaled)."""
        if self.n_channels == 0:
            return self._zi_unit * float(first)
        out: FloatArray = self._zi_unit[:, :, None] * first[None, None, :]
        return out


def _run_sections(
    coefs: list[tuple[float, float, float, float, float]], xs: list[float], z: list[float]
) -> list[float]:
    """Run samples ``xs`` through the cascade ``coefs`` (b0, b1, b2, a1, a2 per section) from
    the state ``z`` (z0, z1 per section; updated in place); returns the output samples.

    Direct form II transposed, written exactly as ``scipy.signal.sosfilt`` computes it::

        y = b0·x + z0;  z0 = b1·x − a1·y + z1;  z1 = b2·x − a2·y
    """
    if len(coefs) == 1:
        b0, b1, b2, a1, a2 = coefs[0]
        z0, z1 = z
        out = []
        for xn in xs:
            y = b0 * xn + z0
            z0 = b1 * xn - a1 * y + z1
            z1 = b2 * xn - a2 * y
            out.append(y)
        z[0], z[1] = z0, z1
        return out
    out = []
    for xn in xs:
        k = 0
        for b0, b1, b2, a1, a2 in coefs:
            y = b0 * xn + z[k]
            z[k] = b1 * xn - a1 * y + z[k + 1]
            z[k + 1] = b2 * xn - a2 * y
            xn = y
            k += 2
        out.append(xn)
    return out
