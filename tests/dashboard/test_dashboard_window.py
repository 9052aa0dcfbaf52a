"""The dashboard window, rendered offscreen: numbers, colours, traces, maps, controls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui
from pytestqt.qtbot import QtBot

from dashboard.live_session import EventKind, LiveSession
from dashboard.readouts import NO_VALUE, Level
from dashboard.recording import RecordingControl
from dashboard.widgets.number_tile import NumberTile
from dashboard.widgets.theme import LEVEL_COLOUR
from dashboard.window import DashboardConfig, DashboardWindow, MetronomeControl
from firmware_bridge.samples import Side
from tests.dashboard.replaying import Replay


def _window(
    qtbot: QtBot,
    replay: Replay,
    *,
    session: LiveSession | None = None,
    metronome: MetronomeControl | None = None,
    recording: RecordingControl | None = None,
    **config: object,
) -> DashboardWindow:
    session = session or LiveSession(clock=replay.clock, baseline_s=5.0)
    window = DashboardWindow(
        replay.acquisition,
        replay.processing,
        session,
        metronome=metronome,
        recording=recording,
        config=DashboardConfig(**config),  # type: ignore[arg-type]
    )
    window.timer.stop()  # the test drives the frames
    qtbot.addWidget(window)
    window.resize(1600, 900)
    with qtbot.waitExposed(window):
        window.show()
    with qtbot.waitActive(window):
        window.activateWindow()
    return window


def _run(window: DashboardWindow, replay: Replay, until_s: float, frame_s: float = 0.1) -> None:
    t = replay.clock.now_s
    while t < until_s - 1e-9:
        t = min(until_s, t + frame_s)
        replay.play_until(t)
        window.refresh(everything=True)


def _share_of_colour(tile: NumberTile, colour: str) -> float:
    """Share of the value label's pixels close to ``colour``."""
    image = tile._value.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    width, height = image.width(), image.height()
    ptr = image.constBits()
    pixels = np.frombuffer(ptr, dtype=np.uint8, count=width * height * 4).reshape(height, width, 4)
    want = QtGui.QColor(colour)
    target = np.array([want.blue(), want.green(), want.red()], dtype=np.int16)
    close = np.abs(pixels[:, :, :3].astype(np.int16) - target).sum(axis=2) < 40
    return float(close.mean())


def test_tiles_show_the_numbers_the_pipeline_produced(qtbot: QtBot, replay: Replay) -> None:
    window = _window(qtbot, replay, target_spm=170.0)
    _run(window, replay, 15.0)
    window.refresh(everything=True)
    m = replay.processing.view().metrics
    assert window.cadence_tile.value_text() == f"{m.cadence_spm:.0f} spm"
    for side in (Side.LEFT, Side.RIGHT):
        s = m.side(side)
        assert window.gct_tiles[side].value_text() == f"{s.gct_ms_mean:.0f} ms"
        assert window.flight_tiles[side].value_text() == f"{s.flight_ms_mean:.0f} ms"
        assert window.impact_tiles[side].value_text() == f"{s.peak_accel_g_mean:.1f} g"
    left = m.gct_balance_left_pct
    assert window.balance_tile.value_text() == f"{left:.1f} / {100 - left:.1f} %"


def test_band_colours_follow_the_target(qtbot: QtBot, replay: Replay) -> None:
    window = _window(qtbot, replay, target_spm=170.0)
    _run(window, replay, 12.0)
    window.refresh(everything=True)
    tile = window.cadence_tile
    assert tile.readout.level is Level.OK
    green = LEVEL_COLOUR[Level.OK]
    red = LEVEL_COLOUR[Level.ALERT]
    assert _share_of_colour(tile, green) > 0.01
    assert _share_of_colour(tile, red) == 0.0
    window.controls.target_spm.setValue(150.0)  # 20 spm below the runner: red
    _run(window, replay, 12.5)
    window.refresh(everything=True)
    assert tile.readout.level is Level.ALERT
    assert _share_of_colour(tile, red) > 0.01
    assert _share_of_colour(tile, green) == 0.0


def test_numbers_grey_out_when_the_data_stops(qtbot: QtBot, replay: Replay) -> None:
    window = _window(qtbot, replay, target_spm=170.0)
    _run(window, replay, 10.0)
    window.refresh(everything=True)
    assert window.gct_tiles[Side.LEFT].value_text() != NO_VALUE
    # No new data (the devices went silent); only the clock moves on.
    last = max(replay.processing.view().last_step_s.values())
    replay.clock.now_s = last + 2.05
    window.refresh(everything=True)
    for tile in (window.cadence_tile, window.balance_tile, *window.gct_tiles.values()):
        assert tile.value_text() == NO_VALUE
        assert tile.readout.level is Level.STALE
    grey = LEVEL_COLOUR[Level.STALE]
    assert _share_of_colour(window.cadence_tile, grey) > 0.005


def test_traces_show_the_signals_with_a_marker_per_contact(qtbot: QtBot, replay: Replay) -> None:
    window = _window(qtbot, replay)
    _run(window, replay, 12.0)
    traces = window.traces
    now = replay.clock.now_s
    steps = replay.processing.view().recent_steps
    for side in (Side.LEFT, Side.RIGHT):
        x, y = traces.curves[("force", side)].getData()
        assert x is not None
        assert x.min() == pytest.approx(-traces.window_s, abs=0.05)
        assert x.max() <= 0.0
        assert y.max() > 500.0  # a running contact loads well over 500 N
        shown = [s for s in steps if s.side == side and s.to_s >= now - traces.window_s]
        ic_x, _ = traces.ic_markers[side].getData()
        assert len(ic_x) == 2 * len(shown)
        assert np.allclose(ic_x[::2], [s.ic_s - now for s in shown])
        px, _ = traces.curves[("pitch", side)].getData()
        assert px is not None
        assert len(px) > 1000


def test_pressure_map_colours_the_loaded_cells(qtbot: QtBot, replay: Replay) -> None:
    window = _window(qtbot, replay)
    _run(window, replay, 6.0)
    # Find a moment where the right foot is loaded.
    for _ in range(40):
        _run(window, replay, replay.clock.now_s + 0.02, frame_s=0.02)
        pressure = window.maps.cell_pressure.get(Side.RIGHT)
        if pressure is not None and pressure.max() > 5.0:
            break
    assert pressure is not None
    cells = window.maps.cells[Side.RIGHT]
    lightness = [cells[i].brush().color().lightness() for i in range(len(cells))]
    assert int(np.argmax(lightness)) == int(np.argmax(pressure))
    assert min(lightness) < max(lightness)


def test_controls_log_timed_events_and_shortcuts_work(qtbot: QtBot, replay: Replay) -> None:
    window = _window(qtbot, replay, target_spm=170.0)
    _run(window, replay, 3.0)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_B)
    assert window.session.baseline_capturing
    window.controls.note.setText("new shoes")
    qtbot.keyClick(window.controls.note, QtCore.Qt.Key.Key_Return)
    assert window.session.events[-1].kind is EventKind.MARKER
    assert window.session.events[-1].text == "new shoes"
    qtbot.keyClick(window, QtCore.Qt.Key.Key_K)
    assert window.session.events[-1].text == "marker"
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Up, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert window.session.events[-1].kind is EventKind.TREADMILL
    assert window.processing.pipeline.metrics.speed_m_s == pytest.approx(0.5 / 3.6)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Plus)
    assert window.session.target_spm == 171.0
    assert window.controls.event_list.count() >= 5
    _run(window, replay, 10.0)
    window.refresh(everything=True)
    assert not window.session.baseline_capturing
    assert window.controls.baseline_progress.value() == 100
    assert window.baseline_table.text_at("cadence", "baseline") != "—"


def test_screenshot_is_a_rendered_png(qtbot: QtBot, replay: Replay, tmp_path: Path) -> None:
    window = _window(qtbot, replay, target_spm=170.0)
    _run(window, replay, 8.0)
    path = tmp_path / "dashboard.png"
    assert window.screenshot(str(path))
    image = QtGui.QImage(str(path))
    assert image.width() == window.width()
    colours = {
        image.pixel(x, y) for x in range(0, image.width(), 37) for y in range(0, image.height(), 29)
    }
    assert len(colours) > 20  # plots, numbers and tables, not a blank window


def test_controls_drive_the_metronome(qtbot: QtBot, replay: Replay) -> None:
    from dashboard.metronome import CueMode
    from dashboard.metronome_control import LiveMetronome

    metronome = LiveMetronome(clock=replay.clock, target_spm=170.0)
    window = _window(qtbot, replay, metronome=metronome, target_spm=170.0)
    try:
        _run(window, replay, 4.0)
        assert not metronome.enabled
        qtbot.keyClick(window, QtCore.Qt.Key.Key_M)
        assert metronome.enabled
        assert window.session.events[-1].text == "metronome on"
        window.controls.target_spm.setValue(176.0)
        assert metronome.settings.bpm == 176.0
        engine = metronome.engine
        assert engine is not None
        assert engine.settings.bpm == 176.0
        qtbot.keyClick(window, QtCore.Qt.Key.Key_2)
        assert metronome.settings.mode is CueMode.OUT_OF_BAND
        window.controls.volume.setValue(30)
        assert metronome.settings.volume == pytest.approx(0.3)
        qtbot.keyClick(window, QtCore.Qt.Key.Key_A)
        assert metronome.settings.accent_every == 4
        qtbot.keyClick(window, QtCore.Qt.Key.Key_1)
        # Beats arrive in host time as the clock moves; the beat light follows them.
        _run(window, replay, 8.0, frame_s=0.02)
        adherence = window.session.adherence()
        assert adherence is not None
        assert adherence.n_beats_matched > 0
        lit = [
            window.controls.beat_light.property("lit")
            for _ in range(30)
            if (_run(window, replay, replay.clock.now_s + 0.02, frame_s=0.02) is None)
        ]
        assert any(lit)
        assert not all(lit)
        qtbot.keyClick(window, QtCore.Qt.Key.Key_M)
        assert not metronome.enabled
    finally:
        metronome.close()


def test_record_button_writes_a_session_that_opens(
    qtbot: QtBot, replay: Replay, tmp_path: Path
) -> None:
    from dashboard.session.reader import load_session

    session = LiveSession(clock=replay.clock)
    control = RecordingControl(
        replay.acquisition, session, clock=replay.clock, folder=tmp_path, source="simulated"
    )
    window = _window(qtbot, replay, session=session, recording=control, target_spm=170.0)
    _run(window, replay, 3.0)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_R)
    assert control.recording
    directory = control.last_directory
    assert directory is not None
    assert directory.parent == tmp_path
    window.controls.note.setText("fatigued")
    qtbot.keyClick(window.controls.note, QtCore.Qt.Key.Key_Return)
    before = replay.processing.view().n_steps
    _run(window, replay, 9.0)
    window.refresh(everything=True)
    assert window.controls.record_status.text().startswith("● REC")
    recorded_steps = replay.processing.view().n_steps - before
    qtbot.keyClick(window, QtCore.Qt.Key.Key_R)
    assert not control.recording
    opened = load_session(directory)
    assert len(opened.devices) == len(replay.recording.infos)  # streams already running
    assert abs(len(opened.live_steps) - recorded_steps) <= 1
    assert any(e.text == "fatigued" and e.kind == "marker" for e in opened.events)
    assert oct(directory.stat().st_mode & 0o777) == "0o700"
