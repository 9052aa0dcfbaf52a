"""Qt widgets of the live dashboard (pyqtgraph on PySide6)."""
