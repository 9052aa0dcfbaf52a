"""Pressure maps: each insole's cells on a foot outline, coloured by pressure, with the
centre-of-pressure trail of the current contact.

Drawn as seen from above, toes up: the left foot's medial edge (big toe) on its right, the
right foot's on its left. Cell colours come from a fixed 256-entry lookup table over
explicit levels (0 to ``max_pressure_n_cm2``), so a colour always means the same pressure.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from calibration.insole_layout import InsoleLayout
from dashboard.widgets.theme import FOREGROUND, MUTED, SIDE_COLOUR
from dashboard.widgets.traces import StreamWindow, newest_stream
from firmware_bridge.samples import Side, StreamKind
from realtime.streams import StreamBuffers

FOOT_WIDTH_RATIO = 0.38
"""Drawn foot width as a fraction of its length."""

TRAIL_S = 0.6
"""Seconds of centre-of-pressure trail drawn (s)."""


def foot_outline(
    side: Side, n: int = 80
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """A closed foot outline in drawing units (length 1, heel at 0), shape ``(2·n+1,)`` each."""
    v = np.linspace(0.0, 1.0, n)
    # Half-widths (fractions of length) on the medial and lateral side along the foot.
    heel = np.sqrt(np.clip(v / 0.12, 0.0, 1.0))
    toes = np.sqrt(np.clip((1.0 - v) / 0.18, 0.0, 1.0))
    medial = (
        0.15
        + 0.05 * np.clip((v - 0.55) / 0.2, 0.0, 1.0)
        - 0.04 * np.exp(-(((v - 0.42) / 0.12) ** 2))
    )
    lateral = 0.16 + 0.035 * np.clip((v - 0.5) / 0.2, 0.0, 1.0)
    medial = medial * heel * toes
    lateral = lateral * heel * np.sqrt(np.clip((0.93 - v) / 0.2, 0.0, 1.0))
    sign = 1.0 if side == Side.LEFT else -1.0  # medial edge to the right for the left foot
    u = np.concatenate([sign * medial, -sign * lateral[::-1], [sign * medial[0]]])
    vv = np.concatenate([v, v[::-1], [v[0]]])
    return u, vv


def cell_positions(
    layout: InsoleLayout, side: Side
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Cell centres in drawing units: ``u`` across (medial side outward), ``v`` along."""
    sign = 1.0 if side == Side.LEFT else -1.0
    u = sign * (0.5 - layout.y) * FOOT_WIDTH_RATIO
    return u, np.asarray(layout.x, dtype=np.float64)


class PressureMaps(pg.GraphicsLayoutWidget):
    """Both insoles' pressure maps side by side.

    Args:
        max_pressure_n_cm2: pressure at the top of the colour scale (N/cm²).
        threshold_n: total force above which the foot counts as loaded for the trail (N).
    """

    def __init__(self, *, max_pressure_n_cm2: float = 30.0, threshold_n: float = 20.0) -> None:
        super().__init__()
        self.max_pressure_n_cm2 = max_pressure_n_cm2
        self.threshold_n = threshold_n
        lut = pg.colormap.get("inferno").getLookupTable(nPts=256, mode="qcolor")
        self._brushes = [QtGui.QBrush(colour) for colour in lut]
        self._windows: dict[str, StreamWindow] = {}
        self._layouts: dict[str, InsoleLayout] = {}
        self._areas: dict[str, npt.NDArray[np.float64]] = {}
        self.cells: dict[Side, list[QtWidgets.QGraphicsRectItem]] = {}
        self._views: dict[Side, pg.ViewBox] = {}
        self._shown_index: dict[Side, npt.NDArray[np.int64]] = {}
        self.trails: dict[Side, pg.PlotDataItem] = {}
        self.titles: dict[Side, pg.TextItem] = {}
        self.cell_pressure: dict[Side, npt.NDArray[np.float64]] = {}
        for col, side in enumerate((Side.LEFT, Side.RIGHT)):
            view = self.addViewBox(row=0, col=col, lockAspect=True, enableMouse=False)
            view.setRange(xRange=(-0.3, 0.3), yRange=(-0.05, 1.08), padding=0.0)
            u, v = foot_outline(side)
            view.addItem(pg.PlotDataItem(u, v, pen=pg.mkPen(MUTED, width=2)))
            self._views[side] = view
            trail = pg.PlotDataItem(pen=pg.mkPen(FOREGROUND, width=2), symbol=None)
            view.addItem(trail)
            title = pg.TextItem(side.name.lower(), color=SIDE_COLOUR[side], anchor=(0.5, 0.0))
            title.setPos(0.0, -0.01)
            view.addItem(title)
            self.cells[side] = []
            self.trails[side], self.titles[side] = trail, title

    def _place_cells(
        self,
        side: Side,
        u: npt.NDArray[np.float64],
        v: npt.NDArray[np.float64],
        size: npt.NDArray[np.float64],
    ) -> None:
        """One square per cell, centred on the cell (drawing units); brushes set later."""
        view = self._views[side]
        for item in self.cells[side]:
            view.removeItem(item)
        items = []
        for x, y, d in zip(u.tolist(), v.tolist(), size.tolist(), strict=True):
            item = QtWidgets.QGraphicsRectItem(x - d / 2, y - d / 2, d, d)
            item.setPen(QtGui.QPen(QtCore.Qt.PenStyle.NoPen))
            item.setBrush(self._brushes[0])
            view.addItem(item)
            items.append(item)
        self.cells[side] = items
        self._shown_index.pop(side, None)

    def update_from(self, buffers: StreamBuffers) -> None:
        """Redraw from the newest insole samples."""
        for side in (Side.LEFT, Side.RIGHT):
            stream_id = newest_stream(buffers, StreamKind.INSOLE, side)
            if stream_id is None:
                continue
            w = self._windows.get(stream_id)
            if w is None:
                info = buffers.info(stream_id)
                w = StreamWindow(info, TRAIL_S)
                self._windows[stream_id] = w
                layout = InsoleLayout.default(info.n_channels)
                self._layouts[stream_id] = layout
                u, v = cell_positions(layout, side)
                area = (
                    np.asarray(info.cell_area_cm2, dtype=np.float64)
                    if len(info.cell_area_cm2) == info.n_channels
                    else np.asarray(layout.area_cm2, dtype=np.float64)
                )
                self._place_cells(side, u, v, np.clip(np.sqrt(area) / 26.0, 0.04, 0.11))
                self._areas[stream_id] = area
            k = w.refresh(buffers[stream_id])
            if k == 0:
                continue
            layout = self._layouts[stream_id]
            area = self._areas[stream_id]
            force = w.values[-k:].astype(np.float64)
            pressure = np.clip(force[-1] / area, 0.0, None)
            self.cell_pressure[side] = pressure
            index = np.clip(pressure / self.max_pressure_n_cm2 * 255.0, 0, 255).astype(np.int64)
            shown = self._shown_index.get(side)
            for i in np.flatnonzero(shown != index) if shown is not None else range(len(index)):
                self.cells[side][i].setBrush(self._brushes[index[i]])
            self._shown_index[side] = index
            total = force.sum(axis=1)
            loaded = total > self.threshold_n
            if loaded[-1]:
                # Only the current contact: from the last unloaded sample on.
                start = k - int(np.argmin(loaded[::-1])) if not loaded.all() else 0
                f = force[start:]
                tot = total[start:, None]
                cop_x = (f * layout.x).sum(axis=1) / tot[:, 0]
                cop_y = (f * layout.y).sum(axis=1) / tot[:, 0]
                sign = 1.0 if side == Side.LEFT else -1.0
                self.trails[side].setData(sign * (0.5 - cop_y) * FOOT_WIDTH_RATIO, cop_x)
            else:
                self.trails[side].setData([], [])
