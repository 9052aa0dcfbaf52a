"""Causal, chunk-size independent contact detectors (insole, IMU)."""
