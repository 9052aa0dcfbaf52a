"""The BLE thread: one loop for all bleak work, results handed back to other threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from firmware_bridge.ble.hub import BleHub
from firmware_bridge.errors import TransportError


def test_work_runs_on_the_hub_thread_and_returns() -> None:
    hub = BleHub(name="ble-test")
    caller = threading.current_thread()

    async def where() -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    try:
        assert hub.run(where(), 5.0) == "ble-test"
        assert threading.current_thread() is caller
        assert hub.submit(where()).result(5.0) == "ble-test"
    finally:
        hub.stop()
    assert not hub.running
    hub.stop()


def test_a_stuck_call_times_out_with_one_line() -> None:
    hub = BleHub()

    async def stuck() -> None:
        await asyncio.sleep(60)

    try:
        with pytest.raises(TransportError, match=r"did not answer within 0\.1 s"):
            hub.run(stuck(), 0.1)
    finally:
        hub.stop()


def test_the_hub_cannot_wait_on_itself() -> None:
    hub = BleHub()

    async def nested() -> None:
        async def inner() -> None:
            return None

        hub.run(inner(), 1.0)

    try:
        with pytest.raises(RuntimeError, match="deadlock"):
            hub.run(nested(), 5.0)
    finally:
        hub.stop()
