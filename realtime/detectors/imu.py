"""Initial contact and toe-off from one foot- or shank-worn IMU, causal and streaming.

Frame and signs (``firmware_bridge.samples``): x anterior, y left, z up; gyroscope positive
by the right-hand rule (deg/s), so a positive pitch rate ``gy`` turns the toes down; the
accelerometer reads +1 g on z at rest. The right foot's device is the mirror image of the
left one, which leaves ``gy``, ``ax`` and ``az`` (all this detector uses) unchanged.

Foot mount (after Falbriard et al. 2018, who cut the pitch rate into cycles from one
mid-swing to the next and take IC as the pitch-rate extremum in the first half of the cycle
and toe-off as the one in the second half). In this frame the swing peak is a large
*negative* pitch rate; the push-off peak before toe-off is a *maximum*; the IC extremum is a
maximum for a rearfoot strike (the foot slaps down from toe-up) and a minimum for mid- and
forefoot strikes (the heel drops). A stride is followed through four phases:

1. swing: the low-passed pitch rate falls below ``-swing_threshold_dps``; mid-swing is its
   minimum, confirmed once the rate has risen back to half of it;
2. end of swing: the raw pitch rate is back above ``-swing_end_dps``;
3. IC: the first departure of the pitch rate beyond ``±onset_dps`` starts the IC feature
   (its sign gives the foot strike: REARFOOT when positive, the toes slapping down, else
   NOT_REARFOOT — van Werkhoven et al. 2019). The accelerometer's impact supports and times
   it: the first sharp peak of the z acceleration from ``spike_window_s`` before the onset
   to ``impact_search_s`` after it, standing ``impact_min_g`` above the base before it
   (the last sample 0.7–1 ``spike_window_s`` earlier) and falling as much within
   ``spike_window_s`` after it. In a
   foot IMU the impact coincides with the pitch-rate extremum and is sharp and symmetric,
   so its peak (three-point parabola, or the middle of a clipped run) is a better clock than
   the asymmetric pitch-rate peak, and it is confirmed a few milliseconds after it happens.
   Without an impact the pitch-rate extremum itself (three-point parabola), once the rate
   has receded by ``ic_confirm_drop`` of it, is the IC, provided the pulse was sharp
   (extremum within ``ic_max_rise_s`` of the onset);
4. toe-off: once the IC feature has decayed to a quarter of its extremum, the push-off
   maximum of the pitch rate (at least ``to_min_dps`` above the valley before it) is
   confirmed once the rate has fallen ``to_confirm_drop`` below it; a least-squares parabola
   over ``±peak_fit_s`` times it.

At the start of a stream, and after missing data longer than ``restart_gap_s``, the
detector is not synchronised to the stride: an IC candidate then needs an impact peak (or,
when missing data may hide the impact, a sharp pulse seen from its start); a pulse without
one that looks like a swing synchronises the detector instead. A feature cut short by such
a gap is finished with the data before it and flagged. A contact waits for its toe-off
across missing data of up to ``max_bridged_gap_s``; an IC whose toe-off never comes within
``max_contact_s`` is withdrawn by a RETRACTION event, and so is one followed by a swing
before any push-off.

Speed-dependent offsets. A gyroscope or impact feature is not the instant at which the
vertical force crosses the contact threshold: it sits a few milliseconds away, and the
distance depends on running speed (Falbriard et al. 2018 report a speed-dependent
contact-time bias). The detector removes the offsets of :class:`FeatureOffsets` (a linear
function of speed; the defaults are the table of ``firmware_bridge/simulator/MODEL.md``,
which follows the magnitudes Falbriard et al. report) evaluated at a speed it measures
itself, from the IMU alone: from a still sample in mid-stance (zero velocity, pitch from
gravity) it integrates the pitch rate to a pitch angle, rotates the accelerometer into the
sagittal plane and integrates the forward acceleration; the swing foot's peak forward speed
is about twice the running speed (``swing_speed_ratio``). The median over the last
``speed_window_strides`` strides is used; until a stride has been measured,
``prior_speed_m_s``. Nothing of the simulator is used at run time.

Shank mount. Shank methods are much less precise (limits of agreement of ±100–150 ms,
Kiernan et al. 2023); every event carries ``StepFlag.LOW_CONFIDENCE`` and only cadence and
step time should be trusted. IC is the tibial impact peak on z after the swing; toe-off is
the maximum of the forward shank rotation (pitch rate) in stance. A contact without an
impact peak is skipped. Offsets are corrected at ``prior_speed_m_s`` (no speed is measured).

Events. An IC carries ``foot_strike`` (foot mount; UNKNOWN for the shank). A toe-off
carries ``peak_accel_g``: the largest acceleration on the sensor's z axis during the
contact, gravity included (g; three-point parabola through the peak sample) — the axis
normal to the dorsum of the foot for a foot mount, the tibial axis (peak tibial
acceleration) for a shank mount. Its ``contact_id`` is the IC's ``event_id``.

Quality flags. ``NEAR_GAP``: missing data next to the sample that timed an event (its true
extremum may lie in the gap; a broad toe-off peak tolerates gaps up to 20 ms next to it), or
an IC timed without its impact while missing data may hide it. Such an event is still timed
as well as the surviving samples allow, never by filling the gap in: a sharp IC pitch-rate
extremum by where the straight lines of the samples rising into the gap and falling after it
meet (within the gap); a toe-off peak next to 20–45 ms of missing data by a least-squares
parabola over the samples on both sides of it (accepted only if concave, with samples on
both sides and its vertex among them; about 5 ms late on the simulator's asymmetric peaks).
A toe-off peak next to longer missing data is not timed: that contact gets no toe-off.
``SETTLING``: the event lies within the settling time of the segmentation filter after a
(re)start. ``CLIPPED`` (toe-off): a channel came within ``clip_fraction`` of its full scale
during the contact. ``LOW_CONFIDENCE``: every shank event. The toe-off carries its IC's
flags as well. Missing data is never filled in.

Chunking. Every decision uses only samples up to the one that confirms it, so the events do
not depend on how the stream is cut into blocks; ``detected_s`` is that confirming sample (or
the first sample at the event's time, if later), not the newest sample of the block, so it
does not depend on the blocks either (the step assembler reads it as the stream's progress).
The work per block is a handful of vectorised numpy scans per stride
phase; there is no per-sample Python loop.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Mount, SampleBlock, Side
from realtime.events import ContactEvent, EventKind, EventSource, FootStrike, StepFlag
from realtime.filters import StreamingSOS

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "FOOT_FEATURE_OFFSETS",
    "SHANK_FEATURE_OFFSETS",
    "FeatureOffsets",
    "ImuContactDetector",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

STANDARD_GRAVITY_M_S2 = 9.80665
_DEG_TO_RAD = math.pi / 180.0
_STILL_HALF_S = 0.004
"""Half width (s) of the mid-stance window averaged for the zero-velocity reference."""
_TOLERATED_PEAK_GAP_S = 0.020
"""Missing data up to this long (s) next to a toe-off peak is tolerated: the broad peak is
timed by the wide parabola without a flag."""
_MAX_PEAK_GAP_S = 0.045
"""A toe-off peak next to missing data longer than this (s) is not timed; between
``_TOLERATED_PEAK_GAP_S`` and this, it is timed across the gap and flagged NEAR_GAP."""
_WIDE_FIT_S = 0.015
"""Half width (s) of the toe-off parabola when missing data touches the peak."""
_EDGE_SAMPLES = 3
"""Samples on each side of missing data whose straight lines time a sharp IC pitch-rate
extremum that the gap may hide."""
_IMPACT_BASE = (0.7, 1.0)
"""The base an impact rises from: the last sample between these fractions of
``spike_window_s`` before its peak (plus two samples of tolerance at the far end)."""
_STEEP_FALL = 0.4
"""An impact without a reference sample before it (missing data) must fall ``impact_min_g``
within this fraction of ``spike_window_s`` (3 ms for the foot's default window)."""
_STILL_FRACTION = 0.4
"""Where in stance (fraction from IC to toe-off) the zero-velocity reference is taken."""
_MAX_SCAN_SAMPLES = 48
"""New samples up to this many are scanned in Python to see whether a search can decide
anything (a few live packets); more go straight to the vectorised search."""


@dataclass(frozen=True)
class FeatureOffsets:
    """Where IMU features sit relative to the force-defined events, by running speed.

    An event's feature lies at ``true event + offset``, with
    ``offset_ms = at_reference_ms + per_m_s · (speed − reference_speed_m_s)``. The detector
    subtracts the offset from the feature time.

    Attributes:
        ic_ms: IC feature offset at the reference speed (ms; positive: feature after IC).
        ic_ms_per_m_s: change of the IC offset per m/s of speed (ms per m/s).
        to_ms: toe-off feature offset at the reference speed (ms).
        to_ms_per_m_s: change of the toe-off offset per m/s (ms per m/s).
        reference_speed_m_s: speed at which ``ic_ms`` and ``to_ms`` hold (m/s).
    """

    ic_ms: float
    ic_ms_per_m_s: float
    to_ms: float
    to_ms_per_m_s: float
    reference_speed_m_s: float = 3.0

    def __post_init__(self) -> None:
        for name in ("ic_ms", "ic_ms_per_m_s", "to_ms", "to_ms_per_m_s", "reference_speed_m_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise ConfigurationError(f"FeatureOffsets.{name} must be a number, got {value!r}.")

    def ic_offset_s(self, speed_m_s: float) -> float:
        """IC feature offset (s) at ``speed_m_s`` (m/s)."""
        dv = speed_m_s - self.reference_speed_m_s
        return 1e-3 * (self.ic_ms + self.ic_ms_per_m_s * dv)

    def to_offset_s(self, speed_m_s: float) -> float:
        """Toe-off feature offset (s) at ``speed_m_s`` (m/s)."""
        dv = speed_m_s - self.reference_speed_m_s
        return 1e-3 * (self.to_ms + self.to_ms_per_m_s * dv)


FOOT_FEATURE_OFFSETS = FeatureOffsets(ic_ms=3.0, ic_ms_per_m_s=-0.5, to_ms=-5.0, to_ms_per_m_s=1.5)
"""Foot (dorsum): IC feature 3 ms after IC at 3 m/s, earlier when faster; push-off peak 5 ms
before toe-off at 3 m/s, later when faster — the feature-based contact time is 8 ms short at
3 m/s, 10 ms at 2 m/s and 4 ms at 5 m/s (MODEL.md, after Falbriard et al. 2018)."""

SHANK_FEATURE_OFFSETS = FeatureOffsets(ic_ms=6.0, ic_ms_per_m_s=0.0, to_ms=-25.0, to_ms_per_m_s=3.0)
"""Shank: tibial impact 6 ms after IC; stance rotation peak 25 ms before toe-off at 3 m/s
(MODEL.md). Only the means are corrected; the spread stays wide (Kiernan et al. 2023)."""


_FOUND, _NONE, _WAIT = 0, 1, 2
"""Outcomes of an impact search: found, certainly absent, not decided yet."""


class _Phase(enum.Enum):
    SEEK_IC = "seek_ic"
    SEEK_TO = "seek_to"
    SEEK_SWING = "seek_swing"
    SEEK_SWING_END = "seek_swing_end"


@dataclass(frozen=True)
class _Contact:
    """An emitted IC whose toe-off is pending."""

    event_id: int
    index: int  # global index where the IC feature starts (foot: pitch-rate onset)
    first_index: int  # global index from which the contact's samples count (impact included)
    t_s: float
    sign: float  # +1 when the IC pitch-rate feature is a maximum, -1 for a minimum
    flags: StepFlag


@dataclass(frozen=True)
class _Stance:
    """Feature indices of the last complete contact, kept to measure the stride's speed."""

    ic_index: int
    to_index: int


class _Samples:
    """Recent samples in preallocated arrays, addressed by a global sample index.

    Rows ``0 .. n`` hold samples ``first .. first + n``. ``gap_s[i]`` is the missing time
    (s) just before sample i (0 when contiguous; rows past ``n`` are kept at 0). ``acc``
    and ``gyr`` are the two halves of ``values``. ``gyf`` (the low-passed pitch rate) is
    filled in by the detector when it needs it. Appending compacts the arrays in place
    (dropping rows before ``keep_from``) or grows them, so a write is amortised O(1) per
    sample whatever the block size.
    """

    def __init__(self, capacity: int) -> None:
        self.t = np.empty(capacity)
        self.values = np.empty((capacity, 6))
        self.gyf = np.empty(capacity)
        self.gap_s = np.zeros(capacity)
        self._views()
        self.first = 0
        self.n = 0
        self.keep_from = 0

    def _views(self) -> None:
        self.acc = self.values[:, 0:3]
        self.gyr = self.values[:, 3:6]

    @property
    def end(self) -> int:
        """Global index one past the newest sample."""
        return self.first + self.n

    def append(self, t: FloatArray, values: npt.NDArray[np.floating], gap_before_s: float) -> None:
        """Add ``(m, 6)`` samples (ax ay az gx gy gz; stored as float64) after a gap."""
        m = t.shape[0]
        if self.n + m > self.t.shape[0]:
            self._make_room(m)
        n = self.n
        self.t[n : n + m] = t
        self.values[n : n + m] = values
        if gap_before_s:
            self.gap_s[n] = gap_before_s
        self.n = n + m

    def _make_room(self, m: int) -> None:
        drop = min(max(self.keep_from - self.first, 0), self.n)
        keep = self.n - drop
        capacity = self.t.shape[0]
        if keep + m > capacity:
            capacity = max(2 * capacity, keep + m)
            for name in ("t", "gyf", "gap_s", "values"):
                old = getattr(self, name)
                new = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
                new[:keep] = old[drop : self.n]
                setattr(self, name, new)
            self._views()
        elif drop:
            for arr in (self.t, self.gyf, self.gap_s, self.values):
                arr[:keep] = arr[drop : self.n]
            self.gap_s[keep : self.n] = 0.0
        self.first += drop
        self.n = keep


def _first(mask: BoolArray) -> int:
    """Index of the first True in ``mask``, or -1."""
    if mask.size == 0:
        return -1
    i = int(mask.argmax())
    return i if mask[i] else -1


def _parabola(y_prev: float, y_mid: float, y_next: float) -> tuple[float, float]:
    """Vertex of the parabola through three equally spaced samples: (offset in samples from
    the middle one, clipped to ±0.5, and the value there)."""
    curvature = y_prev - 2.0 * y_mid + y_next
    if curvature == 0.0:
        return 0.0, y_mid
    delta = min(max(0.5 * (y_prev - y_next) / curvature, -0.5), 0.5)
    return delta, y_mid - 0.25 * (y_prev - y_next) * delta


def _quadratic_fit(x: FloatArray, y: FloatArray) -> tuple[float, float]:
    """Least-squares ``y ≈ c0 + c1·x + c2·x²``: returns ``(c2, c1)`` (normal equations on
    centred x, solved by Cramer's rule; needs at least three distinct x)."""
    xm = float(x.mean())
    u = x - xm
    u2 = u * u
    ym = float(y.mean())
    s2 = float(u2.sum())
    s3 = float((u2 * u).sum())
    s4 = float((u2 * u2).sum())
    n = float(x.size)
    sy1 = float((u * y).sum())
    sy2 = float((u2 * y).sum()) - s2 * ym
    # Unknowns (c1', c2) for y - ym ≈ c1'·u + c2·(u² - s2/n).
    a11, a12, a22 = s2, s3, s4 - s2 * s2 / n
    det = a11 * a22 - a12 * a12
    if det == 0.0:
        return 0.0, 0.0
    c2 = (a11 * sy2 - a12 * sy1) / det
    c1u = (sy1 * a22 - a12 * sy2) / det
    return c2, c1u - 2.0 * c2 * xm


def _check_number(name: str, value: object, *, low: float, high: float = math.inf) -> float:
    """``value`` as a float if it is a finite number in [low, high]; else a one-line error."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ConfigurationError(f"ImuContactDetector's {name} must be a number, got {value!r}.")
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise ConfigurationError(
            f"ImuContactDetector's {name} must lie between {low:g} and {high:g}, got {value!r}."
        )
    return number


class ImuContactDetector:
    """Streaming IC/toe-off detector for one foot- or shank-worn IMU.

    Feed it the IMU's blocks in order with :meth:`update`; take the events with
    :meth:`pop_events`. The module docstring describes the method, the offset correction,
    the flags and the chunking guarantee.

    Args:
        side: the leg the IMU is worn on (stamped on every event).
        rate_hz: nominal sample rate (Hz); sets the sample counts of the windows below.
        mount: ``Mount.FOOT`` (dorsum; full method) or ``Mount.SHANK`` (low confidence).
        full_scale_g: accelerometer range (±g), for the CLIPPED flag.
        full_scale_dps: gyroscope range (±deg/s), for the CLIPPED flag.
        offsets: feature offsets to remove; None: :data:`FOOT_FEATURE_OFFSETS` or
            :data:`SHANK_FEATURE_OFFSETS` for the mount.
        prior_speed_m_s: running speed assumed until one is measured (m/s); the shank always
            uses it.
        speed_window_strides: strides in the running median of the measured speed.
        swing_speed_ratio: peak forward speed of the swinging foot over running speed.
        swing_threshold_dps: the low-passed pitch rate must fall below minus this for a
            swing (deg/s).
        swing_end_dps: the swing has ended when the pitch rate is back above minus this
            (deg/s).
        onset_dps: a pitch-rate departure beyond ± this after the swing starts the IC
            feature (deg/s).
        ic_confirm_drop: the IC extremum is confirmed once the rate has receded by this
            fraction of it.
        ic_max_rise_s: an IC feature without an impact peak must reach its extremum within
            this time of its onset (s); slower pulses are swings or push-offs.
        impact_search_s: the foot's impact peak is looked for up to this long after the
            onset of the IC pitch-rate feature (s); an IC without one is emitted after it.
        impact_min_g: an impact peak stands at least this far above the z acceleration
            ``spike_window_s`` either side of it (g).
        spike_window_s: half width of the window searched for the impact peak around the IC
            feature, and of the prominence test (s); None: 0.007 (foot) or 0.015 (shank).
        to_min_dps: the push-off (foot) or stance rotation (shank) peak stands at least this
            far above the valley before it (deg/s).
        to_confirm_drop: the toe-off peak is confirmed once the rate has fallen this fraction
            of it (and at least ``to_confirm_min_dps``) below it.
        to_confirm_min_dps: smallest fall that confirms a toe-off peak (deg/s).
        peak_fit_s: half width of the least-squares parabola that times the toe-off peak (s).
        max_contact_s: an IC without a toe-off within this time is retracted (s).
        max_stride_s: without the next swing or IC within this time the detector
            resynchronises (s).
        restart_gap_s: missing data longer than this restarts the filter and resynchronises
            the stride search (s); toe-off searches bridge gaps up to ``max_bridged_gap_s``.
        max_bridged_gap_s: a pending contact survives missing data up to this long (s).
        lowpass_hz: corner of the 2nd-order Butterworth low-pass on the pitch rate used to
            find the swing (Hz).
        clip_fraction: a sample at or beyond this fraction of full scale counts as clipped.

    Attributes:
        speed_m_s_: the running speed currently used for the offset correction (m/s).
        speed_measured_: whether ``speed_m_s_`` comes from measured strides (foot only).
        n_events_: events emitted so far (retractions included).
        n_samples_: samples seen so far.

    Raises:
        ConfigurationError: a parameter the detector cannot use (named in the message).
    """

    def __init__(
        self,
        *,
        side: Side,
        rate_hz: float,
        mount: Mount,
        full_scale_g: float = 16.0,
        full_scale_dps: float = 2000.0,
        offsets: FeatureOffsets | None = None,
        prior_speed_m_s: float = 3.0,
        speed_window_strides: int = 5,
        swing_speed_ratio: float = 2.0,
        swing_threshold_dps: float = 200.0,
        swing_end_dps: float = 10.0,
        onset_dps: float = 20.0,
        ic_confirm_drop: float = 0.05,
        ic_max_rise_s: float = 0.04,
        impact_search_s: float = 0.025,
        impact_min_g: float = 1.0,
        spike_window_s: float | None = None,
        to_min_dps: float = 100.0,
        to_confirm_drop: float = 0.05,
        to_confirm_min_dps: float = 15.0,
        peak_fit_s: float = 0.004,
        max_contact_s: float = 1.2,
        max_stride_s: float = 2.5,
        restart_gap_s: float = 0.05,
        max_bridged_gap_s: float = 0.25,
        lowpass_hz: float = 20.0,
        clip_fraction: float = 0.98,
    ) -> None:
        if not isinstance(side, Side):
            raise ConfigurationError(f"ImuContactDetector's side must be a Side, got {side!r}.")
        if mount not in (Mount.FOOT, Mount.SHANK):
            raise ConfigurationError(
                f"ImuContactDetector works on a foot or shank IMU, got mount {mount!r}."
            )
        if offsets is not None and not isinstance(offsets, FeatureOffsets):
            raise ConfigurationError(
                f"ImuContactDetector's offsets must be FeatureOffsets or None, got {offsets!r}."
            )
        if isinstance(speed_window_strides, bool) or not isinstance(speed_window_strides, int):
            raise ConfigurationError(
                "ImuContactDetector's speed_window_strides must be an integer, got "
                f"{speed_window_strides!r}."
            )
        if speed_window_strides < 1:
            raise ConfigurationError(
                f"ImuContactDetector's speed_window_strides must be at least 1, got "
                f"{speed_window_strides}."
            )
        self.side = side
        self.mount = mount
        self.rate_hz = _check_number("rate_hz", rate_hz, low=10.0, high=100_000.0)
        self.full_scale_g = _check_number("full_scale_g", full_scale_g, low=1e-3)
        self.full_scale_dps = _check_number("full_scale_dps", full_scale_dps, low=1e-3)
        self.offsets = offsets
        self.prior_speed_m_s = _check_number("prior_speed_m_s", prior_speed_m_s, low=0.1, high=15)
        self.speed_window_strides = speed_window_strides
        self.swing_speed_ratio = _check_number(
            "swing_speed_ratio", swing_speed_ratio, low=0.5, high=5.0
        )
        self.swing_threshold_dps = _check_number("swing_threshold_dps", swing_threshold_dps, low=1)
        self.swing_end_dps = _check_number("swing_end_dps", swing_end_dps, low=0.0)
        self.onset_dps = _check_number("onset_dps", onset_dps, low=0.0)
        self.ic_confirm_drop = _check_number("ic_confirm_drop", ic_confirm_drop, low=0.0, high=1.0)
        self.ic_max_rise_s = _check_number("ic_max_rise_s", ic_max_rise_s, low=0.0, high=1.0)
        self.impact_search_s = _check_number("impact_search_s", impact_search_s, low=0.0, high=1)
        self.impact_min_g = _check_number("impact_min_g", impact_min_g, low=0.0)
        self.spike_window_s = (
            None
            if spike_window_s is None
            else _check_number("spike_window_s", spike_window_s, low=0.0, high=0.5)
        )
        self.to_min_dps = _check_number("to_min_dps", to_min_dps, low=0.0)
        self.to_confirm_drop = _check_number("to_confirm_drop", to_confirm_drop, low=0.0, high=1.0)
        self.to_confirm_min_dps = _check_number("to_confirm_min_dps", to_confirm_min_dps, low=0.0)
        self.peak_fit_s = _check_number("peak_fit_s", peak_fit_s, low=0.0, high=0.1)
        self.max_contact_s = _check_number("max_contact_s", max_contact_s, low=0.05, high=10.0)
        self.max_stride_s = _check_number("max_stride_s", max_stride_s, low=0.2, high=20.0)
        self.restart_gap_s = _check_number("restart_gap_s", restart_gap_s, low=0.0)
        self.max_bridged_gap_s = _check_number("max_bridged_gap_s", max_bridged_gap_s, low=0.0)
        self.lowpass_hz = _check_number("lowpass_hz", lowpass_hz, low=0.1)
        if self.lowpass_hz >= 0.5 * self.rate_hz:
            raise ConfigurationError(
                f"ImuContactDetector's lowpass_hz ({lowpass_hz!r}) must lie below half of "
                f"rate_hz ({rate_hz!r})."
            )
        if self.onset_dps <= self.swing_end_dps:
            raise ConfigurationError(
                f"ImuContactDetector's onset_dps ({onset_dps!r}) must exceed swing_end_dps "
                f"({swing_end_dps!r}) so that the end of a swing is not taken for an IC."
            )
        self.clip_fraction = _check_number("clip_fraction", clip_fraction, low=0.5, high=1.0)
        self._filter: StreamingSOS | None = None
        self._filtered_to = 0
        self._restart_rows: list[int] = []
        # Carried scans of the swing and toe-off searches (see ``_swing_pending`` and
        # ``_push_off_pending``).
        self._swing_scan: tuple[int, int, int, float] | None = None
        self._to_scan: tuple[int, int, int, float, float, float] | None = None
        self._restart_t_s = math.nan
        self._buf: _Samples | None = None
        self._reset_state()

    # ------------------------------------------------------------------ setup
    def _reset_state(self) -> None:
        self._events: list[ContactEvent] = []
        self._held: deque[ContactEvent] = deque()
        self._pending_gap_s = 0.0
        self._decayed = False
        self._ic_peak_index = 0
        self._next_id = 0
        self._confirm_index = 0
        self._phase = _Phase.SEEK_IC
        self._synced = False
        self._cursor = 0
        self._skip = False
        self._window_open_t = math.nan
        self._contact: _Contact | None = None
        self._last_to_t = math.nan
        self._stance: _Stance | None = None
        self._speeds: deque[float] = deque(maxlen=self.speed_window_strides)
        self.speed_m_s_ = self.prior_speed_m_s
        self.speed_measured_ = False
        self.n_events_ = 0
        self.n_samples_ = 0
        self._dt_s = 1.0 / self.rate_hz
        self._clip_levels = self.clip_fraction * np.repeat(
            [self.full_scale_g, self.full_scale_dps], 3
        )
        self._n_spike = max(1, round(self._spike_window() * self.rate_hz))
        self._n_fit = max(1, round(self.peak_fit_s * self.rate_hz))
        k = np.arange(-self._n_fit, self._n_fit + 1, dtype=np.float64)
        centred = k * k - float((k * k).mean())
        self._fit_w1 = k / float((k * k).sum())  # slope per sample
        self._fit_w2 = centred / float((centred * centred).sum())  # curvature per sample²
        self._n_wide = max(self._n_fit, round(_WIDE_FIT_S * self.rate_hz))
        self._n_still = max(1, round(_STILL_HALF_S * self.rate_hz))

    def _spike_window(self) -> float:
        if self.spike_window_s is not None:
            return self.spike_window_s
        return 0.007 if self.mount == Mount.FOOT else 0.015

    def _offsets(self) -> FeatureOffsets:
        if self.offsets is not None:
            return self.offsets
        return FOOT_FEATURE_OFFSETS if self.mount == Mount.FOOT else SHANK_FEATURE_OFFSETS

    # ---------------------------------------------------------------- public
    def update(self, block: SampleBlock) -> Self:
        """Take the next block of the stream (``values`` ``(n, 6)``: ax ay az in g, gx gy gz
        in deg/s) and emit every event its samples confirm.

        Args:
            block: consecutive samples; ``gap_before_s > 0`` marks missing data before it.

        Returns:
            self.
        """
        values = block.values
        if values.ndim != 2 or values.shape[1] != 6:
            raise ValueError(
                f"ImuContactDetector wants (n, 6) IMU values (ax ay az gx gy gz), got "
                f"{values.shape}"
            )
        if self._filter is None:
            self._filter = StreamingSOS(
                order=2,
                cutoff_hz=self.lowpass_hz,
                rate_hz=self.rate_hz,
                restart_gap_s=self.restart_gap_s,
            )
            self._buf = _Samples(max(4096, int(6.0 * self.rate_hz)))
        assert self._buf is not None
        gap = float(block.gap_before_s) + self._pending_gap_s
        if block.n_samples == 0:
            self._pending_gap_s = gap  # an empty block: its gap belongs to the next samples
            return self
        self._pending_gap_s = 0.0
        t = block.t_host_s
        buf = self._buf
        if gap > self.restart_gap_s:
            if buf.n > 0:
                self._before_long_gap(gap)
            self._restart_rows.append(buf.end)
        if buf.n == 0 or gap > self.restart_gap_s:
            self._restart_t_s = float(t[0])  # where the segmentation filter (re)starts
        buf.append(t, values, gap)
        self.n_samples_ += block.n_samples
        if buf.end - self._filtered_to > self.rate_hz:
            self._filter_until(buf.end)  # keep the lazy filter within a second of the data
        self._run()
        self._release()
        buf.keep_from = self._keep_from()
        return self

    def pop_events(self) -> list[ContactEvent]:
        """Events emitted since the last call, in emission order."""
        out, self._events = self._events, []
        return out

    # --------------------------------------------------------------- machine
    def _before_long_gap(self, gap_s: float) -> None:
        """Missing data longer than ``restart_gap_s`` follows the samples in the buffer.

        A feature that began before the gap is finished with the data before it (flagged
        NEAR_GAP): an IC whose extremum or impact was seen, or a toe-off peak already past
        its maximum. A contact then waits for its toe-off across a gap of up to
        ``max_bridged_gap_s``; otherwise the stride search starts again after the gap.
        """
        assert self._buf is not None
        first_new = self._buf.end
        if self._phase == _Phase.SEEK_IC and self.mount == Mount.FOOT:
            self._seek_ic_foot(self._cursor, first_new, -1, flush=True)
        if self._phase == _Phase.SEEK_TO and gap_s <= self.max_bridged_gap_s:
            return  # a toe-off may still follow; its flags will say the gap touched it
        if self._phase == _Phase.SEEK_TO:
            self._seek_to(flush=True)
        self._resync(first_new)

    def _run(self) -> None:
        assert self._buf is not None
        if self._cursor < self._buf.first:
            self._resync(self._buf.first)  # only if a state outlived the kept history
        progressed = True
        while progressed:
            if self._phase == _Phase.SEEK_IC:
                progressed = self._seek_ic()
            elif self._phase == _Phase.SEEK_TO:
                progressed = self._seek_to()
            elif self._phase == _Phase.SEEK_SWING:
                progressed = self._seek_swing()
            else:
                progressed = self._seek_swing_end()

    def _keep_from(self) -> int:
        assert self._buf is not None
        keep = min(self._cursor, self._filtered_to)
        if self._contact is not None:
            keep = min(keep, self._contact.first_index)
        if self._stance is not None:
            keep = min(keep, self._stance.ic_index)
        keep -= 2 * self._n_spike + self._n_wide + 4
        # No state lives longer than this (every wait has a timeout), so the horizon only
        # bounds memory; it never cuts data a state still needs.
        lifetime_s = 2.0 * self.max_stride_s + self.max_contact_s + 1.0
        horizon = self._buf.end - int(lifetime_s * self.rate_hz)
        return max(keep, horizon, self._buf.first)

    def _resync(self, at: int) -> None:
        """Look for an impact-supported IC from global index ``at`` on."""
        self._phase = _Phase.SEEK_IC
        self._synced = False
        self._skip = False
        self._contact = None
        self._stance = None
        self._cursor = at

    def _timeout_index(self, since_t_s: float, limit_s: float, lo: int, hi: int) -> int:
        """First global index in [lo, hi) with time past ``since_t_s + limit_s``, or -1."""
        assert self._buf is not None
        b = self._buf
        if hi <= lo or not b.t[hi - 1 - b.first] > since_t_s + limit_s:
            return -1
        k = _first(b.t[lo - b.first : hi - b.first] > since_t_s + limit_s)
        return -1 if k < 0 else lo + k

    # ---- swing
    def _filter_until(self, end: int) -> None:
        """Low-pass the pitch rate of the buffered samples up to global index ``end``.

        The filter runs only when the swing search needs it, over every sample since its
        last call and in order, restarting where missing data exceeded ``restart_gap_s``:
        the output is the same as filtering each block on arrival (sosfilt with carried
        state is chunk-size independent), at one filter call per stride instead of one
        per block."""
        b = self._buf
        f = self._filter
        assert b is not None
        assert f is not None
        lo = self._filtered_to
        if lo >= end:
            return
        restarts = self._restart_rows  # global indices after missing data > restart_gap_s
        while restarts and restarts[0] <= lo:
            restarts.pop(0)
        cuts = [g - b.first for g in restarts if g < end]
        starts = [lo - b.first, *cuts]
        stops = [*cuts, end - b.first]
        for i0, i1 in zip(starts, stops, strict=True):
            b.gyf[i0:i1] = f.process(b.gyr[i0:i1, 1], gap_before_s=float(b.gap_s[i0]))
        self._filtered_to = end

    def _seek_swing(self) -> bool:
        b = self._buf
        assert b is not None
        lo, end = self._cursor, b.end
        self._filter_until(end)
        if self._swing_pending(lo, end):
            return False
        gyf = b.gyf[lo - b.first : end - b.first]
        w = _first(gyf < -self.swing_threshold_dps)
        limit = self._timeout_index(self._last_to_t, self.max_stride_s, lo, end)
        if w < 0 or (0 <= limit < lo + w):
            if limit >= 0:
                self._resync(limit)
                return True
            return False
        y = -gyf[w:]
        run = np.maximum.accumulate(y)
        k = _first(y <= 0.5 * run)
        if k < 0:
            if limit >= 0:
                self._resync(limit)
                return True
            return False  # wait for the swing to pass its minimum
        m = int(np.argmax(y[: k + 1]))
        self._phase = _Phase.SEEK_SWING_END
        self._cursor = lo + w + m
        return True

    def _swing_pending(self, lo: int, end: int) -> bool:
        """Whether the swing search from global index ``lo`` certainly decides nothing with
        the data up to ``end``: no swing minimum confirmed and no timeout.

        The same tests as :meth:`_seek_swing`, in Python floats over only the samples that
        arrived since the last call (the scan's state is carried while the search starts
        at ``lo``); False (look with the full search) when anything may have happened."""
        b = self._buf
        assert b is not None
        scan = self._swing_scan
        if scan is None or scan[0] != lo or scan[1] > end:
            scan = (lo, lo, -1, -math.inf)
        _, scanned, w, run = scan
        if end - scanned > _MAX_SCAN_SAMPLES:
            return False  # a long block: the vectorised search is cheaper
        if self._timeout_index(self._last_to_t, self.max_stride_s, lo, end) >= 0:
            self._swing_scan = None
            return False
        threshold = -self.swing_threshold_dps
        for j, g in enumerate(b.gyf[scanned - b.first : end - b.first].tolist(), scanned):
            if w < 0:
                if g < threshold:
                    w, run = j, -g  # a swing: its minimum is confirmed at half of it
                elif g != g:  # NaN
                    self._swing_scan = None
                    return False
                continue
            y = -g
            if y > run:
                run = y
            if y <= 0.5 * run or g != g:
                self._swing_scan = None
                return False
        self._swing_scan = (lo, end, w, run)
        return True

    def _push_off_pending(self, c: _Contact, lo: int, end: int) -> bool:
        """Whether the toe-off search from global index ``lo`` certainly decides nothing
        with the data up to ``end``: no push-off peak confirmed, no swing, no timeout.

        The same tests as :meth:`_seek_to`, in Python floats over only the samples that
        arrived since the last call (the running maximum, the valley before it and the
        running minimum are carried while the search starts at ``lo`` for contact ``c``);
        False (look with the full search) when anything may have happened."""
        b = self._buf
        assert b is not None
        scan = self._to_scan
        if scan is None or scan[0] != c.event_id or scan[1] != lo or scan[2] > end:
            scan = (c.event_id, lo, lo, -math.inf, math.inf, math.inf)
        _, _, scanned, run, low, valley = scan
        if end - scanned > _MAX_SCAN_SAMPLES:
            return False  # a long block: the vectorised search is cheaper
        if self._timeout_index(c.t_s, self.max_contact_s, lo, end) >= 0:
            self._to_scan = None
            return False
        to_min, swing = self.to_min_dps, -self.swing_threshold_dps
        confirm_drop, confirm_min = self.to_confirm_drop, self.to_confirm_min_dps
        for g in b.gyr[scanned - b.first : end - b.first, 1].tolist():
            if g < low:
                low = g
            if g >= run:  # a new running maximum: the valley before it is the minimum so far
                run, valley = g, low
            drop = confirm_drop * abs(run)
            if drop < confirm_min:
                drop = confirm_min
            if (run - valley >= to_min and g <= run - drop) or g < swing or g != g:
                self._to_scan = None
                return False
        self._to_scan = (c.event_id, lo, end, run, low, valley)
        return True

    def _seek_swing_end(self) -> bool:
        b = self._buf
        assert b is not None
        lo, end = self._cursor, b.end
        gy = b.gyr[lo - b.first : end - b.first, 1]
        q = _first(gy >= -self.swing_end_dps)
        if q < 0:
            limit = self._timeout_index(float(b.t[lo - b.first]), self.max_stride_s, lo, end)
            if limit >= 0:
                self._resync(limit)
                return True
            return False
        q += lo
        if self.mount == Mount.FOOT and self._stance is not None:
            self._measure_speed(self._stance, q)
        self._stance = None
        self._phase = _Phase.SEEK_IC
        self._synced = True
        self._skip = False
        self._cursor = q
        self._window_open_t = float(b.t[q - b.first])
        return True

    # ---- initial contact
    def _seek_ic(self) -> bool:
        b = self._buf
        assert b is not None
        lo, end = self._cursor, b.end
        if self._synced:
            limit = self._timeout_index(self._window_open_t, self.max_stride_s, lo, end)
        else:
            limit = -1
        if self.mount == Mount.SHANK:
            return self._seek_ic_shank(lo, end, limit)
        return self._seek_ic_foot(lo, end, limit)

    def _seek_ic_foot(self, lo: int, end: int, limit: int, *, flush: bool = False) -> bool:
        """Foot IC search over global indices [lo, end). ``flush``: the data ends there
        (missing data follows); finish a feature in progress, flagged NEAR_GAP."""
        b = self._buf
        assert b is not None
        gy = b.gyr[lo - b.first : end - b.first, 1]
        if flush and (self._skip or gy.size == 0):
            return False
        if self._skip:
            q = _first(np.abs(gy) < self.onset_dps)
            if q < 0:
                self._cursor = end
                return False
            self._skip = False
            self._cursor = lo + q
            return True
        onset = _first(np.abs(gy) >= self.onset_dps)
        if limit >= 0 and (onset < 0 or limit < lo + onset):
            self._resync(limit)
            return True
        if onset < 0:
            self._cursor = end  # a pointwise test: nothing before `end` can start a feature
            return False
        on = lo + onset
        i_on = on - b.first
        self._cursor = on
        sign = 1.0 if gy[onset] > 0 else -1.0
        t_on = float(b.t[i_on])
        w = self._spike_window()
        status, impact = self._find_impact(t_on - w, t_on + self.impact_search_s, flush=flush)
        if status == _WAIT:
            return False
        if impact is not None:
            t_feature, near_gap, g = impact
            self._emit_ic(on, min(on, g), t_feature, sign, near_gap or flush)
            return True
        # No impact: judge the pitch-rate pulse alone.
        y = sign * gy[onset:]
        run = np.maximum.accumulate(y)
        k = _first(y <= (1.0 - self.ic_confirm_drop) * run)
        if k < 0 and flush:
            k = y.size - 1
        if k < 0:
            stuck = self._timeout_index(t_on, self.max_contact_s, on, end)
            if stuck >= 0:  # a pulse that never recedes is no IC: pass over it
                self._skip = True
                self._cursor = stuck
                return True
            return False
        j = int(np.argmax(y[: k + 1]))
        e = on + j  # global index of the pitch-rate extremum
        rise_s = float(b.t[e - b.first]) - t_on
        # A sharp pulse seen from its start: it rises from below the onset level within
        # ic_max_rise_s, with the sample before its onset present (not after a gap).
        sharp = (
            rise_s <= self.ic_max_rise_s
            and i_on > 0
            and b.gap_s[i_on] == 0.0
            and abs(float(b.gyr[i_on - 1, 1])) < self.onset_dps
        )
        w0 = int(np.searchsorted(b.t[: b.n], t_on - w))
        w1 = int(np.searchsorted(b.t[: b.n], t_on + self.impact_search_s + w))
        impact_gap = flush or bool(np.any(b.gap_s[w0 : w1 + 1] > 0.0))
        # Without an impact peak a pitch-rate pulse is accepted when it is sharp and the
        # stride is followed, or when missing data may hide the impact and either the pulse
        # is sharp or (stride followed) it is already under way when the data resumes.
        after_gap = bool(b.gap_s[i_on] > 0.0)
        accept = sharp and (self._synced or impact_gap)
        accept = accept or (self._synced and impact_gap and after_gap)
        if not accept:
            # A swing (slow rise to a large negative rate) synchronises the detector;
            # anything else (a push-off, a slow turn) is passed over.
            if sign < 0 and y[j] >= self.swing_threshold_dps and rise_s > self.ic_max_rise_s:
                self._phase = _Phase.SEEK_SWING_END
                self._synced = True
                self._cursor = e
            else:
                self._skip = True
                self._cursor = on + k
            return True
        last = on + k
        i_e = e - b.first
        if not flush and 0 < i_e < b.n - 1 and (b.gap_s[i_e] > 0.0 or b.gap_s[i_e + 1] > 0.0):
            # Missing data next to the extremum: its time needs the edge samples after it.
            last = max(last, e + (0 if b.gap_s[i_e] > 0.0 else 1) + _EDGE_SAMPLES - 1)
            if last >= end:
                return False
        t_feature, near_gap = self._peak_time_parabola(b.gyr[:, 1], e, sign, last)
        self._confirm_index = max(self._confirm_index, last)
        self._emit_ic(on, on, t_feature, sign, near_gap or impact_gap)
        return True

    def _seek_ic_shank(self, lo: int, end: int, limit: int) -> bool:
        b = self._buf
        assert b is not None
        az = b.acc[lo - b.first : end - b.first, 2]
        gy = b.gyr[lo - b.first : end - b.first, 1]
        if self._skip:
            # Pass over an excursion that was no impact: wait until it ends.
            below = _first(az < 1.0 + self.impact_min_g)
            if below < 0:
                self._cursor = end
                return False
            self._skip = False
            self._cursor = lo + below
            return True
        rise = _first(az >= 1.0 + self.impact_min_g)
        rotating = _first(gy >= self.to_min_dps)
        if limit >= 0 and (rise < 0 or limit < lo + rise):
            self._resync(limit)
            return True
        if self._synced and rotating >= 0 and (rise < 0 or rotating < rise):
            # Stance rotation without an impact: skip this contact.
            self._phase = _Phase.SEEK_SWING
            self._last_to_t = float(b.t[lo + rotating - b.first])
            self._cursor = lo + rotating
            return True
        if rise < 0:
            self._cursor = end
            return False
        self._cursor = lo + rise
        t_rise = float(b.t[lo + rise - b.first])
        w = self._spike_window()
        status, impact = self._find_impact(t_rise - w, t_rise + w, flush=False)
        if status == _WAIT:
            return False
        if impact is None:
            self._skip = True  # not an impact (a slow excursion): look again where it ends
            return True
        t_feature, near_gap, g = impact
        self._emit_ic(g, g, t_feature, 0.0, near_gap)
        return True

    def _find_impact(
        self, t_lo_s: float, t_hi_s: float, *, flush: bool
    ) -> tuple[int, tuple[float, bool, int] | None]:
        """Look for the impact peak of z acceleration among the samples in
        [``t_lo_s``, ``t_hi_s``] (host s).

        The candidate is the running maximum. It is an impact once it stands
        ``impact_min_g`` above its base (the last sample 0.7–1 ``spike_window_s`` before
        it) and a sample within ``spike_window_s`` after it has fallen ``impact_min_g``
        below it (when missing data, or the stream's start, leaves no base sample, the fall
        must come within 40 % of that window). Every test looks at times, not sample counts,
        so missing data cannot fake a peak.

        Returns:
            ``(_FOUND, (time s, missing data next to it, global index))``; ``(_NONE, None)``
            once every candidate has had ``spike_window_s`` to fall; ``(_WAIT, None)``
            before. With ``flush`` (missing data follows the buffer) a maximum on the last
            sample counts as an impact cut by the gap.
        """
        b = self._buf
        assert b is not None
        t = b.t[: b.n]
        az = b.acc[: b.n, 2]
        w = self._spike_window()
        i_lo = int(np.searchsorted(t, t_lo_s, side="left"))
        i_hi = int(np.searchsorted(t, t_hi_s, side="right"))
        j_hi = int(np.searchsorted(t, t_hi_s + w, side="right"))
        if i_hi > i_lo:
            seg = az[i_lo:j_hi]
            ts = t[i_lo:j_hi]
            cand = seg.copy()
            cand[i_hi - i_lo :] = -np.inf  # candidates lie in the window; later samples confirm
            run = np.maximum.accumulate(cand)
            at = np.maximum.accumulate(np.where(cand >= run, np.arange(seg.size), 0))
            since_peak = ts - ts[at]
            falls = (seg <= run - self.impact_min_g) & (since_peak <= w)
            k = _first(falls)
            while k >= 0:
                a = int(at[k])
                has_ref, rises = self._rises(i_lo + a)
                if rises and (has_ref or since_peak[k] <= _STEEP_FALL * w):
                    self._confirm_index = b.first + i_lo + k  # the fall that confirms it
                    return _FOUND, self._impact_time(i_lo + a, cut=False)
                # This candidate is no impact; later falls must belong to a higher peak.
                k_next = _first(falls[k + 1 :] & (at[k + 1 :] != a))
                k = -1 if k_next < 0 else k + 1 + k_next
            last = int(at[i_hi - i_lo - 1])
            if flush and i_lo + last == b.n - 1 and self._rises(b.n - 1)[1]:
                self._confirm_index = b.end - 1
                return _FOUND, (float(t[-1]), True, b.first + b.n - 1)
        if flush or t[-1] > t_hi_s + w:
            # Decided by the last sample before the gap, or the first one past the window.
            self._confirm_index = b.end - 1 if flush else b.first + j_hi
            return _NONE, None
        return _WAIT, None

    def _rises(self, row: int) -> tuple[bool, bool]:
        """Whether buffer row ``row`` has a base sample (the last one 0.7–1
        ``spike_window_s`` before it, two samples of tolerance), and whether it stands
        ``impact_min_g`` above that base (True without a base)."""
        b = self._buf
        assert b is not None
        w = self._spike_window()
        t_peak = float(b.t[row])
        ref = int(np.searchsorted(b.t[: b.n], t_peak - _IMPACT_BASE[0] * w, side="right")) - 1
        if ref < 0 or t_peak - float(b.t[ref]) > _IMPACT_BASE[1] * w + 2.0 * self._dt_s:
            return False, True
        return True, bool(b.acc[row, 2] - b.acc[ref, 2] >= self.impact_min_g)

    def _impact_time(self, row: int, *, cut: bool) -> tuple[float, bool, int]:
        """Time (s) of the impact peak at buffer row ``row``: a three-point parabola, or
        the middle of a clipped run; plus whether missing data touches it and its global
        index."""
        b = self._buf
        assert b is not None
        t = b.t
        g = b.first + row
        if cut:
            return float(t[row]), True, g
        near_gap = bool(b.gap_s[row] > 0.0 or (row + 1 < b.n and b.gap_s[row + 1] > 0.0))
        if near_gap or row == 0 or row + 1 >= b.n:
            return float(t[row]), True, g
        peak = float(b.acc[row, 2])
        clip_level = self.clip_fraction * self.full_scale_g
        if peak >= clip_level:
            # A clipped impact: the middle of the clipped run around the peak sample.
            lo = max(row - 4 * self._n_spike, 0)
            hi = min(row + 4 * self._n_spike + 1, b.n)
            unclipped = lo + np.flatnonzero(b.acc[lo:hi, 2] < clip_level)
            before = unclipped[unclipped < row]
            after = unclipped[unclipped > row]
            i0 = int(before[-1]) + 1 if before.size else lo
            i1 = int(after[0]) - 1 if after.size else hi - 1
            return 0.5 * (float(t[i0]) + float(t[i1])), False, g
        delta, _ = _parabola(float(b.acc[row - 1, 2]), peak, float(b.acc[row + 1, 2]))
        return self._time_at(row, delta), False, g

    def _peak_time_parabola(
        self, column: FloatArray, e: int, sign: float, last: int
    ) -> tuple[float, bool]:
        """Time (s) of the extremum of ``column`` at global index ``e`` by a three-point
        parabola, and whether missing data touches it. When missing data lies next to the
        extremum sample, the extremum may lie inside it: if the rate rises into the gap and
        falls after it, the crossing of the two edges' straight lines (samples up to global
        index ``last``) times it, within the gap; else the extremum sample does."""
        b = self._buf
        assert b is not None
        i = e - b.first
        if i == 0 or i + 1 >= b.n:
            return float(b.t[i]), True
        near_gap = bool(b.gap_s[i] > 0.0 or b.gap_s[i + 1] > 0.0)
        if near_gap:
            return self._across_gap(column, i, sign, last - b.first), True
        delta, _ = _parabola(
            sign * float(column[i - 1]), sign * float(column[i]), sign * float(column[i + 1])
        )
        return self._time_at(i, delta), False

    def _across_gap(self, column: FloatArray, i: int, sign: float, last: int) -> float:
        """Time (s) of a sharp extremum that missing data next to buffer row ``i`` may hide:
        where the line through the last samples before the gap (rising) meets the line
        through the first samples after it (falling), clipped to the gap; the time of row
        ``i`` when the edges do not bracket an extremum. Uses rows up to ``last``."""
        b = self._buf
        assert b is not None
        g = i if b.gap_s[i] > 0.0 else i + 1  # first row after the gap
        m = _EDGE_SAMPLES
        if g - m < 0 or g + m - 1 > min(last, b.n - 1):
            return float(b.t[i])
        before, after = slice(g - m, g), slice(g, g + m)
        if b.gap_s[g - m + 1 : g].any() or b.gap_s[g + 1 : g + m].any():
            return float(b.t[i])  # an edge cut by more missing data: no clean slope
        s1, y1, t1 = self._edge_line(column, before, sign)
        s2, y2, t2 = self._edge_line(column, after, sign)
        if not (s1 > 0.0 and s2 < 0.0):
            return float(b.t[i])
        # y1 + s1 (t - t1) = y2 + s2 (t - t2)
        t_cross = (y2 - y1 + s1 * t1 - s2 * t2) / (s1 - s2)
        return float(min(max(t_cross, float(b.t[g - 1])), float(b.t[g])))

    def _edge_line(
        self, column: FloatArray, rows: slice, sign: float
    ) -> tuple[float, float, float]:
        """Least-squares line through ``sign * column`` over buffer ``rows``: (slope per s,
        value at the mean time, mean time)."""
        b = self._buf
        assert b is not None
        t = b.t[rows]
        y = sign * column[rows]
        tm = float(t.mean())
        u = t - tm
        slope = float((u * (y - y.mean())).sum()) / float((u * u).sum())
        return slope, float(y.mean()), tm

    def _time_at(self, i: int, delta: float) -> float:
        """Time (s) ``delta`` samples from buffer row ``i`` (neighbour spacing)."""
        b = self._buf
        assert b is not None
        if delta >= 0.0:
            return float(b.t[i] + delta * (b.t[i + 1] - b.t[i]))
        return float(b.t[i] + delta * (b.t[i] - b.t[i - 1]))

    def _emit_ic(self, on: int, first: int, t_feature: float, sign: float, near: bool) -> None:
        """Emit an IC whose feature starts at global index ``on`` (``first``: the earliest
        sample of the contact, impact included) and sits at ``t_feature`` (host s)."""
        b = self._buf
        assert b is not None
        t_ic = t_feature - self._offsets().ic_offset_s(self._speed())
        flags = StepFlag.NONE
        if near:
            flags |= StepFlag.NEAR_GAP
        flags |= self._settling(t_ic)
        strike = FootStrike.UNKNOWN
        if self.mount == Mount.SHANK:
            flags |= StepFlag.LOW_CONFIDENCE
        else:
            # The sign of the pitch rate from the feature's onset on: toes slapping down
            # (positive) after a heel landing, the heel dropping (negative) otherwise.
            strike = FootStrike.REARFOOT if sign > 0.0 else FootStrike.NOT_REARFOOT
        event_id = self._new_id()
        self._push(
            ContactEvent(
                kind=EventKind.INITIAL_CONTACT,
                side=self.side,
                t_s=t_ic,
                source=EventSource.IMU,
                detected_s=float(b.t[b.n - 1]),
                event_id=event_id,
                contact_id=event_id,
                flags=flags,
                foot_strike=strike,
            )
        )
        self._contact = _Contact(event_id, on, min(on, first), t_ic, sign, flags)
        self._decayed = self.mount == Mount.SHANK
        self._ic_peak_index = on
        self._stance = None
        self._phase = _Phase.SEEK_TO
        self._cursor = on
        self._skip = False

    # ---- toe-off
    def _seek_to(self, *, flush: bool = False) -> bool:
        """Toe-off search from the cursor. ``flush``: the data ends at the buffer's end
        (missing data follows); a peak already past its maximum is taken, flagged."""
        b = self._buf
        c = self._contact
        assert b is not None
        assert c is not None
        lo, end = self._cursor, b.end
        if flush and not self._decayed:
            return False
        if not self._decayed:
            # Wait for the IC feature to decay to a quarter of its extremum before looking
            # for the push-off peak.
            y = c.sign * b.gyr[c.index - b.first : end - b.first, 1]
            run = np.maximum.accumulate(y)
            d = _first((y <= 0.25 * run) & (run >= self.onset_dps))
            if d >= 0:
                self._decayed = True
                self._ic_peak_index = c.index + int(np.argmax(y[: d + 1]))
                self._cursor = c.index + d
                return True
            return self._to_timeout(lo, end, c)
        if not flush and self._push_off_pending(c, lo, end):
            return False
        gy = b.gyr[lo - b.first : end - b.first, 1]
        run = np.maximum.accumulate(gy)
        valley = np.minimum.accumulate(gy)
        at_max = np.maximum.accumulate(np.where(gy >= run, np.arange(gy.size), 0))
        prominence = run - valley[at_max]
        drop = np.maximum(self.to_confirm_drop * np.abs(run), self.to_confirm_min_dps)
        k = _first((prominence >= self.to_min_dps) & (gy <= run - drop))
        if flush:
            last = gy.size - 1
            # A maximum with data after it is taken; a rate still rising is not timed.
            if (
                k < 0
                and last >= 0
                and prominence[last] >= self.to_min_dps
                and int(at_max[last]) + self._n_fit <= last
            ):
                self._confirm_index = lo + last
                self._emit_to(c, lo + int(at_max[last]), near_gap=True)
                return True
            if k < 0:
                return False
        # A swing before any push-off peak: the IC was not one (raw rate: the low-passed one
        # still lags behind a decayed mid- or forefoot IC feature).
        swing = _first((gy if k < 0 else gy[:k]) < -self.swing_threshold_dps)
        limit = self._timeout_index(c.t_s, self.max_contact_s, lo, end)
        if k < 0 or (0 <= swing < k) or (0 <= limit < lo + k):
            if swing >= 0 and (k < 0 or swing < k) and (limit < 0 or lo + swing <= limit):
                self._confirm_index = lo + swing
                self._retract(c)
                self._phase = _Phase.SEEK_SWING
                self._last_to_t = float(b.t[lo + swing - b.first])
                self._cursor = lo + swing
                return True
            if limit >= 0 and (k < 0 or limit < lo + k):
                self._confirm_index = limit
                self._retract(c)
                self._resync(limit)
                return True
            return False
        p = lo + int(at_max[k])
        if p + self._n_wide >= end:
            return False  # the widest parabola window around the peak is not complete yet
        self._confirm_index = max(lo + k, p + self._n_wide)
        self._emit_to(c, p)
        return True

    def _to_timeout(self, lo: int, end: int, c: _Contact) -> bool:
        limit = self._timeout_index(c.t_s, self.max_contact_s, lo, end)
        if limit < 0:
            return False
        self._confirm_index = limit
        self._retract(c)
        self._resync(limit)
        return True

    def _retract(self, c: _Contact) -> None:
        b = self._buf
        assert b is not None
        self._push(
            ContactEvent(
                kind=EventKind.RETRACTION,
                side=self.side,
                t_s=c.t_s,
                source=EventSource.IMU,
                detected_s=float(b.t[b.n - 1]),
                event_id=self._new_id(),
                contact_id=c.event_id,
                flags=c.flags,
                retracts=c.event_id,
            )
        )
        self._contact = None

    def _emit_to(self, c: _Contact, p: int, *, near_gap: bool = False) -> None:
        b = self._buf
        assert b is not None
        fit = self._fit_peak(p)
        self._contact = None
        self._last_to_t = float(b.t[p - b.first])
        self._phase = _Phase.SEEK_SWING
        self._cursor = p
        if fit is None:
            # The peak lies in missing data: this contact's toe-off cannot be timed.
            self._stance = None
            return
        feature_t, bridged = fit
        near_gap = near_gap or bridged
        t_to = feature_t - self._offsets().to_offset_s(self._speed())
        i_lo = max(c.first_index - self._n_spike - b.first, 0)
        i_hi = p - b.first + 1
        flags = c.flags
        if near_gap:
            flags |= StepFlag.NEAR_GAP
        flags |= self._settling(t_to)
        if (np.abs(b.acc[i_lo:i_hi]) >= self._clip_levels[0]).any() or (
            np.abs(b.gyr[i_lo:i_hi]) >= self._clip_levels[3]
        ).any():
            flags |= StepFlag.CLIPPED
        peak_g = self._peak_accel(i_lo, i_hi)
        self._push(
            ContactEvent(
                kind=EventKind.TOE_OFF,
                side=self.side,
                t_s=t_to,
                source=EventSource.IMU,
                detected_s=float(b.t[b.n - 1]),
                event_id=self._new_id(),
                contact_id=c.event_id,
                flags=flags,
                peak_accel_g=peak_g,
            )
        )
        self._stance = _Stance(ic_index=self._ic_peak_index, to_index=p)

    def _fit_peak(self, p: int) -> tuple[float, bool] | None:
        """Time (s) of the pitch-rate peak near global index ``p`` from a least-squares
        parabola over ``±peak_fit_s`` (±``_WIDE_FIT_S`` of samples when missing data
        touches the peak), and whether the missing data is long enough to flag it.

        Missing data up to ``_TOLERATED_PEAK_GAP_S`` next to the peak sample is tolerated
        (a broad peak). Longer missing data, up to ``_MAX_PEAK_GAP_S``, may hide the
        maximum: the parabola is then fitted over the samples on both sides of the gap and
        accepted only if it is concave, has at least ``peak_fit_s`` worth of samples on each
        side and puts its vertex within the samples' span; else None (not timed), as for
        longer missing data."""
        b = self._buf
        assert b is not None
        i = p - b.first
        after = float(b.gap_s[i + 1]) if i + 1 < b.n else 0.0
        gap = max(float(b.gap_s[i]), after)
        if gap > _MAX_PEAK_GAP_S:
            return None
        touching = gap > 0.0
        bridged = gap > _TOLERATED_PEAK_GAP_S
        n = self._n_wide if touching else self._n_fit
        lo, hi = max(i - n, 0), min(i + n + 1, b.n)
        if not touching and hi - lo == 2 * n + 1 and not b.gap_s[lo + 1 : hi].any():
            # Equally spaced, complete window: precomputed least-squares weights.
            y_win = b.gyr[lo:hi, 1]
            slope = float(self._fit_w1 @ y_win)
            curvature = float(self._fit_w2 @ y_win)
            if curvature >= 0.0:
                return float(b.t[i]), False
            vertex = min(max(-slope / (2.0 * curvature), -float(n)), float(n))
            spacing = float(b.t[hi - 1] - b.t[lo]) / (2 * n)
            return float(b.t[i]) + vertex * spacing, False
        t = b.t[lo:hi]
        y = b.gyr[lo:hi, 1]
        x = (t - b.t[i]) * 1e3
        if bridged:
            # Both sides of the gap must be sampled: the maximum lies between them.
            g = i if b.gap_s[i] > 0.0 else i + 1  # first row after the gap
            if min(g - lo, hi - g) <= self._n_fit:
                return None
        if x.size < 3:
            return float(b.t[i]), False
        curvature, slope = _quadratic_fit(x, y)
        if curvature >= 0.0:
            return None if bridged else (float(b.t[i]), False)
        vertex_ms = -slope / (2.0 * curvature)
        if bridged and not float(x[0]) <= vertex_ms <= float(x[-1]):
            return None
        vertex_ms = min(max(vertex_ms, float(x[0])), float(x[-1]))
        return float(b.t[i] + 1e-3 * vertex_ms), bridged

    def _peak_accel(self, i_lo: int, i_hi: int) -> float:
        """Largest z acceleration (g, gravity included) over buffer rows [i_lo, i_hi), with
        a three-point parabola through its peak when its neighbours are contiguous."""
        b = self._buf
        assert b is not None
        az = b.acc[i_lo:i_hi, 2]
        if az.size == 0:
            return math.nan
        m = int(az.argmax())
        peak = float(az[m])
        i = i_lo + m
        clipped = peak >= self.clip_fraction * self.full_scale_g
        if 0 < m < az.size - 1 and not clipped and b.gap_s[i] == 0.0 and b.gap_s[i + 1] == 0.0:
            _, peak = _parabola(float(az[m - 1]), peak, float(az[m + 1]))
        return peak

    # ---- speed
    def _measure_speed(self, stance: _Stance, q: int) -> None:
        """Running speed of the stride whose stance is ``stance`` and whose swing ended at
        global index ``q``: peak forward foot speed (zero-velocity strapdown in the sagittal
        plane from mid-stance) over ``swing_speed_ratio``."""
        b = self._buf
        assert b is not None
        r = stance.ic_index + round(_STILL_FRACTION * (stance.to_index - stance.ic_index))
        s0, s1 = r - self._n_still, r + self._n_still + 1
        if s0 < b.first or q <= s1 or q >= b.end:
            return
        if b.gap_s[s0 - b.first + 1 : q - b.first + 1].any():
            return  # never integrate across missing data
        still = slice(s0 - b.first, s1 - b.first)
        n_still = s1 - s0
        still_gy_dps = float(b.gyr[still, 1].sum()) / n_still
        theta0 = math.atan2(-float(b.acc[still, 0].sum()), float(b.acc[still, 2].sum()))
        rows = slice(r - b.first, q - b.first + 1)
        dt = np.diff(b.t[rows])
        # Pitch (rad) by trapezoidal integration of the bias-corrected pitch rate.
        gy = b.gyr[rows, 1]
        step = (0.5 * _DEG_TO_RAD) * (gy[1:] + gy[:-1] - 2.0 * still_gy_dps) * dt
        theta = np.empty(gy.size)
        theta[0] = theta0
        np.cumsum(step, out=theta[1:])
        theta[1:] += theta0
        # Forward (sagittal, horizontal) acceleration (g), then velocity (g·s).
        forward = b.acc[rows, 0] * np.cos(theta) + b.acc[rows, 2] * np.sin(theta)
        velocity = np.cumsum((forward[1:] + forward[:-1]) * dt)
        if velocity.size == 0:
            return
        peak_m_s = 0.5 * STANDARD_GRAVITY_M_S2 * float(velocity.max())
        speed = peak_m_s / self.swing_speed_ratio
        if 0.3 <= speed <= 12.0:
            self._speeds.append(speed)
            ordered = sorted(self._speeds)
            mid = len(ordered) // 2
            median = ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
            self.speed_m_s_ = median
            self.speed_measured_ = True

    def _speed(self) -> float:
        return self.speed_m_s_ if self.mount == Mount.FOOT else self.prior_speed_m_s

    # ---- helpers
    def _settling(self, t_s: float) -> StepFlag:
        f = self._filter
        assert f is not None
        if self._restart_t_s <= t_s < self._restart_t_s + f.settling_s:
            return StepFlag.SETTLING
        return StepFlag.NONE

    def _push(self, event: ContactEvent) -> None:
        """Queue an event, stamped with the time of the sample that confirmed it
        (``_confirm_index``, set by the decision); it is emitted once the stream has reached
        its time."""
        b = self._buf
        assert b is not None
        row = min(max(self._confirm_index, b.first), b.end - 1) - b.first
        self._held.append(dataclasses.replace(event, detected_s=float(b.t[row])))

    def _release(self) -> None:
        """Emit the queued events (in order) whose time the newest sample has reached.

        ``detected_s`` is the later of the confirming sample and the first sample at or after
        the event's time (an event is never reported before its instant: a shank toe-off
        lies 25 ms after the feature that times it) — never the newest sample of the block.
        The step assembler reads ``detected_s`` as this stream's progress: stamping all
        events of a long block with its last sample would claim progress past ICs not yet
        delivered, and the other foot's steps would lose their step time."""
        b = self._buf
        assert b is not None
        newest_s = float(b.t[b.n - 1])
        while self._held and self._held[0].t_s <= newest_s:
            event = self._held.popleft()
            if event.detected_s < event.t_s:
                row = int(np.searchsorted(b.t[: b.n], event.t_s, side="left"))
                event = dataclasses.replace(event, detected_s=float(b.t[min(row, b.n - 1)]))
            self._events.append(event)

    def _new_id(self) -> int:
        self._next_id += 1
        self.n_events_ += 1
        return self._next_id
