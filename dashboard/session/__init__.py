"""Recorded sessions: the directory format, recording, reading, export, report, import.

The format is described in ``docs/session-format.md``; the modules:

* ``writer``: ``SessionWriter`` records a session while the live pipeline runs;
* ``reader``: ``load_session`` opens one, ``Session.decode`` gives its streams;
* ``analysis``: ``analyse`` runs the offline analysis on a session;
* ``simulated``: ``record_simulated`` records the simulated runner;
* ``export``, ``export_csv``, ``export_hdf5``, ``export_c3d``: exports;
* ``report``: the HTML report; ``importing``, ``moticon``: imports; ``listing``: the list.
"""

from __future__ import annotations

from dashboard.session.analysis import SessionAnalysis, analyse
from dashboard.session.reader import DecodedSession, Session, SessionEvent, load_session
from dashboard.session.simulated import record_simulated
from dashboard.session.writer import SessionWriter

__all__ = [
    "DecodedSession",
    "Session",
    "SessionAnalysis",
    "SessionEvent",
    "SessionWriter",
    "analyse",
    "load_session",
    "record_simulated",
]
