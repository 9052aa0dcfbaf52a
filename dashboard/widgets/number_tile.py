"""A large live number with its title and a detail line, coloured by its level."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from dashboard.readouts import Level, Readout
from dashboard.widgets.theme import LEVEL_COLOUR


class NumberTile(QtWidgets.QFrame):
    """Shows one :class:`Readout`: big value, small title above, detail below.

    Args:
        title: what the number is ("Cadence", "GCT left").
        point_size: font size of the value (pt).
    """

    def __init__(
        self, title: str, *, point_size: int = 30, parent: QtWidgets.QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("tile")
        self._title = QtWidgets.QLabel(title)
        self._title.setObjectName("tileTitle")
        self._value = QtWidgets.QLabel("—")
        font = QtGui.QFont(self._value.font())
        font.setPointSize(point_size)
        font.setBold(True)
        self._value.setFont(font)
        self._value.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self._detail = QtWidgets.QLabel("")
        self._detail.setObjectName("tileDetail")
        self._detail.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(0)
        layout.addWidget(self._title)
        layout.addWidget(self._value, 1)
        layout.addWidget(self._detail)
        self._readout = Readout("—", Level.STALE)
        self._apply(self._readout, force=True)

    @property
    def readout(self) -> Readout:
        """What the tile shows now."""
        return self._readout

    def value_text(self) -> str:
        return self._value.text()

    def level_colour(self) -> QtGui.QColor:
        """The colour the value is drawn in."""
        return QtGui.QColor(LEVEL_COLOUR[self._readout.level])

    def set_readout(self, readout: Readout) -> None:
        """Show ``readout``; does nothing when it is unchanged (no relayout per frame)."""
        self._apply(readout, force=False)

    def _apply(self, readout: Readout, *, force: bool) -> None:
        old = self._readout
        self._readout = readout
        if force or readout.text != old.text:
            self._value.setText(readout.text)
        if force or readout.level != old.level:
            self._value.setStyleSheet(f"color: {LEVEL_COLOUR[readout.level]};")
        if force or readout.detail != old.detail:
            self._detail.setText(readout.detail)
