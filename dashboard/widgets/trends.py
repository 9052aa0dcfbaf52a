"""Session trends (cadence with the target band, contact-time balance) and the table of
baseline against now."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from dashboard.live_session import LiveSession
from dashboard.readouts import Bands, Level
from dashboard.widgets.theme import FOREGROUND, LEVEL_COLOUR, MUTED, TARGET_BAND_BRUSH


class TrendPanel(pg.GraphicsLayoutWidget):
    """Cadence and GCT balance per step over the session, time in minutes from the start
    (the session's bounded trends: evenly decimated once a long session fills them)."""

    def __init__(self, *, bands: Bands) -> None:
        super().__init__()
        self.bands = bands
        self.cadence_plot = self.addPlot(row=0, col=0)
        self.cadence_plot.setLabel("left", "cadence", units="spm")
        self.balance_plot = self.addPlot(row=1, col=0)
        self.balance_plot.setLabel("left", "GCT balance L", units="%")
        self.balance_plot.setLabel("bottom", "session time (min)")
        self.balance_plot.setXLink(self.cadence_plot)
        for plot in (self.cadence_plot, self.balance_plot):
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.hideButtons()
            plot.setMouseEnabled(x=False, y=False)
            for axis in ("left", "bottom"):
                plot.getAxis(axis).enableAutoSIPrefix(False)
        self.target_band = pg.LinearRegionItem(
            orientation="horizontal", movable=False, brush=pg.mkBrush(*TARGET_BAND_BRUSH)
        )
        self.target_band.setVisible(False)
        self.cadence_plot.addItem(self.target_band)
        self.cadence_curve = self.cadence_plot.plot(pen=pg.mkPen(FOREGROUND, width=1.5))
        self.balance_curve = self.balance_plot.plot(pen=pg.mkPen(FOREGROUND, width=1.5))
        green, amber = bands.balance_green_max_pct, bands.balance_amber_max_pct
        for level, limit in ((Level.OK, green), (Level.WARN, amber)):
            pen = pg.mkPen(LEVEL_COLOUR[level], style=QtCore.Qt.PenStyle.DashLine)
            self.balance_plot.addLine(y=limit, pen=pen)
            self.balance_plot.addLine(y=100.0 - limit, pen=pen)
        self.balance_plot.addLine(y=50.0, pen=pg.mkPen(MUTED))
        self.balance_plot.setYRange(100.0 - amber - 2.0, amber + 2.0)
        self._start_s: float | None = None
        self._drawn = -1

    def update_from(self, session: LiveSession) -> None:
        """Redraw when new steps arrived (or the target changed)."""
        target = session.target_spm
        if target is not None:
            band = self.bands.cadence_band_spm
            self.target_band.setRegion((target - band, target + band))
            self.target_band.setVisible(True)
        trend = session.cadence_trend
        revision = trend.revision + session.balance_trend.revision
        if revision == self._drawn or len(trend) == 0:
            return
        self._drawn = revision
        t = trend.t_s
        if self._start_s is None:
            self._start_s = float(t[0])
        minutes = (t - self._start_s) / 60.0
        self.cadence_curve.setData(minutes, session.cadence_trend.values, connect="finite")
        self.balance_curve.setData(minutes, session.balance_trend.values, connect="finite")


_COMPARED = (
    ("cadence_spm", "cadence", "spm", ".1f"),
    ("left_gct_ms_mean", "GCT left", "ms", ".0f"),
    ("right_gct_ms_mean", "GCT right", "ms", ".0f"),
    ("gct_balance_left_pct", "GCT balance left", "%", ".1f"),
    ("left_flight_ms_mean", "flight left", "ms", ".0f"),
    ("right_flight_ms_mean", "flight right", "ms", ".0f"),
    ("left_peak_force_n_mean", "peak force left", "N", ".0f"),
    ("right_peak_force_n_mean", "peak force right", "N", ".0f"),
    ("left_peak_accel_g_mean", "peak accel left", "g", ".1f"),
    ("right_peak_accel_g_mean", "peak accel right", "g", ".1f"),
    ("step_time_cv_pct", "step time CV", "%", ".1f"),
)


def _fmt(value: float, fmt: str) -> str:
    return format(value, fmt) if math.isfinite(value) else "—"


class BaselineTable(QtWidgets.QTableWidget):
    """Baseline, now and change for the main metrics."""

    def __init__(self) -> None:
        super().__init__(len(_COMPARED), 4)
        self.setHorizontalHeaderLabels(["metric", "baseline", "now", "change"])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.setWordWrap(False)
        for row, (_, label, unit, _) in enumerate(_COMPARED):
            self.setItem(row, 0, QtWidgets.QTableWidgetItem(f"{label} ({unit})"))
            for col in (1, 2, 3):
                item = QtWidgets.QTableWidgetItem("—")
                item.setTextAlignment(
                    QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter
                )
                self.setItem(row, col, item)

    def update_from(self, session: LiveSession) -> None:
        changes = session.compare_to_baseline()
        if not changes:
            return
        for row, (name, _, unit, fmt) in enumerate(_COMPARED):
            change = changes.get(name)
            if change is None:
                continue
            self._set(row, 1, _fmt(change.baseline, fmt))
            self._set(row, 2, _fmt(change.current, fmt))
            if unit == "%":
                text = f"{change.change:+.1f} pt" if math.isfinite(change.change) else "—"
            else:
                text = f"{change.change_pct:+.1f} %" if math.isfinite(change.change_pct) else "—"
            self._set(row, 3, text)

    def _set(self, row: int, col: int, text: str) -> None:
        item = self.item(row, col)
        if item is not None and item.text() != text:
            item.setText(text)

    def text_at(self, row_label: str, column: str) -> str:
        """The text shown for metric ``row_label`` in ``column`` (for views and tests)."""
        col = ["metric", "baseline", "now", "change"].index(column)
        for row in range(self.rowCount()):
            item = self.item(row, 0)
            if item is not None and item.text().startswith(row_label):
                cell = self.item(row, col)
                return "" if cell is None else cell.text()
        raise KeyError(row_label)
