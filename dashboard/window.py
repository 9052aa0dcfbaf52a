"""The live dashboard window: numbers, traces, pressure maps, trends, devices, controls.

Everything is redrawn from snapshots on one ``QTimer`` (``PreciseTimer``) in the GUI
thread: the ring buffers are copied into fixed arrays, the analysis view is an immutable
object swapped by the processing thread, and the device rows are read without locks. The
acquisition and processing threads are never waited on. Cheap, fast-changing parts (traces,
pressure maps, beat light) update every frame; numbers at 10 Hz; trends and tables at 4 Hz.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from PySide6 import QtCore, QtGui, QtWidgets

from dashboard.acquisition import Acquisition
from dashboard.fps import PaintCounter
from dashboard.live_session import EventKind, LiveSession, SpeedUnit, TimedEvent
from dashboard.readouts import Bands, GaitReadouts, Level, gait_readouts
from dashboard.recording import RecordingControl
from dashboard.widgets.controls import ControlPanel
from dashboard.widgets.device_table import DeviceTable
from dashboard.widgets.number_tile import NumberTile
from dashboard.widgets.pressure_map import PressureMaps
from dashboard.widgets.theme import LEVEL_COLOUR, MUTED, STYLESHEET
from dashboard.widgets.traces import TracePanel
from dashboard.widgets.trends import BaselineTable, TrendPanel
from firmware_bridge.errors import GaitcueError
from firmware_bridge.samples import Side
from realtime.processing import AnalysisView, ProcessingThread

BEAT_FLASH_S = 0.12
"""How long the beat light stays lit after a beat (s)."""


class MetronomeControl(Protocol):
    """What the dashboard needs from the metronome."""

    @property
    def audio_available(self) -> bool: ...

    @property
    def status_text(self) -> str: ...

    def set_enabled(self, enabled: bool) -> None: ...

    def set_target_spm(self, target_spm: float) -> None: ...

    def set_mode(self, mode: str) -> None: ...

    def set_volume(self, volume: float) -> None: ...

    def set_accent_every(self, n: int) -> None: ...

    def set_alternate(self, alternate: bool) -> None: ...

    def feed_cadence(self, t_host_s: float, cadence_spm: float) -> None: ...

    def new_beats(self) -> tuple[float, ...]: ...

    def last_beat_s(self) -> float | None: ...


@dataclass(frozen=True)
class DashboardConfig:
    """How the dashboard looks and refreshes.

    Attributes:
        title: window title.
        frame_interval_ms: redraw period (ms).
        trace_window_s: seconds of signal in the traces (s).
        bands: the PT's colour bands.
        target_spm: initial target cadence (spm); None: no target until the PT sets one.
        metronome_on: start with the metronome playing (needs a target).
        tibial: the IMUs are on the shank (impact is tibial acceleration).
        threshold_n: insole contact threshold drawn in the force trace (N).
    """

    title: str = "gaitcue live"
    frame_interval_ms: int = 25
    trace_window_s: float = 8.0
    bands: Bands = field(default_factory=Bands)
    target_spm: float | None = None
    metronome_on: bool = False
    tibial: bool = False
    threshold_n: float = 20.0


class DashboardWindow(QtWidgets.QMainWindow):
    """The PT's live screen.

    Args:
        acquisition: transports and ring buffers (read only).
        processing: the analysis thread (its ``view()`` is read each frame).
        session: targets, baseline, events and trends.
        metronome: the cadence metronome, or None for none.
        recording: the record button's logic, or None when recording is not offered.
        config: look and refresh.
    """

    def __init__(
        self,
        acquisition: Acquisition,
        processing: ProcessingThread,
        session: LiveSession,
        *,
        metronome: MetronomeControl | None = None,
        recording: RecordingControl | None = None,
        config: DashboardConfig | None = None,
    ) -> None:
        super().__init__()
        self.recording = recording
        self.config = config or DashboardConfig()
        self.acquisition = acquisition
        self.processing = processing
        self.session = session
        self.metronome = metronome
        self.frames = 0
        self.readouts: GaitReadouts | None = None
        self.setWindowTitle(self.config.title)
        self.setStyleSheet(STYLESHEET)
        self._build()
        self._connect_controls()
        # fps counts frames the traces painted (the panel with new data every frame). The
        # pressure maps repaint only when a cell's colour or the trail changes (a foot in
        # swing is still), the trends when steps arrive: their paints are counted apart.
        self.paint_counter = PaintCounter([self.traces.viewport()])
        self.other_paints = PaintCounter([self.maps.viewport(), self.trends.viewport()])
        self._status_mark = (0, time.monotonic())
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(self.config.frame_interval_ms)
        if self.config.target_spm is not None:
            self.controls.target_spm.setValue(self.config.target_spm)
            self._set_target_spm(self.config.target_spm)
        if metronome is not None:
            if not metronome.audio_available:
                self.controls.audio_note.setText(metronome.status_text)
            if self.config.metronome_on and self.session.target_spm is not None:
                self.controls.metronome_button.setChecked(True)
        else:
            self.controls.metronome_button.setEnabled(False)
            self.controls.audio_note.setText("metronome not available")

    # ---------------------------------------------------------------- layout
    def _build(self) -> None:
        central = QtWidgets.QWidget()
        grid = QtWidgets.QVBoxLayout(central)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.addLayout(self._build_tiles())
        middle = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.traces = TracePanel(
            window_s=self.config.trace_window_s, threshold_n=self.config.threshold_n
        )
        self.maps = PressureMaps(threshold_n=self.config.threshold_n)
        middle.addWidget(self.traces)
        middle.addWidget(self.maps)
        middle.setStretchFactor(0, 3)
        middle.setStretchFactor(1, 1)
        bottom = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.trends = TrendPanel(bands=self.config.bands)
        self.baseline_table = BaselineTable()
        self.device_table = DeviceTable()
        bottom.addWidget(self.trends)
        bottom.addWidget(self.baseline_table)
        bottom.addWidget(self.device_table)
        bottom.setStretchFactor(0, 4)
        bottom.setStretchFactor(1, 3)
        bottom.setStretchFactor(2, 6)
        body = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        body.addWidget(middle)
        body.addWidget(bottom)
        body.setStretchFactor(0, 3)
        body.setStretchFactor(1, 2)
        grid.addWidget(body, 1)
        # The numbers area holds the keyboard focus at start, so that single-key
        # shortcuts work until the PT clicks into a field.
        central.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.setCentralWidget(central)
        self.controls = ControlPanel(target_spm=self.config.target_spm or 170.0)
        dock = QtWidgets.QDockWidget("Controls")
        dock.setObjectName("controls")
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        dock.setWidget(self.controls)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.status = QtWidgets.QLabel("")
        self.status.setStyleSheet(f"color: {MUTED};")
        self.statusBar().addWidget(self.status, 1)

    def _build_tiles(self) -> QtWidgets.QGridLayout:
        tiles = QtWidgets.QGridLayout()
        tiles.setSpacing(6)
        self.cadence_tile = NumberTile("Cadence", point_size=44)
        self.balance_tile = NumberTile("Contact-time balance L / R")
        self.gct_tiles = {s: NumberTile(f"GCT {s.name.lower()}") for s in Side}
        self.flight_tiles = {s: NumberTile(f"Flight {s.name.lower()}") for s in Side}
        self.strike_tiles = {
            s: NumberTile(f"Foot strike {s.name.lower()}", point_size=20) for s in Side
        }
        impact = "Tibial impact" if self.config.tibial else "Peak impact"
        self.impact_tiles = {s: NumberTile(f"{impact} {s.name.lower()}") for s in Side}
        tiles.addWidget(self.cadence_tile, 0, 0, 2, 1)
        tiles.addWidget(self.balance_tile, 0, 1, 2, 1)
        for col, side in enumerate((Side.LEFT, Side.RIGHT)):
            tiles.addWidget(self.gct_tiles[side], col, 2)
            tiles.addWidget(self.flight_tiles[side], col, 3)
            tiles.addWidget(self.strike_tiles[side], col, 4)
            tiles.addWidget(self.impact_tiles[side], col, 5)
        for col in range(6):
            tiles.setColumnStretch(col, 1)
        return tiles

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        central = self.centralWidget()
        if central is not None:
            central.setFocus()

    # ---------------------------------------------------------------- controls
    def _connect_controls(self) -> None:
        c = self.controls
        c.target_spm_changed.connect(self._set_target_spm)
        c.target_percent_changed.connect(self._set_target_percent)
        c.baseline_requested.connect(self._start_baseline)
        c.marker_requested.connect(lambda note: self._logged(self.session.mark(note)))
        c.treadmill_changed.connect(self._set_treadmill)
        if self.recording is not None:
            c.record_toggled.connect(self._toggle_recording)
            if self.recording.writer is not None:
                c.record_button.blockSignals(True)
                c.record_button.setChecked(True)
                c.record_button.blockSignals(False)
        else:
            c.record_button.setEnabled(False)
            c.record_status.setText("recording not available")
        m = self.metronome
        if m is not None:
            c.metronome_toggled.connect(self._toggle_metronome)
            c.metronome_mode_changed.connect(self._guarded(m.set_mode, "metronome mode"))
            c.volume_changed.connect(self._guarded(m.set_volume, "volume"))
            c.accent_changed.connect(self._guarded(m.set_accent_every, "accent"))
            c.alternate_changed.connect(self._guarded(m.set_alternate, "alternation"))

    def _guarded(self, action: Callable[..., None], what: str) -> Callable[..., None]:
        """``action`` with a user error shown in the status bar instead of raised."""

        def run(*args: object) -> None:
            try:
                action(*args)
            except GaitcueError as exc:
                self.show_message(f"{what}: {exc}")

        return run

    def _start_baseline(self) -> None:
        self.session.start_baseline()
        self._logged(self.session.events[-1])

    def _set_target_spm(self, target_spm: float) -> None:
        try:
            self.session.set_target_spm(target_spm)
        except GaitcueError as exc:
            self.show_message(str(exc))
            return
        self._target_applied()

    def _set_target_percent(self, percent: float) -> None:
        try:
            self.session.set_target_percent(percent)
        except GaitcueError as exc:
            self.show_message(str(exc))
            return
        self._target_applied()

    def _target_applied(self) -> None:
        self._logged(self.session.events[-1])
        target = self.session.target_spm
        if self.metronome is not None and target is not None:
            self.metronome.set_target_spm(target)

    def _toggle_metronome(self, on: bool) -> None:
        m = self.metronome
        if m is None:
            return
        if on and self.session.target_spm is None:
            self.show_message("set a target cadence first")
            self.controls.metronome_button.setChecked(False)
            return
        try:
            if self.session.target_spm is not None:
                m.set_target_spm(self.session.target_spm)
            m.set_enabled(on)
        except GaitcueError as exc:
            self.show_message(f"metronome: {exc}")
            return
        self._logged(
            self.session.log(EventKind.METRONOME, "metronome on" if on else "metronome off")
        )

    def _toggle_recording(self, on: bool) -> None:
        control = self.recording
        if control is None:
            return
        try:
            if on:
                directory = control.start()
                self.show_message(f"recording to {directory}")
            else:
                self.show_message(f"session saved in {control.stop()}")
        except GaitcueError as exc:
            self.show_message(str(exc))
            button = self.controls.record_button
            button.blockSignals(True)
            button.setChecked(control.writer is not None)
            button.blockSignals(False)

    def _update_recording(self) -> None:
        control = self.recording
        label = self.controls.record_status
        if control is None:
            return
        if control.error:
            text = f"recording stopped: {control.error}"
        elif control.writer is not None:
            minutes, seconds = divmod(int(control.elapsed_s()), 60)
            text = f"● REC {minutes:02d}:{seconds:02d} → {control.last_directory}"
        elif control.last_directory is not None:
            text = f"saved: {control.last_directory}"
        else:
            text = "not recording"
        if label.text() != text:
            label.setText(text)

    def _set_treadmill(self, speed: float, unit: SpeedUnit, incline_pct: float) -> None:
        try:
            self.session.set_treadmill(speed=speed, unit=unit, incline_pct=incline_pct)
        except GaitcueError as exc:
            self.show_message(str(exc))
            return
        self.processing.pipeline.metrics.set_speed(speed_m_s=self.session.speed_m_s)
        self._logged(self.session.events[-1])

    def _logged(self, event: TimedEvent) -> None:
        self.controls.show_event(
            f"{_elapsed_text(event.t_s - self.session.started_s)}  {event.text}"
        )

    def show_message(self, text: str) -> None:
        """A one-line message in the status bar for a few seconds."""
        self.statusBar().showMessage(text, 6000)

    # ---------------------------------------------------------------- refresh
    def refresh(self, *, everything: bool = False) -> None:
        """One frame: pull snapshots and redraw what changed (``everything``: also the
        parts refreshed at lower rates, e.g. before a screenshot)."""
        self.frames += 1
        self.paint_counter.frame()
        now = self.acquisition.clock()
        view = self.processing.view()
        beats: tuple[float, ...] = ()
        if self.metronome is not None:
            beats = self.metronome.new_beats()
        self.session.ingest(view, beat_times_s=beats)
        if self.metronome is not None and math.isfinite(self.session.rolling_cadence_spm):
            self.metronome.feed_cadence(now, self.session.rolling_cadence_spm)
        buffers = self.acquisition.buffers
        self.traces.update_from(buffers, view.recent_steps, now)
        self.maps.update_from(buffers)
        self._update_beat_light(now)
        if everything or self.frames % 4 == 1:
            self._update_numbers(view, now)
        if everything or self.frames % 10 == 1:
            self.trends.update_from(self.session)
            self.baseline_table.update_from(self.session)
            issues = {i.stream_id: i.kind.value for i in view.sensor_issues}
            self.device_table.update_rows(self.acquisition.device_rows(), issues)
            self._update_status(view, now)
            self._update_recording()

    def _update_numbers(self, view: AnalysisView, now_s: float) -> None:
        r = gait_readouts(
            view,
            now_s,
            target_spm=self.session.target_spm,
            bands=self.config.bands,
            tibial=self.config.tibial,
        )
        self.readouts = r
        self.cadence_tile.set_readout(r.cadence)
        self.balance_tile.set_readout(r.balance)
        for side in (Side.LEFT, Side.RIGHT):
            self.gct_tiles[side].set_readout(r.gct[side])
            self.flight_tiles[side].set_readout(r.flight[side])
            self.strike_tiles[side].set_readout(r.foot_strike[side])
            self.impact_tiles[side].set_readout(r.impact[side])

    def _update_beat_light(self, now_s: float) -> None:
        last = None if self.metronome is None else self.metronome.last_beat_s()
        lit = last is not None and 0.0 <= now_s - last <= BEAT_FLASH_S
        colour = LEVEL_COLOUR[Level.OK] if lit else LEVEL_COLOUR[Level.STALE]
        light = self.controls.beat_light
        if light.property("lit") != lit:
            light.setProperty("lit", lit)
            light.setStyleSheet(f"color: {colour}; font-size: 22px;")

    def _update_status(self, view: AnalysisView, now_s: float) -> None:
        s = self.session
        progress = s.baseline_progress(now_s)
        self.controls.baseline_progress.setValue(round(100 * progress))
        adherence = s.adherence()
        parts = [f"steps {view.n_steps}"]
        if adherence is not None and adherence.n_steps:
            parts.append(f"in band {adherence.time_in_band_pct:.0f} %")
            if math.isfinite(adherence.asynchrony_ms_mean):
                parts.append(f"step–beat {adherence.asynchrony_ms_mean:+.0f} ms")
        overrun = view.overrun_samples
        if overrun:
            parts.append(f"analysis missed {overrun} samples")
        frames, t_s = self.paint_counter.frames, time.monotonic()
        last_frames, last_t_s = self._status_mark
        if t_s > last_t_s:
            parts.append(f"{(frames - last_frames) / (t_s - last_t_s):.0f} fps")
        self._status_mark = (frames, t_s)
        self.status.setText("   ·   ".join(parts))

    def screenshot(self, path: str) -> bool:
        """Save the window as a PNG; True on success."""
        image: QtGui.QPixmap = self.grab()
        return bool(image.save(path, "PNG"))


def _elapsed_text(elapsed_s: float) -> str:
    """``hh:mm:ss.s`` of a session time (s)."""
    minutes, seconds = divmod(max(0.0, elapsed_s), 60.0)
    hours, minutes = divmod(minutes, 60.0)
    return f"{int(hours):02d}:{int(minutes):02d}:{seconds:04.1f}"
