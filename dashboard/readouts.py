"""What each live number shows: its text and its colour level, from an analysis snapshot.

Pure functions of (analysis view, now, the PT's bands), shared by the Qt dashboard and the
terminal view, so both apply the same rules:

* a number whose side has produced no valid step for ``STALE_STEP_S`` shows "—" and is
  grey (``Level.STALE``): never a frozen old value;
* a number whose window holds steps touching missing data (gap-flagged) is at least amber;
* otherwise the number is green inside the band the PT set, amber just outside it and red
  beyond the amber margin; numbers without a band are neutral.

Contact-time balance uses the running-watch convention of DESIGN.md by default: green up to
50.7 % on the longer side, amber to 52.2 %, red above.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side
from realtime.events import FootStrike
from realtime.metrics import GaitMetrics, SideMetrics
from realtime.processing import AnalysisView

STALE_STEP_S = 2.0
"""A side with no valid step for this long (s) shows its numbers as "—"."""

NO_VALUE = "—"


class Level(enum.Enum):
    """How a number is coloured."""

    NEUTRAL = "neutral"
    OK = "ok"
    WARN = "warn"
    ALERT = "alert"
    STALE = "stale"


_SEVERITY = {Level.NEUTRAL: 0, Level.OK: 0, Level.WARN: 1, Level.ALERT: 2}


@dataclass(frozen=True)
class Band:
    """An acceptable range and the margin beyond it that is still only amber.

    Attributes:
        low, high: the green range (same unit as the number); ``-inf``/``inf`` for one-sided.
        warn_margin: how far outside the range a value is amber before it turns red
            (same unit, ≥ 0).
    """

    low: float = -math.inf
    high: float = math.inf
    warn_margin: float = 0.0

    def __post_init__(self) -> None:
        if math.isnan(self.low) or math.isnan(self.high) or not self.low <= self.high:
            raise ConfigurationError(
                f"a band needs low ≤ high, got low={self.low} and high={self.high}"
            )
        if not (math.isfinite(self.warn_margin) and self.warn_margin >= 0.0):
            raise ConfigurationError(
                f"a band's amber margin must be a number ≥ 0, got {self.warn_margin}"
            )

    def level(self, value: float) -> Level:
        """The colour level of ``value`` (NEUTRAL for NaN)."""
        if not math.isfinite(value):
            return Level.NEUTRAL
        outside = max(self.low - value, value - self.high, 0.0)
        if outside == 0.0:
            return Level.OK
        return Level.WARN if outside <= self.warn_margin else Level.ALERT


@dataclass(frozen=True)
class Bands:
    """The PT's bands for the live numbers.

    Attributes:
        cadence_band_spm: green within target ± this (spm); amber to twice it; red beyond.
        balance_green_max_pct: longer side's share of contact time still green (%).
        balance_amber_max_pct: longer side's share still amber (%); red above.
        gct_ms: band for ground contact time per side (ms); None: no colour.
        flight_ms: band for flight time per side (ms); None: no colour.
        peak_accel_g: band for peak impact acceleration (g); None: no colour.
    """

    cadence_band_spm: float = 2.0
    balance_green_max_pct: float = 50.7
    balance_amber_max_pct: float = 52.2
    gct_ms: Band | None = None
    flight_ms: Band | None = None
    peak_accel_g: Band | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cadence_band_spm) and self.cadence_band_spm > 0.0):
            raise ConfigurationError(
                f"the cadence band must be a positive number of spm, got {self.cadence_band_spm}"
            )
        if not 50.0 <= self.balance_green_max_pct <= self.balance_amber_max_pct <= 100.0:
            raise ConfigurationError(
                "balance bands need 50 ≤ green limit ≤ amber limit ≤ 100 %, got "
                f"{self.balance_green_max_pct} and {self.balance_amber_max_pct}"
            )

    def cadence(self, target_spm: float) -> Band:
        """The cadence band around ``target_spm``."""
        return Band(
            target_spm - self.cadence_band_spm,
            target_spm + self.cadence_band_spm,
            self.cadence_band_spm,
        )

    def balance(self) -> Band:
        """The band for the longer side's share of contact time (%)."""
        return Band(
            0.0,
            self.balance_green_max_pct,
            self.balance_amber_max_pct - self.balance_green_max_pct,
        )


@dataclass(frozen=True)
class Readout:
    """One live number as shown.

    Attributes:
        text: the value with its unit, or "—".
        level: the colour level.
        detail: a second, smaller line (target, band, flagged share), may be empty.
    """

    text: str
    level: Level
    detail: str = ""


def _at_least_amber(level: Level, gap_flagged: bool) -> Level:
    if gap_flagged and _SEVERITY.get(level, 0) < 1:
        return Level.WARN
    return level


def _fresh(view: AnalysisView, side: Side, now_s: float) -> bool:
    last = view.last_step_s.get(side.name.lower())
    return last is not None and now_s - last <= STALE_STEP_S


def _stale(detail: str = "no step for 2 s") -> Readout:
    return Readout(NO_VALUE, Level.STALE, detail)


def _side_number(
    side_metrics: SideMetrics, value: float, fmt: str, unit: str, band: Band | None
) -> Readout:
    if not math.isfinite(value):
        return Readout(NO_VALUE, Level.NEUTRAL)
    level = band.level(value) if band is not None else Level.NEUTRAL
    gap = side_metrics.n_gap_flagged > 0
    detail = f"{side_metrics.n_gap_flagged} of {side_metrics.n_steps} near gaps" if gap else ""
    return Readout(f"{value:{fmt}} {unit}", _at_least_amber(level, gap), detail)


def _gap_flagged(m: GaitMetrics) -> bool:
    return m.left.n_gap_flagged + m.right.n_gap_flagged > 0


def cadence_readout(
    view: AnalysisView, now_s: float, target_spm: float | None, bands: Bands
) -> Readout:
    """Cadence (spm) against the target band; stale when neither side stepped for 2 s."""
    if not (_fresh(view, Side.LEFT, now_s) or _fresh(view, Side.RIGHT, now_s)):
        return _stale()
    m = view.metrics
    if not math.isfinite(m.cadence_spm):
        return Readout(NO_VALUE, Level.NEUTRAL)
    if target_spm is None:
        level, detail = Level.NEUTRAL, "no target"
    else:
        level = bands.cadence(target_spm).level(m.cadence_spm)
        detail = f"target {target_spm:.0f} ± {bands.cadence_band_spm:g}"
    return Readout(f"{m.cadence_spm:.0f} spm", _at_least_amber(level, _gap_flagged(m)), detail)


def balance_readout(view: AnalysisView, now_s: float, bands: Bands) -> Readout:
    """Contact-time balance ``L % / R %``, coloured by the longer side's share."""
    if not (_fresh(view, Side.LEFT, now_s) and _fresh(view, Side.RIGHT, now_s)):
        return _stale("needs both sides")
    m = view.metrics
    left = m.gct_balance_left_pct
    if not math.isfinite(left):
        return Readout(NO_VALUE, Level.NEUTRAL)
    longer = max(left, 100.0 - left)
    level = bands.balance().level(longer)
    side = "left" if left >= 50.05 else "right" if left <= 49.95 else "even"
    detail = f"longer on the {side}" if side != "even" else "even"
    return Readout(
        f"{left:.1f} / {100.0 - left:.1f} %", _at_least_amber(level, _gap_flagged(m)), detail
    )


def gct_readout(view: AnalysisView, now_s: float, side: Side, bands: Bands) -> Readout:
    """Mean ground contact time of ``side`` over the window (ms)."""
    if not _fresh(view, side, now_s):
        return _stale()
    s = view.metrics.side(side)
    return _side_number(s, s.gct_ms_mean, ".0f", "ms", bands.gct_ms)


def flight_readout(view: AnalysisView, now_s: float, side: Side, bands: Bands) -> Readout:
    """Mean flight time before ``side``'s contacts (ms); walking: double support."""
    if not _fresh(view, side, now_s):
        return _stale()
    s = view.metrics.side(side)
    if not math.isfinite(s.flight_ms_mean) and math.isfinite(s.double_support_ms_mean):
        readout = _side_number(s, s.double_support_ms_mean, ".0f", "ms", None)
        return Readout(readout.text, readout.level, "double support (walking)")
    return _side_number(s, s.flight_ms_mean, ".0f", "ms", bands.flight_ms)


def foot_strike_readout(view: AnalysisView, now_s: float, side: Side) -> Readout:
    """The most frequent foot-strike class of ``side`` in the window, with its share."""
    if not _fresh(view, side, now_s):
        return _stale()
    s = view.metrics.side(side)
    shares = s.foot_strike_pct
    if not shares:
        return Readout(NO_VALUE, Level.NEUTRAL, "no strike data")
    cls, pct = max(shares.items(), key=lambda kv: kv[1])
    others = ", ".join(
        f"{c.value} {p:.0f} %"
        for c, p in shares.items()
        if c is not cls and c is not FootStrike.UNKNOWN
    )
    level = _at_least_amber(Level.NEUTRAL, s.n_gap_flagged > 0)
    return Readout(f"{cls.value} {pct:.0f} %", level, others)


def impact_readout(
    view: AnalysisView, now_s: float, side: Side, bands: Bands, *, tibial: bool
) -> Readout:
    """Mean peak impact acceleration of ``side`` (g); ``tibial`` for a shank mount."""
    if not _fresh(view, side, now_s):
        return _stale()
    s = view.metrics.side(side)
    readout = _side_number(s, s.peak_accel_g_mean, ".1f", "g", bands.peak_accel_g)
    if readout.detail:
        return readout
    return Readout(readout.text, readout.level, "tibial" if tibial else "foot")


@dataclass(frozen=True)
class GaitReadouts:
    """Every live number of the dashboard at one moment."""

    cadence: Readout
    balance: Readout
    gct: dict[Side, Readout]
    flight: dict[Side, Readout]
    foot_strike: dict[Side, Readout]
    impact: dict[Side, Readout]


def gait_readouts(
    view: AnalysisView,
    now_s: float,
    *,
    target_spm: float | None,
    bands: Bands,
    tibial: bool = False,
) -> GaitReadouts:
    """All live numbers from ``view`` at host time ``now_s`` (s)."""
    sides = (Side.LEFT, Side.RIGHT)
    return GaitReadouts(
        cadence=cadence_readout(view, now_s, target_spm, bands),
        balance=balance_readout(view, now_s, bands),
        gct={s: gct_readout(view, now_s, s, bands) for s in sides},
        flight={s: flight_readout(view, now_s, s, bands) for s in sides},
        foot_strike={s: foot_strike_readout(view, now_s, s) for s in sides},
        impact={s: impact_readout(view, now_s, s, bands, tibial=tibial) for s in sides},
    )
