"""Ground truth of the simulated runner: initial contact and toe-off from the noise-free force.

True IC and TO are the instants at which the noise-free, continuous vertical force under a
foot crosses ``threshold_n`` (20 N unless told otherwise), upwards then downwards. They are
found before any sampling, sensor floor, hysteresis, creep or noise: the force of each step
is scanned on a 1 kHz grid to bracket each crossing, the bracket is resampled on the
``resolution_hz`` grid (10 kHz), and the crossing is placed by linear interpolation between
the two grid points around it. This is the ground truth every detector is scored against.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side
from firmware_bridge.simulator.gait import StepPlan, step_force_n

FloatArray = npt.NDArray[np.float64]

_COARSE_HZ = 1000.0
_BATCH_STEPS = 512


@dataclass(frozen=True)
class TrueEvents:
    """True gait events, one entry per step, sorted by ``ic_s``.

    Attributes:
        side: int8 ``Side`` values.
        ic_s: initial contact, host seconds.
        to_s: toe-off, host seconds.
    """

    side: npt.NDArray[np.int8]
    ic_s: FloatArray
    to_s: FloatArray

    def __post_init__(self) -> None:
        n = self.side.shape[0]
        if self.ic_s.shape != (n,) or self.to_s.shape != (n,):
            raise ValueError(
                f"TrueEvents wants equal lengths, got {self.side.shape}, {self.ic_s.shape}, "
                f"{self.to_s.shape}"
            )

    def __len__(self) -> int:
        return int(self.side.shape[0])

    @property
    def gct_s(self) -> FloatArray:
        """Ground contact time of each step (s)."""
        out: FloatArray = self.to_s - self.ic_s
        return out

    def for_side(self, side: Side) -> TrueEvents:
        """The events of one side."""
        keep = self.side == int(side)
        return TrueEvents(self.side[keep], self.ic_s[keep], self.to_s[keep])


def _grid_crossings(
    plan: StepPlan,
    steps: npt.NDArray[np.intp],
    *,
    threshold_n: float,
    resolution_hz: float,
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Up and down crossings of ``steps`` (indices into ``plan``); ``found`` is False for
    steps whose force never reaches the threshold."""
    fine_per_coarse = max(1, round(resolution_hz / _COARSE_HZ))
    dt_fine = 1.0 / resolution_hz
    # index of the first fine grid point inside the support
    first_fine = np.ceil(plan.on_s[steps] * resolution_hz).astype(np.float64)
    support = plan.off_s[steps] - plan.on_s[steps]
    n_coarse = math.ceil(float(support.max()) * resolution_hz / fine_per_coarse) + 2
    j = np.arange(n_coarse)
    coarse_idx = first_fine[:, None] + fine_per_coarse * j[None, :]
    coarse_t = np.asarray(coarse_idx * dt_fine, dtype=np.float64)
    index = np.broadcast_to(steps[:, None], coarse_t.shape)
    above = (
        step_force_n(plan, index.ravel(), coarse_t.ravel()).reshape(coarse_t.shape) >= threshold_n
    )
    found: npt.NDArray[np.bool_] = np.asarray(above.any(axis=1))
    j_up = np.argmax(above, axis=1)  # first coarse point at or above
    j_down = n_coarse - 1 - np.argmax(above[:, ::-1], axis=1)  # last coarse point at or above

    def refine(start_idx: FloatArray, rising: bool) -> FloatArray:
        fine_idx = start_idx[:, None] + np.arange(fine_per_coarse + 1)[None, :]
        t = np.asarray(fine_idx * dt_fine, dtype=np.float64)
        idx = np.broadcast_to(steps[:, None], t.shape)
        force = step_force_n(plan, idx.ravel(), t.ravel()).reshape(t.shape)
        if rising:
            i = np.clip(np.argmax(force >= threshold_n, axis=1), 1, fine_per_coarse)
            lo, hi = i - 1, i
        else:
            last = fine_per_coarse - np.argmax((force >= threshold_n)[:, ::-1], axis=1)
            lo = np.clip(last, 0, fine_per_coarse - 1)
            hi = lo + 1
        rows = np.arange(t.shape[0])
        f_lo, f_hi = force[rows, lo], force[rows, hi]
        t_lo = t[rows, lo]
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(f_hi != f_lo, (threshold_n - f_lo) / (f_hi - f_lo), 0.0)
        out: FloatArray = t_lo + np.clip(slope, 0.0, 1.0) * dt_fine
        return out

    up_start = first_fine + fine_per_coarse * (np.maximum(j_up, 1) - 1)
    down_start = first_fine + fine_per_coarse * j_down
    return refine(up_start, rising=True), refine(down_start, rising=False), found


def true_events(
    plan: StepPlan, *, threshold_n: float = 20.0, resolution_hz: float = 10_000.0
) -> TrueEvents:
    """True IC/TO of every step of ``plan``: the noise-free vertical force crossing
    ``threshold_n`` (N) up, then down, located on a ``resolution_hz`` grid (≥ 1 kHz) with
    linear interpolation. Steps whose force never reaches the threshold have no event."""
    if not (math.isfinite(threshold_n) and threshold_n > 0.0):
        raise ConfigurationError(f"The truth threshold_n must be positive, got {threshold_n!r}.")
    if not (math.isfinite(resolution_hz) and resolution_hz >= _COARSE_HZ):
        raise ConfigurationError(
            f"The truth resolution_hz must be at least {_COARSE_HZ:g} Hz, got {resolution_hz!r}."
        )
    ic_parts, to_parts, side_parts = [], [], []
    for start in range(0, plan.n_steps, _BATCH_STEPS):
        steps = np.arange(start, min(start + _BATCH_STEPS, plan.n_steps), dtype=np.intp)
        ic, to, found = _grid_crossings(
            plan, steps, threshold_n=threshold_n, resolution_hz=resolution_hz
        )
        ic_parts.append(ic[found])
        to_parts.append(to[found])
        side_parts.append(plan.side[steps][found])
    if not ic_parts:
        empty = np.zeros(0)
        return TrueEvents(np.zeros(0, dtype=np.int8), empty, empty.copy())
    ic_all = np.concatenate(ic_parts)
    order = np.argsort(ic_all, kind="stable")
    return TrueEvents(
        np.concatenate(side_parts).astype(np.int8)[order],
        ic_all[order],
        np.concatenate(to_parts)[order],
    )


_SIDE_NAMES = {int(Side.LEFT): "left", int(Side.RIGHT): "right"}


def write_truth_csv(events: TrueEvents, path: str | Path) -> None:
    """Write ``events`` as CSV: header ``side,ic_s,to_s``, side ``left``/``right``, times
    in seconds with 6 decimals."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["side", "ic_s", "to_s"])
        for side, ic, to in zip(events.side, events.ic_s, events.to_s, strict=True):
            writer.writerow([_SIDE_NAMES[int(side)], f"{ic:.6f}", f"{to:.6f}"])


def read_truth_csv(path: str | Path) -> TrueEvents:
    """Read a file written by ``write_truth_csv``."""
    by_name = {name: value for value, name in _SIDE_NAMES.items()}
    sides: list[int] = []
    ics: list[float] = []
    tos: list[float] = []
    with Path(path).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or list(reader.fieldnames) != ["side", "ic_s", "to_s"]:
            raise ConfigurationError(
                f"{path} is not a truth file: expected the header side,ic_s,to_s, got "
                f"{reader.fieldnames!r}."
            )
        for line, row in enumerate(reader, start=2):
            try:
                sides.append(by_name[row["side"].strip()])
                ics.append(float(row["ic_s"]))
                tos.append(float(row["to_s"]))
            except (KeyError, ValueError, AttributeError, TypeError) as exc:
                raise ConfigurationError(
                    f"{path} line {line} is not a valid truth row: {row!r}."
                ) from exc
    return TrueEvents(
        np.asarray(sides, dtype=np.int8), np.asarray(ics, dtype=np.float64), np.asarray(tos)
    )
