"""bleak and operating-system errors → one-line ``TransportError`` messages that say what to do.

bleak reports the same situation differently per platform: no adapter or Bluetooth off comes
as ``BleakBluetoothNotAvailableError`` (with a reason) on recent versions, as a D-Bus error
name on BlueZ, or as ``FileNotFoundError`` when Linux has no system D-Bus socket at all (no
BlueZ installed, a container). ``ble_error`` folds them into the few cases a user can act on.
"""

from __future__ import annotations

import asyncio
import errno
import sys

from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
)

from firmware_bridge.errors import TransportError

NO_BLUETOOTH = (
    "no Bluetooth adapter found: plug one in or enable it; on Linux the bluetooth service "
    "(BlueZ) must be running (sudo systemctl start bluetooth)"
)
POWERED_OFF = "Bluetooth is off: turn it on in the system settings and try again"
PERMISSION = {
    "darwin": "Bluetooth permission denied: allow your terminal (or Python) under System "
    "Settings → Privacy & Security → Bluetooth, then start it again",
    "linux": "Bluetooth permission denied: ask for access to BlueZ (e.g. join the bluetooth "
    "group) or check the D-Bus policy",
    "win32": "Bluetooth permission denied: allow apps to use Bluetooth under Settings → "
    "Privacy & security → Radios",
}
NO_BLUETOOTH_SERVICE = (
    "Bluetooth is not available: no BlueZ service on the system D-Bus; install bluez and "
    "start it (sudo systemctl start bluetooth), or use --ble-sim without a radio"
)

_BLUEZ_NOT_READY = ("org.bluez.Error.NotReady", "org.freedesktop.DBus.Error.ServiceUnknown")
_BLUEZ_DENIED = (
    "org.bluez.Error.NotAuthorized",
    "org.bluez.Error.NotPermitted",
    "org.freedesktop.DBus.Error.AccessDenied",
    "org.freedesktop.DBus.Error.AuthFailed",
)


def _permission(platform: str) -> str:
    return PERMISSION.get(platform, PERMISSION["linux"])


def ble_error(
    exc: BaseException, target: str | None = None, *, platform: str = ""
) -> TransportError:
    """A ``TransportError`` with one line for ``exc`` raised while using ``target``.

    Args:
        exc: what bleak or the OS raised.
        target: the device address or name involved, if any.
        platform: ``sys.platform``; chooses the words of permission hints.
    """
    platform = platform or sys.platform
    where = f" ({target})" if target else ""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, BleakBluetoothNotAvailableError):
        reason = exc.reason
        if reason == BleakBluetoothNotAvailableReason.POWERED_OFF:
            return TransportError(POWERED_OFF)
        if reason in (
            BleakBluetoothNotAvailableReason.DENIED_BY_USER,
            BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM,
            BleakBluetoothNotAvailableReason.DENIED_BY_UNKNOWN,
        ):
            return TransportError(_permission(platform))
        if reason == BleakBluetoothNotAvailableReason.NO_BLE_CENTRAL_ROLE:
            return TransportError(
                "the Bluetooth adapter cannot act as a BLE central: use a Bluetooth 4.0+ adapter"
            )
        return TransportError(NO_BLUETOOTH)
    if isinstance(exc, BleakDeviceNotFoundError):
        return TransportError(
            f"BLE device {exc.identifier or target} not found: switch it on, bring it close, "
            "and check the address with gaitcue scan"
        )
    if isinstance(exc, BleakDBusError):
        if exc.dbus_error in _BLUEZ_NOT_READY:
            return TransportError(POWERED_OFF if "NotReady" in exc.dbus_error else NO_BLUETOOTH)
        if exc.dbus_error in _BLUEZ_DENIED:
            return TransportError(_permission(platform))
        return TransportError(f"Bluetooth error{where}: {exc}")
    if isinstance(exc, PermissionError) or (
        isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM)
    ):
        return TransportError(_permission(platform))
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        return TransportError(NO_BLUETOOTH_SERVICE)
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return TransportError(
            f"BLE device{where} did not answer in time: bring it closer or restart it"
        )
    if isinstance(exc, BleakError):
        text = str(exc).strip() or type(exc).__name__
        lowered = text.lower()
        if "not found" in lowered or "was not found" in lowered:
            name = f" {target}" if target else ""
            return TransportError(
                f"BLE device{name} not found: switch it on, bring it close, "
                "and check the address with gaitcue scan"
            )
        if "powered" in lowered or "turned off" in lowered:
            return TransportError(POWERED_OFF)
        if "no bluetooth" in lowered or "adapter" in lowered:
            return TransportError(NO_BLUETOOTH)
        return TransportError(f"Bluetooth error{where}: {text.splitlines()[0]}")
    if isinstance(exc, OSError):
        return TransportError(f"Bluetooth error{where}: {exc.strerror or exc}")
    return TransportError(f"Bluetooth error{where}: {type(exc).__name__}: {exc}")
