"""Run gaitcue's BLE links through bleak's facade over the emulated radio, on a fast clock."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from firmware_bridge.ble.emulation import BleFaults, EmulatedAir, air_from_session
from firmware_bridge.ble.hub import BleHub
from firmware_bridge.ble.link import BleLink
from firmware_bridge.ble.rsc import FootpodSettings
from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.hostclock import ScaledClock
from firmware_bridge.protocol import HEADER_BYTES
from firmware_bridge.samples import SampleBlock, StreamInfo
from firmware_bridge.simulator.devices import OutPacket
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig

SPEED = 5.0
"""Clock seconds per real second in the emulated runs."""
MAX_WAIT_S = 30.0
"""Real seconds a run may wait for its ``until`` condition."""


@dataclass(repr=False)
class EmulatedRun:
    """A finished run: the simulator, the radio, the links and what reached the sink."""

    session: SimulatedSession
    air: EmulatedAir
    links: list[BleLink]
    blocks: dict[str, list[SampleBlock]]
    infos: dict[str, StreamInfo]
    states: list[tuple[str, str]] = field(default_factory=list)

    def link_for(self, address: str) -> BleLink:
        return next(link for link in self.links if link.port == address)


def packet_counts(packet: OutPacket) -> np.ndarray:
    """The raw counts a data packet carries, read straight from the simulator's bytes."""
    data = packet.data
    n_samples, n_channels = data[12], data[13]
    dtype = "<i2" if data[1] == 2 else "<u2"
    payload = data[HEADER_BYTES : HEADER_BYTES + 2 * n_samples * n_channels]
    return np.frombuffer(payload, dtype=dtype).reshape(n_samples, n_channels)


RunEmulated = Callable[..., EmulatedRun]


@pytest.fixture
def data_counts() -> Callable[[OutPacket], np.ndarray]:
    """Reads a data packet's raw counts from the simulator's bytes."""
    return packet_counts


@pytest.fixture
def run_emulated() -> RunEmulated:
    def run(
        seconds: float,
        *,
        seed: int = 1,
        att_mtu: int = 247,
        faults: BleFaults | None = None,
        insoles: bool = True,
        imus: bool = True,
        footpod: bool = False,
        one_foot: bool = False,
        interval_s: float = 0.015,
        footpod_settings: FootpodSettings | None = None,
        configure: Callable[[EmulatedAir], None] | None = None,
        until: Callable[[EmulatedRun], bool] | None = None,
    ) -> EmulatedRun:
        """Stream for ``seconds`` of clock, then on until ``until(run)`` holds (so a loaded
        machine cannot cut a scenario short), for at most ``MAX_WAIT_S`` of real time."""
        clock = ScaledClock(SPEED)
        session = SimulatedSession(
            SimulationConfig(
                duration_s=seconds + 60.0,
                seed=seed,
                link="ble",
                ble_interval_s=interval_s,
                insoles=insoles,
                imus=imus or not insoles,
                start_s=clock(),
            )
        )
        air = air_from_session(
            session,
            clock,
            att_mtu=att_mtu,
            faults=faults,
            footpod=footpod,
            footpod_one_foot=one_foot,
            sensors=insoles or imus,
        )
        if configure is not None:
            configure(air)
        blocks: dict[str, list[SampleBlock]] = defaultdict(list)
        infos: dict[str, StreamInfo] = {}
        result = EmulatedRun(session, air, [], blocks, infos)

        def sink(block: SampleBlock) -> None:
            blocks[block.stream_id].append(block)

        def on_stream(info: StreamInfo) -> None:
            infos[info.stream_id] = info

        def on_state(port: str, state: str) -> None:
            result.states.append((port, state))

        hub = BleHub()
        try:
            for peripheral in air.peripherals.values():
                decoder = LinkDecoder(
                    sink=sink,
                    on_stream=on_stream,
                    latency_floor_s=session.latency_floor_s,
                    name=peripheral.address,
                )
                link = BleLink(
                    peripheral.address,
                    decoder,
                    hub=hub,
                    clock=clock,
                    client_backend=air.client_backend,
                    scanner_backend=air.scanner_backend,
                    footpod=footpod_settings,
                    sink=sink,
                    on_stream=on_stream,
                    on_state=on_state,
                    scan_timeout_s=5.0,
                    latency_floor_s=session.latency_floor_s,
                )
                link.open()
                result.links.append(link)
            end_s = clock() + seconds
            for link in result.links:
                link.start()
            give_up = time.monotonic() + MAX_WAIT_S
            while clock() < end_s or (until is not None and not until(result)):
                if time.monotonic() > give_up:
                    break
                time.sleep(0.02)
        finally:
            for link in result.links:
                link.stop()
            hub.stop()
        return result

    return run
