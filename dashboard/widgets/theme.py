"""Colours and fonts of the dashboard, in one place.

Dark background (treadmill rooms are bright; a dark screen keeps the numbers legible from
a few metres), one colour per side, and one colour per readout level.
"""

from __future__ import annotations

from dashboard.readouts import Level
from firmware_bridge.samples import Side

BACKGROUND = "#14171c"
PANEL = "#1d2128"
FOREGROUND = "#e6e6e6"
MUTED = "#7a808a"

SIDE_COLOUR = {Side.LEFT: "#4aa3ff", Side.RIGHT: "#ff9f43"}
"""Left blue, right orange: the same in every plot."""

LEVEL_COLOUR = {
    Level.NEUTRAL: FOREGROUND,
    Level.OK: "#3ddc84",
    Level.WARN: "#ffb300",
    Level.ALERT: "#ff4d4d",
    Level.STALE: "#6b6f76",
}

TARGET_BAND_BRUSH = (61, 220, 132, 40)
"""RGBA fill of the cadence target band in the trend plot."""

STYLESHEET = f"""
QWidget {{ background: {BACKGROUND}; color: {FOREGROUND}; }}
QFrame#tile {{ background: {PANEL}; border-radius: 6px; }}
QLabel#tileTitle {{ color: {MUTED}; font-size: 13px; }}
QLabel#tileDetail {{ color: {MUTED}; font-size: 12px; }}
QGroupBox {{ border: 1px solid #2c313a; border-radius: 4px; margin-top: 14px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; color: {MUTED}; }}
QTableWidget {{ gridline-color: #2c313a; }}
QHeaderView::section {{ background: {PANEL}; color: {MUTED}; border: none; }}
QPushButton, QComboBox, QSpinBox, QDoubleSpinBox, QLineEdit {{
    background: {PANEL}; border: 1px solid #2c313a; border-radius: 3px; padding: 3px;
}}
QPushButton:checked {{ background: #2e5a3a; }}
"""
