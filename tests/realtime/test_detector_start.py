"""The first contact of a stream, and the insole's one-sample confirmation, against truth.

A live stream starts wherever the runner is in the stride. A contact whose data are complete
(the insole's samples on both sides of the 20 N crossing; the IMU's IC feature and impact
after the first samples) must be found, timed like any other, whatever the block sizes.
Streams come from a whole ``SimulatedSession`` through the real decoder, cut at a chosen
sample; truth is the simulator's (the noise-free force crossing 20 N), never the detector's
own earlier output.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibration.insole_layout import InsoleLayout
from firmware_bridge.samples import SampleBlock, StreamInfo, StreamKind
from firmware_bridge.simulator.gait import FootStrike, RunnerConfig
from firmware_bridge.simulator.offline import decode_session
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig
from firmware_bridge.simulator.truth import TrueEvents
from realtime.detectors.imu import ImuContactDetector
from realtime.detectors.insole import InsoleContactDetector
from realtime.events import ContactEvent, EventKind, StepFlag
from realtime.offline import interleave
from realtime.pipeline import GaitPipeline

FloatArray = npt.NDArray[np.float64]

PACKET_S = 0.010
"""The devices' packets carry 10 ms of data."""


@dataclasses.dataclass(frozen=True)
class Stream:
    """One decoded stream of a simulated session, as one array, with the session's truth."""

    info: StreamInfo
    t_s: FloatArray
    values: npt.NDArray[np.float32]
    truth: TrueEvents

    def true_ic_s(self) -> FloatArray:
        """This stream's side's true ICs (host s)."""
        return np.asarray(self.truth.ic_s)[self.truth.side == self.info.side]


@functools.lru_cache(maxsize=8)
def _session(seed: int, strike: FootStrike, slow: bool) -> tuple[Stream, ...]:
    """6 s of a simulated session (100 Hz insoles and 500 Hz IMUs when ``slow``, else 200 Hz
    and 1 kHz), decoded as the live bridge decodes it."""
    config = SimulationConfig(
        runner=RunnerConfig(foot_strike=strike, cadence_spm=150.0 + 10.0 * (seed % 5)),
        duration_s=6.0,
        seed=seed,
        insole_rate_hz=100 if slow else 200,
        imu_rate_hz=500 if slow else 1000,
    )
    session = SimulatedSession(config)
    run = decode_session(session)
    infos = [d.info for dec in run.decoders for d in dec.devices.values() if d.info is not None]
    streams = []
    for info in infos:
        blocks = run.blocks[info.stream_id]
        t = np.concatenate([b.t_host_s for b in blocks])
        values = np.concatenate([b.values for b in blocks])
        streams.append(Stream(info, t, values, session.truth))
    return tuple(streams)


def _detector(info: StreamInfo, **kw: object) -> InsoleContactDetector | ImuContactDetector:
    if info.kind == StreamKind.INSOLE:
        return InsoleContactDetector(
            side=info.side,
            rate_hz=info.rate_hz,
            layout=InsoleLayout.default(info.n_channels),
            **kw,  # type: ignore[arg-type]
        )
    return ImuContactDetector(side=info.side, rate_hz=info.rate_hz, mount=info.mount)


def _from(stream: Stream, start_s: float, *, until_s: float, block_n: int) -> list[SampleBlock]:
    """The stream from its first sample at or after ``start_s`` to ``until_s``, in blocks of
    ``block_n`` samples; the first block starts the stream (no gap before it)."""
    i0 = int(np.searchsorted(stream.t_s, start_s))
    i1 = int(np.searchsorted(stream.t_s, until_s))
    return [
        SampleBlock(
            stream.info.stream_id, stream.t_s[i : i + block_n], stream.values[i : i + block_n]
        )
        for i in range(i0, min(i1, stream.t_s.size), block_n)
    ]


def _contacts(events: list[ContactEvent]) -> list[ContactEvent]:
    """The ICs that were not withdrawn."""
    withdrawn = {e.retracts for e in events if e.kind == EventKind.RETRACTION}
    return [
        e for e in events if e.kind == EventKind.INITIAL_CONTACT and e.event_id not in withdrawn
    ]


def _run(
    stream: Stream, start_s: float, *, block_n: int, **kw: object
) -> tuple[list[ContactEvent], list[ContactEvent]]:
    """Every event of the stream cut at ``start_s`` (for 1.2 s), and its standing ICs."""
    detector = _detector(stream.info, **kw)
    events: list[ContactEvent] = []
    for block in _from(stream, start_s, until_s=start_s + 1.2, block_n=block_n):
        events += detector.update(block).pop_events()
    return events, _contacts(events)


# The first contact after the start: lead = time from the stream's first sample to the
# true IC. The insole needs one sample before the crossing (one period of lead, plus up to
# one of sampling phase); the IMU's impact search looks back ``spike_window_s`` (7 ms) from
# the feature's onset, which starts 15 ms before its extremum.
INSOLE_LEADS_S = (0.012, 0.021, 0.035, 0.080, 0.160, 0.300)
IMU_LEADS_S = (0.030, 0.045, 0.080, 0.160, 0.300)


@pytest.mark.parametrize("slow", [False, True], ids=["200 Hz", "100 Hz"])
@pytest.mark.parametrize("strike", list(FootStrike), ids=lambda s: s.value)
def test_the_insole_finds_the_first_contact_after_the_start(strike: FootStrike, slow: bool) -> None:
    seed = 31 + list(FootStrike).index(strike)
    for stream in _session(seed, strike, slow):
        if stream.info.kind != StreamKind.INSOLE:
            continue
        period_s = 1.0 / stream.info.rate_hz
        for k, true_ic in enumerate(stream.true_ic_s()[2:5]):
            for lead_s in INSOLE_LEADS_S:
                if lead_s < 2.0 * period_s + 0.001:
                    continue  # less than one sample surely before the crossing
                block_n = 1 + (k % 3)  # whatever the chunking
                _, ics = _run(stream, true_ic - lead_s, block_n=block_n)
                first = [e for e in ics if abs(e.t_s - true_ic) <= 0.06]
                where = (
                    f"{stream.info.side.name} IC {true_ic:.3f} s,"
                    f" stream from {lead_s * 1e3:.0f} ms before"
                )
                assert first, f"first contact missed: {where}"
                assert abs(first[0].t_s - true_ic) <= 2.5e-3, where
                assert not first[0].flags & StepFlag.SETTLING, where
                assert ics[0] is first[0], f"a contact before the first true one: {where}"


@pytest.mark.parametrize("strike", list(FootStrike), ids=lambda s: s.value)
def test_the_imu_finds_the_first_contact_after_the_start(strike: FootStrike) -> None:
    seed = 41 + list(FootStrike).index(strike)
    for slow in (False, True):
        for stream in _session(seed, strike, slow):
            if stream.info.kind != StreamKind.IMU:
                continue
            block_n = round(PACKET_S * stream.info.rate_hz)
            for true_ic in stream.true_ic_s()[2:4]:
                for lead_s in IMU_LEADS_S:
                    _, ics = _run(stream, true_ic - lead_s, block_n=block_n)
                    where = (
                        f"{stream.info.side.name} {stream.info.rate_hz:.0f} Hz IC {true_ic:.3f} s,"
                        f" stream from {lead_s * 1e3:.0f} ms before"
                    )
                    assert ics, f"no IC at all: {where}"
                    # IMU features sit 3 ± 2 ms (≤ 6 ms) from the true IC (MODEL.md).
                    assert abs(ics[0].t_s - true_ic) <= 0.010, f"first contact missed: {where}"


def test_a_first_sample_between_release_and_threshold_still_gives_the_contact() -> None:
    """The stream starts on a sample above the release level (threshold − hysteresis) but
    below the threshold, just before a crossing: the crossing lies between two received
    samples, so the contact counts."""
    found = 0
    for stream in _session(38, FootStrike.REARFOOT, False):
        if stream.info.kind != StreamKind.INSOLE:
            continue
        force = stream.values.astype(np.float64).sum(axis=1)
        for true_ic in stream.true_ic_s()[1:]:
            r = int(np.searchsorted(stream.t_s, true_ic))  # first sample after the crossing
            start = r - 1
            while start > 0 and force[start] >= 10.0:
                start -= 1
            # the first sample at or above 10 N before the crossing, below 20 N
            candidates = np.flatnonzero((force[start:r] >= 10.0) & (force[start:r] < 20.0))
            if candidates.size == 0:
                continue
            i0 = start + int(candidates[0])
            _, ics = _run(stream, float(stream.t_s[i0]), block_n=2)
            assert ics, f"contact at {true_ic:.3f} s missed"
            assert abs(ics[0].t_s - true_ic) <= 2.5e-3
            found += 1
    assert found >= 1, "no contact with a sample between 10 and 20 N before its crossing"


# ------------------------------------------------------------ one-sample confirmation
def _insole_ics(slow: bool, **kw: object) -> tuple[list[tuple[ContactEvent, float]], float]:
    """(IC, its true IC) of every contact of both insoles fed in 10-ms packets, and the
    sample period (s)."""
    out = []
    period_s = 0.0
    for strike in FootStrike:
        for stream in _session(51 + list(FootStrike).index(strike), strike, slow):
            if stream.info.kind != StreamKind.INSOLE:
                continue
            period_s = 1.0 / stream.info.rate_hz
            detector = _detector(stream.info, **kw)
            events: list[ContactEvent] = []
            block_n = round(PACKET_S * stream.info.rate_hz)
            for i in range(0, stream.t_s.size, block_n):
                rows = slice(i, i + block_n)
                block = SampleBlock(stream.info.stream_id, stream.t_s[rows], stream.values[rows])
                events += detector.update(block).pop_events()
            truth = stream.true_ic_s()
            for e in _contacts(events):
                j = int(np.argmin(np.abs(truth - e.t_s)))
                out.append((e, float(truth[j])))
    return out, period_s


def test_an_unambiguous_rise_at_200_hz_is_emitted_at_its_first_sample() -> None:
    ics, period_s = _insole_ics(False)
    lag = np.array([e.detected_s - e.t_s for e, _ in ics])
    error_ms = 1e3 * np.array([e.t_s - t for e, t in ics])
    assert np.all(lag >= 0.0)
    assert np.all(lag <= 2.0 * period_s + 1e-6)
    fast = lag < period_s
    # Most rises stand 10 N above the threshold at their first sample; the rest wait.
    assert 0.6 <= fast.mean() < 1.0
    # Timed from that sample and the two before it, as well as from the next one.
    for chosen in (fast, ~fast):
        assert abs(error_ms[chosen].mean()) <= 1.0
        assert np.percentile(np.abs(error_ms[chosen]), 95) <= 1.5
    assert abs(error_ms.mean()) <= 0.8


def test_the_fast_confirmation_can_be_switched_off_and_stays_off_at_100_hz() -> None:
    for slow, kw in ((False, {"fast_confirm_max_period_ms": 0.0}), (True, {})):
        ics, period_s = _insole_ics(slow, **kw)
        lag = np.array([e.detected_s - e.t_s for e, _ in ics])
        assert np.all(lag >= period_s - 1e-6), "emitted before a second sample in contact"
        assert np.all(lag <= 2.0 * period_s + 1e-6)
        error_ms = 1e3 * np.array([e.t_s - t for e, t in ics])
        assert abs(error_ms.mean()) <= 1.0


def test_a_five_ms_shift_fails_the_timing_checks() -> None:
    """Sharpness of the checks above: the same ICs 5 ms late fail them."""
    ics, _ = _insole_ics(False)
    error_ms = 1e3 * np.array([e.t_s - t for e, t in ics]) + 5.0
    assert abs(error_ms.mean()) > 1.0


# ----------------------------------------------------------------- the live pipeline
def test_the_first_step_survives_streams_that_register_one_after_another() -> None:
    """Live, the devices' streams register as their hellos arrive; events of the first
    stream may already be in the step assembler when the next one registers."""
    streams = _session(61, FootStrike.REARFOOT, False)
    pipeline = GaitPipeline(keep_events=False)
    origin = min(float(s.t_s[0]) for s in streams)
    per_stream = []
    for stream in streams:
        block_n = round(PACKET_S * stream.info.rate_hz)
        blocks = _from(stream, origin, until_s=origin + 3.0, block_n=block_n)
        per_stream.append((stream.info, blocks))
    registered: set[str] = set()
    # Each stream registers 0.3 s after the previous one, before its own first block.
    offsets = {info.stream_id: 0.3 * k for k, (info, _) in enumerate(per_stream)}
    delayed = [
        (info, [b for b in blocks if b.t_host_s[0] >= origin + offsets[info.stream_id]])
        for info, blocks in per_stream
    ]
    for block in interleave(delayed, min_block_s=PACKET_S):
        if block.stream_id not in registered:
            pipeline.add_stream(next(i for i, _ in per_stream if i.stream_id == block.stream_id))
            registered.add(block.stream_id)
        pipeline.update(block)
    pipeline.finish()
    truth = streams[0].truth
    first_true = float(np.min(truth.ic_s))
    assert any(abs(s.ic_s - first_true) <= 0.01 for s in pipeline.steps)


# ------------------------------------------------------- chunking and causality at the start
def _events_fed(stream: Stream, start_s: float, sizes: list[int]) -> list[tuple[str, float]]:
    """Events of the stream from ``start_s`` (0.8 s) fed in blocks of the given sizes
    (cycled), each with the newest sample time when it came out; checks causality."""
    detector = _detector(stream.info)
    i0 = int(np.searchsorted(stream.t_s, start_s))
    i1 = int(np.searchsorted(stream.t_s, start_s + 0.8))
    out: list[tuple[str, float]] = []
    i, k = i0, 0
    while i < i1:
        j = min(i + sizes[k % len(sizes)], i1)
        block = SampleBlock(stream.info.stream_id, stream.t_s[i:j], stream.values[i:j])
        newest_s = float(stream.t_s[j - 1])
        for e in detector.update(block).pop_events():
            # never reported before the data that confirms it arrived
            assert e.detected_s <= newest_s
            if np.isfinite(e.t_s) and e.kind != EventKind.RETRACTION:
                assert e.t_s <= e.detected_s
            out.append((repr(e), newest_s))
        i, k = j, k + 1
    return out


@settings(max_examples=12, deadline=None)
@given(
    lead_ms=st.integers(5, 400),
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=4),
    which=st.integers(0, 3),
)
def test_the_start_does_not_depend_on_the_chunking(
    lead_ms: int, sizes: list[int], which: int
) -> None:
    stream = _session(71, FootStrike.MIDFOOT, False)[which]
    start_s = float(stream.true_ic_s()[3]) - 1e-3 * lead_ms
    one_by_one = [r for r, _ in _events_fed(stream, start_s, [1])]
    assert [r for r, _ in _events_fed(stream, start_s, sizes)] == one_by_one
