"""The replay bar drives a real replay controller (offscreen Qt)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from PySide6 import QtWidgets

from dashboard.live_session import LiveSession
from dashboard.session.reader import Session, load_session
from dashboard.session.replay import ReplayController
from dashboard.session.simulated import record_simulated
from dashboard.widgets.replay_bar import SPEEDS, ReplayBar, attach_replay_bar, time_text
from dashboard.window import DashboardConfig, DashboardWindow
from firmware_bridge.simulator.session import SimulationConfig


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """12 s of the simulated runner."""
    path = record_simulated(
        SimulationConfig(duration_s=12.0, seed=32),
        tmp_path_factory.mktemp("replay-bar") / "session",
        detect=False,
    )
    return load_session(path)


@pytest.fixture
def controller(session: Session) -> Iterator[ReplayController]:
    controller = ReplayController(session, speed=1.0)
    yield controller
    controller.close()


def _until(qtbot: object, predicate: Callable[[], bool], timeout_ms: int = 10_000) -> None:
    qtbot.waitUntil(predicate, timeout=timeout_ms)  # type: ignore[attr-defined]


def test_bar_plays_pauses_seeks_and_sets_the_speed(
    qtbot: object, controller: ReplayController
) -> None:
    bar = ReplayBar(controller, refresh_ms=20)
    qtbot.addWidget(bar)  # type: ignore[attr-defined]
    controller.start(paused=True)
    bar.refresh()
    assert bar.play_button.text() == "Play"
    assert bar.time_label.text() == f"0:00.0 / {time_text(controller.duration_s)}"

    bar.play_button.click()
    assert controller.playing
    _until(qtbot, lambda: bar.play_button.text() == "Pause")
    _until(qtbot, lambda: controller.position_s > 0.2)
    bar.play_button.click()
    assert not controller.playing
    paused_at = controller.position_s
    time.sleep(0.1)
    assert controller.position_s == paused_at

    bar.speed_combo.setCurrentIndex(SPEEDS.index(5.0))
    assert controller.speed == 5.0

    # A drag ends on release: seek there.
    bar.slider.setSliderDown(True)
    bar.slider.setSliderPosition(80)  # 8.0 s
    bar.slider.setSliderDown(False)
    assert controller.wait_settled(10.0)
    assert controller.position_s == pytest.approx(8.0)
    _until(qtbot, lambda: bar.slider.value() == 80)
    assert bar.time_label.text().startswith("0:08.0 / ")

    # Keys: Left seeks 5 s back (a rebuilt pipeline), Space plays.
    assert [s.key().toString() for s in bar.shortcuts.values()] == ["Space", "Left", "Right"]
    bar.shortcuts["back"].activated.emit()
    assert controller.wait_settled(10.0)
    assert controller.position_s == pytest.approx(3.0)
    bar.shortcuts["play/pause"].activated.emit()
    assert controller.playing
    _until(qtbot, lambda: controller.position_s > 4.0)


def test_bar_in_the_dashboard_follows_a_rebuilt_pipeline(
    qtbot: object, controller: ReplayController
) -> None:
    engine = controller.engine
    window = DashboardWindow(
        engine.acquisition, engine.processing, engine.session, config=DashboardConfig()
    )
    qtbot.addWidget(window)  # type: ignore[attr-defined]
    bar = attach_replay_bar(window, controller)
    assert window.findChild(ReplayBar) is bar
    controller.start(paused=True)
    controller.seek(9.0)
    assert controller.wait_settled(10.0)
    window.refresh(everything=True)
    steps_late = window.processing.view().n_steps
    assert steps_late > 15
    controller.seek(2.0)  # back: a fresh pipeline, which the window now shows
    assert controller.wait_settled(10.0)
    assert window.processing is controller.processing
    assert window.acquisition is controller.acquisition
    assert isinstance(window.session, LiveSession)
    assert window.session is controller.engine.session
    window.refresh(everything=True)
    assert window.processing.view().n_steps < steps_late
    assert window.device_table.rowCount() == 4
    assert isinstance(window.findChild(QtWidgets.QToolBar, "replay"), QtWidgets.QToolBar)
