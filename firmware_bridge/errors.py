"""Errors a user or a device can cause.

Every exception here carries a one-line message that says what went wrong and, where
possible, what to do. The command line prints ``error: <message>`` and exits non-zero;
programming errors are not wrapped and stay loud.
"""

from __future__ import annotations


class GaitcueError(Exception):
    """Base class of the errors gaitcue reports to the user as one line."""


class ProtocolError(GaitcueError):
    """A frame or packet that does not decode (bad framing, length, version or CRC)."""


class TransportError(GaitcueError):
    """A port or device that cannot be opened, or that vanished."""


class ConfigurationError(GaitcueError):
    """An option or configuration value that cannot be used."""
