"""Test helpers: a simulated session decoded once and replayed into ring buffers at a
controlled clock, as the live threads would deliver it."""

from __future__ import annotations

from dataclasses import dataclass, field

from dashboard.acquisition import Acquisition
from firmware_bridge.samples import SampleBlock, StreamInfo
from firmware_bridge.simulator.offline import decode_session
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig
from firmware_bridge.simulator.truth import TrueEvents
from realtime.pipeline import GaitPipeline
from realtime.processing import ProcessingThread


class ManualClock:
    """A host clock the test moves by hand (s)."""

    def __init__(self, now_s: float = 0.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


@dataclass
class Recording:
    """A decoded simulated session: stream infos, blocks in arrival order, truth."""

    infos: list[StreamInfo]
    blocks: list[SampleBlock]
    truth: TrueEvents
    config: SimulationConfig


def record(config: SimulationConfig) -> Recording:
    session = SimulatedSession(config)
    run = decode_session(session)
    infos = [dev.info for d in run.decoders for dev in d.devices.values() if dev.info is not None]
    blocks = sorted(
        (b for bs in run.blocks.values() for b in bs), key=lambda b: float(b.t_host_s[-1])
    )
    return Recording(infos, blocks, session.truth, config)


@dataclass
class Replay:
    """Plays a recording into an ``Acquisition``'s ring buffers up to a chosen time and
    runs the analysis over it, synchronously."""

    recording: Recording
    clock: ManualClock
    acquisition: Acquisition
    processing: ProcessingThread
    _next: int = 0
    _added: set[str] = field(default_factory=set)

    def play_until(self, t_s: float, *, tick_s: float = 0.05) -> None:
        """Advance to host time ``t_s`` (s) in ``tick_s`` ticks, as the live threads do:
        deliver the blocks whose last sample has arrived, then analyse."""
        while self.clock.now_s + tick_s < t_s:
            self._tick(self.clock.now_s + tick_s)
        self._tick(t_s)

    def _tick(self, t_s: float) -> None:
        blocks = self.recording.blocks
        infos = {i.stream_id: i for i in self.recording.infos}
        while self._next < len(blocks) and float(blocks[self._next].t_host_s[-1]) <= t_s:
            block = blocks[self._next]
            if block.stream_id not in self._added:
                self.acquisition.buffers.add(infos[block.stream_id])
                self._added.add(block.stream_id)
            self.acquisition.buffers(block)
            self._next += 1
        self.clock.now_s = t_s
        self.processing.step_once()


def make_replay(recording: Recording) -> Replay:
    clock = ManualClock(0.0)
    acquisition = Acquisition(clock=clock)
    processing = ProcessingThread(acquisition.buffers, GaitPipeline(clock=clock))
    return Replay(recording, clock, acquisition, processing)
