"""The gaitcue wire protocol: one binary packet format for serial and BLE.

See ``PROTOCOL.md`` beside this file for the byte layout. All integers are little-endian.
Every packet has a 14-byte header, a payload and a CRC-16/CCITT-FALSE (polynomial 0x1021,
initial value 0xFFFF) over header and payload::

    offset size field
    0      1    version            (PROTOCOL_VERSION)
    1      1    kind               (StreamKind: 1 hello, 2 IMU, 3 insole, 4 status)
    2      4    device_id          (uint32)
    6      2    seq                (uint16, +1 per packet of this device, wraps)
    8      4    t_device_us        (uint32 µs on the device clock, first sample; wraps)
    12     1    n_samples
    13     1    n_channels
    14     ...  payload
    end-2  2    crc16

Data payloads are ``n_samples × n_channels`` integers, sample-major: int16 for IMU
(ax ay az gx gy gz in counts of the hello's full scales), uint16 for insole cells (counts of
the hello's newtons per count). Samples are spaced by the nominal period on the device clock.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from firmware_bridge.errors import ProtocolError
from firmware_bridge.samples import Mount, Side, StreamKind

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<BBIHIBB")
HEADER_BYTES = HEADER.size
CRC_BYTES = 2
OVERHEAD_BYTES = HEADER_BYTES + CRC_BYTES
MAX_PACKET_BYTES = 244
"""Largest packet: ATT_MTU 247 − 3, the most BLE 4.2+/5 links negotiate."""

IMU_COUNTS_FULL_SCALE = 32768
"""IMU counts per full-scale range: a count of ±32768 means ± the hello's full scale."""

_HELLO_COMMON = struct.Struct("<BBBBHHB")
_HELLO_IMU = struct.Struct("<HH")
_HELLO_INSOLE = struct.Struct("<Bf")
_STATUS = struct.Struct("<BBH")
_AREA_UNIT_CM2 = 0.01

_DATA_DTYPES: dict[StreamKind, np.dtype[np.int16] | np.dtype[np.uint16]] = {
    StreamKind.IMU: np.dtype("<i2"),
    StreamKind.INSOLE: np.dtype("<u2"),
}
_KINDS = {
    int(kind): kind
    for kind in (StreamKind.HELLO, StreamKind.IMU, StreamKind.INSOLE, StreamKind.STATUS)
}
"""The packet kinds on the wire (footpod streams come from the RSC service, never as packets)."""


class StatusFlag:
    """Bits of ``Status.flags``."""

    CHARGING = 0x01
    LOW_BATTERY = 0x02
    SENSOR_FAULT = 0x04
    BUFFER_OVERFLOW = 0x08


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (poly 0x1021, init 0xFFFF, no reflection)."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True)
class Hello:
    """What a device says about itself when it starts streaming, and again every few seconds.

    Attributes:
        device_kind: ``StreamKind.IMU`` or ``StreamKind.INSOLE``.
        side, mount: where it is worn.
        firmware_version: the firmware's own version number.
        boot_id: random at every boot; a new value means the device clock restarted.
        rate_hz: nominal sample rate on the device clock (Hz).
        max_samples_per_packet: the most samples one data packet carries.
        accel_full_scale_g, gyro_full_scale_dps: IMU ranges (g, deg/s); 0 for insoles.
        newtons_per_count: insole force per count (N); 0 for IMUs.
        cell_area_cm2: insole cell areas (cm², 0.01 cm² resolution on the wire).
    """

    device_kind: StreamKind
    side: Side
    mount: Mount
    firmware_version: int
    boot_id: int
    rate_hz: int
    max_samples_per_packet: int
    accel_full_scale_g: int = 0
    gyro_full_scale_dps: int = 0
    newtons_per_count: float = 0.0
    cell_area_cm2: tuple[float, ...] = ()

    def encode_payload(self) -> bytes:
        common = _HELLO_COMMON.pack(
            int(self.device_kind),
            int(self.side),
            int(self.mount),
            self.firmware_version,
            self.boot_id,
            self.rate_hz,
            self.max_samples_per_packet,
        )
        if self.device_kind == StreamKind.IMU:
            return common + _HELLO_IMU.pack(self.accel_full_scale_g, self.gyro_full_scale_dps)
        if self.device_kind == StreamKind.INSOLE:
            areas = np.round(np.asarray(self.cell_area_cm2) / _AREA_UNIT_CM2).astype("<u2")
            return (
                common
                + _HELLO_INSOLE.pack(len(self.cell_area_cm2), self.newtons_per_count)
                + areas.tobytes()
            )
        raise ValueError(f"a hello describes an IMU or insole device, not {self.device_kind!r}")

    @classmethod
    def decode_payload(cls, payload: bytes) -> Hello:
        if len(payload) < _HELLO_COMMON.size:
            raise ProtocolError(f"hello payload of {len(payload)} bytes is too short")
        kind_v, side_v, mount_v, fw, boot_id, rate_hz, max_spp = _HELLO_COMMON.unpack_from(payload)
        try:
            kind, side, mount = StreamKind(kind_v), Side(side_v), Mount(mount_v)
        except ValueError as exc:
            raise ProtocolError(f"hello carries an unknown code: {exc}") from None
        if rate_hz == 0 or max_spp == 0:
            raise ProtocolError("hello announces a zero sample rate or packet size")
        rest = payload[_HELLO_COMMON.size :]
        if kind == StreamKind.IMU:
            if len(rest) != _HELLO_IMU.size:
                raise ProtocolError(f"IMU hello has {len(rest)} range bytes, expected 4")
            acc_fs, gyr_fs = _HELLO_IMU.unpack(rest)
            if acc_fs == 0 or gyr_fs == 0:
                raise ProtocolError("IMU hello announces a zero full-scale range")
            return cls(kind, side, mount, fw, boot_id, rate_hz, max_spp, acc_fs, gyr_fs)
        if kind == StreamKind.INSOLE:
            if len(rest) < _HELLO_INSOLE.size:
                raise ProtocolError("insole hello is too short for its cell count")
            n_cells, n_per_count = _HELLO_INSOLE.unpack_from(rest)
            areas_raw = rest[_HELLO_INSOLE.size :]
            if n_cells == 0 or len(areas_raw) != 2 * n_cells:
                raise ProtocolError(
                    f"insole hello announces {n_cells} cells "
                    f"but carries {len(areas_raw)} area bytes"
                )
            if not np.isfinite(n_per_count) or n_per_count <= 0:
                raise ProtocolError(f"insole hello announces {n_per_count} newtons per count")
            areas = np.frombuffer(areas_raw, dtype="<u2").astype(float) * _AREA_UNIT_CM2
            return cls(
                kind,
                side,
                mount,
                fw,
                boot_id,
                rate_hz,
                max_spp,
                newtons_per_count=float(n_per_count),
                cell_area_cm2=tuple(float(a) for a in areas),
            )
        raise ProtocolError(f"hello describes a {kind.name} device, expected IMU or INSOLE")

    @property
    def n_channels(self) -> int:
        return 6 if self.device_kind == StreamKind.IMU else len(self.cell_area_cm2)


@dataclass(frozen=True)
class Status:
    """Battery and health, sent about once a second.

    Attributes:
        battery_pct: state of charge (%), 255 when unknown.
        flags: ``StatusFlag`` bits.
        boot_id: as in ``Hello``.
    """

    battery_pct: int
    flags: int
    boot_id: int

    def encode_payload(self) -> bytes:
        return _STATUS.pack(self.battery_pct, self.flags, self.boot_id)

    @classmethod
    def decode_payload(cls, payload: bytes) -> Status:
        if len(payload) != _STATUS.size:
            raise ProtocolError(f"status payload has {len(payload)} bytes, expected {_STATUS.size}")
        return cls(*_STATUS.unpack(payload))


@dataclass(frozen=True)
class Packet:
    """One decoded packet.

    Attributes:
        kind: the packet kind.
        device_id: the sending device.
        seq: 16-bit sequence number.
        t_device_us: 32-bit device time of the first sample (µs), as sent.
        samples: ``(n_samples, n_channels)`` raw counts (int16 IMU, uint16 insole); empty
            for hello and status packets.
        hello, status: the decoded control payload, when the packet is one.
    """

    kind: StreamKind
    device_id: int
    seq: int
    t_device_us: int
    samples: npt.NDArray[np.integer] | None = None
    hello: Hello | None = None
    status: Status | None = None

    @property
    def n_samples(self) -> int:
        return 0 if self.samples is None else int(self.samples.shape[0])


def _pack(
    kind: StreamKind,
    device_id: int,
    seq: int,
    t_device_us: int,
    n_samples: int,
    n_channels: int,
    payload: bytes,
    max_packet_bytes: int,
) -> bytes:
    size = OVERHEAD_BYTES + len(payload)
    if size > max_packet_bytes:
        raise ValueError(f"packet of {size} bytes exceeds the {max_packet_bytes}-byte limit")
    body = (
        HEADER.pack(
            PROTOCOL_VERSION,
            int(kind),
            device_id & 0xFFFFFFFF,
            seq & 0xFFFF,
            t_device_us & 0xFFFFFFFF,
            n_samples,
            n_channels,
        )
        + payload
    )
    return body + crc16(body).to_bytes(2, "little")


def encode_data(
    kind: StreamKind,
    device_id: int,
    seq: int,
    t_device_us: int,
    samples: npt.ArrayLike,
    *,
    max_packet_bytes: int = MAX_PACKET_BYTES,
) -> bytes:
    """Encode a data packet of raw counts ``samples`` (n_samples, n_channels)."""
    if kind not in _DATA_DTYPES:
        raise ValueError(f"data packets carry IMU or INSOLE samples, not {kind!r}")
    arr = np.asarray(samples)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[0] > 255 or arr.shape[1] > 255:
        raise ValueError(f"samples must be (1..255, 1..255), got {arr.shape}")
    payload = arr.astype(_DATA_DTYPES[kind], copy=False).tobytes()
    return _pack(
        kind, device_id, seq, t_device_us, arr.shape[0], arr.shape[1], payload, max_packet_bytes
    )


def encode_hello(
    device_id: int,
    seq: int,
    t_device_us: int,
    hello: Hello,
    *,
    max_packet_bytes: int = MAX_PACKET_BYTES,
) -> bytes:
    """Encode a hello packet."""
    return _pack(
        StreamKind.HELLO,
        device_id,
        seq,
        t_device_us,
        0,
        0,
        hello.encode_payload(),
        max_packet_bytes,
    )


def encode_status(
    device_id: int,
    seq: int,
    t_device_us: int,
    status: Status,
    *,
    max_packet_bytes: int = MAX_PACKET_BYTES,
) -> bytes:
    """Encode a status packet."""
    return _pack(
        StreamKind.STATUS,
        device_id,
        seq,
        t_device_us,
        0,
        0,
        status.encode_payload(),
        max_packet_bytes,
    )


def decode_packet(data: bytes) -> Packet:
    """Decode one packet (already de-framed). A data packet's ``samples`` are a read-only
    view into ``data`` (immutable ``bytes``), not a copy.

    Raises:
        ProtocolError: wrong length, CRC, version, kind or payload size.
    """
    if len(data) < OVERHEAD_BYTES:
        raise ProtocolError(
            f"packet of {len(data)} bytes is shorter than the {OVERHEAD_BYTES}-byte minimum"
        )
    end = len(data) - CRC_BYTES
    if binascii.crc_hqx(memoryview(data)[:end], 0xFFFF) != data[end] | (data[end + 1] << 8):
        raise ProtocolError("packet CRC mismatch")
    version, kind_v, device_id, seq, t_us, n_samples, n_channels = HEADER.unpack_from(data)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {version} is not supported (this host speaks {PROTOCOL_VERSION})"
        )
    kind = _KINDS.get(kind_v)
    if kind is None:
        raise ProtocolError(f"unknown packet kind {kind_v}")
    dtype = _DATA_DTYPES.get(kind)
    if dtype is not None:
        carried = end - HEADER_BYTES
        count = n_samples * n_channels
        if n_samples == 0 or n_channels == 0 or carried != 2 * count:
            raise ProtocolError(
                f"{kind.name} packet announces {n_samples}×{n_channels} samples "
                f"but carries {carried} payload bytes"
            )
        if kind == StreamKind.IMU and n_channels != 6:
            raise ProtocolError(f"IMU packet carries {n_channels} channels, expected 6")
        # a read-only view of the payload inside the packet bytes, no copy
        samples = np.frombuffer(data, dtype=dtype, count=count, offset=HEADER_BYTES)
        return Packet(kind, device_id, seq, t_us, samples=samples.reshape(n_samples, n_channels))
    payload = data[HEADER_BYTES:end]
    if n_samples or n_channels:
        raise ProtocolError(f"{kind.name} packet must not announce samples")
    if kind == StreamKind.HELLO:
        return Packet(kind, device_id, seq, t_us, hello=Hello.decode_payload(payload))
    return Packet(kind, device_id, seq, t_us, status=Status.decode_payload(payload))


def max_samples_per_packet(n_channels: int, *, max_packet_bytes: int = MAX_PACKET_BYTES) -> int:
    """How many samples of ``n_channels`` 16-bit values fit one packet."""
    return max(0, (max_packet_bytes - OVERHEAD_BYTES) // (2 * n_channels))
