"""Per-device calibration: raw counts to trustworthy physical units."""
