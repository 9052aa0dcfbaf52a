"""The last seconds of signal: insole force per side with contact markers, and the IMU's
pitch rate and vertical acceleration.

One ``GraphicsLayoutWidget`` (one viewport) with three plots sharing the time axis, in
seconds before now. Each stream keeps fixed-size arrays that the ring buffer copies into
(``RingBuffer.copy_latest``, no allocation); gaps the bridge marked break the line instead
of being drawn across.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg

from dashboard.widgets.theme import MUTED, SIDE_COLOUR
from firmware_bridge.samples import Side, StreamInfo, StreamKind
from realtime.events import Step
from realtime.ringbuffer import RingBuffer
from realtime.streams import StreamBuffers

GYR_PITCH = 4
"""Column of the pitch (sagittal, y-axis) angular rate in an IMU block (deg/s)."""
ACC_VERTICAL = 2
"""Column of the vertical (z-axis) acceleration in an IMU block (g)."""


class StreamWindow:
    """Fixed arrays holding the newest ``window_s`` seconds of one stream.

    Args:
        info: the stream.
        window_s: seconds kept (s).
    """

    def __init__(self, info: StreamInfo, window_s: float) -> None:
        m = max(2, round(info.rate_hz * window_s))
        self.info = info
        self.t_s = np.zeros(m, dtype=np.float64)
        self.values = np.zeros((m, info.n_channels), dtype=np.float32)
        self.gap_s = np.zeros(m, dtype=np.float32)
        self.valid = 0

    def refresh(self, buffer: RingBuffer) -> int:
        """Copy the newest samples in; return how many rows at the end are valid."""
        self.valid = buffer.copy_latest(self.t_s, self.values, self.gap_s)
        return self.valid

    def connect(self) -> str | npt.NDArray[np.bool_]:
        """How the line joins the valid samples: ``"all"`` without gaps (the fast path),
        otherwise per sample whether it continues to the next one."""
        k = self.valid
        if k < 2 or not self.gap_s[-k + 1 :].any():
            return "all"
        out = np.ones(k, dtype=np.bool_)
        out[:-1] = self.gap_s[-k + 1 :] == 0.0
        return out


def newest_stream(buffers: StreamBuffers, kind: StreamKind, side: Side) -> str | None:
    """The newest stream of ``kind`` on ``side`` (a rebooted device gets a new one)."""
    found = None
    for stream_id in buffers.stream_ids():
        info = buffers.info(stream_id)
        if info.kind == kind and info.side == side:
            found = stream_id
    return found


def _ticks(
    x: npt.NDArray[np.float64], y0: float, y1: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Vertical segments from ``y0`` to ``y1`` at each ``x``, as pairs of points."""
    return np.repeat(x, 2), np.tile([y0, y1], len(x)).astype(np.float64)


def sticky_range(
    current: tuple[float, float] | None, lo: float, hi: float, *, pad: float = 0.08
) -> tuple[float, float]:
    """A y range for data spanning ``[lo, hi]`` that changes only when it must.

    The range grows as soon as data leaves it and shrinks only when the data uses less
    than half of it, so the axes (whose redraw is the costliest part of a frame) stay
    still from frame to frame.
    """
    span = max(hi - lo, 1e-6)
    if current is not None:
        c_lo, c_hi = current
        if c_lo <= lo and hi <= c_hi and (hi - lo) >= 0.5 * (c_hi - c_lo):
            return current
    return (lo - pad * span, hi + pad * span)


class TracePanel(pg.GraphicsLayoutWidget):
    """Force, pitch rate and vertical acceleration over the last ``window_s`` seconds.

    Args:
        window_s: seconds shown (s).
        threshold_n: insole contact threshold (N), drawn as a dashed line.
    """

    def __init__(self, *, window_s: float = 8.0, threshold_n: float = 20.0) -> None:
        super().__init__()
        self.window_s = window_s
        self._windows: dict[str, StreamWindow] = {}
        self.force_plot = self._plot(0, "Insole force", "N")
        self.pitch_plot = self._plot(1, "IMU pitch rate", "deg/s")
        self.accel_plot = self._plot(2, "IMU vertical acceleration", "g")
        self.accel_plot.setLabel("bottom", "time", units="s")
        for plot in (self.pitch_plot, self.accel_plot):
            plot.setXLink(self.force_plot)
        self.force_plot.addLine(
            y=threshold_n, pen=pg.mkPen(MUTED, style=pg.QtCore.Qt.PenStyle.DashLine)
        )
        self.curves: dict[tuple[str, Side], pg.PlotDataItem] = {}
        self.ic_markers: dict[Side, pg.PlotCurveItem] = {}
        self.to_markers: dict[Side, pg.PlotCurveItem] = {}
        for side in (Side.LEFT, Side.RIGHT):
            colour = SIDE_COLOUR[side]
            for name, plot in (
                ("force", self.force_plot),
                ("pitch", self.pitch_plot),
                ("accel", self.accel_plot),
            ):
                curve = plot.plot(pen=pg.mkPen(colour, width=1), name=side.name.lower())
                curve.setClipToView(True)
                curve.setDownsampling(auto=True, method="peak")
                self.curves[(name, side)] = curve
            # Contact markers as short vertical ticks (one cheap path per side): IC solid
            # and tall, TO thin and short.
            self.ic_markers[side] = pg.PlotCurveItem(pen=pg.mkPen(colour, width=2), connect="pairs")
            self.to_markers[side] = pg.PlotCurveItem(pen=pg.mkPen(colour, width=1), connect="pairs")
            self.force_plot.addItem(self.ic_markers[side])
            self.force_plot.addItem(self.to_markers[side])
        self._threshold_n = threshold_n
        self._y_ranges: dict[str, tuple[float, float]] = {}

    def _plot(self, row: int, title: str, units: str) -> pg.PlotItem:
        plot = self.addPlot(row=row, col=0)
        plot.setLabel("left", title, units=units)
        plot.setXRange(-self.window_s, 0.0, padding=0.0)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.getViewBox().disableAutoRange()
        for axis in ("left", "bottom"):
            item = plot.getAxis(axis)
            item.enableAutoSIPrefix(False)
            # Axes change only when the range does: paint them from a cached pixmap.
            item.setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        return plot

    def update_from(self, buffers: StreamBuffers, steps: Sequence[Step], now_s: float) -> None:
        """Redraw from the ring buffers and the newest steps at host time ``now_s`` (s)."""
        extent = {name: [np.inf, -np.inf] for name in ("force", "pitch", "accel")}

        def widen(name: str, values: npt.NDArray[np.float32]) -> None:
            e = extent[name]
            e[0] = min(e[0], float(values.min()))
            e[1] = max(e[1], float(values.max()))

        for side in (Side.LEFT, Side.RIGHT):
            insole = newest_stream(buffers, StreamKind.INSOLE, side)
            imu = newest_stream(buffers, StreamKind.IMU, side)
            if insole is not None:
                w = self._window(buffers, insole)
                k = w.refresh(buffers[insole])
                if k:
                    total = w.values[-k:].sum(axis=1)
                    self.curves[("force", side)].setData(
                        w.t_s[-k:] - now_s, total, connect=w.connect()
                    )
                    widen("force", total)
            if imu is not None:
                w = self._window(buffers, imu)
                k = w.refresh(buffers[imu])
                if k:
                    x = w.t_s[-k:] - now_s
                    connect = w.connect()
                    self.curves[("pitch", side)].setData(
                        x, w.values[-k:, GYR_PITCH], connect=connect
                    )
                    self.curves[("accel", side)].setData(
                        x, w.values[-k:, ACC_VERTICAL], connect=connect
                    )
                    widen("pitch", w.values[-k:, GYR_PITCH])
                    widen("accel", w.values[-k:, ACC_VERTICAL])
            shown = [s for s in steps if s.side == side and s.to_s >= now_s - self.window_s]
            ic = np.fromiter((s.ic_s for s in shown), np.float64, len(shown)) - now_s
            to = np.fromiter((s.to_s for s in shown), np.float64, len(shown)) - now_s
            top = self._y_ranges.get("force", (0.0, 1000.0))[1]
            self.ic_markers[side].setData(*_ticks(ic, 0.0, 0.15 * top))
            self.to_markers[side].setData(*_ticks(to, 0.0, 0.08 * top))
        for name, plot in (
            ("force", self.force_plot),
            ("pitch", self.pitch_plot),
            ("accel", self.accel_plot),
        ):
            lo, hi = extent[name]
            if np.isfinite(lo) and np.isfinite(hi):
                self._y_ranges[name] = sticky_range(self._y_ranges.get(name), lo, hi)
                plot.setYRange(*self._y_ranges[name], padding=0.0)

    def _window(self, buffers: StreamBuffers, stream_id: str) -> StreamWindow:
        w = self._windows.get(stream_id)
        if w is None:
            w = StreamWindow(buffers.info(stream_id), self.window_s)
            self._windows[stream_id] = w
        return w
