"""Records of the streaming analysis: contact events, steps, and their flags.

Times are host monotonic seconds (float64), as in the ``SampleBlock``s they come from.
Asymmetry is reported as the symmetry index ``SI = 100·(L−R)/(0.5·(L+R))`` (%) and as the
balance ``L% = 100·L/(L+R)`` (the way running watches show GCT balance).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from firmware_bridge.samples import Side

__all__ = [
    "ContactEvent",
    "EventKind",
    "EventSource",
    "FootStrike",
    "Gait",
    "Side",
    "Step",
    "StepFlag",
]


class EventKind(enum.Enum):
    """What a detector saw."""

    INITIAL_CONTACT = "ic"
    TOE_OFF = "to"
    RETRACTION = "retract"
    """A previously emitted event (``ContactEvent.retracts``) turned out not to be one."""


class EventSource(enum.Enum):
    """Which sensor an event or step comes from."""

    INSOLE = "insole"
    IMU = "imu"
    FUSED = "fused"
    """Insole timing confirmed by an IMU (impact taken from the IMU)."""


class FootStrike(enum.Enum):
    """Foot-strike class. Insoles tell three classes (strike index from the centre of
    pressure at contact: rearfoot 0–33.3 %, midfoot 33.4–66.6 %, forefoot 66.7–100 % of foot
    length from the heel); a foot IMU tells only rearfoot or not."""

    REARFOOT = "rearfoot"
    MIDFOOT = "midfoot"
    FOREFOOT = "forefoot"
    NOT_REARFOOT = "not_rearfoot"
    UNKNOWN = "unknown"


class Gait(enum.Enum):
    """Running has a flight phase (duty factor < 50 %); walking has double support."""

    RUNNING = "running"
    WALKING = "walking"


class StepFlag(enum.IntFlag):
    """Quality flags of an event or step. A flagged value is still reported, never hidden."""

    NONE = 0
    NEAR_GAP = 1
    """Missing data touches the contact (or the previous one used for step time)."""
    SETTLING = 2
    """Within the settling time of a filter restarted after a gap longer than 50 ms."""
    CLIPPED = 4
    """A sensor hit (within 2 % of) its full scale during the contact."""
    LOW_CONFIDENCE = 8
    """A method known to be imprecise (e.g. GCT from a shank IMU: ±100 ms agreement)."""
    UNCONFIRMED = 16
    """Both sensors present but only one saw the contact."""
    FALLBACK = 32
    """Timed by the IMU of a side whose insole was silent (an outage): the insole's values
    (force, loading rate, strike index) are missing and the times are the IMU's, a few ms off
    the insole's. Always with ``NEAR_GAP`` (the insole's data are missing for the contact)."""


@dataclass(frozen=True)
class ContactEvent:
    """One initial contact, toe-off or retraction from one detector.

    Attributes:
        kind: IC, TO or retraction.
        side: the leg.
        t_s: event time (host s), interpolated between samples.
        source: the detector's sensor.
        detected_s: host time (s) of the newest sample the detector had when it emitted the
            event (``detected_s >= t_s``: nothing is reported before its data).
        event_id: unique per detector; a TO carries the id of its IC.
        contact_id: the id of the IC this event belongs to (IC: its own id).
        flags: quality flags.
        retracts: for a retraction, the ``event_id`` it withdraws (else -1).
        strike_index: IC only, insole: centre of pressure at contact, fraction of foot length
            from the heel (0–1); NaN otherwise.
        foot_strike: IC only: the class from the strike index or the IMU pitch rate.
        peak_force_n: TO only, insole: peak vertical force of the contact (N).
        loading_rate_bw_s: TO only, insole: mean vertical loading rate from 20 % to 80 % of
            the first force peak, body weights per second (NaN without body weight).
        peak_accel_g: TO only, IMU: peak acceleration magnitude of the contact (g).
    """

    kind: EventKind
    side: Side
    t_s: float
    source: EventSource
    detected_s: float
    event_id: int
    contact_id: int
    flags: StepFlag = StepFlag.NONE
    retracts: int = -1
    strike_index: float = math.nan
    foot_strike: FootStrike = FootStrike.UNKNOWN
    peak_force_n: float = math.nan
    loading_rate_bw_s: float = math.nan
    peak_accel_g: float = math.nan


@dataclass(frozen=True)
class Step:
    """One completed foot contact and the timing around it.

    Attributes:
        side: the leg.
        ic_s, to_s: initial contact and toe-off (host s).
        gct_ms: ground contact time, ``to_s − ic_s`` (ms).
        step_time_ms: this IC minus the previous contralateral IC (ms); NaN if unknown.
        stride_time_ms: this IC minus the previous ipsilateral IC (ms); NaN if unknown.
        flight_ms: running: this IC minus the previous contralateral TO (ms); NaN walking.
        double_support_ms: walking: previous contralateral TO minus this IC (ms); NaN running.
        gait: running or walking.
        foot_strike: class at contact; strike_index: CoP at contact (0–1, insole) or NaN.
        peak_force_n: insole peak vertical force (N) or NaN.
        loading_rate_bw_s: insole vertical loading rate (BW/s) or NaN.
        peak_accel_g: IMU peak acceleration (g) or NaN; ``tibial`` only for a shank mount.
        source: which sensor timed it.
        flags: quality flags.
    """

    side: Side
    ic_s: float
    to_s: float
    gct_ms: float
    step_time_ms: float
    stride_time_ms: float
    flight_ms: float
    double_support_ms: float
    gait: Gait
    foot_strike: FootStrike
    strike_index: float
    peak_force_n: float
    loading_rate_bw_s: float
    peak_accel_g: float
    source: EventSource
    flags: StepFlag = StepFlag.NONE
