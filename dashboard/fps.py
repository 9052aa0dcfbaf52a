"""Frame counting: completed paints of the plot viewports.

DESIGN.md defines the dashboard's fps as completed paints of the plot viewports with all
panels visible. ``PaintCounter`` watches paint events on each viewport. Qt may split one
frame's repaint into several paint events or merge two frames' updates into one, so the
frame rate counts frames: refreshes (:meth:`PaintCounter.frame`, called once per redraw)
after which every watched viewport completed at least one paint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from PySide6 import QtCore, QtWidgets


class PaintCounter(QtCore.QObject):
    """Counts paint events delivered to ``viewports``.

    Args:
        viewports: the widgets whose paints count (e.g. each plot's ``viewport()``).
        clock: seconds clock for rates (monotonic by default).
    """

    def __init__(
        self,
        viewports: Iterable[QtWidgets.QWidget],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._clock = clock
        self.viewports = list(viewports)
        self.counts = [0] * len(self.viewports)
        self._index = {id(v): i for i, v in enumerate(self.viewports)}
        for viewport in self.viewports:
            viewport.installEventFilter(self)
        self._since_s = clock()
        self._since_counts = list(self.counts)
        self.frames = 0
        self._since_frames = 0
        self._frame_counts = list(self.counts)

    def frame(self) -> None:
        """A redraw was requested: count the previous one if every viewport painted it."""
        if all(c > c0 for c, c0 in zip(self.counts, self._frame_counts, strict=True)):
            self.frames += 1
        self._frame_counts = list(self.counts)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.Type.Paint:
            i = self._index.get(id(watched))
            if i is not None:
                self.counts[i] += 1
        return False

    def reset(self) -> None:
        """Start a new measurement interval now."""
        self._since_s = self._clock()
        self._since_counts = list(self.counts)
        self._since_frames = self.frames

    def rates_hz(self) -> list[float]:
        """Paints per second of each viewport since the last :meth:`reset`."""
        elapsed = self._clock() - self._since_s
        if elapsed <= 0.0:
            return [0.0] * len(self.viewports)
        return [(c - c0) / elapsed for c, c0 in zip(self.counts, self._since_counts, strict=True)]

    def fps(self) -> float:
        """Completed frames per second since the last :meth:`reset`: redraws after which
        every watched viewport painted."""
        elapsed = self._clock() - self._since_s
        return (self.frames - self._since_frames) / elapsed if elapsed > 0.0 else 0.0
