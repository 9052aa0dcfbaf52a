"""From contact events to steps: pairing IC with TO, insole/IMU fusion and retractions.

:class:`StepAssembler` consumes the :class:`~realtime.events.ContactEvent`s of the contact
detectors (an insole and/or an IMU per side) and produces one :class:`~realtime.events.Step`
per foot contact once its toe-off is known.

Timing per step (``Step`` fields):

- ``gct_ms`` = TO − IC of the contact;
- ``step_time_ms`` = this IC − the previous contralateral IC;
- ``stride_time_ms`` = this IC − the previous ipsilateral IC;
- running (the previous contralateral TO lies before this IC): ``flight_ms`` = this IC −
  previous contralateral TO;
- walking (that TO lies after this IC, i.e. GCT > step time): ``double_support_ms`` =
  previous contralateral TO − this IC, ``gait = WALKING``, ``flight_ms`` NaN.

Unknown values are NaN, never 0. A step time is NaN when no contralateral IC precedes this
IC (start of a run: no flag), when the contralateral IC of this step is missing (no
contralateral IC since the previous ipsilateral one) or when it is implausibly far back
(> ``max_step_s``): those two are gaps and the step gets ``NEAR_GAP``. A stride time is NaN
(and ``NEAR_GAP``) when two or more contralateral ICs lie between the two ipsilateral ICs
(an ipsilateral contact is missing) or when it exceeds ``2 · max_step_s``.

Fusion. The timing source of a side is its insole when it has one, else its IMU. On a side
with both sensors, an insole contact is paired with the nearest unpaired IMU IC of the same
side within ``±fuse_window_s``; the step keeps the insole timing, takes ``peak_accel_g`` and
the ``CLIPPED`` flag from the IMU contact and is marked ``FUSED``; without an IMU partner it
is ``INSOLE`` with ``UNCONFIRMED``. IMU contacts on an insole side never become steps (no
double counting) except as fallback steps (below); they are counted in
:class:`AssemblerStats` (``imu_unpaired`` when no insole contact matched them).

Fallback while an insole is silent. An insole that delivers no data for a while (a Bluetooth
or serial outage, a vanished device, a flat battery) would leave its side without steps. So
on a side with both sensors whose IMU reports its progress (``advance(side=...,
source=IMU)``), an IMU contact becomes a step itself (source ``IMU``, IMU timing and impact,
no insole values, flags ``FALLBACK`` and ``NEAR_GAP``) when the insole's data are missing at
its anchor: its IC when no insole contact paired with it, its TO when the paired insole
contact got none (the outage began during the contact). The insole's progress (the newest
``detected_s`` of its events and ``now_s`` of ``advance(side=..., source=INSOLE)``) tells
where its data are missing: after that progress (the insole is silent now), and in holes,
jumps of that progress by more than ``max_side_lag_s``. The decision is taken

- while the insole is silent: once its progress lies before the anchor + ``fuse_window_s``,
  the IMU's data have reached the contact's TO, and the insole's progress is more than
  ``max_side_lag_s`` behind the IMU's (longer than the streams may lag each other: an
  outage, not a stall; an insole that has not reported yet counts as silent since the IMU's
  first report);
- after a hole: when the anchor lies in it (or less than ``fuse_window_s`` before it) and the
  insole's data have passed the IMU TO + ``fuse_window_s`` without a partner with a TO.

An IMU contact whose anchor the insole's data covered never becomes a step, so while every
stream lags less than ``max_side_lag_s`` the steps are the same as without the fallback.
Insole data that still arrive for a fallback contact (a burst after a stall longer than
``max_side_lag_s``) never make a second step: an insole contact paired with a fallback
contact, whose partner fell back, or whose IC lies within a fallback contact (its IC −
``fuse_window_s`` to its TO) is dropped (``fallback_duplicates``); insole data later than
``history_s`` never become steps at all (their contacts are forgotten on arrival). When the
insole's data return, its contacts time the steps again. Step times, strides and flight
across the switch mix the two sensors (IMU ICs lie a few ms off the insole's), so a step
whose previous contralateral IC (step time, flight) or ipsilateral IC (stride) is a
fallback contact gets ``NEAR_GAP`` too. A retraction of a fallback contact's IC or TO
withdraws its step like any other.

Latency. The two sensors reach the host with different delays, so a completed insole step
of a side that has an IMU is held until the first of:

1. its IMU partner's TO arrived (the normal case: the step leaves with the later of the two
   TOs);
2. an IMU event of the same side later than the insole TO + ``fuse_window_s`` arrived (the
   IMU has moved on, nothing more will come for this contact);
3. ``max_hold_s`` (150 ms) of newer data: the newest ``detected_s`` of any event, or the time
   passed to :meth:`StepAssembler.advance`, exceeds the insole TO's ``detected_s`` by
   ``max_hold_s`` (by ``max(max_hold_s, max_side_lag_s)`` once the side's progress is
   reported with ``advance(side=...)``: the IMU's own progress, rule 2, then releases the
   step, and the hold only covers an IMU that lags).

So the hold adds at most that to a step's latency; steps of sides without an IMU, and
IMU-timed steps, leave as soon as their TO arrives (any step may also wait, for at most
``max_side_lag_s``, for the other foot's streams: see ``max_side_lag_s``). A pipeline should
call :meth:`StepAssembler.advance` with its newest sample time every cycle so that rule 3
also fires while no events arrive, and :meth:`StepAssembler.flush` at the end of a
recording.

A fallback step leaves when it is decided: while its insole is silent, as soon as the IMU's
TO arrives once the insole has been silent for more than ``max_side_lag_s``, else (the first
contacts of an outage) when the IMU's data are ``max_side_lag_s`` ahead of the insole's, i.e.
up to ``max_side_lag_s`` after the TO; after a hole, when the insole's data pass its TO +
``fuse_window_s``. Meanwhile later steps of the same side wait for the decision (for at most
``max_side_lag_s`` of newer data past their TO's ``detected_s``), so that steps still leave
in IC order. IMU contacts still undecided at :meth:`StepAssembler.flush` do not become steps.

Retractions. A ``RETRACTION`` whose ``retracts`` is the id of an IC withdraws that contact
(and any TO of it): it never becomes a step, it no longer counts as the previous IC of any
later step, and an IMU contact paired with it is released. A retraction of a TO id withdraws
only the TO; the contact waits for another one. If the step of a withdrawn contact was
already returned by :meth:`StepAssembler.pop_steps`, :meth:`StepAssembler.pop_retracted`
returns it so that consumers (``RollingMetrics.retract``) can drop it; if it was not yet
popped it silently disappears from the next :meth:`StepAssembler.pop_steps`. Steps already
emitted are never revised: a retraction changes the step times of later steps only.

Order and chunk invariance. Events are processed one at a time in the order given (pass
them in the order the detectors emitted them). Every decision depends only on that sequence
(and on the ``advance`` calls in it), never on how it is split into :meth:`update` calls, so
any partition gives the same steps. Steps of one side leave in IC order.

Event ids are unique per detector; contacts are keyed by (source, side, id).
"""

from __future__ import annotations

import bisect
import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side
from realtime.events import (
    ContactEvent,
    EventKind,
    EventSource,
    FootStrike,
    Gait,
    Step,
    StepFlag,
)

if TYPE_CHECKING:
    from typing import Self

__all__ = ["AssemblerStats", "StepAssembler"]

_SIDES = (Side.LEFT, Side.RIGHT)
_KEEP_TIMELINE = 4  # ICs per side kept in the timeline however old they are
_IMU_IMPACT_FLAGS = StepFlag.CLIPPED
_DETECTOR_SOURCES = (EventSource.INSOLE, EventSource.IMU)
_FALLBACK_FLAGS = StepFlag.FALLBACK | StepFlag.NEAR_GAP


def _other(side: Side) -> Side:
    return Side.RIGHT if side == Side.LEFT else Side.LEFT


class _State(enum.Enum):
    OPEN = "open"  # IC seen, no TO yet
    HELD = "held"  # TO seen, waiting for the IMU partner
    EMITTED = "emitted"
    ABANDONED = "abandoned"  # a later IC of the same detector came before a TO
    RETRACTED = "retracted"
    SUPERSEDED = "superseded"  # an insole contact whose IMU partner left as a fallback step


class _Contact:
    """Mutable working record of one detector contact (IC, its TO, its partner)."""

    __slots__ = ("candidate", "fallback", "ic", "partner", "primary", "state", "step", "to")

    def __init__(self, ic: ContactEvent, *, primary: bool) -> None:
        self.ic = ic
        self.to: ContactEvent | None = None
        self.partner: _Contact | None = None
        self.primary = primary
        self.state = _State.OPEN
        self.step: Step | None = None
        self.candidate = False  # an IMU contact queued for the fallback decision
        self.fallback = False  # an IMU contact that times a step for its silent insole

    @property
    def t_s(self) -> float:
        return self.ic.t_s

    @property
    def flags(self) -> StepFlag:
        flags = self.ic.flags | (self.to.flags if self.to is not None else StepFlag.NONE)
        return flags | _FALLBACK_FLAGS if self.fallback else flags


@dataclass(frozen=True)
class AssemblerStats:
    """Diagnostic counters of a :class:`StepAssembler` (counts since construction).

    Attributes:
        events: events received.
        steps: steps emitted (including ones withdrawn later).
        fused_steps, insole_steps, imu_steps: emitted steps by ``Step.source``.
        fallback_steps: of ``imu_steps``, IMU contacts of an insole side that became steps
            because the insole was silent (``StepFlag.FALLBACK``).
        fallback_duplicates: insole contacts whose IMU partner had become a fallback step
            (their data came after the decision): not a second step.
        unconfirmed_steps: insole steps of a side with an IMU that had no IMU partner.
        imu_paired: IMU contacts on an insole side matched to an insole contact.
        imu_unpaired: IMU contacts on an insole side that no insole contact matched and that
            did not become fallback steps (settled: older than ``fuse_window_s + max_hold_s``
            behind the newest data).
        late_partners: IMU contacts matched to an insole step that had already left.
        retracted_contacts: contacts withdrawn by a retraction (both sources).
        withdrawn_steps: emitted steps withdrawn by a later retraction.
        abandoned_contacts: timing-source contacts that never got a TO.
        orphan_events: TOs and retractions naming no known contact.
        duplicate_events: repeated ICs or TOs of a contact (ignored).
        ignored_events: events of a source the side is configured without, of side
            ``UNKNOWN``, or a TO before its IC.
    """

    events: int = 0
    steps: int = 0
    fused_steps: int = 0
    insole_steps: int = 0
    imu_steps: int = 0
    fallback_steps: int = 0
    fallback_duplicates: int = 0
    unconfirmed_steps: int = 0
    imu_paired: int = 0
    imu_unpaired: int = 0
    late_partners: int = 0
    retracted_contacts: int = 0
    withdrawn_steps: int = 0
    abandoned_contacts: int = 0
    orphan_events: int = 0
    duplicate_events: int = 0
    ignored_events: int = 0


def _side_flags(value: bool | Mapping[Side, bool] | None) -> dict[Side, bool | None]:
    """Per-side setting from a bool (both sides), a mapping (missing sides False) or None
    (inferred from the events)."""
    if value is None:
        return {side: None for side in _SIDES}
    if isinstance(value, Mapping):
        return {side: bool(value.get(side, False)) for side in _SIDES}
    return {side: bool(value) for side in _SIDES}


class StepAssembler:
    """Assemble ``Step`` records from the contact events of one or two detectors per side.

    See the module docstring for the timing definitions, fusion, the hold that bounds
    latency, retractions and chunk invariance.

    Args:
        fuse_window_s: largest |insole IC − IMU IC| (s) for two ICs to be one contact.
        walking_duty_factor: when the previous contralateral TO is unknown, a step is
            labelled walking if GCT / stride time (or GCT / 2 step times) exceeds this.
        has_insole: per side, whether an insole times that side's steps; None infers it
            (a side has an insole from its first insole event on).
        has_imu: per side, whether an IMU is worn; None infers it from the first IMU event.
            On a side with both, insole steps wait for their IMU partner.
        shank_mount: the IMU is on the shank (one bool for both sides, or per side): steps
            timed by it get ``LOW_CONFIDENCE`` (shank GCT agrees with force plates only to
            about ±100 ms; prefer a foot mount).
        max_hold_s: longest wait (s of newer data) of an insole step for its IMU partner.
        max_side_lag_s: longest wait (s of newer data) for the other side's streams to catch
            up with a step's IC, so that its step time and flight see the contralateral IC
            and TO before it (streams of the two feet reach the analysis with different
            delays: BLE stalls, offline blocks). A side that stays silent longer is a gap.
            The wait applies once a side's progress is reported with ``advance(side=...)``.
            An insole that lags its IMU by more than this is out: its IMU's contacts become
            fallback steps (see the module docstring).
        max_step_s: a step time above this (s) is a gap, not a step (NaN, ``NEAR_GAP``);
            strides above twice this likewise.
        history_s: how long (s) finished contacts are kept for pairing and retractions.

    Results (accumulated; taken with the pop methods):
        :meth:`pop_steps`: completed steps since the last call.
        :meth:`pop_retracted`: already popped steps withdrawn since the last call.
        :attr:`stats`: diagnostic counters.

    Raises:
        ConfigurationError: a parameter outside its range.
    """

    def __init__(
        self,
        *,
        fuse_window_s: float = 0.06,
        walking_duty_factor: float = 0.5,
        has_insole: bool | Mapping[Side, bool] | None = None,
        has_imu: bool | Mapping[Side, bool] | None = None,
        shank_mount: bool | Mapping[Side, bool] = False,
        max_hold_s: float = 0.15,
        max_side_lag_s: float = 0.5,
        max_step_s: float = 1.5,
        history_s: float = 5.0,
    ) -> None:
        _check_positive("fuse_window_s", fuse_window_s, "s")
        _check_positive("max_step_s", max_step_s, "s")
        if not (math.isfinite(max_hold_s) and max_hold_s >= 0.0):
            raise ConfigurationError(
                f"The step assembler's max_hold_s must be zero or more seconds, got {max_hold_s!r}."
            )
        if not (math.isfinite(walking_duty_factor) and 0.0 < walking_duty_factor < 1.0):
            raise ConfigurationError(
                f"The step assembler's walking_duty_factor must lie between 0 and 1, got "
                f"{walking_duty_factor!r}."
            )
        if not (math.isfinite(history_s) and history_s >= 2.0 * max_step_s):
            raise ConfigurationError(
                f"The step assembler's history_s must be at least twice max_step_s "
                f"({2.0 * max_step_s:g} s), got {history_s!r}."
            )
        self.fuse_window_s = fuse_window_s
        self.walking_duty_factor = walking_duty_factor
        self.has_insole = has_insole
        self.has_imu = has_imu
        self.shank_mount = shank_mount
        self.max_hold_s = max_hold_s
        self.max_side_lag_s = max_side_lag_s
        self.max_step_s = max_step_s
        self.history_s = history_s

        self._insole = _side_flags(has_insole)
        self._imu = _side_flags(has_imu)
        shank = _side_flags(shank_mount)
        self._shank = {side: bool(shank[side]) for side in _SIDES}

        self._by_ic: dict[tuple[EventSource, Side, int], _Contact] = {}
        self._by_to: dict[tuple[EventSource, Side, int], _Contact] = {}
        self._recent: dict[tuple[Side, EventSource], list[_Contact]] = {
            (side, source): [] for side in _SIDES for source in _DETECTOR_SOURCES
        }
        # Timing-source ICs per side, sorted by time: parallel lists of times and contacts.
        self._line_t: dict[Side, list[float]] = {side: [] for side in _SIDES}
        self._line_c: dict[Side, list[_Contact]] = {side: [] for side in _SIDES}
        self._first_ic_s: dict[Side, float] = {side: math.inf for side in _SIDES}
        self._imu_progress_s: dict[Side, float] = {side: -math.inf for side in _SIDES}
        self._side_progress_s: dict[Side, float] = {side: -math.inf for side in _SIDES}
        self._side_seen: dict[Side, bool] = {side: False for side in _SIDES}
        self._imu_first_s: dict[Side, float] = {side: math.nan for side in _SIDES}
        self._insole_progress_s: dict[Side, float] = {side: -math.inf for side in _SIDES}
        # Per side: (last data before, first report after) each jump of the insole's progress
        # by more than max_side_lag_s (s), and the IMU contacts awaiting the fallback decision.
        self._holes: dict[Side, list[tuple[float, float]]] = {side: [] for side in _SIDES}
        self._candidates: dict[Side, list[_Contact]] = {side: [] for side in _SIDES}
        self._held: list[_Contact] = []
        self._out: list[Step] = []
        self._withdrawn_out: list[Step] = []
        self._watermark_s = -math.inf
        self._pruned: dict[Side, bool] = {side: False for side in _SIDES}
        self._counts: dict[str, int] = {f.name: 0 for f in fields(AssemblerStats)}

    # ----------------------------------------------------------------------- public API
    def update(self, events: Iterable[ContactEvent]) -> Self:
        """Process ``events`` in order; completed steps queue up for :meth:`pop_steps`."""
        for event in events:
            self._counts["events"] += 1
            self._process(event)
            self._sweep()
        return self

    def advance(
        self, *, now_s: float, side: Side | None = None, source: EventSource | None = None
    ) -> Self:
        """Declare that the detectors (of ``side`` and ``source`` only, when given) have
        processed their data up to host time ``now_s`` (s): releases held steps whose IMU
        partner cannot come any more, or did not come within the hold, and steps whose other
        side has caught up."""
        if now_s > self._watermark_s:
            self._watermark_s = now_s
        if side is not None and side in self._side_progress_s:
            self._side_seen[side] = True
            if source is None or source is self._timing_source(side):
                self._side_progress_s[side] = max(self._side_progress_s[side], now_s)
            if source is EventSource.IMU:
                self._imu_progress_s[side] = max(self._imu_progress_s[side], now_s)
                if math.isnan(self._imu_first_s[side]):
                    self._imu_first_s[side] = now_s
            elif source is None or source is EventSource.INSOLE:
                self._note_insole_progress(side, now_s)
        self._sweep()
        return self

    def add_source(self, side: Side, source: EventSource, *, shank_mount: bool = False) -> Self:
        """A stream of ``source`` joined on ``side`` (a device that registered after others
        had sent events): from now on the side has that sensor; contacts already received
        are kept. ``shank_mount``: the joining IMU is on the shank."""
        if side not in _SIDES or source not in _DETECTOR_SOURCES:
            return self
        if source is EventSource.IMU and shank_mount:
            self._shank[side] = True
        table = self._insole if source is EventSource.INSOLE else self._imu
        if not table[side]:
            table[side] = True
            if source is EventSource.INSOLE:
                self._demote_imu_contacts(side)
        return self

    def flush(self) -> Self:
        """End of the event stream: release every held step (without waiting for a
        partner) and abandon contacts still lacking a TO. IMU contacts still awaiting the
        fallback decision do not become steps."""
        for side in _SIDES:
            self._drop_candidates(side, math.inf)
        for contact in sorted(self._held, key=lambda c: c.t_s):
            if contact.state is _State.HELD:
                self._emit(contact)
        for contacts in self._recent.values():
            for contact in contacts:
                if contact.state is _State.OPEN:
                    self._abandon(contact)
        return self

    def pop_steps(self) -> list[Step]:
        """Steps completed since the last call, in IC order within each side."""
        out, self._out = self._out, []
        return out

    def pop_retracted(self) -> list[Step]:
        """Steps returned by an earlier :meth:`pop_steps` that a retraction withdrew since the
        last call (the same objects, compare by identity or by ``side`` and ``ic_s``)."""
        out, self._withdrawn_out = self._withdrawn_out, []
        return out

    @property
    def stats(self) -> AssemblerStats:
        """Diagnostic counters (see :class:`AssemblerStats`)."""
        counts = dict(self._counts)
        horizon = self._watermark_s - self.fuse_window_s - self.max_hold_s
        for (side, source), contacts in self._recent.items():
            if source is not EventSource.IMU:
                continue
            counts["imu_unpaired"] += sum(
                1
                for c in contacts
                if not c.primary
                and c.partner is None
                and not c.fallback
                and c.state is not _State.RETRACTED
                and c.t_s < horizon
                and self._side_has_insole(side)
            )
        return AssemblerStats(**counts)

    # -------------------------------------------------------------------- configuration
    def _side_has_insole(self, side: Side) -> bool:
        return bool(self._insole[side])

    def _side_has_imu(self, side: Side) -> bool:
        return bool(self._imu[side])

    def _timing_source(self, side: Side) -> EventSource:
        return EventSource.INSOLE if self._insole[side] else EventSource.IMU

    def _accepts(self, event: ContactEvent) -> bool:
        """Whether the side is (or becomes, when inferred) configured for the event's
        source."""
        side, source = event.side, event.source
        if side not in _SIDES or source is EventSource.FUSED:
            return False
        table = self._insole if source is EventSource.INSOLE else self._imu
        if table[side] is None:
            table[side] = True
            if source is EventSource.INSOLE:
                self._demote_imu_contacts(side)
        return bool(table[side])

    def _demote_imu_contacts(self, side: Side) -> None:
        """A side just got its insole: its IMU contacts that have not left as steps stop
        being timing contacts."""
        for contact in self._recent[(side, EventSource.IMU)]:
            if contact.primary and contact.state in (_State.OPEN, _State.HELD):
                contact.primary = False
                self._line_remove(contact)
                if contact in self._held:
                    self._held.remove(contact)
                contact.state = _State.OPEN  # partner-only contacts are never held

    # ----------------------------------------------------------------------- processing
    def _process(self, event: ContactEvent) -> None:
        if event.detected_s > self._watermark_s:
            self._watermark_s = event.detected_s
        if event.side in self._side_progress_s and event.source is self._timing_source(event.side):
            self._side_progress_s[event.side] = max(
                self._side_progress_s[event.side], event.detected_s
            )
        if event.side in self._insole_progress_s and event.source is EventSource.INSOLE:
            self._note_insole_progress(event.side, event.detected_s)
        if not self._accepts(event):
            self._counts["ignored_events"] += 1
            return
        if event.kind is EventKind.INITIAL_CONTACT:
            self._on_ic(event)
        elif event.kind is EventKind.TOE_OFF:
            self._on_to(event)
        else:
            self._on_retraction(event)
        if event.source is EventSource.IMU and event.kind is not EventKind.RETRACTION:
            self._imu_progress_s[event.side] = max(self._imu_progress_s[event.side], event.t_s)
        self._prune()

    def _on_ic(self, event: ContactEvent) -> None:
        key = (event.source, event.side, event.event_id)
        if key in self._by_ic:
            self._counts["duplicate_events"] += 1
            return
        side, source = event.side, event.source
        contact = _Contact(event, primary=source is self._timing_source(side))
        self._by_ic[key] = contact
        recent = self._recent[(side, source)]
        for earlier in recent:
            if earlier.state is _State.OPEN and earlier.t_s < event.t_s:
                self._abandon(earlier)
        recent.append(contact)
        if contact.primary:
            self._line_insert(contact)
        self._pair(contact)
        if contact.primary and contact.partner is None and self._within_fallback(contact):
            self._supersede(contact)

    def _on_to(self, event: ContactEvent) -> None:
        contact = self._by_ic.get((event.source, event.side, event.contact_id))
        if contact is None:
            self._counts["orphan_events"] += 1
            return
        if contact.state in (_State.RETRACTED, _State.SUPERSEDED):
            return
        if contact.to is not None or contact.state is not _State.OPEN:
            self._counts["duplicate_events"] += 1
            return
        if not event.t_s >= contact.t_s:
            self._counts["ignored_events"] += 1
            return
        contact.to = event
        self._by_to[(event.source, event.side, event.event_id)] = contact
        if contact.primary:
            contact.state = _State.HELD
            self._held.append(contact)
        else:
            self._consider(contact)

    def _on_retraction(self, event: ContactEvent) -> None:
        key = (event.source, event.side, event.retracts)
        contact = self._by_ic.get(key)
        if contact is not None:
            self._retract_contact(contact)
            return
        contact = self._by_to.get(key)
        if contact is not None:
            self._retract_to(contact, key)
            return
        self._counts["orphan_events"] += 1

    def _retract_contact(self, contact: _Contact) -> None:
        if contact.state is _State.RETRACTED:
            self._counts["duplicate_events"] += 1
            return
        was_emitted = contact.state is _State.EMITTED
        contact.state = _State.RETRACTED
        self._counts["retracted_contacts"] += 1
        if contact in self._held:
            self._held.remove(contact)
        if contact.primary or contact.fallback:
            self._line_remove(contact)
        partner = contact.partner
        contact.partner = None
        if partner is not None:
            partner.partner = None
            self._counts["imu_paired"] -= 1
            if partner.state in (_State.OPEN, _State.HELD) or not partner.primary:
                self._pair(partner)
                self._consider(partner)
        if was_emitted and contact.step is not None:
            self._withdraw(contact.step)
            contact.step = None

    def _retract_to(self, contact: _Contact, key: tuple[EventSource, Side, int]) -> None:
        del self._by_to[key]
        contact.to = None
        if contact.state is _State.EMITTED and contact.step is not None:
            self._withdraw(contact.step)
            contact.step = None
        if contact in self._held:
            self._held.remove(contact)
        if contact.fallback:
            contact.fallback = False
            self._line_remove(contact)
        if contact.state is not _State.RETRACTED:
            contact.state = _State.OPEN

    def _withdraw(self, step: Step) -> None:
        self._counts["withdrawn_steps"] += 1
        for i, queued in enumerate(self._out):
            if queued is step:
                del self._out[i]
                return
        self._withdrawn_out.append(step)

    def _abandon(self, contact: _Contact) -> None:
        contact.state = _State.ABANDONED
        if contact.primary:
            self._counts["abandoned_contacts"] += 1

    # -------------------------------------------------------------------------- pairing
    def _pair(self, contact: _Contact) -> None:
        """Match an IC with the nearest unpaired IC of the other sensor on its side within
        the fusion window (only on sides that have an insole)."""
        side = contact.ic.side
        if contact.state is _State.RETRACTED or not self._side_has_insole(side):
            return
        if contact.ic.source is EventSource.INSOLE:
            if not contact.primary or contact.state not in (_State.OPEN, _State.HELD):
                return
            pool = self._recent[(side, EventSource.IMU)]
        else:
            if contact.primary:
                return
            pool = self._recent[(side, EventSource.INSOLE)]
        best: _Contact | None = None
        best_dt = math.inf
        for other in pool:
            if other.partner is not None or other.state is _State.RETRACTED:
                continue
            if other.ic.source is EventSource.INSOLE and not other.primary:
                continue
            if other.ic.source is EventSource.IMU and other.primary:
                continue
            dt = abs(other.t_s - contact.t_s)
            if dt <= self.fuse_window_s and dt < best_dt:
                best, best_dt = other, dt
        if best is None:
            return
        best.partner, contact.partner = contact, best
        self._counts["imu_paired"] += 1
        insole, imu = (
            (contact, best) if contact.ic.source is EventSource.INSOLE else (best, contact)
        )
        if insole.state is _State.EMITTED:
            self._counts["late_partners"] += 1
        if imu.fallback:
            self._supersede(insole)

    # ---------------------------------------------------------------------- fallback
    def _fallback_side(self, side: Side) -> bool:
        """Whether IMU contacts of ``side`` may stand in for its insole: the side has both
        sensors and its IMU's progress is reported with ``advance(side=..., source=IMU)``."""
        reported = not math.isnan(self._imu_first_s[side])
        return reported and self._side_has_insole(side) and self._side_has_imu(side)

    def _note_insole_progress(self, side: Side, t_s: float) -> None:
        """The insole of ``side`` has delivered its data up to host time ``t_s`` (s); a jump of
        more than ``max_side_lag_s`` since its previous report is a hole in its data."""
        previous = self._insole_progress_s[side]
        if not t_s > previous:
            return
        if t_s - previous > self.max_side_lag_s and math.isfinite(previous):
            self._holes[side].append((previous, t_s))
        self._insole_progress_s[side] = t_s

    def _consider(self, contact: _Contact) -> None:
        """Queue an IMU contact of an insole side, once its TO is known, for the decision
        whether it stands in for the insole."""
        if contact.candidate or contact.fallback or contact.primary or contact.to is None:
            return
        side = contact.ic.side
        if contact.ic.source is not EventSource.IMU or not self._fallback_side(side):
            return
        if contact.state not in (_State.OPEN, _State.ABANDONED):
            return
        contact.candidate = True
        self._candidates[side].append(contact)

    def _settle_candidates(self, side: Side) -> None:
        keep: list[_Contact] = []
        for contact in self._candidates[side]:
            if self._decide(contact):
                contact.candidate = False
            else:
                keep.append(contact)
        self._candidates[side] = keep

    def _anchor_s(self, contact: _Contact) -> float | None:
        """When (s) the insole's data decide a candidate: its IC when no insole contact paired
        with it, its TO when the paired insole contact has no TO; None for a complete pair."""
        partner = contact.partner
        if partner is None:
            return contact.t_s
        if partner.to is None and contact.to is not None:
            return contact.to.t_s
        return None

    def _decide(self, contact: _Contact) -> bool:
        """Settle a candidate if the data allow: it becomes a fallback step when the insole's
        data are missing at its anchor (a hole, or a silence of more than ``max_side_lag_s``
        behind the IMU); it is dropped when the insole covered that time. True when settled."""
        to, anchor_s = contact.to, self._anchor_s(contact)
        if to is None or anchor_s is None or contact.state not in (_State.OPEN, _State.ABANDONED):
            return True
        side = contact.ic.side
        insole_s = self._insole_progress_s[side]
        window_s = self.fuse_window_s
        if insole_s < anchor_s + window_s:  # the insole's data have not reached the contact
            imu_s = self._imu_progress_s[side]
            silent_since_s = max(insole_s, self._imu_first_s[side])
            if imu_s >= to.t_s and imu_s - silent_since_s > self.max_side_lag_s:
                self._fall_back(contact)
                return True
            return False
        if not any(lo - window_s < anchor_s < hi for lo, hi in self._holes[side]):
            return True  # the insole saw this time: its verdict stands
        if insole_s >= to.t_s + window_s:  # past the hole, nothing more can come for it
            self._fall_back(contact)
            return True
        return False

    def _fall_back(self, contact: _Contact) -> None:
        """The IMU contact times the step of its silent insole (released by the sweep)."""
        contact.fallback = True
        contact.state = _State.HELD
        self._held.append(contact)
        self._line_insert(contact)
        if contact.partner is not None:
            self._supersede(contact.partner)

    def _supersede(self, insole: _Contact) -> None:
        """An insole contact of a fallback step: it never becomes a step of its own."""
        if insole.state in (_State.EMITTED, _State.RETRACTED, _State.SUPERSEDED):
            return
        insole.state = _State.SUPERSEDED
        self._counts["fallback_duplicates"] += 1
        if insole in self._held:
            self._held.remove(insole)
        if insole.primary:
            self._line_remove(insole)

    def _within_fallback(self, insole: _Contact) -> bool:
        """Whether an insole IC lies within a fallback contact of its side (from its IC −
        ``fuse_window_s`` to its TO): the same foot contact, even if the two ICs lie
        further apart than the fusion window."""
        side = insole.ic.side
        if insole.ic.source is not EventSource.INSOLE or not self._fallback_side(side):
            return False
        t_s = insole.t_s
        return any(
            c.fallback and c.to is not None and c.t_s - self.fuse_window_s <= t_s <= c.to.t_s
            for c in self._recent[(side, EventSource.IMU)]
        )

    def _waiting_candidate(self, side: Side, t_s: float) -> bool:
        """Whether an IMU contact of ``side`` before ``t_s`` (s) awaits the fallback decision."""
        return any(c.t_s < t_s for c in self._candidates[side])

    def _drop_candidates(self, side: Side, before_s: float) -> None:
        """Candidates of ``side`` with an IC before ``before_s`` (s) will not become steps."""
        queue = self._candidates[side]
        if not any(c.t_s < before_s for c in queue):
            return
        for contact in queue:
            if contact.t_s < before_s:
                contact.candidate = False
        self._candidates[side] = [c for c in queue if c.candidate]

    # ---------------------------------------------------------------------- emission
    def _sweep(self) -> None:
        """Settle fallback candidates, then release held steps whose wait is over (in IC
        order)."""
        for side in _SIDES:
            if self._candidates[side]:
                self._settle_candidates(side)
        if not self._held:
            return
        for contact in sorted(self._held, key=lambda c: c.t_s):
            if contact.state is _State.HELD and self._ready(contact):
                self._emit(contact)

    def _ready(self, contact: _Contact) -> bool:
        side = contact.ic.side
        to = contact.to
        assert to is not None
        contra = _other(side)
        if (
            self._side_expected(contra)
            and self._side_progress_s[contra] < contact.t_s
            and self._watermark_s < to.detected_s + self.max_side_lag_s
        ):
            return False  # the other foot's streams have not reached this IC yet
        if (
            self._waiting_candidate(side, contact.t_s)
            and self._watermark_s < to.detected_s + self.max_side_lag_s
        ):
            return False  # an earlier IMU contact of this side may still stand in for it
        if contact.ic.source is not EventSource.INSOLE or not self._side_has_imu(side):
            return True
        partner = contact.partner
        if partner is not None and partner.to is not None:
            return True
        if self._imu_progress_s[side] > to.t_s + self.fuse_window_s:
            return True
        hold_s = self.max_hold_s
        if self._side_seen[side]:
            # Streams report their progress: the IMU's own progress releases the step as soon
            # as its partner can no longer come; the hold only covers an IMU that lags (a BLE
            # stall, an offline block), up to the lag the two feet are allowed.
            hold_s = max(self.max_hold_s, self.max_side_lag_s)
        return self._watermark_s >= to.detected_s + hold_s

    def _side_expected(self, side: Side) -> bool:
        """Whether ``side``'s progress is reported through ``advance(side=...)``: only then
        can a step wait for the other foot's streams to catch up."""
        return self._side_seen[side]

    def _emit(self, contact: _Contact) -> None:
        side = contact.ic.side
        self._drop_candidates(side, contact.t_s)
        for earlier in sorted(self._held, key=lambda c: c.t_s):
            if earlier is not contact and earlier.ic.side == side and earlier.t_s < contact.t_s:
                self._emit(earlier)
        if contact in self._held:
            self._held.remove(contact)
        step = self._build_step(contact)
        contact.state = _State.EMITTED
        contact.step = step
        self._out.append(step)
        self._counts["steps"] += 1
        if step.source is EventSource.FUSED:
            self._counts["fused_steps"] += 1
        elif step.source is EventSource.INSOLE:
            self._counts["insole_steps"] += 1
        else:
            self._counts["imu_steps"] += 1
        if contact.fallback:
            self._counts["fallback_steps"] += 1
        if step.flags & StepFlag.UNCONFIRMED:
            self._counts["unconfirmed_steps"] += 1

    def _build_step(self, contact: _Contact) -> Step:
        ic, to = contact.ic, contact.to
        assert to is not None
        side, contra = ic.side, _other(ic.side)
        t = ic.t_s
        gct_ms = (to.t_s - t) * 1e3
        flags = contact.flags

        ipsi_prev = self._previous(side, t)
        contra_prev = self._previous(contra, t)
        step_ms = math.nan
        step_valid = False
        if contra_prev is not None:
            dt = t - contra_prev.t_s
            if ipsi_prev is not None and contra_prev.t_s <= ipsi_prev.t_s:
                flags |= StepFlag.NEAR_GAP  # this step's contralateral IC is missing
            elif dt > self.max_step_s:
                flags |= StepFlag.NEAR_GAP
            else:
                step_ms, step_valid = dt * 1e3, True
                flags |= contra_prev.flags & StepFlag.NEAR_GAP
        elif self._first_ic_s[contra] < t:
            flags |= StepFlag.NEAR_GAP  # the contralateral side ran, its ICs are gone

        stride_ms = math.nan
        if ipsi_prev is not None:
            dt = t - ipsi_prev.t_s
            between = bisect.bisect_left(self._line_t[contra], t) - bisect.bisect_right(
                self._line_t[contra], ipsi_prev.t_s
            )
            if dt > 2.0 * self.max_step_s or between >= 2:
                flags |= StepFlag.NEAR_GAP
            else:
                stride_ms = dt * 1e3
            if ipsi_prev.fallback:
                flags |= StepFlag.NEAR_GAP  # the stride runs from an IMU-timed IC

        flight_ms = math.nan
        double_support_ms = math.nan
        previous_to = contra_prev.to if (step_valid and contra_prev is not None) else None
        if previous_to is not None:
            if previous_to.t_s <= t:
                flight_ms = (t - previous_to.t_s) * 1e3
                gait = Gait.RUNNING
            else:
                double_support_ms = (previous_to.t_s - t) * 1e3
                gait = Gait.WALKING
        else:
            gait = self._gait_from_duty(gct_ms, stride_ms, step_ms)

        source = ic.source
        foot_strike = ic.foot_strike
        strike_index = ic.strike_index
        peak_force_n = _first_finite(to.peak_force_n, ic.peak_force_n)
        loading_rate = _first_finite(to.loading_rate_bw_s, ic.loading_rate_bw_s)
        peak_accel_g = _first_finite(to.peak_accel_g, ic.peak_accel_g)
        if source is EventSource.INSOLE and self._side_has_imu(side):
            partner = contact.partner
            if partner is not None:
                source = EventSource.FUSED
                if partner.to is not None:
                    peak_accel_g = _first_finite(partner.to.peak_accel_g, partner.ic.peak_accel_g)
                else:
                    peak_accel_g = partner.ic.peak_accel_g
                flags |= partner.flags & _IMU_IMPACT_FLAGS
                if foot_strike is FootStrike.UNKNOWN:
                    foot_strike = partner.ic.foot_strike
            else:
                flags |= StepFlag.UNCONFIRMED
        if source is EventSource.IMU and self._shank[side]:
            flags |= StepFlag.LOW_CONFIDENCE

        return Step(
            side=side,
            ic_s=t,
            to_s=to.t_s,
            gct_ms=gct_ms,
            step_time_ms=step_ms,
            stride_time_ms=stride_ms,
            flight_ms=flight_ms,
            double_support_ms=double_support_ms,
            gait=gait,
            foot_strike=foot_strike,
            strike_index=strike_index,
            peak_force_n=peak_force_n,
            loading_rate_bw_s=loading_rate,
            peak_accel_g=peak_accel_g,
            source=source,
            flags=flags,
        )

    def _gait_from_duty(self, gct_ms: float, stride_ms: float, step_ms: float) -> Gait:
        """Label from the duty factor when the contralateral TO is unknown."""
        if math.isfinite(stride_ms) and stride_ms > 0.0:
            duty = gct_ms / stride_ms
        elif math.isfinite(step_ms) and step_ms > 0.0:
            duty = gct_ms / (2.0 * step_ms)
        else:
            return Gait.RUNNING
        return Gait.WALKING if duty > self.walking_duty_factor else Gait.RUNNING

    # ------------------------------------------------------------------------ timeline
    def _line_insert(self, contact: _Contact) -> None:
        side = contact.ic.side
        times, contacts = self._line_t[side], self._line_c[side]
        i = bisect.bisect_right(times, contact.t_s)
        times.insert(i, contact.t_s)
        contacts.insert(i, contact)
        self._first_ic_s[side] = min(self._first_ic_s[side], contact.t_s)

    def _line_remove(self, contact: _Contact) -> None:
        side = contact.ic.side
        contacts = self._line_c[side]
        for i, entry in enumerate(contacts):
            if entry is contact:
                del contacts[i]
                del self._line_t[side][i]
                if i == 0 and not self._pruned[side]:
                    self._first_ic_s[side] = self._line_t[side][0] if contacts else math.inf
                return

    def _previous(self, side: Side, t_s: float) -> _Contact | None:
        """The latest timing-source IC of ``side`` strictly before ``t_s``."""
        i = bisect.bisect_left(self._line_t[side], t_s)
        return self._line_c[side][i - 1] if i > 0 else None

    def _prune(self) -> None:
        """Forget finished contacts older than ``history_s`` behind the newest data."""
        horizon = self._watermark_s - self.history_s
        for (side, source), contacts in self._recent.items():
            keep_from = 0
            while keep_from < len(contacts) and contacts[keep_from].t_s < horizon:
                old = contacts[keep_from]
                if old.state is _State.HELD:
                    break
                if old.state is _State.OPEN:
                    self._abandon(old)
                if (
                    source is EventSource.IMU
                    and not old.primary
                    and old.partner is None
                    and not old.fallback
                    and old.state is not _State.RETRACTED
                    and self._side_has_insole(side)
                ):
                    self._counts["imu_unpaired"] += 1
                self._by_ic.pop((source, side, old.ic.event_id), None)
                if old.to is not None:
                    self._by_to.pop((source, side, old.to.event_id), None)
                keep_from += 1
            if keep_from:
                del contacts[:keep_from]
        for side in _SIDES:
            holes = self._holes[side]
            while holes and holes[0][1] < horizon:
                del holes[0]
            if self._candidates[side]:
                self._drop_candidates(side, horizon)
        for side in _SIDES:
            times = self._line_t[side]
            n_old = bisect.bisect_left(times, horizon)
            n_drop = min(n_old, len(times) - _KEEP_TIMELINE)
            if n_drop > 0:
                self._pruned[side] = True
                del times[:n_drop]
                del self._line_c[side][:n_drop]


def _first_finite(*values: float) -> float:
    for value in values:
        if math.isfinite(value):
            return value
    return math.nan


def _check_positive(name: str, value: float, unit: str) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0.0):
        raise ConfigurationError(
            f"The step assembler's {name} must be a positive number of {unit}, got {value!r}."
        )
