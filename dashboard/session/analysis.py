"""Offline analysis of a session: its streams through the same pipeline as ``gaitcue
analyze``, with the session's own body mass and treadmill speed unless told otherwise.

Each stream (a device's streams joined, as the CSV export writes them) is cut into blocks
exactly as ``gaitcue analyze`` cuts a CSV stream, so analysing a session and analysing its
CSV export give the same steps (to the microsecond the CSV keeps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from calibration.insole_layout import InsoleLayout
from dashboard.session.reader import DecodedSession, Session
from firmware_bridge.csv_streams import CsvStream
from firmware_bridge.samples import Mount, Side, StreamKind
from realtime.offline import AnalysisResult, analyze_blocks, interleave
from realtime.pipeline import AnalysisConfig

__all__ = ["SessionAnalysis", "analyse", "analysis_streams"]


@dataclass(frozen=True)
class SessionAnalysis:
    """A session, its decoded streams and the analysis of them."""

    session: Session
    decoded: DecodedSession
    result: AnalysisResult
    config: AnalysisConfig


def analysis_streams(decoded: DecodedSession, *, imu_mount: Mount | None = None) -> list[CsvStream]:
    """The session's gait streams, one per foot and sensor kind."""
    out = []
    for info, t, values in decoded.joined().values():
        if imu_mount is not None and info.kind == StreamKind.IMU:
            info = replace(info, mount=imu_mount)
        out.append(CsvStream(info, t, values))
    return out


def analyse(
    session: Session,
    *,
    threshold_n: float = 20.0,
    body_mass_kg: float | None = None,
    speed_m_s: float | None = None,
    insole_layout: InsoleLayout | None = None,
    imu_mount: Mount | None = None,
    decoded: DecodedSession | None = None,
    progress: Callable[[float], None] | None = None,
) -> SessionAnalysis:
    """Decode (unless ``decoded`` is given) and analyse ``session``. ``progress`` is told
    0–1 over decoding (first half) and analysis (second half)."""
    if decoded is None:
        decoded = session.decode(progress=None if progress is None else lambda f: progress(f / 2))
    streams = analysis_streams(decoded, imu_mount=imu_mount)
    if imu_mount is None and session.meta.get("imu_mount") == "shank":
        streams = analysis_streams(decoded, imu_mount=Mount.SHANK)
    config = AnalysisConfig(
        insole_threshold_n=threshold_n,
        body_mass_kg=body_mass_kg if body_mass_kg is not None else session.body_mass_kg,
        insole_layouts=None
        if insole_layout is None
        else {Side.LEFT: insole_layout, Side.RIGHT: insole_layout},
        treadmill_speed_m_s=speed_m_s if speed_m_s is not None else session.treadmill_speed_m_s(),
    )
    blocks = interleave((s.info, s.blocks()) for s in streams)
    result = analyze_blocks(
        [s.info for s in streams],
        blocks,
        config=config,
        progress=None if progress is None else lambda f: progress(0.5 + f / 2),
    )
    return SessionAnalysis(session, decoded, result, config)
