"""The device panel: connection state, battery, packet loss, clock drift and latency."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6 import QtCore, QtGui, QtWidgets

from dashboard.acquisition import DeviceRow
from dashboard.readouts import Level
from dashboard.widgets.theme import LEVEL_COLOUR

COLUMNS = ("device", "state", "battery", "loss %", "drift ppm", "latency ms", "rate Hz", "faults")


def row_texts(row: DeviceRow) -> tuple[str, ...]:
    """The cells of one device row, in ``COLUMNS`` order."""
    faults = row.corrupt + row.duplicate + row.late + row.resets + row.clock_steps
    return (
        row.stream_id if row.calibrated or row.rate_hz == 0 else f"{row.stream_id} (uncal.)",
        row.state,
        "—" if row.battery_pct is None else f"{row.battery_pct} %",
        f"{row.loss_pct:.2f}",
        f"{row.drift_ppm:+.1f}",
        f"{row.latency_ms:.1f}",
        f"{row.rate_hz:.0f}",
        str(faults),
    )


def row_level(row: DeviceRow) -> Level:
    """Green when connected and losing < 1 % of packets, amber for more loss, grey when
    silent, reconnecting or closed."""
    if row.state != "connected":
        return Level.STALE
    return Level.OK if row.loss_pct < 1.0 else Level.WARN


class DeviceTable(QtWidgets.QTableWidget):
    """One row per device (or per port still waiting for its device's hello)."""

    def __init__(self) -> None:
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.setWordWrap(False)
        self._shown: list[tuple[tuple[str, ...], Level]] = []

    def update_rows(self, rows: list[DeviceRow], issues: Mapping[str, str] | None = None) -> None:
        """Show ``rows``; cells are only touched when their text changes. ``issues`` maps a
        stream id to its sensor problem (one line), shown amber in the state column."""
        issues = issues or {}
        wanted = []
        for device in rows:
            texts, level = row_texts(device), row_level(device)
            problem = issues.get(device.stream_id)
            if problem is not None:
                texts = (texts[0], f"{texts[1]} ⚠ {problem}", *texts[2:])
                if level is Level.OK:
                    level = Level.WARN
            wanted.append((texts, level))
        if len(wanted) != self.rowCount():
            self.setRowCount(len(wanted))
            self._shown = [((), Level.NEUTRAL)] * len(wanted)
        for r, (texts, level) in enumerate(wanted):
            if self._shown[r] == (texts, level):
                continue
            colour = QtGui.QColor(LEVEL_COLOUR[level])
            for c, text in enumerate(texts):
                item = self.item(r, c)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    if c:
                        item.setTextAlignment(
                            QtCore.Qt.AlignmentFlag.AlignRight
                            | QtCore.Qt.AlignmentFlag.AlignVCenter
                        )
                    self.setItem(r, c, item)
                item.setText(text)
                if c == 1 or level is Level.STALE:
                    item.setForeground(colour)
                else:
                    item.setForeground(QtGui.QColor(LEVEL_COLOUR[Level.NEUTRAL]))
            self._shown[r] = (texts, level)

    def state_of(self, device: str) -> str:
        """The state text shown for ``device`` (a stream id prefix), '' when absent."""
        for r in range(self.rowCount()):
            item = self.item(r, 0)
            if item is not None and item.text().startswith(device):
                state = self.item(r, 1)
                return "" if state is None else state.text()
        return ""
