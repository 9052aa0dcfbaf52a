"""Frames count only when the watched viewport actually painted after a redraw."""

from __future__ import annotations

from PySide6 import QtWidgets
from pytestqt.qtbot import QtBot

from dashboard.fps import PaintCounter


def test_a_frame_counts_once_whatever_the_number_of_paint_events(qtbot: QtBot) -> None:
    widget = QtWidgets.QWidget()
    qtbot.addWidget(widget)
    with qtbot.waitExposed(widget):
        widget.show()
    counter = PaintCounter([widget])
    counter.frame()
    widget.repaint()
    widget.repaint()  # two paint events in one frame
    counter.frame()
    assert counter.frames == 1
    counter.frame()  # nothing painted since: no frame
    assert counter.frames == 1
    widget.repaint()
    counter.frame()
    assert counter.frames == 2
