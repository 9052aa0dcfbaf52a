"""One BLE device as a gaitcue transport: connect, subscribe, decode, reconnect.

``BleLink`` has the surface of ``SerialReader`` (``port``, ``state``, ``decoder``, ``open``,
``start``, ``stop``), so the application treats it as one more transport. All of its work
runs on a ``BleHub``'s loop:

* **connect**: find the device by address or advertised name (a scan with a timeout), connect
  with bleak's ``BleakClient`` (any backend: the platform's, or the emulation's), and look at
  its services. A gaitcue device gets ``GET_INFO``, a lower rate when its ATT_MTU cannot
  carry the full one (``budget.fallback_rate_hz``; ``note`` says so), its data notifications
  and ``START``. A Running Speed and Cadence footpod gets a ``FootpodDecoder`` in the link's
  ``LinkDecoder.devices``. A Battery service is read (and followed when it notifies).
* **decode**: each data notification is stamped with the host clock as it arrives and split
  into packets (several per notification, or reassembled fragments), in order; each packet
  goes to ``LinkDecoder.handle_packet``. A packet the link already handed over (a device
  replaying its queue after a reconnect) is dropped here and counted on its device's
  ``duplicate`` counter, because after a long outage the decoder would take an old timestamp
  for a reboot.
* **reconnect**: when the device drops, the link says ``reconnecting`` and tries again with
  backoff (0.25 s doubling to 5 s, in clock seconds), rescanning when the platform forgot
  the device, for as long as it runs. Nothing already decoded is lost; the decoder marks the
  gap (the missing sequence numbers) on the stream's next block.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakDeviceNotFoundError, BleakError

from firmware_bridge.ble.battery import (
    BATTERY_LEVEL_UUID,
    BATTERY_SERVICE_UUID,
    parse_battery_level,
)
from firmware_bridge.ble.budget import fallback_rate_hz
from firmware_bridge.ble.errors import ble_error
from firmware_bridge.ble.gatt import (
    CONTROL_CHAR_UUID,
    DATA_CHAR_UUID,
    GAITCUE_SERVICE_UUID,
    ControlOp,
    ControlReply,
    ControlStatus,
    DeviceInfo,
    NotificationReader,
    control_request,
)
from firmware_bridge.ble.hub import BleHub, clock_speed, sleep_clock
from firmware_bridge.ble.rsc import (
    RSC_FEATURE_UUID,
    RSC_MEASUREMENT_UUID,
    RSC_SERVICE_UUID,
    FootpodDecoder,
    FootpodSettings,
    parse_rsc_feature,
)
from firmware_bridge.decoder import LinkDecoder, StreamListener
from firmware_bridge.errors import GaitcueError, ProtocolError, TransportError
from firmware_bridge.hostclock import HostClock
from firmware_bridge.protocol import decode_packet
from firmware_bridge.samples import LinkStats, SampleSink

StateListener = Callable[[str, str], None]
"""Told (port, state) on every change: ``connected``, ``reconnecting``, ``closed``."""
BatchListener = Callable[[], None]
"""Called on the BLE thread after each notification was decoded."""

_BACKOFF_FIRST_S = 0.25
_BACKOFF_MAX_S = 5.0
_POLL_S = 0.02
_REPLY_TIMEOUT_S = 5.0
_RECENT_PACKETS = 1024
_FAILURES = (BleakError, OSError, asyncio.TimeoutError, TimeoutError, GaitcueError)


def looks_like_address(target: str) -> bool:
    """A MAC address (``AA:BB:…``) or a macOS device UUID, rather than a name."""
    parts = target.split(":")
    if len(parts) == 6 and all(len(p) == 2 for p in parts):
        return all(c in "0123456789abcdefABCDEF" for c in target.replace(":", ""))
    return len(target) == 36 and target.count("-") == 4


class BleLink:
    """One BLE device (gaitcue sensor or RSC footpod) feeding a ``LinkDecoder``.

    Args:
        target: address (``AA:BB:CC:DD:EE:FF``, a UUID on macOS) or advertised name.
        decoder: where packets go; a footpod's decoder is added to its ``devices``.
        hub: the BLE thread that runs every link.
        clock: host clock that stamps notifications (and paces backoff).
        device: an already scanned ``BLEDevice`` (skips the first scan).
        client_backend, scanner_backend: bleak backends (None: the platform's).
        footpod: ×2 setting and side for an RSC footpod.
        sink, on_stream: where a footpod's rows and stream description go (default: the
            decoder's own sink is not reachable, so give them for footpods).
        reconnect: keep reconnecting after a drop (False: close).
        on_state: told (port, state) on every change.
        on_batch: called (on the BLE thread) after each notification was decoded.
        on_raw: sees each data notification's bytes and arrival time (s) before decoding
            (for recording).
        scan_timeout_s: how long to look for the device (real s).
        latency_floor_s: shortest notification latency, for footpod timestamps (s).
    """

    def __init__(
        self,
        target: str,
        decoder: LinkDecoder,
        *,
        hub: BleHub,
        clock: HostClock = time.monotonic,
        device: BLEDevice | None = None,
        client_backend: type[BaseBleakClient] | None = None,
        scanner_backend: type[BaseBleakScanner] | None = None,
        footpod: FootpodSettings | None = None,
        sink: SampleSink | None = None,
        on_stream: StreamListener | None = None,
        reconnect: bool = True,
        on_state: StateListener | None = None,
        on_batch: BatchListener | None = None,
        on_raw: Callable[[bytes, float], None] | None = None,
        scan_timeout_s: float = 10.0,
        latency_floor_s: float = 0.002,
    ) -> None:
        self.port = target
        self.decoder = decoder
        self.hub = hub
        self._clock = clock
        self._device = device
        self._client_backend = client_backend
        self._scanner_backend = scanner_backend
        self._footpod_settings = footpod or FootpodSettings()
        self._sink = sink
        self._on_stream = on_stream
        self._reconnect = reconnect
        self._on_state = on_state
        self._on_batch = on_batch
        self.on_raw = on_raw
        self._scan_timeout_s = scan_timeout_s
        self._latency_floor_s = latency_floor_s
        self.state = "closed"
        self.kind: str | None = None
        """``"gaitcue"`` or ``"rsc"`` once connected."""
        self.info: DeviceInfo | None = None
        self.att_mtu: int | None = None
        """The ATT_MTU a gaitcue device reports it negotiated (None for footpods)."""
        self.battery_pct: int | None = None
        self.note: str | None = None
        """A notice for the device panel, e.g. a rate reduced for a small MTU."""
        self.footpod: FootpodDecoder | None = None
        self.reader = NotificationReader()
        self.reconnects = 0
        self.disconnects = 0
        self.errors = 0
        self.duplicates_dropped = 0
        self.last_error: str | None = None
        self._client: BleakClient | None = None
        self._lost: asyncio.Event | None = None
        self._replies: asyncio.Queue[ControlReply] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._recent: set[tuple[int, int, int, bytes]] = set()
        self._recent_order: deque[tuple[int, int, int, bytes]] = deque()

    # ---------------------------------------------------------------- public
    @property
    def address(self) -> str | None:
        """The device's address once found."""
        return self._device.address if self._device is not None else None

    def open(self, timeout_s: float = 60.0) -> None:
        """Find the device and connect now, so that a wrong address fails before streaming.

        Raises:
            TransportError: one line saying what is wrong (no adapter, Bluetooth off,
                permission denied, device not found, not a supported sensor).
        """
        self.hub.run(self._connect(), timeout_s)

    def start(self) -> None:
        """Connect (if not yet connected) and keep the link up on the hub until ``stop``."""
        if self._client is None:
            self.open()
        self._stopping = False
        self._task = self.hub.submit(self._supervise_task()).result()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the device to stop streaming, disconnect and close."""
        if self.hub.running:
            with contextlib.suppress(TransportError):
                self.hub.run(self._shutdown(), timeout_s)
        self._set_state("closed")

    def stats(self) -> LinkStats:
        """The decoder's counters plus what the link itself saw (``extra``)."""
        stats = self.decoder.stats()
        c = self.reader.counters
        stats.extra.update(
            notifications=float(c.notifications),
            fragments=float(c.fragments),
            broken_fragments=float(c.broken_fragments),
            malformed=float(c.malformed),
            reconnects=float(self.reconnects),
            disconnects=float(self.disconnects),
            duplicates_dropped=float(self.duplicates_dropped),
        )
        return stats

    # ------------------------------------------------------------- internals
    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            if self._on_state is not None:
                self._on_state(self.port, state)

    async def _supervise_task(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._supervise())

    async def _find(self) -> BLEDevice:
        target = self.port.lower()
        by_address = looks_like_address(self.port)

        def match(device: BLEDevice, adv: AdvertisementData) -> bool:
            if by_address:
                return device.address.lower() == target
            return self.port in (adv.local_name, device.name)

        if self._scanner_backend is None:
            found = await BleakScanner.find_device_by_filter(match, timeout=self._scan_timeout_s)
        else:
            found = await BleakScanner.find_device_by_filter(
                match, timeout=self._scan_timeout_s, backend=self._scanner_backend
            )
        if found is None:
            raise TransportError(
                f"BLE device {self.port} not found within {self._scan_timeout_s:g} s: switch it "
                "on, bring it close, and check the name or address with gaitcue scan"
            )
        return found

    async def _connect(self) -> None:
        try:
            await self._connect_unmapped()
        except _FAILURES as exc:
            await self._drop_client()
            if isinstance(exc, BleakDeviceNotFoundError):
                self._device = None
            raise ble_error(exc, self.port) from None

    async def _connect_unmapped(self) -> None:
        if self._device is None:
            self._device = await self._find()
        lost = asyncio.Event()
        self._lost = lost

        def disconnected(_: BleakClient) -> None:
            lost.set()

        client = BleakClient(
            self._device, disconnected_callback=disconnected, backend=self._client_backend
        )
        await client.connect()
        self._client = client
        services = client.services
        if services.get_service(GAITCUE_SERVICE_UUID) is not None:
            await self._setup_gaitcue(client)
        elif services.get_service(RSC_SERVICE_UUID) is not None:
            await self._setup_footpod(client)
        else:
            raise TransportError(
                f"{self.port} has neither the gaitcue service nor Running Speed and Cadence: "
                "not a supported sensor"
            )
        if services.get_service(BATTERY_SERVICE_UUID) is not None:
            await self._setup_battery(client)
        self._set_state("connected")

    async def _request(
        self, client: BleakClient, op: ControlOp, rate_hz: int | None = None
    ) -> bytes:
        assert self._replies is not None
        while not self._replies.empty():
            self._replies.get_nowait()
        await client.write_gatt_char(CONTROL_CHAR_UUID, control_request(op, rate_hz), response=True)
        while True:
            reply = await asyncio.wait_for(self._replies.get(), _REPLY_TIMEOUT_S)
            if reply.opcode == op:
                break
        if reply.status != ControlStatus.OK:
            raise TransportError(
                f"{self.port} refused {op.name} (status {reply.status}): update its firmware"
            )
        return reply.payload

    def _on_control(self, _: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            reply = ControlReply.decode(bytes(data))
        except ProtocolError:
            self.errors += 1
            return
        if self._replies is not None:
            self._replies.put_nowait(reply)

    async def _setup_gaitcue(self, client: BleakClient) -> None:
        self.kind = "gaitcue"
        self._replies = asyncio.Queue()
        await client.start_notify(CONTROL_CHAR_UUID, self._on_control)
        info = DeviceInfo.decode(await self._request(client, ControlOp.GET_INFO))
        # The device's own figure: bleak's BlueZ backend reports 23 until a private call.
        mtu = info.att_mtu or client.mtu_size
        self.att_mtu = mtu
        rate = fallback_rate_hz(info.kind, info.rate_hz, info.n_channels, att_mtu=mtu)
        if rate != info.rate_hz:
            await self._request(client, ControlOp.SET_RATE, rate)
            self.note = (
                f"ATT_MTU {mtu}: {info.kind.name.lower()} rate reduced from "
                f"{info.rate_hz} to {rate} Hz"
            )
            info = DeviceInfo.decode(await self._request(client, ControlOp.GET_INFO))
        self.info = info
        self.reader.reset()
        await client.start_notify(DATA_CHAR_UUID, self._on_data)
        await self._request(client, ControlOp.START)

    async def _setup_footpod(self, client: BleakClient) -> None:
        self.kind = "rsc"
        if self.footpod is None:
            features = None
            if client.services.get_characteristic(RSC_FEATURE_UUID) is not None:
                with contextlib.suppress(ProtocolError):
                    features = parse_rsc_feature(
                        bytes(await client.read_gatt_char(RSC_FEATURE_UUID))
                    )
            if self._sink is None:
                raise TransportError(
                    f"{self.port} is a footpod, but this link was opened without a sink for it"
                )
            self.footpod = FootpodDecoder(
                self.address or self.port,
                sink=self._sink,
                on_stream=self._on_stream,
                settings=self._footpod_settings,
                features=features,
                latency_floor_s=self._latency_floor_s,
            )
            self.decoder.devices = {**self.decoder.devices, self.footpod.device_id: self.footpod}
        await client.start_notify(RSC_MEASUREMENT_UUID, self._on_rsc)

    async def _setup_battery(self, client: BleakClient) -> None:
        char = client.services.get_characteristic(BATTERY_LEVEL_UUID)
        if char is None:
            return
        with contextlib.suppress(BleakError, ProtocolError):
            if "read" in char.properties:
                self._take_battery(bytes(await client.read_gatt_char(char)))
            if "notify" in char.properties:
                await client.start_notify(char, lambda _, data: self._take_battery(bytes(data)))

    def _take_battery(self, data: bytes) -> None:
        try:
            self.battery_pct = parse_battery_level(data)
        except ProtocolError:
            return
        if self.footpod is not None:
            self.footpod.battery_pct = self.battery_pct

    def _on_data(self, _: BleakGATTCharacteristic, data: bytearray) -> None:
        now = self._clock()
        try:
            if self.on_raw is not None:
                self.on_raw(bytes(data), now)
            for raw in self.reader.feed(bytes(data)):
                self._take_packet(raw, now)
            if self._on_batch is not None:
                self._on_batch()
        except Exception as exc:  # keep the link up; the device panel shows the fault
            self.errors += 1
            self.last_error = f"{self.port}: {type(exc).__name__}: {exc}"

    def _take_packet(self, raw: bytes, now: float) -> None:
        try:
            packet = decode_packet(raw)
        except ProtocolError:
            self.decoder.bad_frames += 1
            self.decoder.corrupt += 1
            return
        key = (packet.device_id, packet.seq, packet.t_device_us, raw[-2:])
        if key in self._recent:
            self.duplicates_dropped += 1
            device = self.decoder.devices.get(packet.device_id)
            if device is not None:
                device.stats.duplicate += 1
            return
        self._recent.add(key)
        self._recent_order.append(key)
        if len(self._recent_order) > _RECENT_PACKETS:
            self._recent.discard(self._recent_order.popleft())
        self.decoder.handle_packet(packet, now)

    def _on_rsc(self, _: BleakGATTCharacteristic, data: bytearray) -> None:
        if self.footpod is None:
            return
        try:
            self.footpod.handle_measurement(bytes(data), self._clock())
        except Exception as exc:  # keep the link up; the device panel shows the fault
            self.errors += 1
            self.last_error = f"{self.port}: {type(exc).__name__}: {exc}"

    async def _supervise(self) -> None:
        delay_s = _BACKOFF_FIRST_S
        poll_real_s = max(0.002, _POLL_S / clock_speed(self._clock))
        while not self._stopping:
            client, lost = self._client, self._lost
            if client is None or lost is None:
                try:
                    await self._connect()
                except TransportError as exc:
                    self.last_error = str(exc)
                    self._set_state("reconnecting")
                    await sleep_clock(self._clock, delay_s)
                    delay_s = min(2 * delay_s, _BACKOFF_MAX_S)
                    continue
                self.reconnects += 1
                delay_s = _BACKOFF_FIRST_S
                continue
            while not lost.is_set() and not self._stopping:
                self.decoder.poll(self._clock())
                await asyncio.sleep(poll_real_s)
            if self._stopping:
                break
            self.disconnects += 1
            self._client = None
            self._lost = None
            self.reader.reset()
            if self.footpod is not None:
                self.footpod.mark_gap()
            if not self._reconnect:
                self._set_state("closed")
                return
            self._set_state("reconnecting")
            await sleep_clock(self._clock, delay_s)

    async def _drop_client(self) -> None:
        client, self._client, self._lost = self._client, None, None
        if client is not None:
            with contextlib.suppress(*_FAILURES):
                await client.disconnect()

    async def _shutdown(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        client = self._client
        if client is not None and client.is_connected and self.kind == "gaitcue":
            with contextlib.suppress(*_FAILURES):
                await asyncio.wait_for(
                    client.write_gatt_char(
                        CONTROL_CHAR_UUID, control_request(ControlOp.STOP), response=True
                    ),
                    2.0,
                )
        await self._drop_client()
        self.decoder.poll(self._clock() + 3600.0)
