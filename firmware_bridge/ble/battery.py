"""The Bluetooth SIG Battery service (0x180F): Battery Level (0x2A19), one uint8 percent."""

from __future__ import annotations

from firmware_bridge.errors import ProtocolError

BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"


def parse_battery_level(data: bytes) -> int:
    """Battery level (%) from a Battery Level value.

    Raises:
        ProtocolError: not one byte, or above 100 %.
    """
    if len(data) != 1:
        raise ProtocolError(f"battery level of {len(data)} bytes, expected 1")
    level = data[0]
    if level > 100:
        raise ProtocolError(f"battery level {level} % is above 100 %")
    return int(level)
