"""Offline analysis: whole recorded streams through the same streaming pipeline.

Blocks of every stream are interleaved in time order and fed to ``GaitPipeline`` exactly as
the live processing thread would feed them, only as fast as the CPU allows.
"""

from __future__ import annotations

import csv
import enum
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from firmware_bridge.samples import SampleBlock, StreamInfo
from realtime.events import Step
from realtime.metrics import summarise
from realtime.pipeline import AnalysisConfig, GaitPipeline

STEP_COLUMNS = (
    "side",
    "ic_s",
    "to_s",
    "gct_ms",
    "flight_ms",
    "step_time_ms",
    "stride_time_ms",
    "double_support_ms",
    "gait",
    "foot_strike",
    "strike_index",
    "peak_force_n",
    "loading_rate_bw_s",
    "peak_accel_g",
    "source",
    "flags",
)


@dataclass(frozen=True)
class AnalysisResult:
    """Steps of a whole recording and its summary (JSON-ready)."""

    steps: list[Step]
    summary: dict[str, Any]


def coalesce(blocks: Iterable[SampleBlock], *, min_s: float = 0.25) -> list[SampleBlock]:
    """Join consecutive blocks of one stream into blocks of at least ``min_s`` seconds,
    never across a gap mark. The detectors give the same events for any block sizes; larger
    blocks only cost less Python per sample."""
    out: list[SampleBlock] = []
    pending: list[SampleBlock] = []

    def close() -> None:
        if not pending:
            return
        first = pending[0]
        if len(pending) == 1:
            out.append(first)
        else:
            out.append(
                SampleBlock(
                    first.stream_id,
                    np.concatenate([b.t_host_s for b in pending]),
                    np.concatenate([b.values for b in pending]),
                    gap_before_s=first.gap_before_s,
                )
            )
        pending.clear()

    for block in blocks:
        if block.n_samples == 0:
            continue
        if pending and block.gap_before_s > 0:
            close()
        pending.append(block)
        if float(block.t_host_s[-1] - pending[0].t_host_s[0]) >= min_s:
            close()
    close()
    return out


OFFLINE_BLOCK_S = 2.0
"""Offline blocks are joined to about this length (s): the events do not depend on it, and
larger blocks spend less time per sample in Python."""


def interleave(
    streams: Iterable[tuple[StreamInfo, Iterable[SampleBlock]]],
    *,
    min_block_s: float = OFFLINE_BLOCK_S,
) -> list[SampleBlock]:
    """All blocks of all streams (joined to ``min_block_s``), ordered by the time of their
    last sample, as they would be available live."""
    blocks = [b for _, stream_blocks in streams for b in coalesce(stream_blocks, min_s=min_block_s)]
    blocks.sort(key=lambda b: float(b.t_host_s[-1]))
    return blocks


def analyze_blocks(
    infos: Iterable[StreamInfo],
    blocks: list[SampleBlock],
    *,
    config: AnalysisConfig | None = None,
    progress: Callable[[float], None] | None = None,
) -> AnalysisResult:
    """Run the pipeline over time-ordered ``blocks`` of the streams ``infos``."""
    config = config or AnalysisConfig()
    if config.max_side_lag_s < 2 * OFFLINE_BLOCK_S:
        config = replace(config, max_side_lag_s=2 * OFFLINE_BLOCK_S)
    pipeline = GaitPipeline(config=config, keep_events=False, keep_steps=None)
    for info in infos:
        pipeline.add_stream(info)
    every = max(1, len(blocks) // 100)
    for index, block in enumerate(blocks):
        pipeline.update(block)
        if progress is not None and index % every == 0:
            progress(index / len(blocks))
    pipeline.finish()
    if progress is not None:
        progress(1.0)
    return AnalysisResult(pipeline.steps, summarise(pipeline.steps))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6f}" if abs(value) < 1e4 else f"{value:.3f}"
    if isinstance(value, enum.Enum) and not isinstance(value, int):
        return str(value.value)
    return str(value)


def write_steps_csv(steps: Iterable[Step], path: Path) -> None:
    """One row per step; empty cells for unavailable values; flags as names joined by '|'."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(STEP_COLUMNS)
        for step in steps:
            row = []
            for column in STEP_COLUMNS:
                value = getattr(step, column)
                if column == "side":
                    row.append(step.side.name.lower())
                elif column == "flags":
                    row.append(
                        "|".join(
                            f.name.lower()
                            for f in type(step.flags)
                            if f and f in step.flags and f.name
                        )
                    )
                else:
                    row.append(_cell(value))
            writer.writerow(row)


def write_summary_json(summary: dict[str, Any], path: Path) -> None:
    """The summary as indented JSON (NaN written as null)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    path.write_text(json.dumps(clean(summary), indent=2) + "\n", encoding="utf-8")
