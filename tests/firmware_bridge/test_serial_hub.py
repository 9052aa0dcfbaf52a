"""The serial hub: one thread serving several pseudo-terminal ports, attach and detach,
a vanished port reopened with backoff, and one batch notification per wake-up."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.samples import SampleBlock
from firmware_bridge.serial_hub import SerialHub
from firmware_bridge.serial_port import SerialReader
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


def open_pty() -> tuple[int, str]:
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.close(slave)  # the reader opens the path itself; the master keeps the pair alive
    return master, path


def wait_until(condition, timeout_s: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def session_bytes(seed: int) -> list[bytes]:
    """Every device link's bytes of two seconds of a simulated session."""
    session = SimulatedSession(SimulationConfig(duration_s=2.0, seed=seed))
    out = [bytearray() for _ in session.devices]
    for delivery in session.advance(session.end_s):
        for payload in delivery.payloads:
            out[delivery.device_index] += payload
    return [bytes(b) for b in out]


def test_one_thread_serves_every_port_and_notifies_once_per_batch() -> None:
    links = session_bytes(seed=41)
    blocks: list[SampleBlock] = []
    batches = []
    hub = SerialHub(on_batch=lambda: batches.append(threading.current_thread().name))
    ptys = [open_pty() for _ in links]
    readers = [
        SerialReader(path, LinkDecoder(sink=blocks.append, name=path), hub=hub) for _, path in ptys
    ]
    try:
        for reader in readers:
            reader.start()
        assert hub.running
        assert [t.name for t in threading.enumerate()].count("serial-hub") == 1
        for (master, _), data in zip(ptys, links, strict=True):
            os.write(master, data[: len(data) // 2])
        for (master, _), data in zip(ptys, links, strict=True):
            os.write(master, data[len(data) // 2 :])
        expected = [len(data) for data in links]
        assert wait_until(lambda: [r.bytes_read for r in readers] == expected)
        assert wait_until(lambda: all(r.decoder.stats().packets > 0 for r in readers))
    finally:
        for reader in readers:
            reader.stop()
        for master, _ in ptys:
            os.close(master)
    assert not hub.running
    assert all(r.state == "closed" for r in readers)
    assert all(r.errors == 0 and r.decoder.corrupt == 0 for r in readers)
    assert blocks
    assert batches
    assert set(batches) == {"serial-hub"}
    assert len(hub.read_timing().gaps_s) >= len(batches)
    assert readers[0].read_timing() == hub.read_timing()


def test_detach_one_port_keeps_the_others_and_a_new_attach_restarts_the_thread() -> None:
    hub = SerialHub()
    ptys = [open_pty() for _ in range(2)]
    readers = [SerialReader(path, LinkDecoder(sink=lambda b: None), hub=hub) for _, path in ptys]
    try:
        for reader in readers:
            reader.start()
        readers[0].stop()
        assert hub.running
        os.write(ptys[1][0], b"\x00garbage\x00")
        assert wait_until(lambda: readers[1].bytes_read == 9)
        assert readers[0].bytes_read == 0
        readers[1].stop()
        assert wait_until(lambda: not hub.running)
        readers[1].start()
        assert hub.running
        os.write(ptys[1][0], b"\x00")
        assert wait_until(lambda: readers[1].bytes_read == 10)
    finally:
        for reader in readers:
            reader.stop()
        for master, _ in ptys:
            os.close(master)
    assert not hub.running


def test_vanished_port_is_reported_and_retried_with_backoff() -> None:
    states: list[tuple[str, str]] = []
    hub = SerialHub()
    master, path = open_pty()
    reader = SerialReader(
        path,
        LinkDecoder(sink=lambda b: None),
        hub=hub,
        on_state=lambda port, state: states.append((port, state)),
    )
    try:
        reader.start()
        os.close(master)  # the device is gone: the pty reads fail, then the path vanishes
        assert wait_until(lambda: reader.state == "reconnecting")
        assert wait_until(lambda: reader.retry_delay_s() >= 0.4, timeout_s=5.0)
        assert reader.reconnects == 0
        assert reader.last_error is not None
        assert reader.last_error.startswith(f"cannot open {path}")
        assert hub.running
    finally:
        reader.stop()
    assert states == [(path, "connected"), (path, "reconnecting"), (path, "closed")]
    assert not hub.running


def test_without_a_hub_a_reader_keeps_a_thread_of_its_own() -> None:
    master, path = open_pty()
    notified = threading.Event()
    reader = SerialReader(path, LinkDecoder(sink=lambda b: None), on_batch=notified.set)
    try:
        reader.start()
        assert any(t.name == f"serial:{path}" for t in threading.enumerate())
        os.write(master, b"\x00abc\x00")
        assert notified.wait(5.0)
        assert wait_until(lambda: reader.bytes_read == 5)
    finally:
        reader.stop()
        os.close(master)
    assert reader.state == "closed"
