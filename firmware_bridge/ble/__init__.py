"""Bluetooth LE transport: gaitcue sensors and standard Running Speed and Cadence footpods.

``BleHub`` runs one asyncio loop on its own thread for all bleak work; ``BleLink`` is one
device on it, with the surface of ``SerialReader``; ``scan`` lists and classifies nearby
devices; ``emulation`` provides bleak backends that serve the simulated runner's devices.
"""

from firmware_bridge.ble.errors import ble_error
from firmware_bridge.ble.hub import BleHub
from firmware_bridge.ble.link import BleLink, looks_like_address
from firmware_bridge.ble.rsc import FootpodDecoder, FootpodSettings, RscMeasurement
from firmware_bridge.ble.scan import ScanResult, classify, pair_auto, scan, scan_async

__all__ = [
    "BleHub",
    "BleLink",
    "FootpodDecoder",
    "FootpodSettings",
    "RscMeasurement",
    "ScanResult",
    "ble_error",
    "classify",
    "looks_like_address",
    "pair_auto",
    "scan",
    "scan_async",
]
