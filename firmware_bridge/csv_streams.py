"""CSV streams: the import format of ``gaitcue analyze`` (and what the simulator can write).

One file per stream. The first column is ``time_s`` (seconds, increasing); the others are:

* insole: one column per cell, force in newtons (any number of cells; the cell positions
  come from a layout JSON or the documented default layout);
* IMU: ``ax, ay, az`` (g) and ``gx, gy, gz`` (deg/s) in the gaitcue frame (x anterior,
  y left, z up with the runner standing; gyro positive by the right-hand rule).

Sample times may have gaps (lost data): a step in ``time_s`` longer than 1.5 nominal periods
is a gap, marked on the block that follows it, never filled.
"""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import (
    IMU_CHANNELS,
    IMU_UNITS,
    Mount,
    SampleBlock,
    Side,
    StreamInfo,
    StreamKind,
)

_ROW_RE = re.compile(r"row (\d+)")


@dataclass(frozen=True)
class CsvStream:
    """A whole stream read from CSV.

    Attributes:
        info: its description (rate estimated from the median sample interval).
        t_s: ``(n,)`` float64 sample times (s).
        values: ``(n, n_channels)`` float32 values in the stream's units.
    """

    info: StreamInfo
    t_s: npt.NDArray[np.float64]
    values: npt.NDArray[np.float32]

    def blocks(self, block_s: float = 1.0) -> Iterator[SampleBlock]:
        """The stream as consecutive blocks of about ``block_s`` seconds, gaps marked."""
        period = 1.0 / self.info.rate_hz
        dt = np.diff(self.t_s)
        gap_after = np.flatnonzero(dt > 1.5 * period)
        edges = set(gap_after + 1)
        n = self.t_s.shape[0]
        per_block = max(1, round(block_s * self.info.rate_hz))
        bounds = sorted(edges | set(range(0, n, per_block)) | {n})
        for start, stop in itertools.pairwise(bounds):
            gap = float(dt[start - 1] - period) if start in edges else 0.0
            yield SampleBlock(
                self.info.stream_id, self.t_s[start:stop], self.values[start:stop], gap_before_s=gap
            )


def _fail(path: Path, line: int | None, problem: str) -> ConfigurationError:
    where = f"{path}, line {line}" if line is not None else str(path)
    return ConfigurationError(f"{where}: {problem}")


def read_csv_stream(
    path: Path, *, kind: StreamKind, side: Side, mount: Mount = Mount.FOOT
) -> CsvStream:
    """Read one stream file.

    Raises:
        ConfigurationError: one line naming the file, the line and the problem (missing
            file, wrong header, unreadable number, non-increasing time, too few samples).
    """
    try:
        with path.open(encoding="utf-8") as handle:
            header_line = handle.readline()
    except OSError as exc:
        raise _fail(path, None, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise _fail(path, 1, "not a text CSV file") from None
    header = [h.strip() for h in header_line.strip().split(",")]
    if not header or header[0] != "time_s":
        raise _fail(path, 1, f"the first column must be 'time_s', found '{header[0]}'")
    columns = header[1:]
    if kind == StreamKind.IMU:
        if tuple(columns) != IMU_CHANNELS:
            raise _fail(
                path,
                1,
                f"IMU columns must be {', '.join(IMU_CHANNELS)}; "
                f"found {', '.join(columns) or 'none'}",
            )
    elif not columns:
        raise _fail(path, 1, "an insole file needs at least one cell column after time_s")
    try:
        with warnings.catch_warnings():
            # A file with a header and no rows is reported below as too few samples.
            warnings.simplefilter("ignore", UserWarning)
            table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        match = _ROW_RE.search(str(exc))
        line = int(match.group(1)) + 2 if match else None  # 0-based data row after header
        problem = str(exc).split(" at row")[0].rstrip(".")
        raise _fail(path, line, problem) from None
    if table.shape[0] < 2:
        raise _fail(path, None, "fewer than two samples")
    if table.shape[1] != len(header):
        raise _fail(path, None, f"rows have {table.shape[1]} values for {len(header)} columns")
    bad = ~np.isfinite(table)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise _fail(path, row + 2, "a value is not a finite number")
    t = table[:, 0]
    dt = np.diff(t)
    if np.any(dt <= 0):
        row = int(np.flatnonzero(dt <= 0)[0])
        raise _fail(path, row + 3, f"time_s does not increase ({t[row]} then {t[row + 1]})")
    rate = 1.0 / float(np.median(dt))
    stream_id = f"{kind.name.lower()}-{side.name.lower()}-{path.stem}"
    if kind == StreamKind.IMU:
        info = StreamInfo(
            stream_id, 0, kind, side, mount, rate, IMU_CHANNELS, IMU_UNITS, calibrated=True
        )
    else:
        info = StreamInfo(
            stream_id,
            0,
            kind,
            side,
            Mount.INSOLE,
            rate,
            tuple(columns),
            ("N",) * len(columns),
            calibrated=True,
        )
    return CsvStream(info, t.copy(), table[:, 1:].astype(np.float32))


def write_csv_stream(
    path: Path, info: StreamInfo, t_s: npt.NDArray[np.float64], values: npt.NDArray[np.floating]
) -> None:
    """Write one stream in the import format (times to 1 µs, values to 4 decimals)."""
    header = "time_s," + ",".join(info.channel_names)
    table = np.column_stack([t_s, values.astype(np.float64)])
    fmt = ["%.6f"] + ["%.4f"] * values.shape[1]
    np.savetxt(path, table, delimiter=",", header=header, comments="", fmt=fmt)
