"""Lab Streaming Layer outlets (``--lsl``, the ``gaitcue[lsl]`` extra): the raw streams and
one sample per step, for recording next to EEG/EMG/motion capture (LabRecorder and the like).

* One outlet per stream: name = the stream id, type ``"IMU"`` (IMUs), ``"Pressure"``
  (insoles) or ``"Gait"`` (footpods), the stream's channel count, names and units (in the
  description's ``channels``), its nominal rate, float32 samples; source id
  ``gaitcue-<stream id>`` so that a consumer reconnects to the same stream after a restart.
* ``gaitcue-steps`` (type ``"Gait"``, irregular rate, float64): one sample per detected step,
  stamped at its initial contact, channels ``STEP_CHANNELS`` (side 0 = left, 1 = right;
  times in LSL seconds; NaN where a value is unknown).

A small thread of its own reads the ring buffers with its own cursors (never the reader
threads, which only write) and the analysis view's recent steps. Timestamps are in LSL's
clock: host seconds + (``pylsl.local_clock()`` − host clock), the offset taken once at
``start`` (both clocks are monotonic; at ``speed == 1`` they tick together). Outlets (and
so LSL's network listeners) exist only between ``start`` and ``stop``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.hostclock import HostClock
from firmware_bridge.samples import Side, StreamInfo, StreamKind
from realtime.events import Step
from realtime.processing import AnalysisView
from realtime.streams import StreamBuffers

STEPS_OUTLET = "gaitcue-steps"
STEP_CHANNELS = (
    ("side", "0=left,1=right"),
    ("ic_s", "s"),
    ("to_s", "s"),
    ("gct_ms", "ms"),
    ("flight_ms", "ms"),
    ("step_time_ms", "ms"),
    ("stride_time_ms", "ms"),
    ("peak_force_n", "N"),
    ("peak_accel_g", "g"),
    ("strike_index", "fraction of foot length"),
    ("flags", "bits"),
)
"""Channels of the steps outlet: (label, unit)."""

_TYPES = {StreamKind.IMU: "IMU", StreamKind.INSOLE: "Pressure", StreamKind.FOOTPOD: "Gait"}


def require_pylsl() -> ModuleType:
    """Import pylsl (which loads liblsl) or raise a one-line ``ConfigurationError``."""
    try:
        import pylsl
    except ImportError:
        raise ConfigurationError(
            "--lsl needs the pylsl package: pip install 'gaitcue[lsl]'"
        ) from None
    except (OSError, RuntimeError) as exc:  # pylsl found no liblsl shared library
        raise ConfigurationError(
            f"--lsl needs the liblsl library, which pylsl could not load ({exc}); "
            "install gaitcue[lsl] with a pylsl wheel for this platform"
        ) from None
    return pylsl


def stream_type(info: StreamInfo) -> str:
    """The LSL content type of a stream."""
    return _TYPES.get(info.kind, "Gait")


def _describe(info: Any, channels: list[tuple[str, str]], kind: str) -> None:
    desc = info.desc()
    desc.append_child_value("manufacturer", "gaitcue")
    node = desc.append_child("channels")
    for label, unit in channels:
        channel = node.append_child("channel")
        channel.append_child_value("label", label)
        channel.append_child_value("unit", unit)
        channel.append_child_value("type", kind)


def step_sample(step: Step, offset_s: float) -> list[float]:
    """The steps outlet's sample of one step (times shifted by ``offset_s`` into LSL's
    clock)."""
    return [
        0.0 if step.side == Side.LEFT else 1.0,
        step.ic_s + offset_s,
        step.to_s + offset_s,
        step.gct_ms,
        step.flight_ms,
        step.step_time_ms,
        step.stride_time_ms,
        step.peak_force_n,
        step.peak_accel_g,
        step.strike_index,
        float(int(step.flags)),
    ]


class LslOutlets:
    """Pushes the ring buffers' samples and the detected steps to LSL outlets.

    Args:
        buffers: the live ring buffers (read only, with this object's own cursors).
        view_fn: the analysis view (``ProcessingThread.view``), for the steps.
        clock: the host clock the samples are stamped with (s).
        poll_s: how often the thread looks for new samples (s).

    Raises:
        ConfigurationError: pylsl or its liblsl is missing ("install gaitcue[lsl]").
    """

    def __init__(
        self,
        buffers: StreamBuffers,
        view_fn: Callable[[], AnalysisView],
        clock: HostClock,
        *,
        poll_s: float = 0.02,
    ) -> None:
        self._pylsl = require_pylsl()
        self._buffers = buffers
        self._view_fn = view_fn
        self._clock = clock
        self._poll_s = poll_s
        self._outlets: dict[str, Any] = {}
        self._cursors: dict[str, int] = {}
        self._steps_outlet: Any = None
        self._pushed_steps: set[tuple[int, float]] = set()
        self._rebound: tuple[StreamBuffers, Callable[[], AnalysisView]] | None = None
        self._skip_history = False
        self._lock = threading.Lock()
        self._pump_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.offset_s = math.nan
        """LSL seconds minus host seconds, fixed at ``start``."""
        self.samples_pushed = 0
        self.steps_pushed = 0

    @property
    def stream_names(self) -> tuple[str, ...]:
        """Names of the outlets open so far (the steps outlet included)."""
        names = tuple(self._outlets)
        return (*names, STEPS_OUTLET) if self._steps_outlet is not None else names

    def start(self) -> None:
        """Open the steps outlet, fix the clock offset and start pushing."""
        pylsl = self._pylsl
        self.offset_s = float(pylsl.local_clock()) - self._clock()
        info = pylsl.StreamInfo(
            STEPS_OUTLET,
            "Gait",
            len(STEP_CHANNELS),
            pylsl.IRREGULAR_RATE,
            pylsl.cf_double64,
            STEPS_OUTLET,
        )
        _describe(info, list(STEP_CHANNELS), "Gait")
        self._steps_outlet = pylsl.StreamOutlet(info)
        self._thread = threading.Thread(target=self._run, name="lsl-outlets", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop pushing and close every outlet."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._outlets.clear()
        self._steps_outlet = None

    def rebind(self, buffers: StreamBuffers, view_fn: Callable[[], AnalysisView]) -> None:
        """Follow new ring buffers and analysis (a replay's backward seek rebuilt them); the
        outlets stay open, and what the new buffers already hold is not pushed again."""
        with self._lock:
            self._rebound = (buffers, view_fn)

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            self.pump()
        self.pump()

    def pump(self) -> int:
        """Push what is new (one pass of the thread); return the samples pushed."""
        with self._pump_lock:
            return self._pump()

    def _pump(self) -> int:
        with self._lock:
            rebound, self._rebound = self._rebound, None
        if rebound is not None:
            self._buffers, self._view_fn = rebound
            self._cursors.clear()
            self._skip_history = True
        pushed = 0
        buffers = self._buffers
        for stream_id in buffers.stream_ids():
            buffer = buffers[stream_id]
            cursor = self._cursors.get(stream_id)
            if cursor is None:
                cursor = buffer.written if self._skip_history else buffer.first_index
                if stream_id not in self._outlets:
                    self._outlets[stream_id] = self._open(buffers.info(stream_id))
            if buffer.written == cursor:
                self._cursors[stream_id] = cursor
                continue
            snap = buffer.read_since(cursor)
            self._cursors[stream_id] = snap.next_cursor
            if snap.n_samples:
                stamps = (snap.t_host_s + self.offset_s).tolist()
                self._outlets[stream_id].push_chunk(snap.values, stamps)
                pushed += snap.n_samples
        self.samples_pushed += pushed
        self._push_steps(self._view_fn())
        return pushed

    def _open(self, info: StreamInfo) -> Any:
        pylsl = self._pylsl
        kind = stream_type(info)
        lsl_info = pylsl.StreamInfo(
            info.stream_id,
            kind,
            info.n_channels,
            float(info.rate_hz),
            pylsl.cf_float32,
            f"gaitcue-{info.stream_id}",
        )
        _describe(lsl_info, list(zip(info.channel_names, info.units, strict=True)), kind)
        desc = lsl_info.desc()
        desc.append_child_value("side", info.side.name.lower())
        desc.append_child_value("mount", info.mount.name.lower())
        desc.append_child_value("device_id", f"{info.device_id:08x}")
        desc.append_child_value("calibrated", "true" if info.calibrated else "false")
        return pylsl.StreamOutlet(lsl_info)

    def _push_steps(self, view: AnalysisView) -> None:
        outlet = self._steps_outlet
        if outlet is None:
            return
        keys = set()
        for step in view.recent_steps:
            key = (int(step.side), step.ic_s)
            keys.add(key)
            if key in self._pushed_steps:
                continue
            outlet.push_sample(step_sample(step, self.offset_s), step.ic_s + self.offset_s)
            self.steps_pushed += 1
        # Only steps still in the view can come again: forget the others.
        self._pushed_steps = keys


def channel_labels(inlet_info: Any) -> list[str]:
    """The channel labels of an LSL stream description (an inlet's ``info()``)."""
    labels = []
    channel = inlet_info.desc().child("channels").child("channel")
    while not channel.empty():
        labels.append(channel.child_value("label"))
        channel = channel.next_sibling()
    return labels
