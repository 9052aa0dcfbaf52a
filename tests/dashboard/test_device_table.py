"""The device panel: states, loss colours and sensor problems."""

from __future__ import annotations

from PySide6 import QtGui
from pytestqt.qtbot import QtBot

from dashboard.acquisition import DeviceRow
from dashboard.readouts import Level
from dashboard.widgets.device_table import DeviceTable
from dashboard.widgets.theme import LEVEL_COLOUR


def _row(stream_id: str, state: str = "connected", loss_pct: float = 0.0) -> DeviceRow:
    return DeviceRow(
        "/dev/pts/3",
        stream_id,
        state,
        200.0,
        True,
        100,
        200,
        loss_pct,
        0,
        0,
        0,
        0,
        0,
        12.0,
        9.5,
        80,
    )


def test_a_sensor_problem_turns_its_row_amber(qtbot: QtBot) -> None:
    table = DeviceTable()
    qtbot.addWidget(table)
    table.update_rows(
        [_row("insole-left-1"), _row("imu-left-2"), _row("insole-right-3", state="silent")],
        {"insole-left-1": "dead cell"},
    )
    assert table.state_of("insole-left-1") == "connected ⚠ dead cell"
    assert table.state_of("imu-left-2") == "connected"
    state_item = table.item(0, 1)
    assert state_item is not None
    assert state_item.foreground().color() == QtGui.QColor(LEVEL_COLOUR[Level.WARN])
    silent = table.item(2, 1)
    assert silent is not None
    assert silent.foreground().color() == QtGui.QColor(LEVEL_COLOUR[Level.STALE])
    table.update_rows([_row("insole-left-1"), _row("imu-left-2")])  # the problem cleared
    assert table.state_of("insole-left-1") == "connected"
    assert table.rowCount() == 2
