"""StepAssembler against simulator truth: timing, fusion, retractions, holds, chunk invariance."""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import astuple, dataclass, replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side
from firmware_bridge.simulator.gait import RunnerConfig, StepPlan, plan_steps
from firmware_bridge.simulator.truth import TrueEvents, true_events
from realtime.events import (
    ContactEvent,
    EventKind,
    EventSource,
    FootStrike,
    Gait,
    Step,
    StepFlag,
)
from realtime.steps import AssemblerStats, StepAssembler

IC, TO, RETRACT = EventKind.INITIAL_CONTACT, EventKind.TOE_OFF, EventKind.RETRACTION
INSOLE, IMU = EventSource.INSOLE, EventSource.IMU


# --------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class Run:
    plan: StepPlan
    truth: TrueEvents


@functools.cache
def run_of(
    cadence_spm: float = 170.0,
    gct_ms: float = 250.0,
    duration_s: float = 30.0,
    seed: int = 1,
    gct_si_pct: float = 0.0,
    speed_m_s: float = 3.0,
    peak_force_bw: float = 2.5,
) -> Run:
    config = RunnerConfig(
        cadence_spm=cadence_spm,
        gct_ms=gct_ms,
        gct_si_pct=gct_si_pct,
        speed_m_s=speed_m_s,
        peak_force_bw=peak_force_bw,
    )
    plan = plan_steps(config, duration_s, np.random.default_rng(seed), t0_s=100.0)
    return Run(plan, true_events(plan))


def contact_events(
    side: int,
    ic_s: float,
    to_s: float,
    *,
    source: EventSource,
    event_id: int,
    ic_latency_s: float,
    to_latency_s: float,
    ic_flags: StepFlag = StepFlag.NONE,
    to_flags: StepFlag = StepFlag.NONE,
    peak_accel_g: float = math.nan,
    peak_force_n: float = math.nan,
    strike: FootStrike = FootStrike.UNKNOWN,
) -> list[ContactEvent]:
    """An IC (id ``event_id``) and its TO (id ``event_id + 1``)."""
    s = Side(side)
    return [
        ContactEvent(
            IC,
            s,
            ic_s,
            source,
            ic_s + ic_latency_s,
            event_id,
            event_id,
            flags=ic_flags,
            foot_strike=strike,
        ),
        ContactEvent(
            TO,
            s,
            to_s,
            source,
            to_s + to_latency_s,
            event_id + 1,
            event_id,
            flags=to_flags,
            peak_accel_g=peak_accel_g,
            peak_force_n=peak_force_n,
        ),
    ]


def retraction(event: ContactEvent, *, detected_s: float, event_id: int) -> ContactEvent:
    return ContactEvent(
        RETRACT,
        event.side,
        event.t_s,
        event.source,
        detected_s,
        event_id,
        event.contact_id,
        retracts=event.event_id,
    )


def insole_stream(
    run: Run, *, latency_s: float = 0.012, keep: np.ndarray | None = None
) -> list[ContactEvent]:
    t = run.truth
    events: list[ContactEvent] = []
    for k in range(len(t)):
        if keep is not None and not keep[k]:
            continue
        events += contact_events(
            int(t.side[k]),
            float(t.ic_s[k]),
            float(t.to_s[k]),
            source=INSOLE,
            event_id=10 * k,
            ic_latency_s=latency_s,
            to_latency_s=latency_s + 0.01,
            peak_force_n=float(run.plan.peak_force_n[k]),
            strike=FootStrike.REARFOOT,
        )
    return events


def imu_stream(
    run: Run, *, latency_s: float = 0.03, keep: np.ndarray | None = None
) -> list[ContactEvent]:
    """IMU contacts at the plan's IMU feature offsets (a few ms off the truth)."""
    t, p = run.truth, run.plan
    assert np.allclose(p.ic_s, t.ic_s, atol=1e-6)
    events: list[ContactEvent] = []
    for k in range(len(t)):
        if keep is not None and not keep[k]:
            continue
        events += contact_events(
            int(t.side[k]),
            float(t.ic_s[k] + p.imu_ic_offset_s[k]),
            float(t.to_s[k] + p.imu_to_offset_s[k]),
            source=IMU,
            event_id=10 * k + 5,
            ic_latency_s=latency_s,
            to_latency_s=latency_s,
            peak_accel_g=float(p.peak_accel_g[k]),
            strike=FootStrike.NOT_REARFOOT,
        )
    return events


def by_detection(events: list[ContactEvent]) -> list[ContactEvent]:
    return sorted(events, key=lambda e: e.detected_s)


def expected_timing(truth: TrueEvents) -> dict[str, np.ndarray]:
    """Step, stride and flight/double support (ms) from the truth, written out directly."""
    n = len(truth)
    step = np.full(n, np.nan)
    stride = np.full(n, np.nan)
    flight = np.full(n, np.nan)
    double = np.full(n, np.nan)
    for k in range(n):
        contra = [j for j in range(k) if truth.side[j] != truth.side[k]]
        ipsi = [j for j in range(k) if truth.side[j] == truth.side[k]]
        if contra:
            j = contra[-1]
            step[k] = 1e3 * (truth.ic_s[k] - truth.ic_s[j])
            gap = truth.ic_s[k] - truth.to_s[j]
            if gap >= 0:
                flight[k] = 1e3 * gap
            else:
                double[k] = -1e3 * gap
        if ipsi:
            stride[k] = 1e3 * (truth.ic_s[k] - truth.ic_s[ipsi[-1]])
    return {"step": step, "stride": stride, "flight": flight, "double": double}


def by_ic(steps: list[Step]) -> list[Step]:
    return sorted(steps, key=lambda s: s.ic_s)


def column(steps: list[Step], name: str) -> np.ndarray:
    return np.array([getattr(s, name) for s in steps], dtype=np.float64)


def comparable(step: Step) -> tuple[object, ...]:
    return tuple(None if isinstance(v, float) and math.isnan(v) else v for v in astuple(step))


def run_all(assembler: StepAssembler, events: list[ContactEvent]) -> list[Step]:
    steps = assembler.update(events).flush().pop_steps()
    withdrawn = {id(s) for s in assembler.pop_retracted()}
    return [s for s in steps if id(s) not in withdrawn]


# --------------------------------------------------------------------------- timing
def test_insole_steps_equal_truth_derived_values() -> None:
    run = run_of()
    steps = run_all(StepAssembler(), by_detection(insole_stream(run)))
    truth = run.truth
    assert len(steps) == len(truth)
    steps = by_ic(steps)
    expected = expected_timing(truth)
    np.testing.assert_allclose(column(steps, "ic_s"), truth.ic_s, atol=1e-12)
    np.testing.assert_allclose(column(steps, "gct_ms"), 1e3 * truth.gct_s, atol=1e-9)
    np.testing.assert_allclose(column(steps, "step_time_ms"), expected["step"], atol=1e-9)
    np.testing.assert_allclose(column(steps, "stride_time_ms"), expected["stride"], atol=1e-9)
    np.testing.assert_allclose(column(steps, "flight_ms"), expected["flight"], atol=1e-9)
    assert np.isnan(column(steps, "double_support_ms")).all()
    assert [int(s.side) for s in steps] == truth.side.tolist()
    assert all(s.gait is Gait.RUNNING for s in steps)
    assert all(s.source is INSOLE for s in steps)
    # the start is not a gap: unknown values are NaN, without a flag
    assert math.isnan(steps[0].step_time_ms)
    assert steps[0].flags == StepFlag.NONE
    assert all(s.flags == StepFlag.NONE for s in steps)
    np.testing.assert_allclose(column(steps, "peak_force_n"), run.plan.peak_force_n)


def test_walking_steps_report_double_support() -> None:
    run = run_of(cadence_spm=110.0, gct_ms=650.0, speed_m_s=1.3, peak_force_bw=1.1)
    steps = by_ic(run_all(StepAssembler(), by_detection(insole_stream(run))))
    expected = expected_timing(run.truth)
    assert len(steps) == len(run.truth)
    assert np.isnan(expected["flight"][1:]).all()  # the plan really walks
    np.testing.assert_allclose(
        column(steps, "double_support_ms")[1:], expected["double"][1:], atol=1e-9
    )
    assert np.isnan(column(steps, "flight_ms")).all()
    assert all(s.gait is Gait.WALKING for s in steps[1:])
    # the first step has no contralateral TO: labelled from the duty factor (unknown stride,
    # unknown step: running by default)
    assert steps[0].gait is Gait.RUNNING


@pytest.mark.parametrize(("duty_factor", "gait"), [(0.5, Gait.WALKING), (0.7, Gait.RUNNING)])
def test_without_the_contralateral_to_the_label_comes_from_the_duty_factor(
    duty_factor: float, gait: Gait
) -> None:
    run = run_of(cadence_spm=110.0, gct_ms=650.0, speed_m_s=1.3, peak_force_bw=1.1)
    keep = np.ones(len(run.truth), bool)
    keep[5] = False  # contact 6 then has no contralateral contact, but a known stride
    events = insole_stream(run, keep=keep)
    steps = by_ic(run_all(StepAssembler(walking_duty_factor=duty_factor), by_detection(events)))
    after = steps[5]
    assert after.ic_s == run.truth.ic_s[6]
    duty = after.gct_ms / after.stride_time_ms
    assert 0.5 < duty < 0.7
    assert after.gait is gait
    assert math.isnan(after.double_support_ms)
    assert math.isnan(after.flight_ms)


def test_missing_contact_gives_nan_step_time_and_near_gap() -> None:
    run = run_of()
    keep = np.ones(len(run.truth), bool)
    missing = 41  # a right contact (odd index)
    assert run.truth.side[missing] == int(Side.RIGHT)
    keep[missing] = False
    steps = by_ic(run_all(StepAssembler(), by_detection(insole_stream(run, keep=keep))))
    assert len(steps) == len(run.truth) - 1
    expected = expected_timing(run.truth)
    after = steps[missing]  # the left step right after the missing right contact
    assert after.ic_s == run.truth.ic_s[missing + 1]
    assert math.isnan(after.step_time_ms)
    assert math.isnan(after.flight_ms)
    assert after.flags & StepFlag.NEAR_GAP
    # its stride is still one stride
    assert after.stride_time_ms == pytest.approx(expected["stride"][missing + 1], abs=1e-9)
    # the next right step: two left ICs since its previous right IC, so no stride
    nxt = steps[missing + 1]
    assert math.isnan(nxt.stride_time_ms)
    assert nxt.flags & StepFlag.NEAR_GAP
    assert nxt.step_time_ms == pytest.approx(expected["step"][missing + 2], abs=1e-9)
    # the others are untouched
    others = [s for i, s in enumerate(steps) if i not in (missing, missing + 1)]
    assert all(s.flags == StepFlag.NONE for s in others)


def test_long_pause_is_a_gap() -> None:
    run = run_of()
    t = run.truth
    # drop 3 s of both sides' contacts
    keep = (t.ic_s < 110.0) | (t.ic_s > 113.0)
    steps = by_ic(run_all(StepAssembler(), by_detection(insole_stream(run, keep=keep))))
    resumed = next(s for s in steps if s.ic_s > 113.0)
    assert math.isnan(resumed.step_time_ms)
    assert math.isnan(resumed.stride_time_ms)
    assert resumed.flags & StepFlag.NEAR_GAP


def test_flags_propagate_from_events() -> None:
    run = run_of(duration_s=5.0)
    events = insole_stream(run)
    flagged = {4: StepFlag.SETTLING, 7: StepFlag.NEAR_GAP, 9: StepFlag.LOW_CONFIDENCE}
    for event_index, flag in flagged.items():
        events[event_index] = replace(events[event_index], flags=flag)
    steps = by_ic(run_all(StepAssembler(), by_detection(events)))
    assert steps[2].flags == StepFlag.SETTLING  # event 4 is the IC of contact 2
    assert steps[3].flags & StepFlag.NEAR_GAP  # event 7 is the TO of contact 3
    # contact 4 follows a contralateral contact near a gap: its step time is suspect too
    assert steps[4].flags & StepFlag.NEAR_GAP
    assert steps[4].flags & StepFlag.LOW_CONFIDENCE  # event 9: TO of contact 4


# --------------------------------------------------------------------------- fusion
def test_fusion_keeps_insole_timing_and_never_double_counts() -> None:
    run = run_of()
    n = len(run.truth)
    rng = np.random.default_rng(7)
    imu_keep = rng.random(n) > 0.05
    imu = imu_stream(run, keep=imu_keep)
    # the IMU also sees a few contacts the insole does not (mid-swing false contacts)
    false_ics = run.truth.to_s[5:60:11] + 0.15
    for i, t in enumerate(false_ics):
        imu += contact_events(
            int(run.truth.side[5 + 11 * i]),
            float(t),
            float(t) + 0.2,
            source=IMU,
            event_id=100_000 + 2 * i,
            ic_latency_s=0.03,
            to_latency_s=0.03,
        )
    # clip one IMU contact
    clipped = next(k for k in range(10, n) if imu_keep[k])
    imu = [
        replace(e, flags=StepFlag.CLIPPED) if e.kind is TO and e.event_id == 10 * clipped + 6 else e
        for e in imu
    ]
    assembler = StepAssembler()
    steps = by_ic(run_all(assembler, by_detection(insole_stream(run) + imu)))
    assert len(steps) == n
    np.testing.assert_allclose(column(steps, "ic_s"), run.truth.ic_s, atol=1e-12)
    np.testing.assert_allclose(column(steps, "to_s"), run.truth.to_s, atol=1e-12)
    sources = [s.source for s in steps]
    assert [s is EventSource.FUSED for s in sources] == imu_keep.tolist()
    for k, s in enumerate(steps):
        if imu_keep[k]:
            assert s.peak_accel_g == run.plan.peak_accel_g[k]
            assert s.foot_strike is FootStrike.REARFOOT  # the insole's class wins
            assert not s.flags & StepFlag.UNCONFIRMED
        else:
            assert s.source is INSOLE
            assert s.flags & StepFlag.UNCONFIRMED
            assert math.isnan(s.peak_accel_g)
    assert steps[clipped].flags & StepFlag.CLIPPED
    assert sum(bool(s.flags & StepFlag.CLIPPED) for s in steps) == 1
    stats = assembler.stats
    assert stats.imu_unpaired == len(false_ics)
    assert stats.fused_steps == int(imu_keep.sum())
    assert stats.unconfirmed_steps == n - int(imu_keep.sum())
    assert stats.steps == n


def test_imu_only_contacts_on_an_insole_side_are_not_steps() -> None:
    run = run_of(duration_s=5.0)
    keep = np.ones(len(run.truth), bool)
    keep[6] = False
    steps = run_all(StepAssembler(), by_detection(insole_stream(run, keep=keep) + imu_stream(run)))
    assert len(steps) == len(run.truth) - 1
    assert all(s.source is EventSource.FUSED for s in steps)


def test_imu_only_side_uses_imu_timing_and_shank_is_low_confidence() -> None:
    run = run_of(duration_s=10.0)
    imu = imu_stream(run)
    foot = by_ic(run_all(StepAssembler(), by_detection(imu)))
    assert len(foot) == len(run.truth)
    np.testing.assert_allclose(
        column(foot, "ic_s"), run.truth.ic_s + run.plan.imu_ic_offset_s, atol=1e-12
    )
    assert all(s.source is IMU and s.flags == StepFlag.NONE for s in foot)
    np.testing.assert_allclose(column(foot, "peak_accel_g"), run.plan.peak_accel_g)
    shank = run_all(StepAssembler(shank_mount=True), by_detection(imu))
    assert all(s.flags & StepFlag.LOW_CONFIDENCE for s in shank)


def test_left_insole_right_imu() -> None:
    run = run_of(duration_s=10.0)
    left = [e for e in insole_stream(run) if e.side == Side.LEFT]
    right = [e for e in imu_stream(run) if e.side == Side.RIGHT]
    assembler = StepAssembler(has_insole={Side.LEFT: True, Side.RIGHT: False})
    steps = by_ic(run_all(assembler, by_detection(left + right)))
    assert len(steps) == len(run.truth)
    assert {s.source for s in steps if s.side == Side.LEFT} == {INSOLE}
    assert {s.source for s in steps if s.side == Side.RIGHT} == {IMU}
    # a right step time runs from the left insole IC to the right IMU IC
    k = 11
    assert steps[k].side == Side.RIGHT
    expected = 1e3 * (run.truth.ic_s[k] + run.plan.imu_ic_offset_s[k] - run.truth.ic_s[k - 1])
    assert steps[k].step_time_ms == pytest.approx(expected, abs=1e-9)


def test_insole_step_waits_for_its_imu_partner_but_not_longer_than_the_hold() -> None:
    run = run_of(duration_s=20.0)
    n = len(run.truth)
    imu_keep = np.ones(n, bool)
    imu_keep[n // 2 :] = False  # the IMU falls silent half-way
    events = by_detection(insole_stream(run) + imu_stream(run, latency_s=0.045, keep=imu_keep))
    assembler = StepAssembler(has_imu=True)  # the IMU is worn even when it is silent
    released_at: dict[float, float] = {}
    tick_s = 0.005
    now = events[0].detected_s
    i = 0
    end_s = events[-1].detected_s + 0.3
    while now < end_s:
        now += tick_s
        batch = []
        while i < len(events) and events[i].detected_s <= now:
            batch.append(events[i])
            i += 1
        assembler.update(batch).advance(now_s=now)
        for s in assembler.pop_steps():
            released_at[s.ic_s] = now
    insole_to = {e.t_s: e for e in events if e.source is INSOLE and e.kind is TO}
    imu_to = {e.contact_id: e for e in events if e.source is IMU and e.kind is TO}
    assert len(released_at) == n
    for k in range(n):
        ic = float(run.truth.ic_s[k])
        to_event = insole_to[float(run.truth.to_s[k])]
        wait = released_at[ic] - to_event.detected_s
        if imu_keep[k]:
            partner = imu_to[10 * k + 5]
            ready = max(to_event.detected_s, partner.detected_s)
            assert released_at[ic] - ready < tick_s + 1e-9  # leaves with the later TO
        else:
            assert 0.15 - 1e-9 <= wait < 0.15 + tick_s + 1e-9  # bounded hold


def test_without_an_imu_insole_steps_leave_with_their_to() -> None:
    run = run_of(duration_s=5.0)
    assembler = StepAssembler()
    for event in by_detection(insole_stream(run)):
        steps = assembler.update([event]).pop_steps()
        if event.kind is TO:
            assert [s.to_s for s in steps] == [event.t_s]
        else:
            assert steps == []


def test_hold_ends_when_the_imu_moves_past_the_contact() -> None:
    run = run_of(duration_s=5.0)
    a = StepAssembler(has_imu=True)
    insole = insole_stream(run)[:2]  # contact 0 only
    a.update(insole)
    assert a.pop_steps() == []
    ic, to = insole
    late = to.t_s + 0.07  # beyond TO + fuse window
    a.update(
        [ContactEvent(IC, ic.side, late, IMU, to.detected_s + 0.01, 999, 999)]  # next IMU IC
    )
    [step] = a.pop_steps()
    assert step.source is INSOLE
    assert step.flags & StepFlag.UNCONFIRMED


# --------------------------------------------------------------------------- retractions
def with_false_contacts(
    run: Run, *, every: int, retract_after_to: bool, retract_delay_s: float = 0.03
) -> list[ContactEvent]:
    """Insole stream plus a false contact in the flight phase after every ``every``-th
    contact, retracted 5 ms after its IC arrived (before its TO) or ``retract_delay_s``
    after its TO."""
    events = insole_stream(run)
    t = run.truth
    for k in range(0, len(t) - 2, every):
        ic_s = float(t.to_s[k]) + 0.03
        to_s = ic_s + 0.015
        false = contact_events(
            int(t.side[k]),
            ic_s,
            to_s,
            source=INSOLE,
            event_id=500_000 + 10 * k,
            ic_latency_s=0.012,
            to_latency_s=0.012,
        )
        when = (
            false[1].detected_s + retract_delay_s
            if retract_after_to
            else false[0].detected_s + 0.005
        )
        events += [*false, retraction(false[0], detected_s=when, event_id=500_000 + 10 * k + 2)]
    return by_detection(events)


@pytest.mark.parametrize("retract_after_to", [False, True])
def test_retracted_contacts_never_become_steps(retract_after_to: bool) -> None:
    run = run_of()
    events = with_false_contacts(run, every=3, retract_after_to=retract_after_to)
    assembler = StepAssembler()
    steps, withdrawn = [], []
    for event in events:  # pop after every event, so withdrawn steps were seen first
        steps += assembler.update([event]).pop_steps()
        withdrawn += assembler.pop_retracted()
    steps += assembler.flush().pop_steps()
    gone = {id(s) for s in withdrawn}
    if retract_after_to:
        assert len(withdrawn) == len(range(0, len(run.truth) - 2, 3))
    else:
        assert withdrawn == []
    kept = by_ic([s for s in steps if id(s) not in gone])
    clean = by_ic(run_all(StepAssembler(), by_detection(insole_stream(run))))
    assert [comparable(s) for s in kept] == [comparable(s) for s in clean]
    assert assembler.stats.retracted_contacts == len(range(0, len(run.truth) - 2, 3))


def test_withdrawn_step_not_yet_popped_just_disappears() -> None:
    run = run_of(duration_s=10.0)
    events = with_false_contacts(run, every=2, retract_after_to=True)
    assembler = StepAssembler()
    steps = assembler.update(events).flush().pop_steps()
    assert assembler.pop_retracted() == []
    assert len(steps) == len(run.truth)


def test_retracted_toe_off_waits_for_the_next_one() -> None:
    run = run_of(duration_s=5.0)
    events = insole_stream(run)[:6]  # contacts 0..2
    to = events[3]  # TO of contact 1
    early = replace(to, t_s=to.t_s - 0.1, detected_s=to.detected_s - 0.1, event_id=777)
    stream = [
        *events[:3],
        early,
        retraction(early, detected_s=early.detected_s + 0.01, event_id=778),
    ]
    stream += events[3:]
    a = StepAssembler()
    steps = by_ic(a.update(by_detection(stream)).flush().pop_steps())
    assert [s.to_s for s in steps] == [e.t_s for e in events if e.kind is TO]


def test_contact_without_toe_off_is_abandoned() -> None:
    run = run_of(duration_s=5.0)
    events = insole_stream(run)
    del events[5]  # TO of contact 2
    a = StepAssembler()
    steps = run_all(a, by_detection(events))
    assert len(steps) == len(run.truth) - 1
    assert a.stats.abandoned_contacts == 1
    # the abandoned IC still times the next contralateral step
    nxt = by_ic(steps)[2]
    assert nxt.ic_s == run.truth.ic_s[3]
    assert nxt.step_time_ms == pytest.approx(1e3 * (run.truth.ic_s[3] - run.truth.ic_s[2]))


def test_duplicates_and_orphans_are_counted_not_used() -> None:
    run = run_of(duration_s=5.0)
    events = insole_stream(run)
    stream = [*events, events[2], events[3]]
    orphan = replace(events[3], contact_id=-5, event_id=-4)
    a = StepAssembler()
    steps = run_all(a, [*by_detection(stream), orphan])
    assert len(steps) == len(run.truth)
    assert a.stats.duplicate_events == 2
    assert a.stats.orphan_events == 1


# --------------------------------------------------------------------------- invariance
Item = ContactEvent | float  # an event, or a time (s) passed to advance()


@functools.cache
def mixed_stream() -> tuple[Item, ...]:
    """Insole and IMU with jittered IMU latency (up to 200 ms, beyond the hold), dropped IMU
    contacts, false insole contacts retracted after they left as steps, a missing insole
    contact, a duplicated event, and advance() ticks every 40 ms."""
    run = run_of(duration_s=20.0, seed=3)
    n = len(run.truth)
    rng = np.random.default_rng(11)
    imu = imu_stream(run, keep=rng.random(n) > 0.1)
    imu = [replace(e, detected_s=e.detected_s + float(rng.uniform(0.0, 0.2))) for e in imu]
    insole = with_false_contacts(run, every=4, retract_after_to=True, retract_delay_s=0.25)
    insole = [e for e in insole if e.event_id not in (170, 171)]  # contact 17
    events: list[Item] = list(by_detection(insole + imu))
    events.insert(40, events[30])
    ticks = np.arange(100.0, 121.0, 0.04)
    items = sorted(
        [(e.detected_s, 0, i, e) for i, e in enumerate(events) if isinstance(e, ContactEvent)]
        + [(float(t), 1, i, float(t)) for i, t in enumerate(ticks)],
        key=lambda x: x[:3],
    )
    return tuple(x[3] for x in items)


def feed(assembler: StepAssembler, items: list[Item]) -> None:
    """Consecutive events in one update() call, ticks as advance() calls."""
    batch: list[ContactEvent] = []
    for item in items:
        if isinstance(item, ContactEvent):
            batch.append(item)
        else:
            assembler.update(batch).advance(now_s=item)
            batch = []
    assembler.update(batch)


@functools.cache
def reference() -> tuple[list[tuple[object, ...]], AssemblerStats]:
    a = StepAssembler()
    feed(a, list(mixed_stream()))
    steps = a.flush().pop_steps()
    gone = {id(s) for s in a.pop_retracted()}
    return [comparable(s) for s in steps if id(s) not in gone], a.stats


@given(cuts=st.lists(st.integers(min_value=0, max_value=1000), max_size=60))
def test_any_partition_gives_the_same_steps(cuts: list[int]) -> None:
    items = list(mixed_stream())
    bounds = sorted({0, len(items), *(c for c in cuts if c < len(items))})
    assembler = StepAssembler()
    steps: list[Step] = []
    withdrawn: list[Step] = []
    for lo, hi in itertools.pairwise(bounds):
        feed(assembler, items[lo:hi])
        steps += assembler.pop_steps()
        withdrawn += assembler.pop_retracted()
    steps += assembler.flush().pop_steps()
    withdrawn += assembler.pop_retracted()
    gone = {id(s) for s in withdrawn}
    net = [comparable(s) for s in steps if id(s) not in gone]
    expected_steps, expected_stats = reference()
    assert net == expected_steps
    assert assembler.stats == expected_stats


def test_mixed_stream_reference_is_sane() -> None:
    run = run_of(duration_s=20.0, seed=3)
    steps, stats = reference()
    keep = np.ones(len(run.truth), bool)
    keep[17] = False
    truth = TrueEvents(run.truth.side[keep], run.truth.ic_s[keep], run.truth.to_s[keep])
    assert len(steps) == len(truth)
    for side in (Side.LEFT, Side.RIGHT):  # all true contacts, in IC order on each side
        assert [s[1] for s in steps if s[0] == side] == truth.for_side(side).ic_s.tolist()
    # the stream exercises what it should
    assert stats.withdrawn_steps == stats.retracted_contacts > 0
    # some IMU TOs came after the hold: fused timing, impact unknown
    assert any(s[14] is EventSource.FUSED and s[13] is None for s in steps)
    assert stats.unconfirmed_steps > stats.retracted_contacts  # dropped IMU contacts
    assert stats.imu_unpaired >= 1  # the IMU saw contact 17
    assert stats.duplicate_events == 1


def test_parameters_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="fuse_window_s"):
        StepAssembler(fuse_window_s=0.0)
    with pytest.raises(ConfigurationError, match="walking_duty_factor"):
        StepAssembler(walking_duty_factor=1.5)
    with pytest.raises(ConfigurationError, match="history_s"):
        StepAssembler(history_s=1.0)
