"""When the metronome cues: every beat, only when out of the target band, or a faded schedule.

Three cue modes (:class:`CueMode`):

- ``every``: every beat is heard.
- ``out_of_band``: beats are heard only while the runner's cadence is off target.
  :class:`BandGate` decides from (host time, rolling cadence) samples fed by the processing
  side: it starts cueing once the cadence has stayed outside ``target ± tolerance`` for
  ``enter_s`` (default 4 s) and stops once it has stayed back inside for ``exit_s``
  (default 4 s).
- ``faded``: a fixed schedule that hands the rhythm over to the runner, block by block:
  cue-on 100 %, 75 %, 50 %, 25 %, 0 % of the beats (configurable), each block lasting a
  number of seconds or a number of beats. Inside a block the heard beats are spread evenly
  and the choice is a pure function of the beat number (:class:`FadedPlan`), so a 50 % block
  plays every other beat and a rendering is reproducible.

Everything here is pure Python without threads or clocks: the engine turns the decisions
into its beat schedule.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from fractions import Fraction

from firmware_bridge.errors import ConfigurationError

__all__ = [
    "DEFAULT_FADE_LEVELS",
    "BandConfig",
    "BandGate",
    "CueMode",
    "FadedConfig",
    "FadedPlan",
]

DEFAULT_FADE_LEVELS: tuple[float, ...] = (1.0, 0.75, 0.5, 0.25, 0.0)
"""Cue-on fraction of each block of a faded schedule, in order."""

_TIME_EPS_S = 1e-9
"""Hold times are compared with this slack, so 4.0 s of float-summed timestamps count."""


class CueMode(enum.Enum):
    """Which beats are heard."""

    EVERY = "every"
    OUT_OF_BAND = "out_of_band"
    FADED = "faded"

    @classmethod
    def parse(cls, text: str | CueMode) -> CueMode:
        """The mode named ``text`` (``every``, ``out_of_band`` or ``faded``; ``-`` = ``_``).

        Raises:
            ConfigurationError: an unknown name.
        """
        if isinstance(text, CueMode):
            return text
        key = str(text).strip().lower().replace("-", "_")
        for mode in cls:
            if mode.value == key:
                return mode
        names = ", ".join(m.value for m in cls)
        raise ConfigurationError(f"unknown metronome mode {text!r}; use one of: {names}")


@dataclass(frozen=True)
class BandConfig:
    """The hysteresis of the ``out_of_band`` mode.

    Attributes:
        tolerance_spm: half-width of the target band (steps per minute, > 0).
        enter_s: the cadence must stay outside the band this long before cueing starts (s).
        exit_s: it must stay back inside this long before cueing stops (s).
    """

    tolerance_spm: float = 2.0
    enter_s: float = 4.0
    exit_s: float = 4.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.tolerance_spm) or self.tolerance_spm <= 0:
            raise ConfigurationError(
                f"the band tolerance must be a positive number of spm, got {self.tolerance_spm}"
            )
        for name in ("enter_s", "exit_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigurationError(
                    f"the band {name.removesuffix('_s')} time must be >= 0 s, got {value}"
                )


class BandGate:
    """Out-of-band cueing with hysteresis, fed with (host time, rolling cadence) samples.

    Args:
        target_spm: target cadence (steps per minute).
        config: band width and the enter/exit hold times.

    Call :meth:`update` with each new rolling cadence (e.g. over the last 8 steps) and its
    host time; samples must come in time order. ``cueing_`` says whether beats should be
    heard. A NaN cadence (no recent steps) holds the current decision and restarts both
    hold timers: only continuous evidence counts.

    Results (updated by :meth:`update`):
        cueing_: True while the metronome should be heard.
        changed_at_s_: host time of the last switch (s); NaN before the first.
        out_since_s_: host time the current run of out-of-band samples began (s), or NaN.
        in_since_s_: host time the current run of in-band samples began (s), or NaN.
    """

    def __init__(self, *, target_spm: float, config: BandConfig | None = None) -> None:
        _check_bpm(target_spm, "target cadence")
        self.target_spm = float(target_spm)
        self.config = config if config is not None else BandConfig()
        self.cueing_ = False
        self.changed_at_s_ = math.nan
        self.out_since_s_ = math.nan
        self.in_since_s_ = math.nan
        self._last_t_s = -math.inf

    def in_band(self, cadence_spm: float) -> bool:
        """Whether ``cadence_spm`` lies within ``target ± tolerance`` (edges included)."""
        return abs(cadence_spm - self.target_spm) <= self.config.tolerance_spm

    def retarget(self, target_spm: float) -> BandGate:
        """Move the band to a new target; the cue decision is kept, the hold timers restart."""
        _check_bpm(target_spm, "target cadence")
        self.target_spm = float(target_spm)
        self.out_since_s_ = math.nan
        self.in_since_s_ = math.nan
        return self

    def update(self, t_host_s: float, cadence_spm: float) -> BandGate:
        """Feed one rolling-cadence sample taken at host time ``t_host_s`` (s).

        Raises:
            ValueError: a time earlier than the previous sample's.
        """
        if t_host_s < self._last_t_s:
            raise ValueError(
                f"cadence samples must come in time order: {t_host_s} s after {self._last_t_s} s"
            )
        self._last_t_s = t_host_s
        if not math.isfinite(cadence_spm):
            self.out_since_s_ = math.nan
            self.in_since_s_ = math.nan
            return self
        if self.in_band(cadence_spm):
            self.out_since_s_ = math.nan
            if math.isnan(self.in_since_s_):
                self.in_since_s_ = t_host_s
            if self.cueing_ and t_host_s - self.in_since_s_ >= self.config.exit_s - _TIME_EPS_S:
                self.cueing_ = False
                self.changed_at_s_ = t_host_s
        else:
            self.in_since_s_ = math.nan
            if math.isnan(self.out_since_s_):
                self.out_since_s_ = t_host_s
            if (
                not self.cueing_
                and t_host_s - self.out_since_s_ >= self.config.enter_s - _TIME_EPS_S
            ):
                self.cueing_ = True
                self.changed_at_s_ = t_host_s
        return self


@dataclass(frozen=True)
class FadedConfig:
    """A faded schedule: the cue-on fraction of successive blocks.

    Attributes:
        levels: cue-on fraction (0..1) of each block, in order; after the last block the
            last level stays. Default 100, 75, 50, 25, 0 %.
        block_s: block length in seconds of stream time, or None when ``block_beats`` is set.
        block_beats: block length in beats, or None when ``block_s`` is set.

    Exactly one of ``block_s`` and ``block_beats`` is set; default: blocks of 60 s.
    """

    levels: tuple[float, ...] = DEFAULT_FADE_LEVELS
    block_s: float | None = None
    block_beats: int | None = None

    def __post_init__(self) -> None:
        if not self.levels:
            raise ConfigurationError("a faded schedule needs at least one cue-on level")
        for level in self.levels:
            if not (isinstance(level, int | float) and 0.0 <= level <= 1.0):
                raise ConfigurationError(
                    f"faded cue-on levels are fractions from 0 to 1, got {level!r}"
                )
        if self.block_s is not None and self.block_beats is not None:
            raise ConfigurationError("give the faded block length in seconds or in beats, not both")
        if self.block_s is None and self.block_beats is None:
            object.__setattr__(self, "block_s", 60.0)
        if self.block_s is not None and not (math.isfinite(self.block_s) and self.block_s > 0):
            raise ConfigurationError(f"the faded block length must be > 0 s, got {self.block_s}")
        if self.block_beats is not None and (
            isinstance(self.block_beats, bool)
            or not isinstance(self.block_beats, int)
            or self.block_beats < 1
        ):
            raise ConfigurationError(
                f"the faded block length must be a whole number of beats >= 1, "
                f"got {self.block_beats!r}"
            )

    def plan(self, *, origin_index: int, origin_s: float) -> FadedPlan:
        """The plan that starts its first block at beat ``origin_index`` (time ``origin_s``)."""
        return FadedPlan(config=self, origin_index=origin_index, origin_s=origin_s)


@dataclass(frozen=True)
class FadedPlan:
    """A faded schedule anchored at one beat: which beats are heard.

    Attributes:
        config: levels and block length.
        origin_index: number of the first beat of the first block.
        origin_s: its time (stream seconds); blocks in seconds are counted from it.

    Beat ``i`` falls in block ``b`` (by beats: ``(i - origin_index) // block_beats``; by time:
    ``floor((t - origin_s) / block_s)``) with cue-on fraction ``p = levels[b]``. With
    ``j = i - origin_index`` it is heard when ``ceil((j + 1)·p) > ceil(j·p)``: exactly
    ``round(n·p)`` beats of any ``n`` consecutive ones (± 1), evenly spread, first beat heard.
    The fractions are held as exact ratios, so the decision has no rounding error.
    """

    config: FadedConfig
    origin_index: int
    origin_s: float
    _ratios: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ratios = []
        for level in self.config.levels:
            frac = Fraction(level).limit_denominator(10_000)
            ratios.append((frac.numerator, frac.denominator))
        object.__setattr__(self, "_ratios", tuple(ratios))

    def block(self, index: int, t_s: float) -> int:
        """Block number of beat ``index`` at stream time ``t_s`` (0 = first; < 0 before it)."""
        if self.config.block_beats is not None:
            return (index - self.origin_index) // self.config.block_beats
        assert self.config.block_s is not None
        # A beat exactly on a block boundary belongs to the new block despite rounding.
        return math.floor((t_s - self.origin_s) / self.config.block_s + 1e-9)

    def level(self, index: int, t_s: float) -> float:
        """Cue-on fraction (0..1) that applies to beat ``index`` at ``t_s``."""
        b = min(max(self.block(index, t_s), 0), len(self.config.levels) - 1)
        return float(self.config.levels[b])

    def plays(self, index: int, t_s: float) -> bool:
        """Whether beat ``index`` (at stream time ``t_s``) is heard."""
        b = min(max(self.block(index, t_s), 0), len(self._ratios) - 1)
        num, den = self._ratios[b]
        j = index - self.origin_index
        # ceil(a / b) == -((-a) // b) for integers.
        return -((-(j + 1) * num) // den) > -((-j * num) // den)


def _check_bpm(value: float, what: str) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"the {what} must be a positive number of spm, got {value!r}")
