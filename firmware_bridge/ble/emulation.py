"""BLE without a radio: bleak backends whose devices are the simulated runner's sensors.

``EmulatedAir`` is the radio environment: a set of emulated peripherals, a host clock
(real or ``ScaledClock``) and whether an adapter "exists". Its ``client_backend`` and
``scanner_backend`` are subclasses of bleak's ``BaseBleakClient`` and ``BaseBleakScanner``;
pass them as ``backend=`` to bleak's real ``BleakClient`` and ``BleakScanner`` facades and
everything above them (gaitcue's links, scans, the CLI with ``--ble-sim``) runs unchanged.

Peripherals:

* ``GaitcuePeripheral``: one ``VirtualDevice`` of a ``SimulatedSession`` behind the gaitcue
  GATT service. Its packets are the simulator's bytes, unchanged; they are packed into
  notifications (several packets per notification, or fragments below ATT_MTU 67) and
  delivered at the connection events of the simulator's ``BleTiming`` link model (several
  notifications per 7.5–30 ms interval, jitter, stalls). Faults (``BleFaults``): dropped
  notifications, the device dropping the connection mid-stream and refusing connections for
  a while, notifications replayed after a reconnect. ``truth`` records exactly what was sent,
  delivered, lost and replayed.
* ``FootpodPeripheral``: a standard RSC footpod reporting the plan's cadence, optionally as
  one foot's rate (half), with the Battery service.

This module leans on bleak's backend interface, which bleak does not promise to keep stable
(gaitcue pins bleak >= 3, < 4); everything that touches it is in this one file.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from bleak.args import SizedBuffer
from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDeviceNotFoundError,
    BleakError,
)

from firmware_bridge.ble.battery import BATTERY_LEVEL_UUID, BATTERY_SERVICE_UUID
from firmware_bridge.ble.gatt import (
    CONTROL_CHAR_UUID,
    DATA_CHAR_UUID,
    GAITCUE_SERVICE_UUID,
    MANUFACTURER_ID,
    AdvertInfo,
    ControlOp,
    ControlStatus,
    DeviceInfo,
    control_reply,
    fragment_packet,
    fragments_packets,
    pack_notifications,
    packet_limit_bytes,
    parse_control_request,
    parse_rate,
)
from firmware_bridge.ble.hub import sleep_clock, sleep_until
from firmware_bridge.ble.rsc import (
    FEATURE_STRIDE_LENGTH,
    FEATURE_TOTAL_DISTANCE,
    FEATURE_WALK_RUN_STATUS,
    RSC_FEATURE_UUID,
    RSC_MEASUREMENT_UUID,
    RSC_SERVICE_UUID,
    encode_rsc_measurement,
)
from firmware_bridge.errors import ConfigurationError, ProtocolError
from firmware_bridge.hostclock import HostClock
from firmware_bridge.samples import StreamKind
from firmware_bridge.simulator.devices import DeviceSpec, OutPacket, VirtualDevice
from firmware_bridge.simulator.gait import StepPlan
from firmware_bridge.simulator.link_timing import BleTiming, LinkModel
from firmware_bridge.simulator.session import SimulatedSession

CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"
_PRODUCE_STEP_S = 0.05
"""The emulated devices compute their packets this far ahead (s of clock), in one go."""
_CONNECT_S = 0.05
_ADVERTISE_EVERY_S = 0.1
_MAX_RATE_HZ = 2000

CharSpec = tuple[str, tuple[CharacteristicPropertyName, ...]]


@dataclass(frozen=True)
class BleFaults:
    """Faults of an emulated gaitcue device's link.

    Attributes:
        notification_loss: probability (0–1) that a data notification never reaches the host.
        disconnect_at_s: clock times (s after the first START) at which the device drops
            the connection.
        disconnect_every_s: also drop every this many seconds of streaming (0: never).
        unreachable_s: after a drop the device refuses connections this long (s).
        duplicate_after_reconnect: after a reconnect the device first sends again this many
            of the notifications it had delivered before the drop.
    """

    notification_loss: float = 0.0
    disconnect_at_s: tuple[float, ...] = ()
    disconnect_every_s: float = 0.0
    unreachable_s: float = 0.3
    duplicate_after_reconnect: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.notification_loss <= 1.0:
            raise ConfigurationError(
                f"notification loss is a probability 0..1, got {self.notification_loss}"
            )
        if self.unreachable_s < 0 or self.disconnect_every_s < 0:
            raise ConfigurationError("BLE fault times must not be negative")

    @classmethod
    def parse(cls, spec: str) -> BleFaults:
        """Parse ``"loss=0.01,disconnect_every=20,unreachable=1,duplicates=3"``."""
        names = {
            "loss": "notification_loss",
            "disconnect_every": "disconnect_every_s",
            "unreachable": "unreachable_s",
            "duplicates": "duplicate_after_reconnect",
        }
        values: dict[str, Any] = {}
        for item in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, raw = item.partition("=")
            name = names.get(key.strip())
            if not sep or name is None:
                raise ConfigurationError(
                    f"cannot read BLE fault '{item}': use name=value with names " + ", ".join(names)
                )
            try:
                values[name] = int(raw) if name == "duplicate_after_reconnect" else float(raw)
            except ValueError:
                raise ConfigurationError(f"BLE fault '{key}' needs a number, got '{raw}'") from None
        return cls(**values)


@dataclass
class EmulationTruth:
    """What an emulated gaitcue device really did (exact, for scoring the host).

    Attributes:
        sent: every packet the device handed to its radio, in order.
        delivered: packets that reached the host intact at least once, in order, unique.
        lost_in_notifications: packets in notifications that were dropped.
        lost_at_disconnect: packets queued for the radio when the link dropped.
        skipped_in_outages: packets the device produced while disconnected (never sent).
        duplicated: packets the host received a second time (replays after reconnects).
        notifications: notifications delivered (replays included).
        disconnects: drops the device caused.
        events_with_burst: connection events that carried more than one notification.
        max_packets_per_notification: most whole packets one notification carried.
    """

    sent: list[OutPacket] = field(default_factory=list, repr=False)
    delivered: list[OutPacket] = field(default_factory=list, repr=False)
    lost_in_notifications: int = 0
    lost_at_disconnect: int = 0
    skipped_in_outages: int = 0
    duplicated: int = 0
    notifications: int = 0
    disconnects: int = 0
    events_with_burst: int = 0
    max_packets_per_notification: int = 0

    def missing_between(self) -> int:
        """Sequence numbers a receiver can know are missing: the ordinals between the first
        and the last delivered packet that never arrived."""
        if not self.delivered:
            return 0
        ordinals = {p.ordinal for p in self.delivered}
        return max(ordinals) - min(ordinals) + 1 - len(ordinals)


@dataclass
class _Queued:
    arrival_s: float
    payload: bytes
    packets: list[OutPacket]
    complete: list[OutPacket]
    """Packets whose last piece this notification carries (delivered intact if all their
    pieces got through)."""
    replay: bool = False


class EmulatedPeripheral:
    """Base of the emulated devices: advertising, GATT table, connections."""

    def __init__(
        self,
        address: str,
        name: str,
        *,
        rssi: int = -60,
        service_uuids: tuple[str, ...] = (),
        manufacturer_data: dict[int, bytes] | None = None,
    ) -> None:
        self.address = address
        self.name = name
        self.rssi = rssi
        self.service_uuids = service_uuids
        self.manufacturer_data = manufacturer_data or {}
        self.air: EmulatedAir | None = None
        self.client: FakeBleakClient | None = None
        self.unreachable_until_s = -math.inf
        self.att_mtu = 247
        self._subscribers: dict[str, NotifyCallback] = {}
        self.connections = 0

    @property
    def clock(self) -> HostClock:
        assert self.air is not None
        return self.air.clock

    # -------------------------------------------------------------- GATT table
    def gatt_table(self) -> list[tuple[str, list[CharSpec]]]:
        """(service UUID, [(characteristic UUID, properties)]) in handle order."""
        return []

    def read(self, uuid: str) -> bytes:
        raise BleakError(f"characteristic {uuid} is not readable")

    def write(self, uuid: str, data: bytes) -> None:
        raise BleakError(f"characteristic {uuid} is not writable")

    def on_subscribe(self, uuid: str) -> None:
        """A client enabled notifications on ``uuid``."""

    # ------------------------------------------------------------- connection
    def advertising(self, now_s: float) -> bool:
        return self.client is None and now_s >= self.unreachable_until_s

    def attach(self, client: FakeBleakClient) -> None:
        self.client = client
        self.connections += 1
        self._subscribers = {}

    def detach(self) -> None:
        """The host disconnected."""
        self.client = None
        self._subscribers = {}
        self.on_disconnect()

    def drop(self) -> None:
        """The device drops the link (out of range, power dip)."""
        client = self.client
        self.detach()
        self.unreachable_until_s = self.clock() + self._unreachable_s()
        if client is not None:
            client.lost()

    def _unreachable_s(self) -> float:
        return 0.3

    def on_disconnect(self) -> None:
        """Stop whatever the connection was doing."""

    def subscribe(self, uuid: str, callback: NotifyCallback) -> None:
        self._subscribers[uuid] = callback
        self.on_subscribe(uuid)

    def unsubscribe(self, uuid: str) -> None:
        self._subscribers.pop(uuid, None)

    def notify(self, uuid: str, data: bytes) -> bool:
        callback = self._subscribers.get(uuid)
        if callback is None:
            return False
        callback(bytearray(data))
        return True


class GaitcuePeripheral(EmulatedPeripheral):
    """A gaitcue sensor: a simulated ``VirtualDevice`` behind the gaitcue GATT service.

    Args:
        address, name: how it advertises.
        spec: the virtual device (id, kind, side, rate, clock) from a ``SimulatedSession``.
        plan: the runner's step plan.
        timing: the BLE link timing model (interval, packets per event, jitter, stalls).
        att_mtu: the MTU the device negotiates (23 … 247).
        faults: link faults.
        seed: seeds the device's sensor noise and the link's draws.
        battery_pct: what the Battery service reports.
    """

    def __init__(
        self,
        address: str,
        name: str,
        *,
        spec: DeviceSpec,
        plan: StepPlan,
        timing: BleTiming,
        att_mtu: int = 247,
        faults: BleFaults | None = None,
        seed: int = 0,
        battery_pct: int = 87,
        rssi: int = -60,
    ) -> None:
        super().__init__(
            address,
            name,
            rssi=rssi,
            service_uuids=(GAITCUE_SERVICE_UUID,),
            manufacturer_data={
                MANUFACTURER_ID: AdvertInfo(spec.kind, spec.side, spec.device_id).encode()
            },
        )
        if not 23 <= att_mtu <= 517:
            raise ConfigurationError(f"ATT_MTU must be 23..517, got {att_mtu}")
        self.spec = spec
        self.plan = plan
        self.timing = timing
        self.att_mtu = att_mtu
        self.faults = faults or BleFaults()
        self.battery_pct = battery_pct
        self.truth = EmulationTruth()
        self.rate_hz = spec.rate_hz
        self._rng = np.random.default_rng(seed)
        self._device_rng_seed = seed
        self._device: VirtualDevice | None = None
        self._link: LinkModel | None = None
        self._queue: deque[_Queued] = deque()
        self._history: deque[list[OutPacket]] = deque(
            maxlen=max(1, self.faults.duplicate_after_reconnect)
        )
        self._replay_pending = False
        self._task: asyncio.Task[None] | None = None
        self._fragment_counter = 0
        self._broken: set[int] = set()
        self._delivered_ids: set[int] = set()
        self._stream_start_s: float | None = None
        self._drops_at: list[float] = []
        self._next_periodic_drop_s = math.inf

    def _unreachable_s(self) -> float:
        return self.faults.unreachable_s

    def gatt_table(self) -> list[tuple[str, list[CharSpec]]]:
        return [
            (
                GAITCUE_SERVICE_UUID,
                [(DATA_CHAR_UUID, ("notify",)), (CONTROL_CHAR_UUID, ("write", "notify"))],
            ),
            (BATTERY_SERVICE_UUID, [(BATTERY_LEVEL_UUID, ("read", "notify"))]),
        ]

    def read(self, uuid: str) -> bytes:
        if uuid == BATTERY_LEVEL_UUID:
            return bytes([self.battery_pct])
        return super().read(uuid)

    def info(self) -> DeviceInfo:
        s = self.spec
        return DeviceInfo(
            s.device_id, s.kind, s.side, s.mount, 1, self.rate_hz, self.att_mtu, s.n_channels
        )

    def write(self, uuid: str, data: bytes) -> None:
        if uuid != CONTROL_CHAR_UUID:
            super().write(uuid, data)
            return
        try:
            opcode, parameter = parse_control_request(data)
        except ProtocolError:
            return
        status, payload = ControlStatus.OK, b""
        if opcode == ControlOp.START:
            self._start()
        elif opcode == ControlOp.STOP:
            self._stop()
        elif opcode == ControlOp.GET_INFO:
            payload = self.info().encode()
        elif opcode == ControlOp.SET_RATE:
            try:
                rate = parse_rate(parameter)
            except ProtocolError:
                rate = 0
            if 1 <= rate <= _MAX_RATE_HZ:
                if rate != self.rate_hz:
                    self.rate_hz = rate
                    self._device = None
            else:
                status = ControlStatus.INVALID_PARAMETER
        else:
            status = ControlStatus.UNKNOWN_OPCODE
        self.notify(CONTROL_CHAR_UUID, control_reply(opcode, status, payload))

    # -------------------------------------------------------------- streaming
    def _start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        now = self.clock()
        if self._stream_start_s is None:
            self._stream_start_s = now
            self._drops_at = sorted(now + t for t in self.faults.disconnect_at_s)
            if self.faults.disconnect_every_s > 0:
                self._next_periodic_drop_s = now + self.faults.disconnect_every_s
        if self._device is None:
            spec = replace(
                self.spec, rate_hz=self.rate_hz, max_packet_bytes=packet_limit_bytes(self.att_mtu)
            )
            self._device = VirtualDevice(
                spec, self.plan, np.random.default_rng(self._device_rng_seed), start_s=now
            )
        else:
            before = self._device.next_ordinal
            self._device.resume(now)
            self.truth.skipped_in_outages += self._device.next_ordinal - before
        self._link = LinkModel(self.timing, self._rng, t0_s=now + float(self._rng.uniform(0, 0.01)))
        if self._replay_pending and self._history:
            self._queue_packets_now(now, [p for group in self._history for p in group], replay=True)
        self._replay_pending = False
        self._task = asyncio.get_running_loop().create_task(self._stream())

    def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._discard_queue()

    def on_disconnect(self) -> None:
        self._stop()
        self._replay_pending = self.faults.duplicate_after_reconnect > 0

    def _discard_queue(self) -> None:
        lost = {id(p) for q in self._queue if not q.replay for p in q.packets}
        self.truth.lost_at_disconnect += len(lost - self._broken - self._delivered_ids)
        self._queue.clear()

    async def _stream(self) -> None:
        clock = self.clock
        produced_until = clock()
        while True:
            now = clock()
            if now >= self._next_drop_s():
                if self._drops_at and self._drops_at[0] <= now:
                    self._drops_at.pop(0)
                else:
                    self._next_periodic_drop_s = now + self.faults.disconnect_every_s
                self.truth.disconnects += 1
                self._task = None
                self.drop()
                return
            if produced_until <= now + _PRODUCE_STEP_S:
                # At most two steps per turn: a starved loop catches up in small bites and
                # stays responsive to the links' requests instead of stalling on one chunk.
                produced_until = min(now, produced_until) + 2 * _PRODUCE_STEP_S
                self._produce(produced_until)
            self._deliver(now)
            wake = produced_until - _PRODUCE_STEP_S
            if self._queue:
                wake = min(wake, self._queue[0].arrival_s)
            wake = min(wake, self._next_drop_s())
            await sleep_until(clock, max(wake, now + 1e-4))

    def _next_drop_s(self) -> float:
        return min(self._drops_at[0] if self._drops_at else math.inf, self._next_periodic_drop_s)

    def _produce(self, until_s: float) -> None:
        assert self._device is not None
        packets = self._device.produce(until_s)
        if not packets:
            return
        self.truth.sent.extend(packets)
        ready = np.array([p.ready_s for p in packets])
        self._queue_packets(packets, ready)

    def _queue_packets_now(self, now: float, packets: list[OutPacket], *, replay: bool) -> None:
        self._queue_packets(packets, np.full(len(packets), now), replay=replay)

    def _queue_packets(
        self, packets: list[OutPacket], ready: np.ndarray, *, replay: bool = False
    ) -> None:
        assert self._link is not None
        if fragments_packets(self.att_mtu):
            pieces: list[tuple[OutPacket, bytes, float, bool]] = []
            for packet, t in zip(packets, ready.tolist(), strict=True):
                frags, self._fragment_counter = fragment_packet(
                    packet.data, self.att_mtu, self._fragment_counter
                )
                for i, frag in enumerate(frags):
                    pieces.append((packet, frag, t, i == len(frags) - 1))
            arrivals = self._link.arrivals([t for _, _, t, _ in pieces])
            for (packet, frag, _, last), arrival in zip(pieces, arrivals.tolist(), strict=True):
                q = _Queued(arrival, frag, [packet], [packet] if last else [])
                self._enqueue(q, replay)
            return
        arrivals = self._link.arrivals(ready)
        i = 0
        n = len(packets)
        while i < n:
            j = i
            while j + 1 < n and arrivals[j + 1] == arrivals[i]:
                j += 1
            group = packets[i : j + 1]
            start = 0
            for payload in pack_notifications([p.data for p in group], self.att_mtu):
                count = 0
                size = 0
                while start + count < len(group) and size + len(group[start + count].data) <= len(
                    payload
                ):
                    size += len(group[start + count].data)
                    count += 1
                members = group[start : start + count]
                start += count
                self._enqueue(_Queued(float(arrivals[i]), payload, members, members), replay)
            i = j + 1

    def _enqueue(self, q: _Queued, replay: bool) -> None:
        q.replay = replay
        if not replay and self._rng.random() < self.faults.notification_loss:
            for packet in q.packets:
                if id(packet) not in self._broken:
                    self._broken.add(id(packet))
                    self.truth.lost_in_notifications += 1
            return
        self._queue.append(q)

    def _deliver(self, now: float) -> None:
        last_event: float | None = None
        delivered_ids = self._delivered_ids
        while self._queue and self._queue[0].arrival_s <= now:
            q = self._queue.popleft()
            if not self.notify(DATA_CHAR_UUID, q.payload):
                continue
            self.truth.notifications += 1
            if last_event == q.arrival_s:
                self.truth.events_with_burst += 1
            last_event = q.arrival_s
            if not fragments_packets(self.att_mtu):
                self.truth.max_packets_per_notification = max(
                    self.truth.max_packets_per_notification, len(q.packets)
                )
            for packet in q.complete:
                if id(packet) in self._broken:
                    self._broken.discard(id(packet))
                    continue
                if q.replay or id(packet) in delivered_ids:
                    self.truth.duplicated += 1
                    continue
                self.truth.delivered.append(packet)
                delivered_ids.add(id(packet))
            if not q.replay and q.complete:
                self._history.append([p for p in q.complete if id(p) in delivered_ids])


class FootpodPeripheral(EmulatedPeripheral):
    """A standard RSC footpod on the simulated runner.

    Args:
        address, name: how it advertises.
        plan: the runner's step plan (its contacts give the cadence).
        speed_m_s: the runner's speed.
        one_foot: report one foot's rate (half the step rate), as some pods do.
        period_s: one measurement per this many seconds.
        window_s: cadence over the contacts of the last ``window_s`` seconds.
        battery_pct: what the Battery service reports.
    """

    def __init__(
        self,
        address: str,
        name: str,
        *,
        plan: StepPlan,
        speed_m_s: float,
        one_foot: bool = False,
        period_s: float = 1.0,
        window_s: float = 4.0,
        battery_pct: int = 64,
        rssi: int = -70,
    ) -> None:
        super().__init__(address, name, rssi=rssi, service_uuids=(RSC_SERVICE_UUID,))
        self.plan = plan
        self.speed_m_s = speed_m_s
        self.one_foot = one_foot
        self.period_s = period_s
        self.window_s = window_s
        self.battery_pct = battery_pct
        self.sent: list[tuple[float, float]] = []
        """(host time s, true step rate steps/min) of every measurement sent."""
        self._distance_m = 0.0
        self._task: asyncio.Task[None] | None = None

    def gatt_table(self) -> list[tuple[str, list[CharSpec]]]:
        return [
            (
                RSC_SERVICE_UUID,
                [(RSC_MEASUREMENT_UUID, ("notify",)), (RSC_FEATURE_UUID, ("read",))],
            ),
            (BATTERY_SERVICE_UUID, [(BATTERY_LEVEL_UUID, ("read",))]),
        ]

    def read(self, uuid: str) -> bytes:
        if uuid == RSC_FEATURE_UUID:
            features = FEATURE_STRIDE_LENGTH | FEATURE_TOTAL_DISTANCE | FEATURE_WALK_RUN_STATUS
            return features.to_bytes(2, "little")
        if uuid == BATTERY_LEVEL_UUID:
            return bytes([self.battery_pct])
        return super().read(uuid)

    def on_subscribe(self, uuid: str) -> None:
        if uuid == RSC_MEASUREMENT_UUID and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._stream())

    def on_disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def step_rate_spm(self, t_s: float) -> float:
        """Steps per minute over the contacts of the last ``window_s`` before ``t_s``."""
        ic = self.plan.ic_s
        recent = ic[(ic > t_s - self.window_s) & (ic <= t_s)]
        if recent.size < 2:
            return 0.0
        return float(60.0 * (recent.size - 1) / (recent[-1] - recent[0]))

    async def _stream(self) -> None:
        clock = self.clock
        while True:
            await sleep_clock(clock, self.period_s)
            now = clock()
            spm = self.step_rate_spm(now)
            moving = spm > 0
            speed = self.speed_m_s if moving else 0.0
            self._distance_m += speed * self.period_s
            stride = 2.0 * speed * 60.0 / spm if moving else 0.0
            reported = spm / 2.0 if self.one_foot else spm
            data = encode_rsc_measurement(
                speed, reported, stride_m=stride, distance_m=self._distance_m, running=moving
            )
            if self.notify(RSC_MEASUREMENT_UUID, data):
                self.sent.append((now, spm))


# ------------------------------------------------------------------- bleak side
class FakeBleakClient(BaseBleakClient):
    """A bleak client backend whose peer is an emulated peripheral of ``air``."""

    air: EmulatedAir

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._peripheral: EmulatedPeripheral | None = None
        self._connected = False

    @property
    def name(self) -> str:
        peripheral = self.air.peripherals.get(self.address.upper())
        return peripheral.name if peripheral is not None else self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._peripheral.att_mtu if self._peripheral is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        self.air.check_available()
        peripheral = self.air.peripherals.get(self.address.upper())
        await sleep_clock(self.air.clock, _CONNECT_S)
        if peripheral is None or not peripheral.advertising(self.air.clock()):
            raise BleakDeviceNotFoundError(
                self.address, f"Device with address {self.address} was not found."
            )
        self._peripheral = peripheral
        self.services = _build_services(peripheral, self)
        peripheral.attach(self)
        self._connected = True

    async def disconnect(self) -> None:
        if self._peripheral is not None and self._peripheral.client is self:
            self._peripheral.detach()
        self._connected = False

    def lost(self) -> None:
        """The peripheral dropped the link: tell bleak's facade like a real backend does."""
        self._connected = False
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def unpair(self) -> None:
        return None

    def _peer(self) -> EmulatedPeripheral:
        if not self._connected or self._peripheral is None:
            raise BleakError("Not connected")
        return self._peripheral

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(self._peer().read(characteristic.uuid))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        self._peer()
        return bytearray(b"\x00\x00")

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        peer = self._peer()
        if response:
            await sleep_clock(self.air.clock, 0.01)
        peer.write(characteristic.uuid, bytes(data))

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        self._peer()

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        self._peer().subscribe(characteristic.uuid, callback)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._peer().unsubscribe(characteristic.uuid)


def _build_services(
    peripheral: EmulatedPeripheral, client: FakeBleakClient
) -> BleakGATTServiceCollection:
    collection = BleakGATTServiceCollection()
    handle = 1
    for service_uuid, chars in peripheral.gatt_table():
        service = BleakGATTService(None, handle, service_uuid)
        collection.add_service(service)
        handle += 1
        for char_uuid, properties in chars:
            char = BleakGATTCharacteristic(
                None,
                handle + 1,
                char_uuid,
                list(properties),
                lambda: client.mtu_size - 3,
                service,
            )
            collection.add_characteristic(char)
            handle += 2
            if "notify" in properties or "indicate" in properties:
                collection.add_descriptor(BleakGATTDescriptor(None, handle, CCCD_UUID, char))
                handle += 1
    return collection


class FakeBleakScanner(BaseBleakScanner):
    """A bleak scanner backend that hears the emulated peripherals of ``air``."""

    air: EmulatedAir

    def __init__(
        self,
        detection_callback: Any = None,
        service_uuids: list[str] | None = None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.air.check_available()
        self.seen_devices = {}
        self._task = asyncio.get_running_loop().create_task(self._advertisements())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _advertisements(self) -> None:
        while True:
            now = self.air.clock()
            for peripheral in list(self.air.peripherals.values()):
                if not peripheral.advertising(now) or not self.is_allowed_uuid(
                    list(peripheral.service_uuids)
                ):
                    continue
                adv = AdvertisementData(
                    local_name=peripheral.name,
                    manufacturer_data=dict(peripheral.manufacturer_data),
                    service_data={},
                    service_uuids=list(peripheral.service_uuids),
                    tx_power=None,
                    rssi=peripheral.rssi,
                    platform_data=(),
                )
                device = self.create_or_update_device(
                    peripheral.address, peripheral.address, peripheral.name, None, adv
                )
                self.call_detection_callbacks(device, adv)
            await sleep_clock(self.air.clock, _ADVERTISE_EVERY_S)


class EmulatedAir:
    """The emulated radio environment: peripherals, a clock, and whether an adapter exists.

    Args:
        clock: host clock the devices and links share (a ``ScaledClock`` runs faster).
        available: False emulates a machine whose Bluetooth is unusable, for ``reason``.
    """

    def __init__(
        self,
        clock: HostClock,
        *,
        available: bool = True,
        reason: BleakBluetoothNotAvailableReason = BleakBluetoothNotAvailableReason.NO_BLUETOOTH,
    ) -> None:
        self.clock = clock
        self.available = available
        self.reason = reason
        self.peripherals: dict[str, EmulatedPeripheral] = {}
        air = self
        self.client_backend: type[FakeBleakClient] = type(
            "EmulatedBleakClient", (FakeBleakClient,), {"air": air}
        )
        self.scanner_backend: type[FakeBleakScanner] = type(
            "EmulatedBleakScanner", (FakeBleakScanner,), {"air": air}
        )

    def add(self, peripheral: EmulatedPeripheral) -> EmulatedPeripheral:
        peripheral.air = self
        self.peripherals[peripheral.address.upper()] = peripheral
        return peripheral

    def check_available(self) -> None:
        if not self.available:
            raise BleakBluetoothNotAvailableError("Bluetooth is not available", self.reason)

    def gaitcue_devices(self) -> list[GaitcuePeripheral]:
        return [p for p in self.peripherals.values() if isinstance(p, GaitcuePeripheral)]


def emulated_address(index: int) -> str:
    """Addresses of emulated devices: ``EE:6A:00:00:00:<index>``."""
    return f"EE:6A:00:00:00:{index:02X}"


def air_from_session(
    session: SimulatedSession,
    clock: HostClock,
    *,
    att_mtu: int = 247,
    faults: BleFaults | None = None,
    timing: BleTiming | None = None,
    footpod: bool = False,
    footpod_one_foot: bool = False,
    sensors: bool = True,
) -> EmulatedAir:
    """Emulate every device of ``session`` (``sensors``) and optionally an RSC footpod on
    the same runner, as BLE peripherals.

    The devices use the session's BLE timing when it was configured with ``link="ble"``.
    """
    air = EmulatedAir(clock)
    if timing is None:
        timing = session.timing if isinstance(session.timing, BleTiming) else BleTiming()
    for index, device in enumerate(session.devices if sensors else []):
        spec = device.spec
        kind = "insole" if spec.kind == StreamKind.INSOLE else "imu"
        name = f"gaitcue-{kind}-{spec.side.name[0]}"
        air.add(
            GaitcuePeripheral(
                emulated_address(index),
                name,
                spec=spec,
                plan=session.plan,
                timing=timing,
                att_mtu=att_mtu,
                faults=faults,
                seed=session.config.seed * 100 + index,
                battery_pct=90 - 3 * index,
                rssi=-55 - 2 * index,
            )
        )
    if footpod:
        air.add(
            FootpodPeripheral(
                emulated_address(len(session.devices)),
                "Footpod RSC",
                plan=session.plan,
                speed_m_s=session.config.runner.speed_m_s,
                one_foot=footpod_one_foot,
            )
        )
    return air
