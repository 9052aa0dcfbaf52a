"""The PT's controls: target cadence, metronome, treadmill, baseline and markers.

The panel only emits signals; the window applies them to the live session and the
metronome. Every control has a keyboard shortcut (listed in ``SHORTCUTS`` and in each
control's tooltip), active anywhere in the window; typing in the note field is not taken
as shortcuts.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from dashboard.live_session import SpeedUnit

METRONOME_MODES = (("every", "every beat"), ("out_of_band", "only out of band"), ("faded", "faded"))
"""Metronome modes: (identifier, label)."""

SHORTCUTS: dict[str, str] = {
    "metronome on/off": "M",
    "mode: every beat": "1",
    "mode: only out of band": "2",
    "mode: faded": "3",
    "target +1 spm": "+",
    "target −1 spm": "-",
    "volume up": "]",
    "volume down": "[",
    "accent on/off": "A",
    "alternate left/right": "L",
    "capture baseline": "B",
    "record on/off": "R",
    "mark the moment (with the note)": "K",
    "treadmill speed +0.5": "Ctrl+Up",
    "treadmill speed −0.5": "Ctrl+Down",
    "incline +0.5 %": "Ctrl+Shift+Up",
    "incline −0.5 %": "Ctrl+Shift+Down",
}


class ControlPanel(QtWidgets.QWidget):
    """Controls of a live session; signals carry the PT's choices."""

    target_spm_changed = QtCore.Signal(float)
    target_percent_changed = QtCore.Signal(float)
    metronome_toggled = QtCore.Signal(bool)
    metronome_mode_changed = QtCore.Signal(str)
    volume_changed = QtCore.Signal(float)
    accent_changed = QtCore.Signal(int)
    alternate_changed = QtCore.Signal(bool)
    treadmill_changed = QtCore.Signal(float, object, float)
    baseline_requested = QtCore.Signal()
    record_toggled = QtCore.Signal(bool)
    marker_requested = QtCore.Signal(str)

    def __init__(
        self, *, target_spm: float = 170.0, parent: QtWidgets.QWidget | None = None
    ) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._target_group(target_spm))
        layout.addWidget(self._metronome_group())
        layout.addWidget(self._treadmill_group())
        layout.addWidget(self._session_group())
        layout.addStretch(1)
        self._install_shortcuts()

    # ---------------------------------------------------------------- groups
    def _target_group(self, target_spm: float) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Target cadence")
        form = QtWidgets.QFormLayout(box)
        self.target_mode = QtWidgets.QComboBox()
        self.target_mode.addItems(["absolute (spm)", "% over baseline"])
        self.target_spm = QtWidgets.QDoubleSpinBox()
        self.target_spm.setRange(60.0, 260.0)
        self.target_spm.setDecimals(0)
        self.target_spm.setSuffix(" spm")
        self.target_spm.setValue(target_spm)
        self.target_spm.setToolTip("target steps per minute (+/−)")
        self.target_percent = QtWidgets.QDoubleSpinBox()
        self.target_percent.setRange(-20.0, 20.0)
        self.target_percent.setDecimals(1)
        self.target_percent.setSingleStep(1.0)
        self.target_percent.setSuffix(" %")
        self.target_percent.setValue(5.0)
        self.target_percent.setEnabled(False)
        form.addRow("set as", self.target_mode)
        form.addRow("target", self.target_spm)
        form.addRow("over baseline", self.target_percent)
        self.target_mode.currentIndexChanged.connect(self._on_target_mode)
        self.target_spm.valueChanged.connect(self._emit_target)
        self.target_percent.valueChanged.connect(self._emit_target)
        return box

    def _metronome_group(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Metronome")
        form = QtWidgets.QFormLayout(box)
        row = QtWidgets.QHBoxLayout()
        self.metronome_button = QtWidgets.QPushButton("Metronome (M)")
        self.metronome_button.setCheckable(True)
        self.metronome_button.toggled.connect(self.metronome_toggled)
        self.beat_light = QtWidgets.QLabel("●")
        self.beat_light.setToolTip("flashes on every beat played")
        row.addWidget(self.metronome_button, 1)
        row.addWidget(self.beat_light)
        form.addRow(row)
        self.metronome_mode = QtWidgets.QComboBox()
        for key, label in METRONOME_MODES:
            self.metronome_mode.addItem(label, key)
        self.metronome_mode.setToolTip("1: every beat, 2: only out of band, 3: faded")
        self.metronome_mode.currentIndexChanged.connect(
            lambda i: self.metronome_mode_changed.emit(self.metronome_mode.itemData(i))
        )
        form.addRow("mode", self.metronome_mode)
        self.volume = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(70)
        self.volume.setToolTip("volume ([ and ])")
        self.volume.valueChanged.connect(lambda v: self.volume_changed.emit(v / 100.0))
        form.addRow("volume", self.volume)
        self.accent = QtWidgets.QSpinBox()
        self.accent.setRange(0, 16)
        self.accent.setValue(0)
        self.accent.setSpecialValueText("off")
        self.accent.setPrefix("every ")
        self.accent.setToolTip("accent every Nth beat (A toggles 4/off)")
        self.accent.valueChanged.connect(self.accent_changed)
        form.addRow("accent", self.accent)
        self.alternate = QtWidgets.QCheckBox("left/right (L)")
        self.alternate.toggled.connect(self.alternate_changed)
        form.addRow("alternate", self.alternate)
        self.audio_note = QtWidgets.QLabel("")
        self.audio_note.setWordWrap(True)
        self.audio_note.setObjectName("tileDetail")
        form.addRow(self.audio_note)
        return box

    def _treadmill_group(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Treadmill")
        form = QtWidgets.QFormLayout(box)
        speed_row = QtWidgets.QHBoxLayout()
        self.speed = QtWidgets.QDoubleSpinBox()
        self.speed.setRange(0.0, 40.0)
        self.speed.setDecimals(1)
        self.speed.setSingleStep(0.5)
        self.speed.setToolTip("treadmill speed (Ctrl+Up/Down)")
        self.speed_unit = QtWidgets.QComboBox()
        for unit in SpeedUnit:
            self.speed_unit.addItem(unit.value, unit)
        speed_row.addWidget(self.speed, 1)
        speed_row.addWidget(self.speed_unit)
        form.addRow("speed", speed_row)
        self.incline = QtWidgets.QDoubleSpinBox()
        self.incline.setRange(-15.0, 40.0)
        self.incline.setDecimals(1)
        self.incline.setSingleStep(0.5)
        self.incline.setSuffix(" %")
        self.incline.setToolTip("incline (Ctrl+Shift+Up/Down)")
        form.addRow("incline", self.incline)
        self.treadmill_apply = QtWidgets.QPushButton("Log treadmill setting")
        self.treadmill_apply.clicked.connect(self._emit_treadmill)
        form.addRow(self.treadmill_apply)
        return box

    def _session_group(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Session")
        form = QtWidgets.QFormLayout(box)
        self.record_button = QtWidgets.QPushButton("Record (R)")
        self.record_button.setCheckable(True)
        self.record_button.setToolTip("record the session: raw data, steps, beats and events")
        self.record_button.toggled.connect(self.record_toggled)
        self.record_status = QtWidgets.QLabel("not recording")
        self.record_status.setObjectName("tileDetail")
        self.record_status.setWordWrap(True)
        form.addRow(self.record_button)
        form.addRow(self.record_status)
        self.baseline_button = QtWidgets.QPushButton("Capture baseline (B)")
        self.baseline_button.clicked.connect(self.baseline_requested)
        self.baseline_progress = QtWidgets.QProgressBar()
        self.baseline_progress.setRange(0, 100)
        self.baseline_progress.setValue(0)
        self.baseline_progress.setFormat("baseline %p%")
        form.addRow(self.baseline_button)
        form.addRow(self.baseline_progress)
        self.note = QtWidgets.QLineEdit()
        self.note.setPlaceholderText("note (e.g. new shoes, fatigued)")
        self.note.returnPressed.connect(self._emit_marker)
        self.mark_button = QtWidgets.QPushButton("Mark moment (K)")
        self.mark_button.clicked.connect(self._emit_marker)
        form.addRow(self.note)
        form.addRow(self.mark_button)
        self.event_list = QtWidgets.QListWidget()
        self.event_list.setMaximumHeight(140)
        form.addRow(self.event_list)
        return box

    # ---------------------------------------------------------------- behaviour
    def _on_target_mode(self, index: int) -> None:
        percent = index == 1
        self.target_percent.setEnabled(percent)
        self.target_spm.setEnabled(not percent)
        self._emit_target()

    def _emit_target(self) -> None:
        if self.target_mode.currentIndex() == 1:
            self.target_percent_changed.emit(self.target_percent.value())
        else:
            self.target_spm_changed.emit(self.target_spm.value())

    def _emit_treadmill(self) -> None:
        self.treadmill_changed.emit(
            self.speed.value(), self.speed_unit.currentData(), self.incline.value()
        )

    def _emit_marker(self) -> None:
        self.marker_requested.emit(self.note.text())
        self.note.clear()

    def _step_target(self, delta: float) -> None:
        if self.target_mode.currentIndex() == 1:
            self.target_percent.setValue(self.target_percent.value() + delta)
        else:
            self.target_spm.setValue(self.target_spm.value() + delta)

    def _step_spin(self, spin: QtWidgets.QDoubleSpinBox, delta: float) -> None:
        spin.setValue(spin.value() + delta)
        self._emit_treadmill()

    def _install_shortcuts(self) -> None:
        actions = {
            "metronome on/off": self.metronome_button.toggle,
            "mode: every beat": lambda: self.metronome_mode.setCurrentIndex(0),
            "mode: only out of band": lambda: self.metronome_mode.setCurrentIndex(1),
            "mode: faded": lambda: self.metronome_mode.setCurrentIndex(2),
            "target +1 spm": lambda: self._step_target(1.0),
            "target −1 spm": lambda: self._step_target(-1.0),
            "volume up": lambda: self.volume.setValue(self.volume.value() + 10),
            "volume down": lambda: self.volume.setValue(self.volume.value() - 10),
            "accent on/off": lambda: self.accent.setValue(0 if self.accent.value() else 4),
            "alternate left/right": self.alternate.toggle,
            "capture baseline": self.baseline_button.click,
            "record on/off": self.record_button.toggle,
            "mark the moment (with the note)": self._emit_marker,
            "treadmill speed +0.5": lambda: self._step_spin(self.speed, 0.5),
            "treadmill speed −0.5": lambda: self._step_spin(self.speed, -0.5),
            "incline +0.5 %": lambda: self._step_spin(self.incline, 0.5),
            "incline −0.5 %": lambda: self._step_spin(self.incline, -0.5),
        }
        self.shortcuts: dict[str, QtGui.QShortcut] = {}
        for name, keys in SHORTCUTS.items():
            shortcut = QtGui.QShortcut(QtGui.QKeySequence(keys), self)
            shortcut.setContext(QtCore.Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(actions[name])
            self.shortcuts[name] = shortcut
        # "+" is Shift+= on most keyboards: accept both.
        plus = QtGui.QShortcut(QtGui.QKeySequence("="), self)
        plus.setContext(QtCore.Qt.ShortcutContext.WindowShortcut)
        plus.activated.connect(lambda: self._step_target(1.0))
        self.shortcuts["target +1 spm (=)"] = plus

    def show_event(self, text: str) -> None:
        """Append a logged event to the list (newest at the top)."""
        self.event_list.insertItem(0, text)
