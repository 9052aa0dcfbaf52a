"""Samples to events and metrics: ring buffers, streaming filters, detectors, metrics."""
