"""The replay bar: play/pause, a position slider with the session time, and the speed.

It drives a replay controller (``dashboard.session.replay.ReplayController``) and reads its
position on a timer; it never waits on the player. Keys (anywhere in its window): Space
plays or pauses, Left/Right seek 5 s back or forward.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from PySide6 import QtCore, QtGui, QtWidgets

from dashboard.widgets.theme import MUTED

if TYPE_CHECKING:
    from dashboard.session.replay import ReplayController, ReplayEngine
    from dashboard.window import DashboardWindow

SPEEDS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
"""The speeds offered (recorded seconds per real second)."""
SEEK_STEP_S = 5.0
"""How far Left/Right seek (s)."""
_TICKS_PER_S = 10
"""Slider resolution: tenths of a second."""


class ReplayControl(Protocol):
    """What the bar needs of a replay controller."""

    @property
    def position_s(self) -> float: ...

    @property
    def duration_s(self) -> float: ...

    @property
    def speed(self) -> float: ...

    @property
    def playing(self) -> bool: ...

    @property
    def finished(self) -> bool: ...

    def toggle(self) -> None: ...

    def seek(self, t_s: float) -> None: ...

    def set_speed(self, speed: float) -> None: ...


def time_text(t_s: float) -> str:
    """``m:ss.s`` (or ``h:mm:ss``) of a session time (s)."""
    t_s = max(0.0, t_s)
    if t_s >= 3600.0:
        hours, rest = divmod(int(t_s), 3600)
        return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
    minutes, seconds = divmod(t_s, 60.0)
    return f"{int(minutes)}:{seconds:04.1f}"


class ReplayBar(QtWidgets.QWidget):
    """Play/pause button, position slider with the session time, speed choice.

    Args:
        controller: the replay to drive.
        refresh_ms: how often the position is read (ms).
    """

    def __init__(self, controller: ReplayControl, *, refresh_ms: int = 100) -> None:
        super().__init__()
        self.controller = controller
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        self.play_button = QtWidgets.QPushButton("Pause")
        self.play_button.setToolTip("play / pause (Space)")
        self.play_button.setFixedWidth(80)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setToolTip("session time (Left/Right: 5 s back/forward)")
        self.slider.setPageStep(round(SEEK_STEP_S * _TICKS_PER_S))
        self.slider.setSingleStep(_TICKS_PER_S)
        self.time_label = QtWidgets.QLabel("")
        self.time_label.setStyleSheet(f"color: {MUTED};")
        self.time_label.setMinimumWidth(130)
        self.speed_combo = QtWidgets.QComboBox()
        self.speed_combo.setToolTip("replay speed")
        for speed in SPEEDS:
            self.speed_combo.addItem(f"{speed:g}×", speed)
        layout.addWidget(self.play_button)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.time_label)
        layout.addWidget(self.speed_combo)
        self._select_speed(controller.speed)
        self.play_button.clicked.connect(self._toggle)
        self.slider.sliderReleased.connect(self._seek_to_slider)
        self.slider.actionTriggered.connect(self._slider_action)
        self.speed_combo.currentIndexChanged.connect(self._speed_chosen)
        self.shortcuts: dict[str, QtGui.QShortcut] = {}
        for name, key, action in (
            ("play/pause", QtCore.Qt.Key.Key_Space, self._toggle),
            ("back", QtCore.Qt.Key.Key_Left, lambda: self._seek_by(-SEEK_STEP_S)),
            ("forward", QtCore.Qt.Key.Key_Right, lambda: self._seek_by(SEEK_STEP_S)),
        ):
            shortcut = QtGui.QShortcut(QtGui.QKeySequence(key), self)
            shortcut.setContext(QtCore.Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(action)
            self.shortcuts[name] = shortcut
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(refresh_ms)
        self.refresh()

    def _select_speed(self, speed: float) -> None:
        index = self.speed_combo.findData(speed)
        if index < 0:
            self.speed_combo.addItem(f"{speed:g}×", speed)
            index = self.speed_combo.count() - 1
        self.speed_combo.blockSignals(True)
        self.speed_combo.setCurrentIndex(index)
        self.speed_combo.blockSignals(False)

    def _toggle(self) -> None:
        self.controller.toggle()
        self.refresh()

    def _seek_by(self, delta_s: float) -> None:
        self.controller.seek(self.controller.position_s + delta_s)
        self.refresh()

    def _seek_to_slider(self) -> None:
        self.controller.seek(self.slider.sliderPosition() / _TICKS_PER_S)
        self.refresh()

    def _slider_action(self, action: int) -> None:
        # Clicks on the groove and keys move the slider by steps; a drag seeks on release.
        if action != QtWidgets.QAbstractSlider.SliderAction.SliderMove.value:
            self._seek_to_slider()

    def _speed_chosen(self, index: int) -> None:
        speed = self.speed_combo.itemData(index)
        if isinstance(speed, float):
            self.controller.set_speed(speed)

    def refresh(self) -> None:
        """Show the controller's position, state and length."""
        c = self.controller
        end = c.duration_s
        self.slider.setMaximum(max(1, round(end * _TICKS_PER_S)))
        position = min(max(0.0, c.position_s), end)
        if not self.slider.isSliderDown():
            self.slider.blockSignals(True)
            self.slider.setValue(round(position * _TICKS_PER_S))
            self.slider.blockSignals(False)
        self.play_button.setText("Pause" if c.playing else "Play")
        state = " (end)" if c.finished else ""
        self.time_label.setText(f"{time_text(position)} / {time_text(end)}{state}")


def attach_replay_bar(window: DashboardWindow, controller: ReplayController) -> ReplayBar:
    """Put a replay bar under ``window``'s panels (a fixed bottom tool bar) and keep the
    window on the controller's current engine when a backward seek replaces it."""
    bar = ReplayBar(controller)
    toolbar = QtWidgets.QToolBar("Replay")
    toolbar.setObjectName("replay")
    toolbar.setMovable(False)
    toolbar.setFloatable(False)
    toolbar.addWidget(bar)
    window.addToolBar(QtCore.Qt.ToolBarArea.BottomToolBarArea, toolbar)

    def follow(engine: ReplayEngine) -> None:
        window.acquisition = engine.acquisition
        window.processing = engine.processing
        window.session = engine.session

    controller.on_rebuilt.append(follow)
    return bar
