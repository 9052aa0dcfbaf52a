"""Bytes to samples: transports, the wire protocol, clock mapping and the simulated runner."""
