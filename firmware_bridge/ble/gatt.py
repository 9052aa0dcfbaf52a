"""The gaitcue GATT service: UUIDs, control opcodes, advertisement data and notification layout.

See the BLE section of ``firmware_bridge/PROTOCOL.md``. In short:

* service ``GAITCUE_SERVICE_UUID`` with a *data* characteristic (notify) and a *control*
  characteristic (write with response, notify for the replies);
* a data notification carries one or more whole protocol packets back to back; a packet
  never exceeds ``ATT_MTU − 3`` bytes;
* below ``FRAGMENT_BELOW_MTU`` (ATT_MTU 23, the default before an exchange) a device cuts
  each packet into fragments of at most ``ATT_MTU − 4`` bytes behind a one-byte fragment
  header, one fragment per notification;
* the advertisement carries manufacturer data (company ``0xFFFF``) with the device kind,
  side and id, so ``--ble auto`` can pair devices by side before connecting.

Everything here is pure bytes-in, bytes-out; nothing touches bleak.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

from firmware_bridge.errors import ProtocolError
from firmware_bridge.protocol import HEADER, OVERHEAD_BYTES, PROTOCOL_VERSION
from firmware_bridge.samples import Mount, Side, StreamKind


def _uuid(short: int) -> str:
    return f"3f54{short:04x}-d1a0-468e-859a-18b3f2870b05"


GAITCUE_SERVICE_UUID = _uuid(0x0001)
DATA_CHAR_UUID = _uuid(0x0002)
"""Notify: one or more whole protocol packets per notification (or one fragment)."""
CONTROL_CHAR_UUID = _uuid(0x0003)
"""Write with response: a request; notify: the reply ``[0x80 | opcode, status, payload…]``."""

MANUFACTURER_ID = 0xFFFF
"""Company id of gaitcue's manufacturer data (0xFFFF: the id reserved for tests and
prototypes; a released product uses its own assigned id)."""

ATT_MTU_DEFAULT = 23
ATT_MTU_MAX_USED = 247
"""The MTU gaitcue asks for: 244-byte notifications, one LL PDU with Data Length Extension."""
ATT_NOTIFY_OVERHEAD = 3
FRAGMENT_BELOW_MTU = 67
"""Below this ATT_MTU (notification payload < 64 bytes) the device fragments its packets."""
FRAGMENT_HEADER_BYTES = 1
_FRAGMENT_FLAG = 0x80
_FRAGMENT_FIRST = 0x40
_FRAGMENT_LAST = 0x20
_FRAGMENT_COUNTER_MASK = 0x1F


class ControlOp(enum.IntEnum):
    """Requests written to the control characteristic."""

    START = 0x01
    """Start streaming on the data characteristic (the device sends a hello first)."""
    STOP = 0x02
    """Stop streaming."""
    SET_RATE = 0x03
    """uint16 sample rate (Hz); takes effect at the next START."""
    GET_INFO = 0x04
    """Reply payload: ``DeviceInfo``."""


class ControlStatus(enum.IntEnum):
    """Second byte of a control reply."""

    OK = 0
    UNKNOWN_OPCODE = 1
    INVALID_PARAMETER = 2
    NOT_ALLOWED = 3


REPLY_FLAG = 0x80
_INFO = struct.Struct("<IBBBBHHB")
_RATE = struct.Struct("<H")


def control_request(op: ControlOp, rate_hz: int | None = None) -> bytes:
    """The bytes to write for ``op`` (``rate_hz`` for ``SET_RATE``)."""
    if op == ControlOp.SET_RATE:
        if rate_hz is None or not 1 <= rate_hz <= 0xFFFF:
            raise ValueError(f"SET_RATE needs a rate of 1..65535 Hz, got {rate_hz}")
        return bytes([op]) + _RATE.pack(rate_hz)
    return bytes([op])


def parse_control_request(data: bytes) -> tuple[int, bytes]:
    """(opcode, parameter bytes) of a written request."""
    if not data:
        raise ProtocolError("empty control request")
    return data[0], bytes(data[1:])


def parse_rate(parameter: bytes) -> int:
    """The rate (Hz) of a ``SET_RATE`` parameter."""
    if len(parameter) != _RATE.size:
        raise ProtocolError(f"SET_RATE carries {len(parameter)} bytes, expected 2")
    return int(_RATE.unpack(parameter)[0])


def control_reply(opcode: int, status: ControlStatus, payload: bytes = b"") -> bytes:
    """A reply notification on the control characteristic."""
    return bytes([REPLY_FLAG | (opcode & 0x7F), int(status)]) + payload


@dataclass(frozen=True)
class ControlReply:
    """A decoded reply: the request's opcode, its status and any payload."""

    opcode: int
    status: int
    payload: bytes

    @classmethod
    def decode(cls, data: bytes) -> ControlReply:
        if len(data) < 2 or not data[0] & REPLY_FLAG:
            raise ProtocolError(f"malformed control reply {bytes(data).hex()}")
        return cls(data[0] & 0x7F, data[1], bytes(data[2:]))


@dataclass(frozen=True)
class DeviceInfo:
    """What ``GET_INFO`` returns.

    Attributes:
        device_id: the 32-bit id the device's packets carry.
        kind: ``StreamKind.IMU`` or ``StreamKind.INSOLE``.
        side, mount: where it is worn.
        firmware_version: the firmware's version number.
        rate_hz: the sample rate the next START uses (Hz).
        att_mtu: the ATT_MTU the device negotiated (bytes).
        n_channels: values per sample (6 for an IMU, the cell count for an insole).
    """

    device_id: int
    kind: StreamKind
    side: Side
    mount: Mount
    firmware_version: int
    rate_hz: int
    att_mtu: int
    n_channels: int

    def encode(self) -> bytes:
        return _INFO.pack(
            self.device_id,
            int(self.kind),
            int(self.side),
            int(self.mount),
            self.firmware_version,
            self.rate_hz,
            self.att_mtu,
            self.n_channels,
        )

    @classmethod
    def decode(cls, payload: bytes) -> DeviceInfo:
        if len(payload) != _INFO.size:
            raise ProtocolError(f"device info has {len(payload)} bytes, expected {_INFO.size}")
        device_id, kind, side, mount, fw, rate, mtu, n_ch = _INFO.unpack(payload)
        try:
            return cls(device_id, StreamKind(kind), Side(side), Mount(mount), fw, rate, mtu, n_ch)
        except ValueError as exc:
            raise ProtocolError(f"device info carries an unknown code: {exc}") from None


# ----------------------------------------------------------------- advertisement
_ADVERT = struct.Struct("<BBI")


@dataclass(frozen=True)
class AdvertInfo:
    """The manufacturer data of a gaitcue advertisement: kind, side and device id."""

    kind: StreamKind
    side: Side
    device_id: int

    def encode(self) -> bytes:
        return _ADVERT.pack(int(self.kind), int(self.side), self.device_id)

    @classmethod
    def decode(cls, data: bytes) -> AdvertInfo | None:
        """None when the bytes are not a gaitcue advertisement."""
        if len(data) != _ADVERT.size:
            return None
        kind, side, device_id = _ADVERT.unpack(data)
        try:
            return cls(StreamKind(kind), Side(side), device_id)
        except ValueError:
            return None


# ----------------------------------------------------------------- notifications
def notify_payload_bytes(att_mtu: int) -> int:
    """Bytes one notification carries at this ATT_MTU."""
    return att_mtu - ATT_NOTIFY_OVERHEAD


def fragments_packets(att_mtu: int) -> bool:
    """Whether a device fragments its packets at this ATT_MTU."""
    return att_mtu < FRAGMENT_BELOW_MTU


def packet_limit_bytes(att_mtu: int) -> int:
    """Largest packet a device builds at this ATT_MTU (fragmented links keep 244)."""
    if fragments_packets(att_mtu):
        return 244
    return min(244, notify_payload_bytes(att_mtu))


def fragment_packet(packet: bytes, att_mtu: int, counter: int) -> tuple[list[bytes], int]:
    """Cut one packet into fragment notifications; returns them and the next counter."""
    room = notify_payload_bytes(att_mtu) - FRAGMENT_HEADER_BYTES
    if room < 1:
        raise ValueError(f"ATT_MTU {att_mtu} leaves no room for a fragment")
    pieces = [packet[i : i + room] for i in range(0, len(packet), room)]
    out: list[bytes] = []
    for i, piece in enumerate(pieces):
        header = _FRAGMENT_FLAG | (counter & _FRAGMENT_COUNTER_MASK)
        if i == 0:
            header |= _FRAGMENT_FIRST
        if i == len(pieces) - 1:
            header |= _FRAGMENT_LAST
        out.append(bytes([header]) + piece)
        counter = (counter + 1) & _FRAGMENT_COUNTER_MASK
    return out, counter


def pack_notifications(packets: list[bytes], att_mtu: int) -> list[bytes]:
    """Pack whole packets, in order, into as few notifications as fit ``ATT_MTU − 3`` each."""
    room = notify_payload_bytes(att_mtu)
    out: list[bytes] = []
    current = b""
    for packet in packets:
        if len(packet) > room:
            raise ValueError(f"a {len(packet)}-byte packet does not fit ATT_MTU {att_mtu}")
        if current and len(current) + len(packet) > room:
            out.append(current)
            current = b""
        current += packet
    if current:
        out.append(current)
    return out


_HELLO_COMMON_BYTES = 9
_HELLO_IMU_BYTES = 4
_HELLO_INSOLE_FIXED_BYTES = 5
_STATUS_BYTES = 4


def packet_length(data: bytes, offset: int = 0) -> int | None:
    """Length of the packet starting at ``offset``, from its header (and a hello's own
    fields); None when too few bytes are there to tell."""
    if len(data) - offset < HEADER.size:
        return None
    _, kind, _, _, _, n_samples, n_channels = HEADER.unpack_from(data, offset)
    if kind in (StreamKind.IMU, StreamKind.INSOLE):
        return OVERHEAD_BYTES + 2 * n_samples * n_channels
    if kind == StreamKind.STATUS:
        return OVERHEAD_BYTES + _STATUS_BYTES
    if kind == StreamKind.HELLO:
        body = offset + HEADER.size
        if len(data) <= body:
            return None
        if data[body] == StreamKind.IMU:
            return OVERHEAD_BYTES + _HELLO_COMMON_BYTES + _HELLO_IMU_BYTES
        cells_at = body + _HELLO_COMMON_BYTES
        if len(data) <= cells_at:
            return None
        return OVERHEAD_BYTES + _HELLO_COMMON_BYTES + _HELLO_INSOLE_FIXED_BYTES + 2 * data[cells_at]
    raise ProtocolError(f"unknown packet kind {kind} in a notification")


@dataclass
class NotificationCounters:
    """What the notification layer saw on one link.

    Attributes:
        notifications: data notifications received.
        packets: whole packets split out of them.
        fragments: fragment notifications received.
        broken_fragments: packets abandoned because a fragment went missing.
        malformed: notifications (or their tails) that did not split into packets.
    """

    notifications: int = 0
    packets: int = 0
    fragments: int = 0
    broken_fragments: int = 0
    malformed: int = 0
    bytes: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class NotificationReader:
    """Splits data notifications into packet bytes, reassembling fragments."""

    def __init__(self) -> None:
        self.counters = NotificationCounters()
        self._partial = bytearray()
        self._expect_counter: int | None = None

    def reset(self) -> None:
        """Forget a half-received fragmented packet (after a reconnect)."""
        self._partial.clear()
        self._expect_counter = None

    def feed(self, data: bytes) -> list[bytes]:
        """The whole packets of one notification (possibly none)."""
        c = self.counters
        c.notifications += 1
        c.bytes += len(data)
        if not data:
            c.malformed += 1
            return []
        if data[0] & _FRAGMENT_FLAG:
            return self._fragment(data)
        if data[0] != PROTOCOL_VERSION:
            c.malformed += 1
            return []
        out: list[bytes] = []
        offset = 0
        while offset < len(data):
            try:
                length = packet_length(data, offset)
            except ProtocolError:
                length = None
            if length is None or offset + length > len(data):
                c.malformed += 1
                break
            out.append(bytes(data[offset : offset + length]))
            offset += length
        c.packets += len(out)
        return out

    def _fragment(self, data: bytes) -> list[bytes]:
        c = self.counters
        c.fragments += 1
        header = data[0]
        counter = header & _FRAGMENT_COUNTER_MASK
        if self._expect_counter is not None and counter != self._expect_counter:
            # A fragment went missing: the packet it belonged to cannot be completed.
            if self._partial or not header & _FRAGMENT_FIRST:
                c.broken_fragments += 1
            self._partial.clear()
        self._expect_counter = (counter + 1) & _FRAGMENT_COUNTER_MASK
        if header & _FRAGMENT_FIRST:
            if self._partial:
                c.broken_fragments += 1
            self._partial = bytearray(data[1:])
        elif self._partial:
            self._partial += data[1:]
        else:
            return []  # the start of this packet was lost (or came before we listened)
        if not header & _FRAGMENT_LAST:
            return []
        packet, self._partial = bytes(self._partial), bytearray()
        c.packets += 1
        return [packet]
