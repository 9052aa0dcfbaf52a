"""Device time to host time: timestamp unwrapping and the device-clock → host-clock mapping.

Every device runs on its own crystal: its clock ticks at ``(1 + ppm·1e-6)`` times the host
rate (ppm within ±100 for the sensors gaitcue supports) from an arbitrary offset, and it
stamps each packet with the uint32 microsecond time of the packet's first sample.

``TimestampUnwrapper`` turns those wrapping uint32 µs stamps into a continuous int64 µs
timeline and tells a wrap (every 2^32 µs ≈ 71.6 min) from a device clock reset.

``ClockMapper`` learns the mapping ``host = f(device)`` from one-way observations only: for
each packet, the device time of its last sample and the host time it arrived.

How the mapping is found
------------------------
A packet arrives after its last sample was taken, by a latency that is never below a floor
(the transport's minimum) and often far above it (USB polling, BLE connection events,
stalls, a busy host). So, with ``y = arrival − device − floor``, every observation lies on
or above the true offset line ``host − device`` (a straight line in device time: offset
plus drift), and the observations that come closest to it are the ones to trust. The mapper
therefore estimates the *lower envelope* of ``y``:

1. Observations are grouped into bins of ``bin_s`` (0.5 s) of device time, keeping only the
   lowest of each (detrended by the current drift). The cost per packet is O(1) and the
   fit does not depend on the packet rate.
2. Bins of the last ``window_s`` (60 s) are kept as they are; older ones are folded into
   ``coarse_bin_s`` (5 s) bins back to ``drift_window_s`` (600 s): at most ~230 points.
3. Once per closed bin, the line is fitted that lies on or below every point and is as high
   as possible at the middle of their span: the linear-programming estimator of one-way
   clock skew. Its solution is the edge of the lower convex hull that spans that middle,
   found in O(n) after the hull. Minima inflated by a stall or congestion lie above the hull
   and have no influence at all, which is why this is preferred over a least-squares or
   reweighted fit: latency errors are one-sided by physics, the hull uses that directly,
   and there is no outlier threshold to tune.
4. Until the points span ``min_span_s`` (5 s), only the offset is learnt, with drift 0. A
   drift kept from before a restart is used until a minute of new points replaces it.

Why reach back 600 s rather than 60 s: on BLE the shortest latency in a bin depends on the
phase between the packet period and the connection-event grid, which only moves as fast as
the two crystals differ, so the bin minima form a sawtooth with a period of tens of seconds
to minutes. A fit over one minute follows its ramps and reads them as drift; a fit spanning
several teeth rests on their bottoms, which are the true line. On USB-serial either span is
accurate to a few µs; the longer one costs a slower response to a changing drift (a
crystal warming by 30 ppm in 10 minutes still maps within 0.2 ms).

The floor cannot be observed one way (a constant latency looks exactly like a clock
offset), so the caller passes the transport's: about 1 ms for USB-serial; for BLE, the
shortest delay from a connection event to the host read
(``firmware_bridge.simulator.link_timing.latency_floor_s`` gives the simulated links').

Smoothness and causality
------------------------
A refit never moves the published mapping abruptly once it is ready. The published mapping
is the fitted line plus a correction that starts where the previous mapping was at the
newest device time and fades out at ``slew_s_per_s`` seconds per second of device time
(default 0.4 ms/s, i.e. at most 0.2 ms per 0.5 s bin), so the mapping stays continuous and
increasing and consecutive packets' sample times stay in order. Corrections larger than
``max_slew_s`` (20 ms) are applied at once.

Causality is a hard constraint, not a goal: an observation proves that its last sample
happened no later than ``arrival − floor``. If the published mapping would put that sample
later, the mapping is lowered at once (a step, counted in ``ClockState.steps``; once
converged such steps are a few µs), so ``to_host`` of every sample of the packet just
observed is at most its arrival minus the floor. Map a packet's samples right after its
``observe``; samples mapped after later refits may move by up to the pending correction.

A long silence keeps the points from before it (they are dropped only once a minute of new
points exists), so mapping resumes on the line both sides agree on. A clock reset must be
told with ``restart`` (the decoder does so on a new boot id or an unwrapper reset); a device
time that jumps back by more than ``reset_threshold_s`` restarts the mapping by itself.

Device clock steps
------------------
(With ``detect_steps``; the decoder turns it on for USB-serial links.)
A firmware that re-synchronises its timer steps its timestamps by a few milliseconds while
sampling runs on. Every later observation then sits ``−step`` off the fitted line: below
it after a forward step (the causality clamp lowers the mapping at once, but the old
points would bend the next fits), above it after a backward step (the envelope would keep
the old minima for minutes and map samples early by the step). So the mapper watches the
residual ``y − line(x)``:

* a packet more than the step threshold *above* the line opens a backward suspicion that
  every later packet must confirm by staying above it (one packet near the line, as most
  are, ends it); a packet more than half the threshold *below* the line opens a forward
  one that ``bin_s`` bins must keep confirming with a packet that low (two bins in a row
  without one end it);
* the suspicion is confirmed once it has lasted ``step_confirm_s`` of device time, and
  the packets of its second half arrived spread over at least half their device time (a
  host that stalled and then reads its backlog in one burst sees high residuals for a
  while, but all at one arrival time; the packets after the burst end the suspicion);
* then the mapping starts again from the suspicion's own bin minima, keeping the drift,
  and the step is counted (``ClockState.device_steps``, its size in ``last_step_ms``).

The threshold is ``step_threshold_s`` or, on a link whose recent bin minima spread more
(their 95th percentile minus their lowest, relative to the line, plus 0.5 ms), that.
Steps are looked for only once 10 s of bins exist (after the start or a restart). With
USB-serial jitter (1–16 ms) a false backward suspicion needs every packet of 1.5 s above
1.5 ms: about once in ten thousand hours of a device; a step of 2 ms is found but close to
that limit (it may take a second, corrective, step). The search is off by default: on BLE
the packet/connection-event phase sweep moves the lowest latency by whole phase quanta
(2.5–10 ms), up or down, and stays there for tens of seconds, which one-way timing cannot
tell from a device clock step.

BLE limit
---------
On BLE the latency is mostly the wait for the next connection event. Until the phase between
packets and events has swept through its common period ``g`` (the gcd of the packet period
and the connection interval: 2.5 ms for 10 ms packets at 7.5 ms, 5 ms at 15 ms, 10 ms at
30 or 50 ms) the shortest latency seen may still sit up to ``g`` above the floor, and the
mapping is late by up to that much. A sweep takes ``g / |Δppm|`` (Δppm: device against the
central's clock; 25–100 s at 100 ppm). In simulation the error is below 1 ms from
``30 s + 2.5 · g / |Δppm|`` on, for sweeps up to ~240 s (``drift_window_s / 2.5``); before
that it stays within ``g`` plus a little. If the two clocks run at the same rate the phase
never moves: the mapping keeps a constant error in ``[0, g)``, and no one-way method can
see it (``ClockState.residual_ms`` then looks perfect). Sub-millisecond BLE timing for such
links needs the firmware to report the device time of its connection events, which turns
them into observations with a tight floor.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from firmware_bridge.errors import ConfigurationError

_STEP_MIN_BINS = 20
"""Fine bins (10 s at 0.5 s) needed before device clock steps are looked for."""
_WRAP_US = 1 << 32
_HALF_WRAP_US = 1 << 31
_NO_POSITIONS = np.empty(0, dtype=np.int64)
_NO_POSITIONS.flags.writeable = False  # shared by every unwrap of one timestamp

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# ---------------------------------------------------------------------------- unwrapping
class TimestampUnwrapper:
    """uint32 µs device timestamps → int64 µs on a continuous timeline.

    The first timestamp starts the timeline at its own value; each later one moves it by
    the signed difference to the previous one, modulo 2^32 µs. A forward step of up to half
    the wrap (2^31 µs ≈ 35.8 min) is therefore read correctly across any number of wraps,
    and a small step backwards (a reordered packet) gives an earlier time. A step backwards
    of more than ``reset_threshold_us`` is a device clock reset: the timeline restarts at
    the new raw value, ``last_reset`` is True for that call, and ``n_resets`` counts it.

    Args:
        reset_threshold_us: backwards jump (µs) beyond which a timestamp means a reset.

    Attributes:
        last_reset: True when the latest ``unwrap``/``unwrap_array`` call saw a reset.
        last_reset_positions: indices in the latest ``unwrap_array`` input where a new
            timeline began (empty for ``unwrap``).
        n_resets: resets seen since construction.
    """

    def __init__(self, *, reset_threshold_us: int = 1_000_000) -> None:
        if not 0 < reset_threshold_us < _HALF_WRAP_US:
            raise ConfigurationError(
                f"reset threshold must be between 0 and 2^31 µs, got {reset_threshold_us} µs"
            )
        self.reset_threshold_us = int(reset_threshold_us)
        self.last_reset = False
        self.last_reset_positions: IntArray = np.empty(0, dtype=np.int64)
        self.n_resets = 0
        self._last_raw: int | None = None
        self._last_out = 0

    @property
    def last_us(self) -> int | None:
        """The latest unwrapped time (µs), None before any timestamp or after ``reset``."""
        return None if self._last_raw is None else self._last_out

    def reset(self) -> None:
        """Forget the timeline: the next timestamp starts a new one (after a known reboot)."""
        self._last_raw = None
        self._last_out = 0
        self.last_reset = False

    def unwrap(self, t_us: int, *, host_elapsed_s: float | None = None) -> int:
        """Unwrap one uint32 timestamp (µs) to the continuous timeline (µs).

        Args:
            t_us: raw device timestamp, 0 ≤ t_us < 2^32.
            host_elapsed_s: optional host time (s) between the arrival of the previous
                timestamp's packet and this one's. It is consulted only after a gap of 60 s
                or more, where it resolves wraps the timestamp alone cannot (gaps beyond
                35.8 min) and reveals resets hidden by a wrap: a device time step that
                disagrees with the host time by more than the reset threshold plus 0.1 %.
        """
        raw = int(t_us)
        if not 0 <= raw < _WRAP_US:
            raise ValueError(f"a device timestamp is a uint32, got {t_us}")
        self.last_reset = False
        self.last_reset_positions = _NO_POSITIONS
        if self._last_raw is None:
            self._last_raw, self._last_out = raw, raw
            return raw
        forward = (raw - self._last_raw) % _WRAP_US
        if host_elapsed_s is not None and host_elapsed_s >= 60.0:
            hint_us = host_elapsed_s * 1e6
            step = forward + _WRAP_US * max(0, round((hint_us - forward) / _WRAP_US))
            tolerance_us = self.reset_threshold_us + 1e-3 * hint_us
            if abs(step - hint_us) > tolerance_us:
                return self._start_over(raw)
        else:
            step = forward if forward < _HALF_WRAP_US else forward - _WRAP_US
            if step < -self.reset_threshold_us:
                return self._start_over(raw)
        self._last_raw = raw
        self._last_out += step
        return self._last_out

    def _start_over(self, raw: int) -> int:
        self.last_reset = True
        self.n_resets += 1
        self._last_raw, self._last_out = raw, raw
        return raw

    def unwrap_array(self, t_us: npt.ArrayLike) -> IntArray:
        """Unwrap a sequence of uint32 timestamps (µs), vectorised; same result as ``unwrap``.

        Continues from (and updates) this unwrapper's state, so recorded data can be
        unwrapped in chunks. Returns int64 µs, shape ``(n,)``; resets found are listed in
        ``last_reset_positions``.
        """
        raw = np.asarray(t_us).astype(np.int64).reshape(-1)
        self.last_reset = False
        self.last_reset_positions = np.empty(0, dtype=np.int64)
        if raw.size == 0:
            return np.empty(0, dtype=np.int64)
        if raw.min() < 0 or raw.max() >= _WRAP_US:
            raise ValueError("device timestamps are uint32 values")
        previous = np.empty_like(raw)
        previous[1:] = raw[:-1]
        previous[0] = raw[0] if self._last_raw is None else self._last_raw
        step = (raw - previous) % _WRAP_US
        step[step >= _HALF_WRAP_US] -= _WRAP_US
        starts = step < -self.reset_threshold_us
        if self._last_raw is None:
            starts[0] = True  # a new timeline begins here, but it is not a reset
        # within a timeline: start value + cumulative steps; a start takes its raw value
        step[starts] = 0
        cum = np.cumsum(step)
        index = np.arange(raw.size)
        start_at = np.maximum.accumulate(np.where(starts, index, -1))
        base = np.where(start_at >= 0, raw[np.maximum(start_at, 0)], self._last_out)
        cum_at_start = np.where(start_at >= 0, cum[np.maximum(start_at, 0)], 0)
        out = base + cum - cum_at_start
        reset_positions = np.flatnonzero(starts)
        if self._last_raw is None:
            reset_positions = reset_positions[1:]
        self.last_reset_positions = reset_positions.astype(np.int64)
        self.last_reset = bool(reset_positions.size)
        self.n_resets += int(reset_positions.size)
        self._last_raw = int(raw[-1])
        self._last_out = int(out[-1])
        return out.astype(np.int64)


# ------------------------------------------------------------------------------ mapping
@dataclass(frozen=True)
class ClockState:
    """A snapshot of one device's clock mapping, for the device panel.

    Attributes:
        offset_s: host − device time (s) at the newest observed device time.
        drift_ppm: device clock rate error against the host (ppm); positive runs fast.
        residual_ms: median height of the recent bin minima above the fitted line (ms): how
            close the link comes to its floor in each bin. A few tenths on USB-serial; on BLE
            up to the phase quantum while the packet/event phase sweeps, but small on a
            phase-locked link too, so it cannot reveal that case (see the module docstring).
        slew_ms: correction still being faded in (ms); positive while the mapping is
            later than the fit.
        span_s: device time covered by the points of the fit (s).
        n_points: bin minima in the fit (recent fine bins plus older coarse ones).
        n_observations: packets observed since construction or the last restart.
        ready: True once the mapping has both an offset and a trusted drift.
        drift_fitted: True when the drift comes from the current points, False while it is
            kept from before a restart or gap (or 0 at first).
        restarts: restarts since construction (explicit or after a device time jump).
        steps: corrections applied at once instead of slewed (causality clamps and large
            corrections) while ready.
        device_steps: device clock steps found and re-anchored (see the module docstring).
        last_step_ms: size of the latest of them (ms; positive: timestamps jumped back, so
            the mapping moved later), 0 before any.
    """

    offset_s: float
    drift_ppm: float
    residual_ms: float
    slew_ms: float
    span_s: float
    n_points: int
    n_observations: int
    ready: bool
    drift_fitted: bool
    restarts: int
    steps: int
    device_steps: int = 0
    last_step_ms: float = 0.0


class ClockMapper:
    """Maps device time (s) to host time (s) for one device, from one-way observations.

    See the module docstring for the method. Feed every data packet with ``observe``
    (device time of its last sample, host arrival time), then map sample times with
    ``to_host``.

    Args:
        latency_floor_s: the transport's minimum latency (s) from last sample to arrival.
        window_s: device time (s) kept at full resolution (``bin_s`` bins). Also the span a
            kept drift is trusted for before the new points may replace it.
        bin_s: device time (s) per bin; the fit is refreshed at most once per bin.
        drift_window_s: device time (s) the fit reaches back, older than ``window_s`` in
            coarser ``coarse_bin_s`` bins. Longer than ``window_s`` on purpose: on BLE the
            shortest latency comes and goes with the packet/connection-event phase, which
            cycles over tens of seconds to minutes; a fit that spans several cycles finds
            the true line under them, a 60 s one follows the ramps.
        coarse_bin_s: device time (s) per bin older than ``window_s``.
        min_span_s: with no drift known yet, the drift is fitted once the points span this
            much device time (s); before that, offset only.
        max_drift_ppm: fits implying a larger rate error are rejected (ppm).
        slew_s_per_s: how fast corrections fade in once ready (s per s of device time);
            the default 4e-4 is 0.2 ms per 0.5 s bin.
        max_slew_s: corrections larger than this (s) are applied at once.
        reset_threshold_s: device time going back by more than this (s) restarts the
            mapping (keeping the drift), as ``restart`` would.
        fit_drift: False keeps the drift at 0 (for comparison; real devices need it).
        detect_steps: look for device clock steps and re-anchor after them (module
            docstring). Off by default: on BLE the connection-event phase sweep moves the
            envelope by whole phase quanta, which one-way data cannot tell from a step.
        step_threshold_s: smallest residual (s) off the fitted line that can open a device
            clock step suspicion (raised on links whose bin minima scatter more).
        step_confirm_s: device time (s) a step suspicion must last before the mapping
            re-anchors; the arrivals of its second half must be spread over at least half
            their device time.
    """

    _fine: deque[tuple[float, float]]  # closed bins: lowest (device s, host − device − floor s)
    _coarse: deque[tuple[float, float]]  # older bins, coarser, same kind of points
    _coarse_open_k: int | None  # coarse bin index of the last, still growing, coarse bin
    _open_bin: tuple[int, float, float]  # (bin index, device s, y s) of the bin being filled
    _n_obs: int
    _newest_x: float
    _line_x: float
    _line_y: float
    _delta0: float
    _delta_x: float
    _fade_end_x: float  # device time (s) at which the correction has faded out
    _ready: bool
    _drift_fitted: bool
    _step_sign: int  # 0 no step suspected, +1 backward (observations high), −1 forward
    _step_x0: float  # device time (s) of the suspicion's first packet
    _step_a_half: float  # arrival (s) of its first packet in the second half, inf before
    _step_last_x: float  # device time (s) of its latest packet
    _step_line: tuple[float, float, float] | None  # step reference (line_x, line_y, slope):
    _next_step_line: tuple[float, float, float] | None  # closed bins' fit, one refit behind
    _step_ref: tuple[float, float, float]  # the fit when it began
    _step_prior: tuple[float | None, float]  # the kept drift when it began (slope, span s)
    _step_bins: list[tuple[int, float, float]]  # (bin index, device s, y s) minima since
    _step_bin_seen: bool  # forward: the current bin has had a packet below the threshold
    _step_open_limit_s: float  # the threshold (s) when it began, which it is judged by
    _step_bins_missed: int  # forward: bins in a row that had none

    def __init__(
        self,
        *,
        latency_floor_s: float = 0.0,
        window_s: float = 60.0,
        bin_s: float = 0.5,
        drift_window_s: float = 600.0,
        coarse_bin_s: float = 5.0,
        min_span_s: float = 5.0,
        max_drift_ppm: float = 500.0,
        slew_s_per_s: float = 4e-4,
        max_slew_s: float = 0.02,
        reset_threshold_s: float = 1.0,
        fit_drift: bool = True,
        detect_steps: bool = False,
        step_threshold_s: float = 0.0015,
        step_confirm_s: float = 1.5,
    ) -> None:
        if latency_floor_s < 0 or not math.isfinite(latency_floor_s):
            raise ConfigurationError(
                f"latency floor must be a non-negative time, got {latency_floor_s} s"
            )
        if not 0 < bin_s <= coarse_bin_s <= window_s <= drift_window_s:
            raise ConfigurationError(
                "clock bins must satisfy 0 < bin_s <= coarse_bin_s <= window_s <= "
                f"drift_window_s, got {bin_s}, {coarse_bin_s}, {window_s}, {drift_window_s} s"
            )
        if not 0 <= min_span_s < window_s:
            raise ConfigurationError(
                f"the drift needs a span ({min_span_s} s) shorter than the window ({window_s} s)"
            )
        if step_threshold_s <= 0 or step_confirm_s <= 0:
            raise ConfigurationError(
                "the clock step threshold and confirmation time must be positive, got "
                f"{step_threshold_s} s and {step_confirm_s} s"
            )
        if max_drift_ppm <= 0 or slew_s_per_s <= 0 or max_slew_s < 0 or reset_threshold_s <= 0:
            raise ConfigurationError(
                "max drift, slew rate and reset threshold must be positive "
                f"(got {max_drift_ppm} ppm, {slew_s_per_s} s/s, {reset_threshold_s} s)"
            )
        self.latency_floor_s = float(latency_floor_s)
        self.window_s = float(window_s)
        self.bin_s = float(bin_s)
        self.drift_window_s = float(drift_window_s)
        self.coarse_bin_s = float(coarse_bin_s)
        self.min_span_s = float(min_span_s)
        self.max_drift_ppm = float(max_drift_ppm)
        self.slew_s_per_s = float(slew_s_per_s)
        self.max_slew_s = float(max_slew_s)
        self.reset_threshold_s = float(reset_threshold_s)
        self.fit_drift = bool(fit_drift)
        self.detect_steps = bool(detect_steps)
        self.step_threshold_s = float(step_threshold_s)
        self.step_confirm_s = float(step_confirm_s)
        self._restarts = 0
        self._steps = 0
        self._device_steps = 0
        self._last_step_s = 0.0
        self._step_limit_s = self.step_threshold_s
        self._step_bins = []
        self._slope = 0.0  # d(host − device)/d(device) = −ppm·1e-6/(1 + ppm·1e-6)
        self._prior_slope: float | None = None  # the last fitted slope, kept across gaps
        self._prior_span_s = 0.0  # the span (s) of the fit that gave it
        self._clear()

    # ----------------------------------------------------------------- public
    @property
    def ready(self) -> bool:
        """True once the mapping has an offset and a drift it trusts (fitted or kept)."""
        return self._ready

    @property
    def drift_ppm(self) -> float:
        """Device clock rate error against the host (ppm); positive runs fast."""
        return -self._slope / (1.0 + self._slope) * 1e6

    @property
    def offset_s(self) -> float:
        """host − device time (s) at the newest observed device time; NaN before any."""
        if self._n_obs == 0:
            return math.nan
        return self._published(self._newest_x)

    @property
    def n_observations(self) -> int:
        """Packets observed since construction or the last restart."""
        return self._n_obs

    @property
    def device_steps(self) -> int:
        """Device clock steps found and re-anchored since construction."""
        return self._device_steps

    def observe(self, t_device_s: float, t_arrival_s: float) -> None:
        """Take one packet: device time (s, unwrapped) of its LAST sample, host arrival (s).

        O(1) per call, plus one fit over at most ``window_s / bin_s`` fine and
        ``(drift_window_s − window_s) / coarse_bin_s`` coarse bin minima whenever a bin
        closes. A device time that jumps back by more than ``reset_threshold_s`` restarts
        the mapping (keeping the drift).
        """
        x = float(t_device_s)
        a = float(t_arrival_s)
        if not (math.isfinite(x) and math.isfinite(a)):
            raise ValueError(f"clock observation must be finite, got ({x}, {a})")
        if self._n_obs and x < self._newest_x - self.reset_threshold_s:
            self.restart(keep_drift=True)
        y = a - x - self.latency_floor_s
        if (
            self.detect_steps
            and self._ready
            and self._step_line is not None
            and self._watch_step(x, a, y)
        ):
            return
        self._take(x, y)

    def _take(self, x: float, y: float) -> None:
        """Add one observation (device s, y s) to the bins; refit when a bin closes."""
        self._n_obs += 1
        if self._n_obs == 1:
            self._line_x, self._line_y = x, y
            self._delta0 = 0.0
            self._open_bin = (math.floor(x / self.bin_s), x, y)
            self._newest_x = x
            return
        self._newest_x = max(self._newest_x, x)
        if self._delta0 != 0.0 and self._newest_x >= self._fade_end_x:
            self._delta0 = 0.0  # faded in completely: the published mapping is the line
        k = math.floor(x / self.bin_s)
        open_k, open_x, open_y = self._open_bin
        if k > open_k:
            self._close_bin(open_x, open_y)
            self._open_bin = (k, x, y)
            self._refit()
        elif y - self._slope * (x - open_x) < open_y:
            # lowest in its bin, detrended by the current drift (an older bin's packet
            # arriving late joins the open bin: it is still a valid bound)
            self._open_bin = (open_k, x, y)
        self._enforce_causality(x, y)

    def to_host(self, t_device_s: npt.ArrayLike) -> FloatArray:
        """Host time (s) of device times (s, unwrapped); vectorised, float64, same shape."""
        if self._n_obs == 0:
            raise RuntimeError("ClockMapper.to_host called before any observation")
        x = np.asarray(t_device_s, dtype=np.float64)
        mapped = x * (1.0 + self._slope) + (self._line_y - self._slope * self._line_x)
        if self._delta0 != 0.0:
            size = abs(self._delta0)
            # clip to [0, size], written out: np.clip costs more than the arithmetic here
            left = np.minimum(np.maximum(size - self.slew_s_per_s * (x - self._delta_x), 0.0), size)
            mapped = mapped + math.copysign(1.0, self._delta0) * left
        return np.asarray(mapped, dtype=np.float64)

    def to_host_block(self, t_first_s: float, offsets_s: FloatArray) -> FloatArray:
        """Host times (s) of one packet's samples, device times ``t_first_s + offsets_s``
        (s; offsets shape ``(n,)``): ``to_host`` in fewer array operations. Returns a new
        float64 array of shape ``(n,)``."""
        if self._delta0 != 0.0 or self._n_obs == 0:
            return self.to_host(t_first_s + offsets_s)
        scale = 1.0 + self._slope
        start = t_first_s * scale + (self._line_y - self._slope * self._line_x)
        mapped: FloatArray = offsets_s * scale
        mapped += start
        return mapped

    def restart(self, *, keep_drift: bool = True) -> None:
        """The device clock restarted (reboot, reconnect): learn the offset again.

        With ``keep_drift`` (same crystal) the drift estimate stays and the mapping is ready
        again after one bin; otherwise it starts from drift 0.
        """
        self._restarts += 1
        if not keep_drift:
            self._slope = 0.0
            self._prior_slope = None
            self._prior_span_s = 0.0
        self._clear()

    def state(self) -> ClockState:
        """A snapshot for the device panel."""
        residual_ms = math.nan
        if self._fine:
            xs, ys = _as_arrays(self._fine)
            residual_ms = float(np.median(ys - self._line_value(xs))) * 1e3
        xs_all, _ = self._points()
        span_s = float(xs_all.max() - xs_all.min()) if xs_all.size else 0.0
        slew_ms = 0.0
        if self._n_obs:
            slew_ms = (self._published(self._newest_x) - self._line_value(self._newest_x)) * 1e3
        return ClockState(
            offset_s=self.offset_s,
            drift_ppm=self.drift_ppm,
            residual_ms=residual_ms,
            slew_ms=slew_ms,
            span_s=span_s,
            n_points=int(xs_all.size),
            n_observations=self._n_obs,
            ready=self._ready,
            drift_fitted=self._drift_fitted,
            restarts=self._restarts,
            steps=self._steps,
            device_steps=self._device_steps,
            last_step_ms=self._last_step_s * 1e3,
        )

    # ---------------------------------------------------------------- private
    def _clear(self) -> None:
        self._fine = deque()
        self._coarse = deque()
        self._coarse_open_k = None
        self._open_bin = (0, 0.0, 0.0)
        self._n_obs = 0
        self._newest_x = -math.inf
        # published(x) = line(x) + correction(x); line(x) = line_y + slope·(x − line_x)
        self._line_x = 0.0
        self._line_y = 0.0
        # correction: delta0 up to delta_x, then fading at slew_s_per_s
        self._delta0 = 0.0
        self._delta_x = 0.0
        self._fade_end_x = -math.inf
        self._ready = False
        self._drift_fitted = False
        self._step_sign = 0
        self._step_limit_s = self.step_threshold_s
        self._step_line = self._next_step_line = None

    # ------------------------------------------------------------ clock steps
    def _watch_step(self, x: float, a: float, y: float) -> bool:
        """Follow a device clock step suspicion; True when this observation re-anchored
        the mapping (and was taken by it)."""
        sign = self._step_sign
        if sign != 0 and x - self._step_last_x > self.bin_s:
            sign = self._step_sign = 0  # a silence: judge what follows it afresh
        if sign != 0:
            line_x, line_y, slope = self._step_ref
            r = y - line_y - slope * (x - line_x)
            k = math.floor(x / self.bin_s)
            if sign > 0 and r <= self._step_open_limit_s:
                sign = self._step_sign = 0  # a packet at the old level: no step
            elif sign < 0 and k > self._step_bins[-1][0] and not self._step_bin_seen:
                self._step_bins_missed += 1
                if self._step_bins_missed >= 2:
                    # two bins in a row without a packet below the old level
                    sign = self._step_sign = 0
        if sign == 0:
            assert self._step_line is not None  # observe checks it
            line_x, line_y, slope = self._step_line
            r = y - line_y - slope * (x - line_x)
            if -self._forward_limit(self._step_limit_s) <= r <= self._step_limit_s:
                return False
            self._open_step(x, a, y, r)
            return False
        self._step_last_x = x
        last_k, _, last_y = self._step_bins[-1]
        if k > last_k:
            self._step_bins.append((k, x, y))
            if self._step_bin_seen:
                self._step_bins_missed = 0
            self._step_bin_seen = False
        elif y < last_y:
            self._step_bins[-1] = (k, x, y)
        if sign < 0 and r < -self._forward_limit(self._step_open_limit_s):
            self._step_bin_seen = True
        half_x = self._step_x0 + 0.5 * self.step_confirm_s
        if x >= half_x and self._step_a_half == math.inf:
            self._step_a_half = a
        if x - self._step_x0 < self.step_confirm_s or a - self._step_a_half < 0.5 * (x - half_x):
            return False
        self._reanchor(x)
        return True

    @staticmethod
    def _forward_limit(limit_s: float) -> float:
        """How far (s) below the line a packet must be to show a forward step, for the
        backward threshold ``limit_s``: half of it, since nothing arrives below the
        envelope unless the device clock stepped."""
        return 0.5 * limit_s

    def _open_step(self, x: float, a: float, y: float, r: float) -> None:
        """Start suspecting a device clock step at this observation (residual ``r`` s)."""
        self._step_sign = 1 if r > 0 else -1
        self._step_x0, self._step_last_x = x, x
        self._step_a_half = math.inf
        assert self._step_line is not None
        self._step_ref = self._step_line
        self._step_open_limit_s = self._step_limit_s
        self._step_prior = (self._prior_slope, self._prior_span_s)
        self._step_bins.clear()
        self._step_bins.append((math.floor(x / self.bin_s), x, y))
        self._step_bin_seen = True
        self._step_bins_missed = 0

    def _reanchor(self, x: float) -> None:
        """The device clock stepped: start the mapping again from the suspicion's bin
        minima (after a backward step, those of its last two thirds, up to device time
        ``x`` s), keeping the drift, and count the step."""
        points = [(px, py) for _, px, py in self._step_bins]
        if self._step_sign > 0:
            # a backward suspicion may have opened on a few high packets just before the
            # step: take the new level from the bins of its last two thirds only
            cutoff_k = math.floor((x - 2.0 * self.step_confirm_s / 3.0) / self.bin_s) + 1
            recent = [(px, py) for k, px, py in self._step_bins if k >= cutoff_k]
            points = recent or points[-1:]
        line_x, line_y, slope = self._step_ref
        self._last_step_s = min(py - line_y - slope * (px - line_x) for px, py in points)
        self._device_steps += 1
        # fits made during the suspicion mixed both levels: keep the drift from before it
        self._slope = self._step_ref[2]
        self._prior_slope, self._prior_span_s = self._step_prior
        self._clear()
        for px, py in points:
            self._take(px, py)

    def _line_value(self, x: Any) -> Any:
        return self._line_y + self._slope * (x - self._line_x)

    def _published(self, x: float) -> float:
        """Published host − device (s) at device time ``x`` (s)."""
        value = float(self._line_value(x))
        if self._delta0 != 0.0:
            left = abs(self._delta0) - self.slew_s_per_s * max(x - self._delta_x, 0.0)
            if left > 0.0:
                value += math.copysign(left, self._delta0)
        return value

    def _enforce_causality(self, x: float, y: float) -> None:
        """Lower the mapping at once if it puts this packet's last sample after ``y``."""
        excess = self._published(x) - y
        if excess <= 0.0:
            return
        line_excess = float(self._line_value(x)) - y
        if line_excess > 0.0:
            self._line_y -= line_excess  # the fit itself is too late here: lower it
        # the correction left makes the mapping pass exactly through this observation
        self._set_correction(y - float(self._line_value(x)), at_x=x)
        if self._ready and excess > 1e-6:
            self._steps += 1

    def _close_bin(self, x: float, y: float) -> None:
        """Store a closed bin's minimum; age old fine bins into coarse ones.

        Points older than ``drift_window_s`` are dropped only once the points inside it
        span ``window_s``: after a long silence the points from before it stay until a
        minute of new ones exists, so the first packets after it are mapped with the line
        both sides agree on, not from a handful of new minima.
        """
        self._fine.append((x, y))
        newest = self._newest_x
        while self._fine[0][0] < newest - self.window_s and len(self._fine) > 1:
            self._merge_coarse(*self._fine.popleft())
        limit = newest - self.drift_window_s
        stale = 0
        while stale < len(self._coarse) and self._coarse[stale][0] < limit:
            stale += 1
        if stale:
            oldest_kept_x = (
                self._coarse[stale][0] if stale < len(self._coarse) else self._fine[0][0]
            )
            if oldest_kept_x >= limit and newest - oldest_kept_x >= self.window_s:
                for _ in range(stale):
                    self._coarse.popleft()
                if not self._coarse:
                    self._coarse_open_k = None

    def _merge_coarse(self, x: float, y: float) -> None:
        """Fold an aged fine bin into the newest coarse bin (the last of ``_coarse``)."""
        k = math.floor(x / self.coarse_bin_s)
        if self._coarse_open_k is None or k > self._coarse_open_k:
            self._coarse.append((x, y))
            self._coarse_open_k = k
            return
        open_x, open_y = self._coarse[-1]
        if y - self._slope * (x - open_x) < open_y:
            self._coarse[-1] = (x, y)

    def _points(self) -> tuple[FloatArray, FloatArray]:
        """All fit points (device s, y s), oldest first: coarse, then fine."""
        return _as_arrays([*self._coarse, *self._fine])

    def _refit(self) -> None:
        """Fit the line to the bin minima (once per closed bin) and slew to it."""
        xs, ys = self._points()
        if xs.size == 0:  # defensive: a fit always follows a closed bin
            xs = np.array([self._open_bin[1]])
            ys = np.array([self._open_bin[2]])
        span = float(xs.max() - xs.min())
        # a fresh fit replaces a kept drift only once its baseline is about as long
        needed_span = max(self.min_span_s, min(self._prior_span_s, self.window_s))
        slope: float | None = None
        if self.fit_drift and xs.size >= 3 and span >= needed_span:
            slope = _envelope_slope(xs, ys)
            if slope is not None and abs(slope) > self.max_drift_ppm * 1e-6:
                slope = None
        fitted = slope is not None
        if slope is None:
            slope = self._prior_slope if (self.fit_drift and self._prior_slope is not None) else 0.0
        else:
            self._prior_slope, self._prior_span_s = slope, span
        # the highest line with this slope on or below every bin minimum and the open bin
        ref_x = float(xs[-1])
        open_x, open_y = self._open_bin[1], self._open_bin[2]
        closed = float(np.min(ys - slope * (xs - ref_x)))
        intercept = min(closed, open_y - slope * (open_x - ref_x))
        before = self._published(self._newest_x)
        self._slope = slope
        self._line_x, self._line_y = ref_x, intercept
        # steps are judged against the line of the bins closed before the latest one, so
        # that packets just after a step have not yet pulled the reference to their level
        newest_line = (ref_x, closed, slope)
        self._step_line = self._next_step_line or newest_line
        self._next_step_line = newest_line
        self._drift_fitted = fitted
        was_ready = self._ready
        self._ready = fitted or self._prior_slope is not None or not self.fit_drift
        self._update_step_limit()
        delta = before - float(self._line_value(self._newest_x))
        if was_ready and abs(delta) <= self.max_slew_s:
            self._set_correction(delta, at_x=self._newest_x)
        else:
            if was_ready and delta != 0.0:
                self._steps += 1
            self._delta0 = 0.0

    def _update_step_limit(self) -> None:
        """The step threshold for the spread of the recent bin minima about the line."""
        if len(self._fine) < _STEP_MIN_BINS:
            self._step_limit_s = math.inf  # too little history to know the link's scatter
            return
        xs, ys = _as_arrays(self._fine)
        heights = np.sort(ys - self._line_value(xs))  # ≤ 120 values: cheaper than percentile
        spread = float(heights[(heights.size - 1) * 19 // 20] - heights[0])
        self._step_limit_s = max(self.step_threshold_s, spread + 5e-4)

    def _set_correction(self, delta0_s: float, *, at_x: float) -> None:
        """Publish ``line + delta0_s`` up to device time ``at_x``, fading out after it."""
        self._delta0, self._delta_x = delta0_s, at_x
        self._fade_end_x = at_x + abs(delta0_s) / self.slew_s_per_s


def _as_arrays(points: Iterable[tuple[float, float]]) -> tuple[FloatArray, FloatArray]:
    pts = np.array(list(points), dtype=np.float64).reshape(-1, 2)
    return pts[:, 0], pts[:, 1]


def _envelope_slope(xs: FloatArray, ys: FloatArray) -> float | None:
    """Slope of the line under all points that is highest at the middle of their x range.

    The linear-programming estimator of one-way clock skew: of all lines on or below every
    point, take the one highest at a chosen x. It is an edge of the lower convex hull, the
    one spanning that x. The middle of the range (not the mean of the points, which the
    dense recent bins would pull to the newest minute) keeps several phase cycles of a BLE
    link on each side.

    Args:
        xs, ys: shape ``(n,)``, bin minima (s); need not be sorted.

    Returns the slope (s/s), or None when the points do not determine one (all at one x).
    """
    order = np.argsort(xs, kind="stable")
    x0 = float(xs[order[0]])
    y0 = float(ys[order[0]])
    px = (xs[order] - x0).tolist()
    py = (ys[order] - y0).tolist()
    hull: list[int] = []
    for i in range(len(px)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # drop b unless it lies strictly below the chord from a to i
            cross = (px[b] - px[a]) * (py[i] - py[a]) - (py[b] - py[a]) * (px[i] - px[a])
            if cross <= 0.0:
                hull.pop()
            else:
                break
        hull.append(i)
    middle = 0.5 * px[-1]
    for a, b in itertools.pairwise(hull):
        if px[b] >= middle and px[b] > px[a]:
            return (py[b] - py[a]) / (px[b] - px[a])
    return None
