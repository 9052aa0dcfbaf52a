"""``gaitcue live --ble-sim`` wiring: auto pairing by side, footpod, data in the buffers."""

from __future__ import annotations

import argparse
import time

import pytest

from dashboard.ble_cmd import add_ble_live_options, open_ble_from_args, open_ble_links
from firmware_bridge.ble.emulation import BleFaults
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.hostclock import ScaledClock
from firmware_bridge.samples import Side, StreamKind
from realtime.streams import StreamBuffers

pytestmark = pytest.mark.realtime  # paced by a clock running 5× real time


class FakeAcquisition:
    def __init__(self) -> None:
        self.buffers = StreamBuffers(capacity_s=30.0)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_ble_live_options(parser)
    parser.add_argument("--duration", type=float, default=None)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def test_ble_sim_streams_four_sensors_and_a_footpod() -> None:
    clock = ScaledClock(5.0)
    acquisition = FakeAcquisition()
    args = parse(["--ble-sim", "--ble-footpod", "one-foot", "--duration", "20", "--seed", "4"])
    ble = open_ble_from_args(acquisition, args, clock)
    assert ble is not None
    try:
        for link in ble.links:
            link.start()
        end = clock() + 3.0
        while clock() < end:
            time.sleep(0.02)
    finally:
        ble.close()
    assert [link.state for link in ble.links] == ["closed"] * 5
    kinds = [(link.info.kind, link.info.side) for link in ble.links if link.info is not None]
    assert kinds == [
        (StreamKind.INSOLE, Side.LEFT),
        (StreamKind.INSOLE, Side.RIGHT),
        (StreamKind.IMU, Side.LEFT),
        (StreamKind.IMU, Side.RIGHT),
    ]
    assert ble.links[-1].kind == "rsc"
    buffers = acquisition.buffers
    assert len(buffers) == 5
    for stream_id in buffers.stream_ids():
        assert buffers[stream_id].latest(1).n_samples == 1, stream_id
    footpod = [s for s in buffers.stream_ids() if buffers.info(s).kind == StreamKind.FOOTPOD]
    assert len(footpod) == 1


def test_nothing_asked_opens_nothing() -> None:
    assert open_ble_from_args(FakeAcquisition(), parse([]), ScaledClock(1.0)) is None


def test_bad_options_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="alone"):
        open_ble_links(FakeAcquisition(), ["auto", "AA:BB:CC:DD:EE:FF"], clock=ScaledClock(1.0))
    with pytest.raises(ConfigurationError, match="ble-mtu"):
        open_ble_from_args(
            FakeAcquisition(), parse(["--ble-sim", "--ble-mtu", "10"]), ScaledClock(1.0)
        )
    with pytest.raises(ConfigurationError, match="BLE fault"):
        open_ble_from_args(
            FakeAcquisition(), parse(["--ble-sim", "--ble-faults", "nope=1"]), ScaledClock(1.0)
        )


def test_ble_fault_spec() -> None:
    faults = BleFaults.parse("loss=0.02,disconnect_every=30,unreachable=1.5,duplicates=3")
    assert faults == BleFaults(
        notification_loss=0.02,
        disconnect_every_s=30.0,
        unreachable_s=1.5,
        duplicate_after_reconnect=3,
    )
    assert BleFaults.parse("") == BleFaults()
    with pytest.raises(ConfigurationError, match="probability"):
        BleFaults.parse("loss=2")
