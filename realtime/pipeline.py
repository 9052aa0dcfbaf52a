"""Streams in, steps and metrics out: the analysis that runs identically live and offline.

``GaitPipeline`` owns one contact detector per stream (insole or IMU, chosen from the
stream's ``StreamInfo``), the ``StepAssembler`` that fuses their events into steps, and the
rolling metrics. Feed it ``SampleBlock``s in roughly time order across streams (live: as they
come out of the ring buffers; offline: interleaved blocks of every stream), then read
``steps``, ``events`` and ``metrics.snapshot()``.

Retention. A live session runs for hours, so by default the pipeline keeps only the newest
``KEEP_STEPS`` steps and ``KEEP_EVENTS`` logged events (about 10 minutes of running; the
session recording on disk keeps every step), and counts every step in ``n_steps``. Offline
analysis asks for every step with ``keep_steps=None``.

Every event is logged with the host time at which the pipeline logged it (``logged_s``, from
the injected clock), which is what the latency benchmark scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from calibration.insole_layout import InsoleLayout
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Mount, SampleBlock, Side, StreamInfo, StreamKind
from realtime.detectors.imu import ImuContactDetector
from realtime.detectors.insole import InsoleContactDetector
from realtime.events import ContactEvent, EventSource, Step
from realtime.metrics import RollingMetrics
from realtime.steps import StepAssembler

STANDARD_GRAVITY_M_S2 = 9.80665
NEAR_GAP_MIN_MS = 15.0
"""Missing data around an insole crossing flags the contact only when it exceeds one lost
packet (10 ms of data): a single lost packet leaves the crossing as well timed as the
sampling does (measured), and flagging it would flag most steps at a few % loss."""


KEEP_STEPS = 2048
"""Steps a pipeline keeps by default: about 10 minutes of running at 170–200 steps/min."""
KEEP_EVENTS = 4 * KEEP_STEPS
"""Logged events a pipeline keeps by default: an IC and a toe-off per step from the insole
and from the IMU, over the same 10 minutes."""
TRIM_SLACK = 0.25
"""A kept list may exceed its bound by this fraction before its oldest entries are dropped
in one go (amortised O(1) per entry)."""


def _trim(items: list[Any], keep: int | None) -> None:
    """Drop the oldest entries of ``items`` down to ``keep`` once it exceeds its slack."""
    if keep is not None and len(items) > keep + max(1, int(TRIM_SLACK * keep)):
        del items[: len(items) - keep]


@dataclass(frozen=True)
class AnalysisConfig:
    """Settings of the analysis.

    Attributes:
        insole_threshold_n: contact threshold on the total insole force (N).
        body_mass_kg: the runner's mass (kg); None to estimate body weight from the insoles.
        insole_layouts: cell layout per side; None for the default layout of the cell count.
        window_steps: rolling window of the live metrics (steps).
        treadmill_speed_m_s: belt speed (m/s) for step and stride length; None if unknown.
        max_side_lag_s: how long (s of data) a step may wait for the other foot's streams to
            catch up (live: BLE stalls; offline: the block length).
    """

    insole_threshold_n: float = 20.0
    body_mass_kg: float | None = None
    insole_layouts: dict[Side, InsoleLayout] | None = None
    window_steps: int = 20
    treadmill_speed_m_s: float | None = None
    max_side_lag_s: float = 0.5


@dataclass(frozen=True)
class LoggedEvent:
    """A contact event and the host time (s) at which the pipeline logged it."""

    event: ContactEvent
    logged_s: float


Detector = InsoleContactDetector | ImuContactDetector


@dataclass
class GaitPipeline:
    """Detectors → step assembly → metrics, for any subset of the four streams.

    Attributes:
        config: the analysis settings.
        clock: host clock (s) that stamps logged events.
        keep_events: whether events are logged in ``events`` at all.
        keep_steps: ``steps`` holds at least the newest ``keep_steps`` steps (and at most
            ``TRIM_SLACK`` more); None: every step of the session (offline analysis).
        keep_logged: ``events`` likewise holds the newest ``keep_logged`` events; None: all.

    Results:
        steps: completed steps in completion order (the newest ``keep_steps``).
        n_steps: steps completed so far (retracted ones taken off), whatever is kept.
        events: logged events (the newest ``keep_logged``), when ``keep_events``.
    """

    config: AnalysisConfig = field(default_factory=AnalysisConfig)
    clock: Callable[[], float] = time.monotonic
    keep_events: bool = True
    keep_steps: int | None = KEEP_STEPS
    keep_logged: int | None = KEEP_EVENTS

    def __post_init__(self) -> None:
        for name in ("keep_steps", "keep_logged"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and value > 0):
                raise ConfigurationError(
                    f"GaitPipeline's {name} must be a positive integer or None, got {value!r}."
                )
        self._detectors: dict[str, Detector] = {}
        self._infos: dict[str, StreamInfo] = {}
        # per stream: its detector, and the side and source its progress is reported as
        self._routes: dict[str, tuple[Detector, Side, EventSource]] = {}
        self._assembler: StepAssembler | None = None
        self.events: list[LoggedEvent] = []
        self.steps: list[Step] = []
        self.n_steps = 0
        self.metrics = RollingMetrics(window_steps=self.config.window_steps)

    @property
    def streams(self) -> dict[str, StreamInfo]:
        return dict(self._infos)

    def detector(self, stream_id: str) -> Detector:
        """The contact detector of an added stream (e.g. to inspect its state)."""
        route = self._routes.get(stream_id)
        if route is None:
            raise ConfigurationError(f"no stream {stream_id} was added to the analysis")
        return route[0]

    def add_stream(self, info: StreamInfo) -> None:
        """Create the detector for a stream (again for the same stream: nothing happens)."""
        if info.stream_id in self._detectors or info.kind == StreamKind.FOOTPOD:
            return  # a footpod's cadence is shown as it is; it has no contacts to detect
        if info.side == Side.UNKNOWN:
            raise ConfigurationError(
                f"stream {info.stream_id} does not say which foot it is on; set its side"
            )
        body_weight = (
            None
            if self.config.body_mass_kg is None
            else self.config.body_mass_kg * STANDARD_GRAVITY_M_S2
        )
        detector: Detector
        if info.kind == StreamKind.INSOLE:
            layouts = self.config.insole_layouts or {}
            layout = layouts.get(info.side) or InsoleLayout.default(info.n_channels)
            if layout.n_cells != info.n_channels:
                raise ConfigurationError(
                    f"the {info.side.name.lower()} insole layout has {layout.n_cells} cells "
                    f"but stream {info.stream_id} has {info.n_channels}"
                )
            detector = InsoleContactDetector(
                side=info.side,
                rate_hz=info.rate_hz,
                layout=layout,
                threshold_n=self.config.insole_threshold_n,
                body_weight_n=body_weight,
                near_gap_min_ms=NEAR_GAP_MIN_MS,
                max_events=0,  # the pipeline logs the events itself, within its bound
            )
        elif info.kind == StreamKind.IMU:
            acc_fs, gyr_fs = (
                (info.full_scale[0], info.full_scale[3])
                if info.full_scale
                else (
                    16.0,
                    2000.0,
                )
            )
            detector = ImuContactDetector(
                side=info.side,
                rate_hz=info.rate_hz,
                mount=info.mount,
                full_scale_g=acc_fs,
                full_scale_dps=gyr_fs,
            )
        else:
            raise ConfigurationError(f"stream {info.stream_id} carries no gait signal")
        self._detectors[info.stream_id] = detector
        self._infos[info.stream_id] = info
        source = EventSource.IMU if info.kind == StreamKind.IMU else EventSource.INSOLE
        self._routes[info.stream_id] = (detector, info.side, source)
        if self._assembler is not None:
            # A device that registers late joins the assembler: the contacts the others
            # already sent (the first step of a run) are kept.
            self._assembler.add_source(info.side, source, shank_mount=info.mount == Mount.SHANK)

    def _ensure_assembler(self) -> StepAssembler:
        if self._assembler is None:
            kinds = [(i.kind, i.side) for i in self._infos.values()]
            has_insole = {
                side: (StreamKind.INSOLE, side) in kinds for side in (Side.LEFT, Side.RIGHT)
            }
            has_imu = {side: (StreamKind.IMU, side) in kinds for side in (Side.LEFT, Side.RIGHT)}
            shank = any(
                i.kind == StreamKind.IMU and i.mount == Mount.SHANK for i in self._infos.values()
            )
            self._assembler = StepAssembler(
                has_insole=has_insole,
                has_imu=has_imu,
                shank_mount=shank,
                max_side_lag_s=self.config.max_side_lag_s,
            )
        return self._assembler

    def update(self, block: SampleBlock) -> list[Step]:
        """Analyse one block; return the steps it completed (in completion order)."""
        route = self._routes.get(block.stream_id)
        if route is None:
            raise ConfigurationError(f"no stream {block.stream_id} was added to the analysis")
        detector, side, source = route
        events = detector.update(block).pop_events()
        if events and self.keep_events:
            now = self.clock()
            self.events.extend(LoggedEvent(e, now) for e in events)
            _trim(self.events, self.keep_logged)
        assembler = self._assembler if self._assembler is not None else self._ensure_assembler()
        if events:
            assembler.update(events)
        if block.n_samples:
            assembler.advance(now_s=float(block.t_host_s[-1]), side=side, source=source)
        return self._collect(assembler)

    def finish(self) -> list[Step]:
        """End of the recording: release the steps still waiting for a partner event."""
        if self._assembler is None:
            return []
        return self._collect(self._assembler.flush())

    def _collect(self, assembler: StepAssembler) -> list[Step]:
        steps = assembler.pop_steps()
        withdrawn = assembler.pop_retracted()
        if withdrawn:
            gone = {(s.side, s.ic_s) for s in withdrawn}
            self.steps = [s for s in self.steps if (s.side, s.ic_s) not in gone]
            self.n_steps -= len(gone)
            self.metrics.retract(withdrawn)
        if steps:
            self.steps.extend(steps)
            self.n_steps += len(steps)
            _trim(self.steps, self.keep_steps)
            self.metrics.update(steps)
        return steps
