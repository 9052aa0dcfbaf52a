"""Scanning: list nearby devices, tell gaitcue sensors from footpods, pair ``auto`` by side.

A device is classified by its advertisement: the gaitcue service UUID (or gaitcue
manufacturer data) makes it ``gaitcue``, the Running Speed and Cadence service UUID makes it
``rsc``, anything else is ``other``. gaitcue sensors put their kind, side and id in the
manufacturer data, so ``pair_auto`` can choose the left and right insole and IMU without
connecting to anything.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError

from firmware_bridge.ble.errors import ble_error
from firmware_bridge.ble.gatt import GAITCUE_SERVICE_UUID, MANUFACTURER_ID, AdvertInfo
from firmware_bridge.ble.hub import BleHub
from firmware_bridge.ble.rsc import RSC_SERVICE_UUID
from firmware_bridge.errors import ConfigurationError, TransportError
from firmware_bridge.samples import Side, StreamKind

GAITCUE = "gaitcue"
RSC = "rsc"
OTHER = "other"


@dataclass(frozen=True)
class ScanResult:
    """One device heard during a scan.

    Attributes:
        address: its address (a UUID on macOS).
        name: advertised (or OS) name, empty when none.
        rssi: signal strength (dBm).
        category: ``"gaitcue"``, ``"rsc"`` or ``"other"``.
        advert: kind, side and id from a gaitcue advertisement, when present.
        device: the bleak device, for connecting without another scan.
    """

    address: str
    name: str
    rssi: int
    category: str
    advert: AdvertInfo | None = None
    device: BLEDevice | None = None

    def describe(self) -> str:
        """One line for ``gaitcue scan``."""
        what = self.category
        if self.advert is not None:
            what += f" {self.advert.kind.name.lower()} {self.advert.side.name.lower()}"
        elif self.category == RSC:
            what += " footpod"
        return f"{self.address}\t{self.rssi:4d} dBm\t{what}\t{self.name or '(no name)'}"


def classify(adv: AdvertisementData) -> tuple[str, AdvertInfo | None]:
    """The category of an advertisement, and its gaitcue manufacturer data if any."""
    uuids = {u.lower() for u in adv.service_uuids}
    raw = adv.manufacturer_data.get(MANUFACTURER_ID)
    advert = AdvertInfo.decode(raw) if raw is not None else None
    if GAITCUE_SERVICE_UUID in uuids:
        return GAITCUE, advert
    if RSC_SERVICE_UUID in uuids:
        return RSC, None
    if advert is not None and advert.kind in (StreamKind.IMU, StreamKind.INSOLE):
        return GAITCUE, advert
    return OTHER, None


async def scan_async(
    timeout_s: float, *, backend: type[BaseBleakScanner] | None = None
) -> list[ScanResult]:
    """Scan for ``timeout_s`` seconds; results sorted gaitcue, rsc, other, then by RSSI.

    Raises:
        TransportError: no adapter, Bluetooth off, or permission denied (one line).
    """
    try:
        if backend is None:
            found = await BleakScanner.discover(timeout_s, return_adv=True)
        else:
            found = await BleakScanner.discover(timeout_s, return_adv=True, backend=backend)
    except (BleakError, OSError, asyncio.TimeoutError) as exc:
        raise ble_error(exc) from None
    results = []
    for device, adv in found.values():
        category, advert = classify(adv)
        results.append(
            ScanResult(
                address=device.address,
                name=adv.local_name or device.name or "",
                rssi=adv.rssi,
                category=category,
                advert=advert,
                device=device,
            )
        )
    order = {GAITCUE: 0, RSC: 1, OTHER: 2}
    return sorted(results, key=lambda r: (order[r.category], -r.rssi, r.address))


def scan(
    timeout_s: float = 5.0,
    *,
    hub: BleHub | None = None,
    backend: type[BaseBleakScanner] | None = None,
) -> list[ScanResult]:
    """Blocking scan on ``hub`` (a private one when None)."""
    if not timeout_s > 0:
        raise ConfigurationError(f"scan timeout must be positive, got {timeout_s} s")
    own = hub is None
    hub = hub or BleHub(name="ble-scan")
    try:
        return hub.run(scan_async(timeout_s, backend=backend), timeout_s + 30.0)
    finally:
        if own:
            hub.stop()


def pair_auto(results: list[ScanResult]) -> list[ScanResult]:
    """The devices ``--ble auto`` connects: per (kind, side) the strongest gaitcue sensor;
    when there is none at all, the strongest footpod.

    Raises:
        TransportError: nothing usable was found.
    """
    chosen: dict[tuple[StreamKind, Side], ScanResult] = {}
    for r in sorted(results, key=lambda r: -r.rssi):
        if r.category != GAITCUE or r.advert is None:
            continue
        key = (r.advert.kind, r.advert.side)
        if key[1] != Side.UNKNOWN and key not in chosen:
            chosen[key] = r
    if chosen:
        order = [
            (StreamKind.INSOLE, Side.LEFT),
            (StreamKind.INSOLE, Side.RIGHT),
            (StreamKind.IMU, Side.LEFT),
            (StreamKind.IMU, Side.RIGHT),
        ]
        return [chosen[k] for k in order if k in chosen]
    pods = [r for r in results if r.category == RSC]
    if pods:
        return [max(pods, key=lambda r: r.rssi)]
    raise TransportError(
        "no gaitcue sensor or footpod found: switch the sensors on (they advertise while "
        "not connected) and run gaitcue scan"
    )
