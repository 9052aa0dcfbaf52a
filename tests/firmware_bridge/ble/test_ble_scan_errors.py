"""Scanning and classification over bleak's BleakScanner facade, ``auto`` pairing, and the
one-line errors for a missing adapter, Bluetooth off, denied permission or a missing device."""

from __future__ import annotations

import argparse
import asyncio

import pytest
from bleak import BleakScanner
from bleak.backends.scanner import AdvertisementData
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
)

from dashboard.ble_cmd import add_scan_parser
from firmware_bridge.ble.emulation import EmulatedAir, EmulatedPeripheral, air_from_session
from firmware_bridge.ble.errors import ble_error
from firmware_bridge.ble.gatt import GAITCUE_SERVICE_UUID, MANUFACTURER_ID, AdvertInfo
from firmware_bridge.ble.hub import BleHub
from firmware_bridge.ble.link import BleLink, looks_like_address
from firmware_bridge.ble.rsc import RSC_SERVICE_UUID
from firmware_bridge.ble.scan import GAITCUE, OTHER, RSC, classify, pair_auto, scan
from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.errors import TransportError
from firmware_bridge.hostclock import ScaledClock
from firmware_bridge.samples import Side, StreamKind
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig

HEART_RATE_SERVICE = "0000180d-0000-1000-8000-00805f9b34fb"


def advert(uuids: list[str], manufacturer: dict[int, bytes] | None = None) -> AdvertisementData:
    return AdvertisementData("x", manufacturer or {}, {}, uuids, None, -50, ())


def test_classify_by_advertised_services() -> None:
    imu_left = AdvertInfo(StreamKind.IMU, Side.LEFT, 7).encode()
    assert classify(advert([GAITCUE_SERVICE_UUID], {MANUFACTURER_ID: imu_left})) == (
        GAITCUE,
        AdvertInfo(StreamKind.IMU, Side.LEFT, 7),
    )
    assert classify(advert([GAITCUE_SERVICE_UUID.upper()]))[0] == GAITCUE
    assert classify(advert([], {MANUFACTURER_ID: imu_left}))[0] == GAITCUE
    assert classify(advert([RSC_SERVICE_UUID])) == (RSC, None)
    assert classify(advert([HEART_RATE_SERVICE])) == (OTHER, None)
    assert classify(advert([], {0x004C: b"\x02\x15"})) == (OTHER, None)


@pytest.fixture
def air() -> EmulatedAir:
    clock = ScaledClock(10.0)
    session = SimulatedSession(
        SimulationConfig(duration_s=30.0, seed=2, link="ble", start_s=clock())
    )
    air = air_from_session(session, clock, footpod=True)
    air.add(
        EmulatedPeripheral("EE:00:00:00:00:99", "HR strap", service_uuids=(HEART_RATE_SERVICE,))
    )
    return air


def test_scan_lists_and_classifies_every_device(air: EmulatedAir) -> None:
    results = scan(0.3, backend=air.scanner_backend)
    assert [r.category for r in results] == [GAITCUE] * 4 + [RSC, OTHER]
    sides = {(r.advert.kind, r.advert.side) for r in results if r.advert is not None}
    assert sides == {
        (k, s) for k in (StreamKind.INSOLE, StreamKind.IMU) for s in (Side.LEFT, Side.RIGHT)
    }
    lines = [r.describe() for r in results]
    assert "gaitcue insole left" in lines[0] or "gaitcue" in lines[0]
    assert all("\n" not in line for line in lines)
    assert "rsc footpod" in lines[4]


def test_auto_pairs_by_reported_side(air: EmulatedAir) -> None:
    results = scan(0.3, backend=air.scanner_backend)
    chosen = pair_auto(results)
    assert [(r.advert.kind, r.advert.side) for r in chosen if r.advert] == [
        (StreamKind.INSOLE, Side.LEFT),
        (StreamKind.INSOLE, Side.RIGHT),
        (StreamKind.IMU, Side.LEFT),
        (StreamKind.IMU, Side.RIGHT),
    ]
    only_pods = [r for r in results if r.category != GAITCUE]
    assert [r.category for r in pair_auto(only_pods)] == [RSC]
    with pytest.raises(TransportError, match="no gaitcue sensor or footpod"):
        pair_auto([r for r in results if r.category == OTHER])


def test_scan_cli_lists_emulated_devices(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_scan_parser(parser.add_subparsers())
    args = parser.parse_args(["scan", "--timeout", "0.3", "--ble-sim"])
    assert args.func(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5
    assert sum("gaitcue" in line for line in out) == 4


NOT_AVAILABLE = BleakBluetoothNotAvailableReason


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (BleakBluetoothNotAvailableError("x", NOT_AVAILABLE.NO_BLUETOOTH), "no Bluetooth adapter"),
        (BleakBluetoothNotAvailableError("x", NOT_AVAILABLE.POWERED_OFF), "Bluetooth is off"),
        (BleakBluetoothNotAvailableError("x", NOT_AVAILABLE.DENIED_BY_USER), "permission denied"),
        (BleakBluetoothNotAvailableError("x", NOT_AVAILABLE.NO_BLE_CENTRAL_ROLE), "BLE central"),
        (BleakDeviceNotFoundError("AA:BB:CC:DD:EE:FF"), "AA:BB:CC:DD:EE:FF not found"),
        (BleakDBusError("org.bluez.Error.NotReady", []), "Bluetooth is off"),
        (BleakDBusError("org.bluez.Error.NotAuthorized", []), "permission denied"),
        (BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", []), "no Bluetooth adapter"),
        (PermissionError(13, "Permission denied"), "permission denied"),
        (FileNotFoundError(2, "No such file or directory"), "Bluetooth is not available"),
        (asyncio.TimeoutError(), "did not answer"),
        (BleakError("Device with address AA was not found."), "not found"),
        (BleakError("adapter hci0 is gone\nmore"), "no Bluetooth adapter"),
    ],
)
def test_errors_become_one_line(exc: BaseException, words: str) -> None:
    message = str(ble_error(exc, "AA:BB:CC:DD:EE:FF", platform="linux"))
    assert words in message
    assert "\n" not in message
    assert "Traceback" not in message


def test_permission_hint_names_the_platform_setting() -> None:
    exc = BleakBluetoothNotAvailableError("x", NOT_AVAILABLE.DENIED_BY_USER)
    assert "Privacy & Security" in str(ble_error(exc, platform="darwin"))
    assert "Radios" in str(ble_error(exc, platform="win32"))


def test_scan_without_bluetooth_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_dbus(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(BleakScanner, "discover", no_dbus)
    parser = argparse.ArgumentParser()
    add_scan_parser(parser.add_subparsers())
    args = parser.parse_args(["scan", "--timeout", "0.1"])
    with pytest.raises(TransportError) as caught:
        args.func(args)
    assert "Bluetooth is not available" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_adapter_off_through_the_facade(air: EmulatedAir) -> None:
    air.available = False
    air.reason = NOT_AVAILABLE.POWERED_OFF
    with pytest.raises(TransportError, match="Bluetooth is off"):
        scan(0.2, backend=air.scanner_backend)


def open_link(air: EmulatedAir, target: str) -> BleLink:
    hub = BleHub()
    link = BleLink(
        target,
        LinkDecoder(sink=lambda block: None),
        hub=hub,
        clock=air.clock,
        client_backend=air.client_backend,
        scanner_backend=air.scanner_backend,
        scan_timeout_s=0.3,
    )
    try:
        link.open()
    finally:
        link.stop()
        hub.stop()
    return link


def test_missing_device_is_a_one_line_error(air: EmulatedAir) -> None:
    with pytest.raises(TransportError, match=r"EE:6A:00:00:00:42 not found within 0.3 s"):
        open_link(air, "EE:6A:00:00:00:42")


def test_unsupported_device_is_refused(air: EmulatedAir) -> None:
    with pytest.raises(TransportError, match="not a supported sensor"):
        open_link(air, "HR strap")


def test_a_device_is_found_by_name(air: EmulatedAir) -> None:
    link = open_link(air, "gaitcue-imu-R")
    assert link.kind == "gaitcue"
    assert link.info is not None
    assert link.info.side == Side.RIGHT
    assert link.state == "closed"


def test_address_or_name() -> None:
    assert looks_like_address("AA:BB:CC:DD:EE:0F")
    assert looks_like_address("1E2F3A4B-0000-1111-2222-333344445555")
    assert not looks_like_address("gaitcue-imu-L")
