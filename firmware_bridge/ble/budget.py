"""What a gaitcue device needs from a BLE link, what a link gives, and the rates that fit.

Pure arithmetic from the protocol sizes (``PROTOCOL.md``) and a plain link model:

* **need**: a device sends ``rate / samples_per_packet`` data packets per second (10 ms of
  data per packet, fewer samples when the packet limit says so), plus a hello every 2 s and
  a status every second. At ATT_MTU ≥ 67 packets ready in the same connection interval share
  notifications of up to ``ATT_MTU − 3`` bytes; below, each packet is cut into
  ``ATT_MTU − 4``-byte fragments, one per notification.
* **give**: a link delivers at most ``pdus_per_event`` notifications per connection event
  (a stack limit: 4–7 is what phones and PC adapters commonly allow; ``BleTiming`` in the
  simulator uses 6), each of ``ATT_MTU − 3`` bytes, and one connection event per interval.
  With Data Length Extension a notification of up to 244 bytes is one link-layer PDU.
* **air time**: all devices share the central's radio. A notification of ``n`` bytes is an
  LL PDU of ``n + 7`` payload bytes (ATT and L2CAP headers) plus 10 bytes of framing at
  8 µs per byte (1M PHY), an empty PDU back from the central (80 µs) and two 150 µs
  inter-frame spaces.

A device fits when its notifications per second stay within ``HEADROOM`` of what its link
gives and the whole set's air time stays within ``HEADROOM`` of the radio's time. gaitcue
plans for the four-device set (two 16-cell insoles at 200 Hz, two IMUs at 1 kHz): when
the set does not fit a link of this MTU, ``plan_set_rates`` lowers rates rung by rung, and a
device asks for its kind's planned rate (``fallback_rate_hz``) when it connects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from firmware_bridge.ble.gatt import (
    FRAGMENT_HEADER_BYTES,
    fragments_packets,
    notify_payload_bytes,
    packet_limit_bytes,
)
from firmware_bridge.protocol import OVERHEAD_BYTES
from firmware_bridge.samples import StreamKind

HEADROOM = 0.7
"""Share of a link's (and the radio's) capacity a plan may use; the rest absorbs
retransmissions, missed events and stalls."""
PDUS_PER_EVENT = 6
PACKET_S = 0.010
STATUS_BYTES = 20
_US_PER_BYTE_1M = 8.0
_LL_FRAMING_BYTES = 10
_ATT_L2CAP_BYTES = 7
_EMPTY_PDU_US = 80.0
_IFS_US = 150.0

RATE_LADDER_HZ = {StreamKind.IMU: (1000, 500, 200, 100), StreamKind.INSOLE: (200, 100, 50)}
"""Rates a gaitcue device offers, highest first; the fallback takes the highest that fits."""
ASSUMED_INTERVAL_S = 0.015
"""Connection interval assumed when choosing a fallback rate: bleak cannot read the
negotiated interval on every platform, and 15 ms is what Windows and macOS commonly grant."""


def hello_bytes(kind: StreamKind, n_channels: int) -> int:
    """Size of a device's hello packet."""
    if kind == StreamKind.IMU:
        return OVERHEAD_BYTES + 9 + 4
    return OVERHEAD_BYTES + 9 + 5 + 2 * n_channels


@dataclass(frozen=True)
class DeviceNeed:
    """One device's traffic.

    Attributes:
        samples_per_packet: samples in one data packet.
        packets_per_s: data plus control packets per second.
        bytes_per_s: protocol bytes per second (packets, no BLE overhead).
        notifications_per_s: notifications per second at the given MTU and interval.
        notification_bytes: mean notification size (bytes).
    """

    samples_per_packet: int
    packets_per_s: float
    bytes_per_s: float
    notifications_per_s: float
    notification_bytes: float


def device_need(
    kind: StreamKind,
    rate_hz: float,
    n_channels: int,
    *,
    att_mtu: int,
    interval_s: float,
) -> DeviceNeed:
    """The traffic of one device streaming at ``rate_hz`` over a link with this MTU."""
    limit = packet_limit_bytes(att_mtu)
    by_size = max(1, (limit - OVERHEAD_BYTES) // (2 * n_channels))
    spp = max(1, min(max(1, round(PACKET_S * rate_hz)), by_size))
    data_len = OVERHEAD_BYTES + 2 * spp * n_channels
    data_pps = rate_hz / spp
    control = [(hello_bytes(kind, n_channels), 0.5), (STATUS_BYTES, 1.0)]
    packets_per_s = data_pps + sum(rate for _, rate in control)
    bytes_per_s = data_pps * data_len + sum(size * rate for size, rate in control)
    if fragments_packets(att_mtu):
        room = notify_payload_bytes(att_mtu) - FRAGMENT_HEADER_BYTES
        notifications = data_pps * math.ceil(data_len / room) + sum(
            rate * math.ceil(size / room) for size, rate in control
        )
    else:
        room = notify_payload_bytes(att_mtu)
        per_notification = max(1, room // data_len)
        per_interval = data_pps * interval_s
        notifications = math.ceil(per_interval / per_notification) / interval_s + sum(
            rate for _, rate in control
        )
    return DeviceNeed(
        samples_per_packet=spp,
        packets_per_s=packets_per_s,
        bytes_per_s=bytes_per_s,
        notifications_per_s=notifications,
        notification_bytes=bytes_per_s / notifications if notifications else 0.0,
    )


@dataclass(frozen=True)
class LinkCapacity:
    """What one link gives: notifications and bytes per second at most."""

    notifications_per_s: float
    bytes_per_s: float


def link_capacity(
    *, att_mtu: int, interval_s: float, pdus_per_event: int = PDUS_PER_EVENT
) -> LinkCapacity:
    """Capacity of one connection at this MTU and connection interval."""
    per_s = pdus_per_event / interval_s
    room = notify_payload_bytes(att_mtu) - (
        FRAGMENT_HEADER_BYTES if fragments_packets(att_mtu) else 0
    )
    return LinkCapacity(notifications_per_s=per_s, bytes_per_s=per_s * room)


def air_time_share(needs: list[DeviceNeed]) -> float:
    """Share of the radio's time (0–1+) the devices' notifications occupy on a 1M PHY."""
    total_us = 0.0
    for need in needs:
        pdu_bytes = need.notification_bytes + _ATT_L2CAP_BYTES + _LL_FRAMING_BYTES
        exchange_us = pdu_bytes * _US_PER_BYTE_1M + 2 * _IFS_US + _EMPTY_PDU_US
        total_us += need.notifications_per_s * exchange_us
    return total_us * 1e-6


def fits(need: DeviceNeed, capacity: LinkCapacity, headroom: float = HEADROOM) -> bool:
    """Whether one device's notifications stay within the headroom of its link."""
    return need.notifications_per_s <= headroom * capacity.notifications_per_s


STANDARD_SET: tuple[tuple[StreamKind, int, int], ...] = (
    (StreamKind.INSOLE, 200, 16),
    (StreamKind.INSOLE, 200, 16),
    (StreamKind.IMU, 1000, 6),
    (StreamKind.IMU, 1000, 6),
)
"""(kind, full rate Hz, channels) of the four-device set gaitcue plans for."""


def plan_set_rates(
    devices: tuple[tuple[StreamKind, int, int], ...] = STANDARD_SET,
    *,
    att_mtu: int,
    interval_s: float = ASSUMED_INTERVAL_S,
    pdus_per_event: int = PDUS_PER_EVENT,
) -> tuple[list[int], bool]:
    """Rates for a set of devices sharing one radio, each on its own link.

    Starting from the full rates, the device with the largest air-time share that still has
    a lower rung steps down until every device fits its link and the set fits the radio
    (both within ``HEADROOM``). Returns the rates and whether they fit.
    """
    capacity = link_capacity(att_mtu=att_mtu, interval_s=interval_s, pdus_per_event=pdus_per_event)
    rates = [rate for _, rate, _ in devices]

    def needs() -> list[DeviceNeed]:
        return [
            device_need(kind, rate, ch, att_mtu=att_mtu, interval_s=interval_s)
            for (kind, _, ch), rate in zip(devices, rates, strict=True)
        ]

    while True:
        current = needs()
        if all(fits(n, capacity) for n in current) and air_time_share(current) <= HEADROOM:
            return rates, True
        order = sorted(range(len(devices)), key=lambda i: -air_time_share([current[i]]))
        for i in order:
            lower = [r for r in RATE_LADDER_HZ.get(devices[i][0], ()) if r < rates[i]]
            if lower:
                rates[i] = lower[0]
                break
        else:
            return rates, False


def fallback_rate_hz(
    kind: StreamKind,
    rate_hz: int,
    n_channels: int,
    *,
    att_mtu: int,
    interval_s: float = ASSUMED_INTERVAL_S,
    pdus_per_event: int = PDUS_PER_EVENT,
) -> int:
    """The rate a device of the standard set streams at over this link: ``rate_hz`` when the
    whole set fits, else the rate ``plan_set_rates`` gives its kind (never above
    ``rate_hz``)."""
    devices = tuple(
        (k, rate_hz if k == kind else r, n_channels if k == kind else ch)
        for k, r, ch in STANDARD_SET
    )
    if all(k != kind for k, _, _ in devices):
        devices = (*devices, (kind, rate_hz, n_channels))
    rates, _ = plan_set_rates(
        devices, att_mtu=att_mtu, interval_s=interval_s, pdus_per_event=pdus_per_event
    )
    chosen = [r for (k, _, _), r in zip(devices, rates, strict=True) if k == kind]
    return int(min(rate_hz, min(chosen)))
