"""Bluetooth LE at the command line: ``gaitcue scan`` and the ``live`` options for BLE links.

* ``add_scan_parser(subparsers)`` registers ``gaitcue scan [--timeout S] [--ble-sim]``.
* ``add_ble_live_options(parser)`` adds ``--ble ADDR…|auto``, ``--ble-sim`` and friends to
  ``gaitcue live``; ``open_ble_from_args(acquisition, args, clock)`` then opens the links
  (raising ``TransportError``/``ConfigurationError`` with one line on failure) and returns a
  ``BleSession`` whose ``links`` are transports like serial readers and whose ``close()``
  stops the BLE thread (and the emulation) after the links were stopped.

With ``--ble-sim`` the devices are the simulated runner's sensors behind an emulated radio
(``firmware_bridge.ble.emulation``): the links, bleak's ``BleakClient``/``BleakScanner``
facades and everything downstream run exactly as with real hardware.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from firmware_bridge.ble.emulation import BleFaults, EmulatedAir, air_from_session
from firmware_bridge.ble.hub import BleHub
from firmware_bridge.ble.link import BleLink
from firmware_bridge.ble.rsc import FootpodSettings
from firmware_bridge.ble.scan import ScanResult, pair_auto, scan
from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.errors import ConfigurationError, GaitcueError
from firmware_bridge.hostclock import HostClock
from firmware_bridge.samples import SampleBlock, StreamInfo
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig

DEFAULT_SCAN_S = 5.0
BLE_SIM_DURATION_S = 4 * 3600.0


class BufferSet(Protocol):
    """What the links write to: a sink that also registers streams (``StreamBuffers``);
    its ``notify()``, when it has one, is called after each decoded notification."""

    def __call__(self, block: SampleBlock) -> None: ...

    def add(self, info: StreamInfo) -> object: ...


class AcquisitionLike(Protocol):
    """The parts of ``Acquisition`` the BLE helpers use."""

    @property
    def buffers(self) -> BufferSet: ...


@dataclass
class BleSession:
    """Open BLE links, the thread they run on, and the emulated radio when simulated.

    Attributes:
        hub: the BLE thread.
        links: one per device, in the order asked for (``auto``: left/right insole, then IMU).
        air: the emulated radio (``--ble-sim``), else None.
        session: the simulated runner behind the emulation, else None.
    """

    hub: BleHub
    links: list[BleLink] = field(default_factory=list)
    air: EmulatedAir | None = None
    session: SimulatedSession | None = None

    def close(self) -> None:
        """Stop every link (idempotent) and the BLE thread."""
        for link in self.links:
            if link.state != "closed":
                link.stop()
        self.hub.stop()


# ------------------------------------------------------------------------- scan
def add_scan_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register ``gaitcue scan``."""
    parser = subparsers.add_parser(
        "scan", help="list nearby Bluetooth LE devices (gaitcue sensors, footpods, others)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_SCAN_S,
        metavar="S",
        help=f"listen for S seconds (default {DEFAULT_SCAN_S:g})",
    )
    parser.add_argument(
        "--ble-sim",
        action="store_true",
        help="scan the emulated simulated-runner devices instead of the radio",
    )
    parser.set_defaults(func=cmd_scan)
    return parser


def cmd_scan(args: argparse.Namespace) -> int:
    """Print one line per device heard: address, RSSI, category, name."""
    if not args.timeout > 0:
        raise ConfigurationError(
            f"--timeout must be a positive number of seconds, got {args.timeout}"
        )
    backend = None
    if args.ble_sim:
        from firmware_bridge.hostclock import ScaledClock

        clock = ScaledClock(1.0)
        session = SimulatedSession(
            SimulationConfig(duration_s=60.0, link="ble", start_s=clock(), seed=1)
        )
        backend = air_from_session(session, clock, footpod=True).scanner_backend
    results = scan(args.timeout, backend=backend)
    for result in results:
        print(result.describe())
    if not results:
        print(f"no Bluetooth LE devices heard in {args.timeout:g} s", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------- live
def add_ble_live_options(parser: argparse.ArgumentParser) -> None:
    """Add the BLE options of ``gaitcue live``."""
    group = parser.add_argument_group("Bluetooth LE")
    group.add_argument(
        "--ble",
        nargs="+",
        metavar="ADDR",
        default=[],
        help="BLE devices by address or advertised name; 'auto' pairs the insoles and IMUs "
        "found by the side they report (or the strongest footpod)",
    )
    group.add_argument(
        "--ble-sim",
        action="store_true",
        help="the simulated runner's four sensors over an emulated BLE radio",
    )
    group.add_argument(
        "--ble-mtu",
        type=int,
        default=247,
        metavar="N",
        help="--ble-sim: ATT_MTU the emulated devices negotiate (23 … 247, default 247)",
    )
    group.add_argument(
        "--ble-faults",
        default="",
        metavar="SPEC",
        help="--ble-sim: e.g. loss=0.01,disconnect_every=30,unreachable=2,duplicates=3",
    )
    group.add_argument(
        "--ble-footpod",
        choices=("none", "steps", "one-foot"),
        default="none",
        help="--ble-sim: add an RSC footpod reporting steps/min, or one foot's rate",
    )
    group.add_argument(
        "--footpod-cadence",
        choices=("auto", "1", "2"),
        default="auto",
        help="multiply a footpod's cadence by 1 or 2 (auto: ×2 when it reads half a "
        "running step rate)",
    )
    group.add_argument(
        "--ble-scan-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="how long to look for each BLE device (default 10 s)",
    )


def footpod_settings(args: argparse.Namespace) -> FootpodSettings:
    value = getattr(args, "footpod_cadence", "auto")
    return FootpodSettings(cadence_multiplier="auto" if value == "auto" else int(value))  # type: ignore[arg-type]


def open_ble_links(
    acquisition: AcquisitionLike,
    targets: Sequence[str],
    *,
    clock: HostClock,
    hub: BleHub | None = None,
    footpod: FootpodSettings | None = None,
    scan_timeout_s: float = 10.0,
    latency_floor_s: float = 0.002,
    air: EmulatedAir | None = None,
    auto_scan_s: float = DEFAULT_SCAN_S,
) -> BleSession:
    """Open one ``BleLink`` per target (address, name, or the single word ``auto``).

    ``auto`` listens for ``auto_scan_s`` seconds and then pairs what it heard (``pair_auto``).
    Each link gets its own ``LinkDecoder`` writing into ``acquisition.buffers``. The links
    are connected when this returns (not yet streaming into the pipeline's threads: call
    ``start()`` on each, e.g. through ``Acquisition.start``).

    Raises:
        TransportError: no adapter, Bluetooth off, permission denied, a device not found or
            not a supported sensor; links opened so far are closed again.
        ConfigurationError: no targets, or ``auto`` mixed with addresses.
    """
    targets = list(targets)
    if not targets:
        raise ConfigurationError("name at least one BLE device: --ble ADDR [ADDR …] or --ble auto")
    if "auto" in targets and len(targets) > 1:
        raise ConfigurationError("--ble auto pairs the devices itself: give it alone")
    session = BleSession(hub=hub or BleHub(), air=air)
    try:
        if targets == ["auto"]:
            backend = air.scanner_backend if air is not None else None
            found = scan(auto_scan_s, hub=session.hub, backend=backend)
            for result in pair_auto(found):
                add_ble_link(
                    session,
                    acquisition,
                    result.name or result.address,
                    clock=clock,
                    device=result,
                    footpod=footpod,
                    scan_timeout_s=scan_timeout_s,
                    latency_floor_s=latency_floor_s,
                )
        else:
            for target in targets:
                add_ble_link(
                    session,
                    acquisition,
                    target,
                    clock=clock,
                    footpod=footpod,
                    scan_timeout_s=scan_timeout_s,
                    latency_floor_s=latency_floor_s,
                )
    except GaitcueError:
        session.close()
        raise
    return session


def add_ble_link(
    session: BleSession,
    acquisition: AcquisitionLike,
    target: str,
    *,
    clock: HostClock,
    device: ScanResult | None = None,
    footpod: FootpodSettings | None = None,
    scan_timeout_s: float = 10.0,
    latency_floor_s: float = 0.002,
) -> BleLink:
    """Open one more link on ``session`` (connected on return; see ``open_ble_links``)."""
    buffers = acquisition.buffers
    air = session.air
    factory = getattr(acquisition, "new_decoder", None)
    register: Callable[[StreamInfo], None]
    if factory is not None:
        # The acquisition calibrates, registers and records the link's streams.
        decoder = factory(target, latency_floor_s=latency_floor_s)
        register = acquisition.register_stream  # type: ignore[attr-defined]
        sink = acquisition.sink  # type: ignore[attr-defined]
    else:

        def register(info: StreamInfo) -> None:
            buffers.add(info)

        decoder = LinkDecoder(
            sink=buffers, on_stream=register, latency_floor_s=latency_floor_s, name=target
        )
        sink = buffers
    link = BleLink(
        target,
        decoder,
        hub=session.hub,
        clock=clock,
        device=device.device if device is not None else None,
        client_backend=air.client_backend if air is not None else None,
        scanner_backend=air.scanner_backend if air is not None else None,
        footpod=footpod,
        sink=sink,
        on_stream=register,
        on_batch=getattr(buffers, "notify", None),
        scan_timeout_s=scan_timeout_s,
        latency_floor_s=latency_floor_s,
    )
    session.links.append(link)
    link.open()
    return link


def open_ble_from_args(
    acquisition: AcquisitionLike, args: argparse.Namespace, clock: HostClock
) -> BleSession | None:
    """Open what ``--ble``/``--ble-sim`` ask for; None when neither was given."""
    targets: list[str] = list(getattr(args, "ble", []) or [])
    simulated = bool(getattr(args, "ble_sim", False))
    if not targets and not simulated:
        return None
    footpod = footpod_settings(args)
    scan_timeout_s = float(getattr(args, "ble_scan_timeout", 10.0))
    if not simulated:
        return open_ble_links(
            acquisition, targets, clock=clock, footpod=footpod, scan_timeout_s=scan_timeout_s
        )
    mtu = int(getattr(args, "ble_mtu", 247))
    if not 23 <= mtu <= 247:
        raise ConfigurationError(f"--ble-mtu must be 23 … 247, got {mtu}")
    faults = BleFaults.parse(getattr(args, "ble_faults", "") or "")
    pod = getattr(args, "ble_footpod", "none")
    duration = getattr(args, "duration", None) or BLE_SIM_DURATION_S
    session = SimulatedSession(
        SimulationConfig(
            duration_s=float(duration) + 30.0,
            seed=int(getattr(args, "seed", 1) or 1),
            link="ble",
            start_s=clock(),
        )
    )
    air = air_from_session(
        session,
        clock,
        att_mtu=mtu,
        faults=faults,
        footpod=pod != "none",
        footpod_one_foot=pod == "one-foot",
    )
    ble = open_ble_links(
        acquisition,
        targets or ["auto"],
        clock=clock,
        footpod=footpod,
        scan_timeout_s=scan_timeout_s,
        latency_floor_s=session.latency_floor_s,
        air=air,
        auto_scan_s=0.5,
    )
    ble.session = session
    if pod != "none" and not targets:
        pods = [p for p in air.peripherals.values() if p not in air.gaitcue_devices()]
        try:
            for peripheral in pods:
                add_ble_link(
                    ble,
                    acquisition,
                    peripheral.address,
                    clock=clock,
                    footpod=footpod,
                    scan_timeout_s=scan_timeout_s,
                    latency_floor_s=session.latency_floor_s,
                )
        except GaitcueError:
            ble.close()
            raise
    return ble
