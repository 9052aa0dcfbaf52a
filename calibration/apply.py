"""Applying calibrations to the bridge's sample blocks.

* ``ImuCalibrator``: ``values → [R·(scale·(a − offset)), R·(g − bias)]``, folded into one
  6 × 6 matrix and one offset, so a block costs one matrix product into the output array.
* ``InsoleCalibrator``: per cell, the reading minus the zero, 0 below the floor, through the
  known-load curve (if any), times the body-weight scale — all folded into one lookup table
  per cell, evaluated with preallocated scratch arrays.
* ``CalibrationStore``: the calibrations at hand, by device id (a folder of files, and files
  forced on the command line).
* ``CalibratedSink``: wraps the bridge's sink; streams whose device has a calibration are
  marked ``calibrated`` and every one of their blocks is calibrated on its way through.

Allocation: a calibrator allocates the output array of each block and nothing else once
its scratch arrays have grown to the largest block seen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from calibration.files import Calibration, ImuCalibration, InsoleCalibration, load_calibration
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import SampleBlock, SampleSink, StreamInfo, StreamKind

__all__ = [
    "CalibratedSink",
    "CalibrationStore",
    "Calibrator",
    "ImuCalibrator",
    "InsoleCalibrator",
    "calibrator_for",
]

F32 = npt.NDArray[np.float32]


class ImuCalibrator:
    """Calibrates IMU blocks ``(n, 6)``: ax, ay, az (g), gx, gy, gz (deg/s)."""

    def __init__(self, cal: ImuCalibration) -> None:
        self.calibration = cal
        m_acc = cal.alignment @ np.diag(cal.accel_scale)
        matrix = np.zeros((6, 6))
        matrix[:3, :3] = m_acc
        matrix[3:, 3:] = cal.alignment
        offset = np.concatenate([m_acc @ cal.accel_offset_g, cal.alignment @ cal.gyro_bias_dps])
        self._matrix_t = np.ascontiguousarray(matrix.T, dtype=np.float32)
        self._offset = offset.astype(np.float32)

    def __call__(self, values: npt.NDArray[np.floating]) -> F32:
        """Calibrated copy of ``values`` ``(n, 6)`` as float32."""
        v = np.asarray(values, dtype=np.float32)
        out = np.empty(v.shape, dtype=np.float32)
        np.matmul(v, self._matrix_t, out=out)
        out -= self._offset
        return out


class InsoleCalibrator:
    """Calibrates insole blocks ``(n, n_cells)`` of readings (N) into forces (N).

    Each cell's whole chain (zero, floor, curve, scale) is tabulated once on a uniform grid
    of readings; a block is calibrated by linear interpolation in the tables, continued
    linearly beyond their end.

    Parameters:
        cal: the insole's calibration.
        top_n: the tables span readings 0 … ``top_n`` above each cell's zero (default:
            1.25 times the largest knot of the cell's curve, at least 1000 N).
        n_points: grid points per table.
    """

    def __init__(
        self, cal: InsoleCalibration, *, top_n: float | None = None, n_points: int = 2048
    ) -> None:
        self.calibration = cal
        n = cal.n_cells
        m = n_points
        base = np.empty((n, m))
        slope = np.empty((n, m))
        self._inv_step = np.empty(n, dtype=np.float32)
        self._origin = np.empty(n, dtype=np.float32)
        dead = set(cal.dead_cells)
        for cell in range(n):
            curve = None if cal.curves is None else cal.curves[cell]
            top = top_n or max(1000.0, 1.25 * float(curve.reading_n[-1]) if curve else 0.0)
            above = np.linspace(0.0, top, m)
            force = curve(above) if curve is not None else above.copy()
            force = np.where(above >= cal.floor_n[cell], force, 0.0) * cal.scale
            if cell in dead:
                force[:] = 0.0
            step = top / (m - 1)
            # Reading r (raw) maps to grid position (r − zero)/step; the table holds the
            # force at each node and the slope per unit of position to the next node.
            base[cell] = force
            slope[cell, :-1] = np.diff(force)
            slope[cell, -1] = slope[cell, -2]
            self._inv_step[cell] = 1.0 / step
            self._origin[cell] = cal.zero_n[cell] / step
        self._m = m
        self._base = base.astype(np.float32).ravel()
        self._slope = slope.astype(np.float32).ravel()
        self._row = (np.arange(n) * m).astype(np.intp)
        self._pos = np.empty((0, n), dtype=np.float32)
        self._idx = np.empty((0, n), dtype=np.intp)

    def __call__(self, values: npt.NDArray[np.floating]) -> F32:
        """Calibrated copy of ``values`` ``(n, n_cells)`` as float32."""
        v = np.asarray(values, dtype=np.float32)
        rows = v.shape[0]
        if v.ndim != 2 or v.shape[1] != self._row.shape[0]:
            raise ValueError(
                f"an insole block of {self._row.shape[0]} cells was expected, got {v.shape}"
            )
        if self._pos.shape[0] < rows:
            self._pos = np.empty((rows, v.shape[1]), dtype=np.float32)
            self._idx = np.empty((rows, v.shape[1]), dtype=np.intp)
        pos, idx = self._pos[:rows], self._idx[:rows]
        out = np.empty(v.shape, dtype=np.float32)
        np.multiply(v, self._inv_step, out=pos)
        pos -= self._origin
        np.maximum(pos, 0.0, out=pos)
        np.copyto(idx, pos, casting="unsafe")  # floor of a non-negative position
        np.minimum(idx, self._m - 1, out=idx)
        pos -= idx  # fraction past the node (beyond the table: how far past its end)
        idx += self._row
        np.take(self._slope, idx, out=out)
        out *= pos
        np.take(self._base, idx, out=pos)
        out += pos
        return out


Calibrator = ImuCalibrator | InsoleCalibrator


def calibrator_for(cal: Calibration, info: StreamInfo) -> Calibrator:
    """The calibrator of ``cal`` for the stream ``info``.

    Raises:
        ConfigurationError: the calibration is for another device, another kind of sensor,
            or another number of cells.
    """
    if cal.device_id != info.device_id:
        raise ConfigurationError(
            f"The calibration for device {cal.device_id:08x} does not fit stream "
            f"{info.stream_id} (device {info.device_id:08x})."
        )
    if isinstance(cal, ImuCalibration):
        if info.kind != StreamKind.IMU:
            raise ConfigurationError(
                f"Device {info.device_id:08x} streams an {info.kind.name.lower()}, but its "
                f"calibration file calibrates an IMU: recalibrate it."
            )
        return ImuCalibrator(cal)
    if info.kind != StreamKind.INSOLE:
        raise ConfigurationError(
            f"Device {info.device_id:08x} streams an {info.kind.name.lower()}, but its "
            f"calibration file calibrates an insole: recalibrate it."
        )
    if info.n_channels != cal.n_cells:
        raise ConfigurationError(
            f"Device {info.device_id:08x} streams {info.n_channels} cells, but its calibration "
            f"has {cal.n_cells}: recalibrate it."
        )
    return InsoleCalibrator(cal)


class CalibrationStore:
    """Calibrations by device id.

    ``from_directory`` reads every ``*.json`` of a folder (one file per device, named
    anything; the device id inside counts) and ``add_file`` adds a file forced on the
    command line, which replaces any other calibration of its device. Every file is checked
    when it is read, so a broken file stops the program at start-up, not when its device
    connects.
    """

    def __init__(self, calibrations: Iterable[Calibration] = ()) -> None:
        self._by_device: dict[int, Calibration] = {}
        self._source: dict[int, str] = {}
        for cal in calibrations:
            self.add(cal)

    def add(self, cal: Calibration, *, source: str = "") -> None:
        self._by_device[cal.device_id] = cal
        self._source[cal.device_id] = source

    def add_file(self, path: str | Path) -> Calibration:
        cal = load_calibration(path)
        self.add(cal, source=str(path))
        return cal

    @classmethod
    def from_directory(cls, folder: str | Path) -> CalibrationStore:
        """All calibrations of ``folder`` (an empty store when it does not exist).

        Raises:
            ConfigurationError: a file is broken, or two files are for the same device.
        """
        store = cls()
        root = Path(folder)
        if not root.is_dir():
            return store
        for path in sorted(root.glob("*.json")):
            cal = load_calibration(path)
            if cal.device_id in store._by_device:
                raise ConfigurationError(
                    f"Calibration files {store._source[cal.device_id]} and {path} are both for "
                    f"device {cal.device_id:08x}: keep one."
                )
            store.add(cal, source=str(path))
        return store

    def get(self, device_id: int) -> Calibration | None:
        return self._by_device.get(device_id)

    def source(self, device_id: int) -> str:
        """The file a device's calibration came from ("" when added in code)."""
        return self._source.get(device_id, "")

    def device_ids(self) -> tuple[int, ...]:
        return tuple(self._by_device)

    def __len__(self) -> int:
        return len(self._by_device)


class CalibratedSink:
    """A sink that calibrates the blocks of every calibrated device before passing them on.

    Call ``on_stream(info)`` when a stream starts (the decoder's ``on_stream`` callback): it
    returns the description to register downstream, marked ``calibrated=True`` when the
    store holds a calibration for the device. Blocks of streams without calibration pass
    through unchanged. A calibration that does not fit its stream (another kind of sensor,
    another cell count) leaves the stream uncalibrated and is reported once through
    ``on_problem`` (one line) — it is never applied.

    Thread safety: ``on_stream`` and ``__call__`` run on the reader thread that owns the
    stream; the registry is swapped copy-on-write, so readers on other threads (``status``)
    never see a half-built one.
    """

    def __init__(
        self,
        sink: SampleSink,
        store: CalibrationStore,
        *,
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        self._sink = sink
        self.store = store
        self._on_problem = on_problem
        self._calibrators: dict[str, Calibrator] = {}
        self._lock = threading.Lock()
        self.problems: list[str] = []
        self.applied_device_ids: set[int] = set()
        """Devices whose calibration was applied to a stream (to warn about files forced
        with ``--calibration`` whose device never connected)."""

    def on_stream(self, info: StreamInfo) -> StreamInfo:
        """Register a stream; returns ``info``, marked calibrated when a calibration applies."""
        cal = self.store.get(info.device_id)
        calibrators = dict(self._calibrators)
        calibrators.pop(info.stream_id, None)
        out = info
        if cal is not None:
            try:
                calibrators[info.stream_id] = calibrator_for(cal, info)
                out = replace(info, calibrated=True)
                self.applied_device_ids = self.applied_device_ids | {info.device_id}
            except ConfigurationError as exc:
                source = self.store.source(info.device_id)
                message = f"{source}: {exc}" if source else str(exc)
                with self._lock:
                    self.problems.append(message)
                if self._on_problem is not None:
                    self._on_problem(message)
        self._calibrators = calibrators
        return out

    def is_calibrated(self, stream_id: str) -> bool:
        """True when blocks of ``stream_id`` are calibrated on their way through."""
        return stream_id in self._calibrators

    def add(self, info: StreamInfo) -> object:
        """Register ``info`` here and downstream: ``sink.add(on_stream(info))``, for a
        wrapped sink that registers streams itself (a ring-buffer set). With this and
        ``notify`` the wrapper stands in wherever the buffer set is handed to a link."""
        add = getattr(self._sink, "add", None)
        if add is None:
            raise TypeError("the wrapped sink has no add(info) to register streams with")
        return add(self.on_stream(info))

    def notify(self) -> None:
        """Pass a writer's end-of-batch notification on to the wrapped sink, if it takes one."""
        notify = getattr(self._sink, "notify", None)
        if notify is not None:
            notify()

    def __call__(self, block: SampleBlock) -> None:
        calibrator = self._calibrators.get(block.stream_id)
        if calibrator is None:
            self._sink(block)
            return
        self._sink(
            SampleBlock(
                block.stream_id, block.t_host_s, calibrator(block.values), block.gap_before_s
            )
        )
