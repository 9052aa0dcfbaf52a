"""Virtual sensor devices: sample the runner model on a drifting device clock, emit packets.

Each device has its own crystal: device time ``d = offset + h · (1 + ppm·1e-6)`` for host
time ``h`` (s). Sample ``k`` after a boot is taken at device time ``d0 + k / rate``; its value
is the model evaluated at the corresponding true host time, passed through the sensor's
imperfections and quantised to counts exactly as firmware would. Packets carry the device
time of their first sample and become ready to send when their last sample is taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from firmware_bridge.protocol import (
    IMU_COUNTS_FULL_SCALE,
    Hello,
    Status,
    encode_data,
    encode_hello,
    encode_status,
    max_samples_per_packet,
)
from firmware_bridge.samples import Mount, Side, StreamKind
from firmware_bridge.simulator.gait import StepPlan
from firmware_bridge.simulator.imu_model import ImuSensorModel, imu_signals
from firmware_bridge.simulator.insole_model import InsoleLayout, InsoleSensorModel, cell_forces_n

_U32 = 1 << 32


@dataclass(frozen=True)
class DeviceSpec:
    """One virtual device.

    Attributes:
        device_id: 32-bit id on the wire.
        kind: ``StreamKind.IMU`` or ``StreamKind.INSOLE``.
        side, mount: where it is worn.
        rate_hz: nominal sample rate on the device clock (Hz).
        n_cells: insole cell count (8 or 16).
        packet_s: at most this much data per packet (s); DESIGN.md caps it at 10 ms.
        max_packet_bytes: the link's packet limit (ATT_MTU − 3 on BLE).
        clock_ppm: crystal error (ppm); positive runs fast.
        clock_offset_s: device time at host time 0 (s).
        accel_full_scale_g, gyro_full_scale_dps: IMU ranges.
        newtons_per_count: insole resolution (N).
        hello_every_s, status_every_s: how often control packets repeat (s, device clock).
        battery_pct: reported charge (%).
    """

    device_id: int
    kind: StreamKind
    side: Side
    mount: Mount
    rate_hz: int
    n_cells: int = 16
    packet_s: float = 0.010
    max_packet_bytes: int = 244
    clock_ppm: float = 0.0
    clock_offset_s: float = 0.0
    accel_full_scale_g: int = 16
    gyro_full_scale_dps: int = 2000
    newtons_per_count: float = 0.25
    hello_every_s: float = 2.0
    status_every_s: float = 1.0
    battery_pct: int = 87
    first_seq: int = 0
    """Sequence number of the first packet after each boot (to exercise the 16-bit wrap)."""

    @property
    def n_channels(self) -> int:
        return 6 if self.kind == StreamKind.IMU else self.n_cells

    @property
    def samples_per_packet(self) -> int:
        """Samples per data packet: 10 ms of data, fewer if the packet limit says so."""
        by_time = max(1, round(self.packet_s * self.rate_hz))
        by_size = max_samples_per_packet(self.n_channels, max_packet_bytes=self.max_packet_bytes)
        return max(1, min(by_time, by_size))


@dataclass(frozen=True)
class SensorErrors:
    """Deliberate sensor errors of one simulated device (calibration tests and benchmarks).

    Applies to the device of ``kind`` worn on ``side``. A field left at None keeps the
    sensor model's default (for the IMU biases: drawn at random, as without this record).

    Attributes:
        kind, side: which device.
        acc_bias_g: ``(3,)`` accelerometer offset (g).
        acc_scale: ``(3,)`` accelerometer sensitivity per axis.
        gyr_bias_dps: ``(3,)`` gyroscope bias (deg/s).
        gyr_bias_drift_dps_per_min: gyroscope bias random walk (deg/s per minute RMS).
        mount_rotation: ``(3, 3)`` rows of the rotation from the segment frame into the
            sensor's axes (a sensor strapped on at an angle).
        cell_gain: one sensitivity per insole cell.
        zero_offset_n: one zero offset per insole cell (N).
        response_exponent: FSR static nonlinearity (1 = linear).
        acc_noise_g, gyr_noise_dps: IMU white noise (None: the model's default).
        dead_cells: insole cells that always read zero (a broken trace).
        saturated_cells: insole cells stuck at full scale.
        stuck_axis: IMU channel (0–5: ax ay az gx gy gz) that repeats its first reading.
        reported_side: the side the device announces in its hello when it is not the one
            it is worn on (a swapped device); None: the true side.
        rate_error_pct: the sample clock runs this much faster than the rate the hello
            announces (%), measured on the device's own clock.
    """

    kind: StreamKind
    side: Side
    acc_bias_g: tuple[float, ...] | None = None
    acc_scale: tuple[float, ...] | None = None
    gyr_bias_dps: tuple[float, ...] | None = None
    gyr_bias_drift_dps_per_min: float | None = None
    mount_rotation: tuple[tuple[float, ...], ...] | None = None
    cell_gain: tuple[float, ...] | None = None
    zero_offset_n: tuple[float, ...] | None = None
    response_exponent: float = 1.0
    acc_noise_g: float | None = None
    gyr_noise_dps: float | None = None
    dead_cells: tuple[int, ...] = ()
    saturated_cells: tuple[int, ...] = ()
    stuck_axis: int | None = None
    reported_side: Side | None = None
    rate_error_pct: float = 0.0

    def imu_model(self, rng: np.random.Generator, spec: DeviceSpec) -> ImuSensorModel:
        """The IMU sensor model with these errors (draws what is left at None from ``rng``)."""
        extra: dict[str, Any] = {}
        for name in ("gyr_bias_drift_dps_per_min", "acc_noise_g", "gyr_noise_dps"):
            if getattr(self, name) is not None:
                extra[name] = getattr(self, name)
        return ImuSensorModel(
            rng=rng,
            acc_full_scale_g=float(spec.accel_full_scale_g),
            gyr_full_scale_dps=float(spec.gyro_full_scale_dps),
            acc_bias_g=None if self.acc_bias_g is None else np.asarray(self.acc_bias_g),
            gyr_bias_dps=None if self.gyr_bias_dps is None else np.asarray(self.gyr_bias_dps),
            acc_scale=None if self.acc_scale is None else np.asarray(self.acc_scale),
            mount_rotation=(
                None if self.mount_rotation is None else np.asarray(self.mount_rotation)
            ),
            **extra,
        )

    def insole_model(self, rng: np.random.Generator) -> InsoleSensorModel:
        """The insole sensor model with these errors."""
        return InsoleSensorModel(
            rng=rng,
            cell_gain=None if self.cell_gain is None else np.asarray(self.cell_gain),
            zero_offset_n=None if self.zero_offset_n is None else np.asarray(self.zero_offset_n),
            response_exponent=self.response_exponent,
        )


@dataclass(frozen=True)
class OutPacket:
    """A packet as the device hands it to its radio or UART.

    Attributes:
        ready_s: true host time (s) at which the packet could first be sent.
        data: the packet bytes (not framed).
        kind: what it carries.
        seq: its 16-bit sequence number.
        first_sample_s: true host time of its first sample (s), NaN for control packets.
        ordinal: packets sent before this one since the boot (the sequence number that
            never wraps).
    """

    ready_s: float
    data: bytes
    kind: StreamKind
    seq: int
    first_sample_s: float = float("nan")
    ordinal: int = 0


@dataclass
class _Boot:
    boot_id: int
    boot_host_s: float
    d0_s: float
    next_sample: int = 0
    seq: int = 0
    ordinal: int = 0
    next_hello_d_s: float = 0.0
    next_status_d_s: float = 0.0
    sent_hello: bool = False


@dataclass
class VirtualDevice:
    """A device that streams the runner model, chunk by chunk."""

    spec: DeviceSpec
    plan: StepPlan
    rng: np.random.Generator
    layout: InsoleLayout | None = None
    insole_model: InsoleSensorModel | None = None
    imu_model: ImuSensorModel | None = None
    start_s: float = 0.0
    """Host time (s) at which the device powers up and starts sampling."""
    errors: SensorErrors | None = None
    """Pathologies applied to the counts, the hello and the sample clock (None: none)."""
    _clock_offset_s: float = field(init=False)
    _boot: _Boot = field(init=False)

    def __post_init__(self) -> None:
        if self.spec.kind == StreamKind.INSOLE:
            if self.layout is None:
                self.layout = InsoleLayout.default(self.spec.n_cells)
            if self.insole_model is None:
                self.insole_model = InsoleSensorModel(rng=self.rng)
        elif self.imu_model is None:
            self.imu_model = ImuSensorModel(
                rng=self.rng,
                acc_full_scale_g=float(self.spec.accel_full_scale_g),
                gyr_full_scale_dps=float(self.spec.gyro_full_scale_dps),
            )
        self._clock_offset_s = self.spec.clock_offset_s
        self._clock_history: list[tuple[float, float]] = [(-np.inf, self._clock_offset_s)]
        self._reboots_s: list[float] = []
        self._stuck_count: int | None = None
        self._boot = self._new_boot(self.start_s, float(self.device_time(self.start_s)))

    # --------------------------------------------------------------- clock
    @property
    def _rate_ratio(self) -> float:
        return 1.0 + self.spec.clock_ppm * 1e-6

    def device_time(self, host_s: float | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Device clock reading (s) at true host time ``host_s``."""
        return np.asarray(self._clock_offset_s + np.asarray(host_s) * self._rate_ratio)

    def host_time(self, device_s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """True host time (s) at device clock reading ``device_s``."""
        return (np.asarray(device_s) - self._clock_offset_s) / self._rate_ratio

    def true_host_time(
        self, t_device_s: npt.NDArray[np.float64], t_host_hint_s: float
    ) -> npt.NDArray[np.float64]:
        """True host time (s) of device clock readings from the boot running at ``t_host_hint_s``.

        Scores a clock mapping across reboots: the hint (e.g. the mapped time, good to a few
        ms) selects which boot's clock the readings belong to.
        """
        starts = [start for start, _ in self._clock_history]
        offset = self._clock_history[int(np.searchsorted(starts, t_host_hint_s, "right")) - 1][1]
        return (np.asarray(t_device_s) - offset) / self._rate_ratio

    @property
    def reboot_times_s(self) -> list[float]:
        """Host times (s) at which the device rebooted (its clock restarted)."""
        return list(self._reboots_s)

    # ---------------------------------------------------------------- boot
    @property
    def _sample_rate_hz(self) -> float:
        """The rate samples are actually taken at (device clock, Hz)."""
        error = 0.0 if self.errors is None else self.errors.rate_error_pct
        return self.spec.rate_hz * (1.0 + 0.01 * error)

    def _new_boot(self, host_s: float, d0_s: float) -> _Boot:
        boot_id = int(self.rng.integers(1, 0xFFFF))
        return _Boot(
            seq=self.spec.first_seq & 0xFFFF,
            boot_id=boot_id,
            boot_host_s=host_s,
            d0_s=d0_s,
            next_hello_d_s=d0_s,
            next_status_d_s=d0_s + 0.5,
        )

    def reboot(self, host_s: float) -> None:
        """Restart the device at host time ``host_s``: new boot id, clock near zero, seq 0."""
        restart_d = float(self.rng.uniform(0.0, 0.05))
        self._clock_offset_s = restart_d - host_s * self._rate_ratio
        self._clock_history.append((host_s, self._clock_offset_s))
        self._reboots_s.append(host_s)
        self._boot = self._new_boot(host_s, restart_d)

    def step_clock(self, host_s: float, step_s: float) -> None:
        """Step the timestamp counter by ``step_s`` (s) at host time ``host_s``.

        The sample timer runs on undisturbed: later samples are taken when they would have
        been, but stamped ``step_s`` later (a firmware re-synchronising its clock).
        """
        self._clock_offset_s += step_s
        self._clock_history.append((host_s, self._clock_offset_s))
        b = self._boot
        b.d0_s += step_s
        b.next_hello_d_s += step_s
        b.next_status_d_s += step_s

    def resume(self, host_s: float) -> None:
        """Skip to ``host_s`` without sending (the device was off the link); seq runs on.

        Packets that would have been produced meanwhile are counted as sent and lost, as a
        device that keeps sampling while its link is down would do.
        """
        b = self._boot
        d_now = float(self.device_time(host_s))
        k_now = int(np.floor((d_now - b.d0_s) * self._sample_rate_hz))
        spp = self.spec.samples_per_packet
        if k_now > b.next_sample:
            skipped_packets = (k_now - b.next_sample) // spp
            b.next_sample += skipped_packets * spp
            b.seq = (b.seq + skipped_packets) & 0xFFFF
            b.ordinal += skipped_packets
        b.sent_hello = False
        b.next_hello_d_s = d_now

    @property
    def next_ordinal(self) -> int:
        """Packets sent since the boot (never wraps)."""
        return self._boot.ordinal

    def hello(self) -> Hello:
        s = self.spec
        if self.errors is not None and self.errors.reported_side is not None:
            s = replace(s, side=self.errors.reported_side)
        if s.kind == StreamKind.IMU:
            return Hello(
                StreamKind.IMU,
                s.side,
                s.mount,
                1,
                self._boot.boot_id,
                s.rate_hz,
                s.samples_per_packet,
                s.accel_full_scale_g,
                s.gyro_full_scale_dps,
            )
        assert self.layout is not None
        return Hello(
            StreamKind.INSOLE,
            s.side,
            s.mount,
            1,
            self._boot.boot_id,
            s.rate_hz,
            s.samples_per_packet,
            newtons_per_count=s.newtons_per_count,
            cell_area_cm2=tuple(float(a) for a in self.layout.area_cm2),
        )

    # ------------------------------------------------------------ sampling
    def _counts(self, t_host_s: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
        s = self.spec
        if s.kind == StreamKind.INSOLE:
            assert self.layout is not None
            assert self.insole_model is not None
            forces = cell_forces_n(self.plan, s.side, t_host_s, self.layout)
            measured = self.insole_model.apply(t_host_s, forces)
            cells = np.clip(np.rint(measured / s.newtons_per_count), 0, 65535).astype(np.int32)
            if self.errors is not None:
                cells[:, list(self.errors.dead_cells)] = 0
                cells[:, list(self.errors.saturated_cells)] = 65535
            return cells
        assert self.imu_model is not None
        acc, gyr = imu_signals(self.plan, s.side, t_host_s, s.mount)
        acc, gyr = self.imu_model.apply(t_host_s, acc, gyr)
        counts = np.empty((t_host_s.shape[0], 6))
        counts[:, :3] = acc * (IMU_COUNTS_FULL_SCALE / s.accel_full_scale_g)
        counts[:, 3:] = gyr * (IMU_COUNTS_FULL_SCALE / s.gyro_full_scale_dps)
        out = np.clip(np.rint(counts), -32768, 32767).astype(np.int32)
        if self.errors is not None and self.errors.stuck_axis is not None and out.shape[0]:
            axis = self.errors.stuck_axis
            if self._stuck_count is None:
                self._stuck_count = int(out[0, axis])
            out[:, axis] = self._stuck_count
        return out

    def produce(self, until_host_s: float) -> list[OutPacket]:
        """Every packet that becomes ready up to true host time ``until_host_s``, in order."""
        s, b = self.spec, self._boot
        spp = s.samples_per_packet
        d_until = float(self.device_time(until_host_s))
        rate_hz = self._sample_rate_hz
        k_end = int(np.floor((d_until - b.d0_s) * rate_hz)) + 1
        n_packets = max(0, (k_end - b.next_sample) // spp)
        out: list[OutPacket] = []
        if n_packets:
            k = b.next_sample + np.arange(n_packets * spp)
            d_samples = b.d0_s + k / rate_hz
            t_samples = self.host_time(d_samples)
            counts = self._counts(t_samples)
            for i in range(n_packets):
                rows = slice(i * spp, (i + 1) * spp)
                d_first = float(d_samples[i * spp])
                ready = float(t_samples[(i + 1) * spp - 1])
                out.extend(self._control_until(d_first, ready))
                t_us = round(d_first * 1e6) % _U32
                data = encode_data(
                    s.kind,
                    s.device_id,
                    b.seq,
                    t_us,
                    counts[rows],
                    max_packet_bytes=s.max_packet_bytes,
                )
                out.append(
                    OutPacket(ready, data, s.kind, b.seq, float(t_samples[i * spp]), b.ordinal)
                )
                self._advance_seq()
            b.next_sample += n_packets * spp
        return out

    def _advance_seq(self) -> None:
        self._boot.seq = (self._boot.seq + 1) & 0xFFFF
        self._boot.ordinal += 1

    def _control_until(self, d_s: float, ready_s: float) -> list[OutPacket]:
        """Hello and status packets due on the device clock before device time ``d_s``."""
        s, b = self.spec, self._boot
        out: list[OutPacket] = []
        t_us = round(d_s * 1e6) % _U32
        if not b.sent_hello or d_s >= b.next_hello_d_s:
            data = encode_hello(
                s.device_id, b.seq, t_us, self.hello(), max_packet_bytes=s.max_packet_bytes
            )
            out.append(OutPacket(ready_s, data, StreamKind.HELLO, b.seq, ordinal=b.ordinal))
            self._advance_seq()
            b.sent_hello = True
            b.next_hello_d_s = d_s + s.hello_every_s
        if d_s >= b.next_status_d_s:
            status = Status(s.battery_pct, 0, b.boot_id)
            data = encode_status(
                s.device_id, b.seq, t_us, status, max_packet_bytes=s.max_packet_bytes
            )
            out.append(OutPacket(ready_s, data, StreamKind.STATUS, b.seq, ordinal=b.ordinal))
            self._advance_seq()
            b.next_status_d_s = d_s + s.status_every_s
        return out
