"""The beat grid: which beat sounds when, how loud, where, and whether it is heard.

A :class:`BeatSchedule` is an immutable list of at most a few :class:`BeatSegment` s, each a
regular grid of beats in *stream seconds* (the audio stream's clock; for offline rendering,
seconds since the first sample). Beats are numbered from 0 across segments. One beat is one
step, so a tempo in beats per minute is a cadence in steps per minute (spm).

Changes take effect on the next beat. :meth:`BeatSchedule.changed` takes the *frontier*,
the stream time up to which audio has already been rendered, and starts a new segment at
the first beat whose onset lies at or after it. That beat keeps the time the old grid gave
it; the new tempo, volume, accent, panning or cue rule apply from it on. A beat that has
started sounding is never moved, and no beat jumps back in time.

The audio callback only reads a schedule; the control side builds a new one and publishes
it with a single attribute assignment, so the callback sees either the old or the new grid,
never a mix.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

from dashboard.metronome.gating import BandConfig, CueMode, FadedConfig, FadedPlan
from firmware_bridge.errors import ConfigurationError

__all__ = [
    "MAX_BPM",
    "MIN_BPM",
    "BeatSchedule",
    "BeatSegment",
    "MetronomeSettings",
    "Pan",
]

MIN_BPM = 30.0
"""Slowest tempo accepted (beats = steps per minute)."""
MAX_BPM = 300.0
"""Fastest tempo accepted (beats = steps per minute)."""


class Pan:
    """Stereo position of a beat: -1 left, 0 centre, +1 right (plain ints)."""

    LEFT = -1
    CENTRE = 0
    RIGHT = 1


@dataclass(frozen=True)
class MetronomeSettings:
    """What the physical therapist sets.

    Attributes:
        bpm: tempo in beats per minute; one beat per step, so this is the target cadence
            in steps per minute (30..300).
        accent_every: every Nth beat is accented (louder, higher pitch); 0 = no accents.
        alternate: pan beats alternately to the left and right ear (even beats left).
        volume: linear gain 0..1 applied to every click.
        mode: which beats are heard (every / out_of_band / faded).
        faded: blocks and levels of the ``faded`` mode.
        band: band width and hold times of the ``out_of_band`` mode.
    """

    bpm: float = 170.0
    accent_every: int = 0
    alternate: bool = False
    volume: float = 0.8
    mode: CueMode = CueMode.EVERY
    faded: FadedConfig = field(default_factory=FadedConfig)
    band: BandConfig = field(default_factory=BandConfig)

    def __post_init__(self) -> None:
        check_bpm(self.bpm)
        check_accent_every(self.accent_every)
        check_volume(self.volume)
        object.__setattr__(self, "mode", CueMode.parse(self.mode))
        object.__setattr__(self, "alternate", bool(self.alternate))

    @property
    def interval_s(self) -> float:
        """Time between beats (s)."""
        return 60.0 / self.bpm


def check_bpm(bpm: float) -> None:
    """Raise :class:`ConfigurationError` unless ``bpm`` is a tempo in [MIN_BPM, MAX_BPM]."""
    if (
        isinstance(bpm, bool)
        or not isinstance(bpm, int | float)
        or not math.isfinite(bpm)
        or not MIN_BPM <= bpm <= MAX_BPM
    ):
        raise ConfigurationError(
            f"the metronome tempo must be {MIN_BPM:.0f} to {MAX_BPM:.0f} beats (steps) per "
            f"minute, got {bpm!r}"
        )


def check_accent_every(accent_every: int) -> None:
    """Raise :class:`ConfigurationError` unless ``accent_every`` is a whole number >= 0."""
    if isinstance(accent_every, bool) or not isinstance(accent_every, int) or accent_every < 0:
        raise ConfigurationError(
            f"accent every N beats needs a whole number N >= 1 (0 = no accents), "
            f"got {accent_every!r}"
        )


def check_volume(volume: float) -> None:
    """Raise :class:`ConfigurationError` unless ``volume`` is a gain in [0, 1]."""
    if (
        isinstance(volume, bool)
        or not isinstance(volume, int | float)
        or not math.isfinite(volume)
        or not 0.0 <= volume <= 1.0
    ):
        raise ConfigurationError(f"the volume must be from 0 to 1, got {volume!r}")


@dataclass(frozen=True)
class BeatSegment:
    """A regular run of beats that starts at beat ``start_index``.

    Attributes:
        start_index: number of the segment's first beat.
        start_s: onset of that beat (stream seconds).
        interval_s: time between beats (s).
        accent_every: accent every Nth beat, counted from ``accent_origin``; 0 = none.
        accent_origin: a beat number that is accented (when accents are on).
        alternate: even beats left, odd beats right; otherwise centred.
        volume: linear gain 0..1.
        cue_on: False mutes every beat of the segment (out-of-band mode, in band).
        fade: the faded plan that picks the heard beats, or None (all heard when cue_on).
    """

    start_index: int
    start_s: float
    interval_s: float
    accent_every: int = 0
    accent_origin: int = 0
    alternate: bool = False
    volume: float = 0.8
    cue_on: bool = True
    fade: FadedPlan | None = None

    def time_s(self, index: int) -> float:
        """Onset of beat ``index`` on this segment's grid (stream seconds)."""
        return self.start_s + (index - self.start_index) * self.interval_s

    def accented(self, index: int) -> bool:
        """Whether beat ``index`` is accented."""
        return self.accent_every > 0 and (index - self.accent_origin) % self.accent_every == 0

    def pan(self, index: int) -> int:
        """:class:`Pan` position of beat ``index``."""
        if not self.alternate:
            return Pan.CENTRE
        return Pan.LEFT if index % 2 == 0 else Pan.RIGHT

    def cued(self, index: int, t_s: float) -> bool:
        """Whether beat ``index`` (onset ``t_s``) is heard."""
        if not self.cue_on:
            return False
        return self.fade is None or self.fade.plays(index, t_s)


_KEEP = object()


@dataclass(frozen=True)
class BeatSchedule:
    """Immutable beat grid: consecutive segments, ordered by ``start_index``.

    Attributes:
        segments: one or more segments; segment ``k`` covers beats
            ``[segments[k].start_index, segments[k+1].start_index)``, the last one runs on.
    """

    segments: tuple[BeatSegment, ...]

    def __post_init__(self) -> None:
        if not self.segments:
            raise ValueError("a beat schedule needs at least one segment")
        for a, b in itertools.pairwise(self.segments):
            if b.start_index <= a.start_index:
                raise ValueError("segments must start at increasing beat numbers")

    @classmethod
    def starting(
        cls,
        start_s: float,
        settings: MetronomeSettings,
        *,
        cue_on: bool,
        first_index: int = 0,
    ) -> BeatSchedule:
        """A schedule whose beat ``first_index`` sounds at ``start_s`` (stream seconds).

        ``cue_on`` is the initial out-of-band decision (ignored unless that mode is set);
        the first beat is accented when accents are on, and starts the faded plan.
        """
        seg = BeatSegment(
            start_index=first_index,
            start_s=float(start_s),
            interval_s=settings.interval_s,
            accent_every=settings.accent_every,
            accent_origin=first_index,
            alternate=settings.alternate,
            volume=float(settings.volume),
            cue_on=cue_on if settings.mode is CueMode.OUT_OF_BAND else True,
            fade=(
                settings.faded.plan(origin_index=first_index, origin_s=float(start_s))
                if settings.mode is CueMode.FADED
                else None
            ),
        )
        return cls((seg,))

    @property
    def first_index(self) -> int:
        """Number of the earliest beat the schedule still describes."""
        return self.segments[0].start_index

    @property
    def last(self) -> BeatSegment:
        """The segment in force from the latest change on."""
        return self.segments[-1]

    def segment(self, index: int) -> BeatSegment:
        """The segment that beat ``index`` belongs to."""
        segs = self.segments
        k = len(segs) - 1
        while k > 0 and segs[k].start_index > index:
            k -= 1
        return segs[k]

    def time_s(self, index: int) -> float:
        """Onset of beat ``index`` (stream seconds)."""
        return self.segment(index).time_s(index)

    def first_index_at_or_after(self, t_s: float) -> int:
        """Number of the first beat whose onset is at or after ``t_s`` (stream seconds)."""
        segs = self.segments
        k = len(segs) - 1
        while k > 0 and segs[k].start_s > t_s:
            k -= 1
        seg = segs[k]
        if t_s <= seg.start_s:
            return seg.start_index
        i = seg.start_index + math.ceil((t_s - seg.start_s) / seg.interval_s)
        # Guard the division's rounding: step to the exact first beat at or after t_s.
        while i > seg.start_index and seg.time_s(i - 1) >= t_s:
            i -= 1
        while seg.time_s(i) < t_s:
            i += 1
        return i

    def changed(
        self,
        frontier_s: float,
        *,
        bpm: float | None = None,
        accent_every: int | None = None,
        alternate: bool | None = None,
        volume: float | None = None,
        cue_on: bool | None = None,
        fade: object = _KEEP,
    ) -> BeatSchedule:
        """A schedule with the given changes in force from the next beat on.

        Args:
            frontier_s: stream time up to which audio has been rendered (s); use ``-inf``
                before any rendering. The change starts at the first beat whose onset is at
                or after it; that beat keeps its onset.
            bpm: new tempo (beats = steps per minute).
            accent_every: new accent period; accents restart on the changed beat.
            alternate: new left/right alternation.
            volume: new gain 0..1.
            cue_on: new out-of-band decision.
            fade: a :class:`FadedConfig` (a new plan starting on the changed beat), None (no
                fading), or left out (keep the current plan).

        Segments that can no longer sound are dropped, so a schedule holds at most two.
        """
        k = self.first_index_at_or_after(frontier_s)
        cur = self.segment(k)
        t_k = cur.time_s(k)
        new = replace(cur, start_index=k, start_s=t_k)
        if bpm is not None:
            check_bpm(bpm)
            new = replace(new, interval_s=60.0 / bpm)
        if accent_every is not None:
            check_accent_every(accent_every)
            if accent_every != cur.accent_every:
                new = replace(new, accent_every=accent_every, accent_origin=k)
        if alternate is not None:
            new = replace(new, alternate=bool(alternate))
        if volume is not None:
            check_volume(volume)
            new = replace(new, volume=float(volume))
        if cue_on is not None:
            new = replace(new, cue_on=bool(cue_on))
        if fade is not _KEEP:
            if fade is None:
                new = replace(new, fade=None)
            elif isinstance(fade, FadedConfig):
                new = replace(new, fade=fade.plan(origin_index=k, origin_s=t_k))
            else:
                raise TypeError(f"fade must be a FadedConfig or None, got {fade!r}")
        kept: tuple[BeatSegment, ...] = ()
        if k > self.first_index:
            kept = (self.segment(k - 1),)
        return BeatSchedule((*kept, new))
