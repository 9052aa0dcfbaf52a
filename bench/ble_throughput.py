"""BLE throughput: what the four-device set needs against what BLE gives, and the fallbacks.

* ``need``: protocol bytes/s and notifications/s of each device (2 insoles, 16 cells,
  200 Hz; 2 foot IMUs, 1 kHz) and of the set, from the packet sizes of PROTOCOL.md;
* ``links``: for connection intervals 7.5/15/30 ms and ATT_MTU 23/247, what one link gives
  (``firmware_bridge.ble.budget``: 6 notifications per connection event, Data Length
  Extension at MTU 247), whether each device fits within 70 % of it, the share of the radio's
  air time the set needs (1M PHY), and the rates gaitcue falls back to on that link;
* ``emulation``: the same set streamed through bleak's ``BleakClient`` over the emulated
  radio (the simulator's BLE timing: 6 packets per event, jitter, stalls) and gaitcue's
  ``BleLink``: bytes/s and notifications/s delivered, bursts, loss, the rate each device ran
  at, and the decoder's mean delay from a packet's last sample to its arrival (meaningful at
  ``--speed 1`` only: a scaled clock scales the host's scheduling delays too).

Run: ``python bench/ble_throughput.py [--emulation-s S] [--speed X]``; prints one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from firmware_bridge.ble.budget import (
    ASSUMED_INTERVAL_S,
    HEADROOM,
    PDUS_PER_EVENT,
    STANDARD_SET,
    air_time_share,
    device_need,
    fits,
    link_capacity,
    plan_set_rates,
)
from firmware_bridge.ble.emulation import GaitcuePeripheral, air_from_session
from firmware_bridge.ble.hub import BleHub
from firmware_bridge.ble.link import BleLink
from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.hostclock import ScaledClock
from firmware_bridge.samples import SampleBlock, StreamKind
from firmware_bridge.simulator.link_timing import BleTiming
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig

INTERVALS_S = (0.0075, 0.015, 0.030)
MTUS = (23, 247)
DEVICES = (
    ("insole", StreamKind.INSOLE, 200, 16),
    ("imu", StreamKind.IMU, 1000, 6),
)
"""(name, kind, rate Hz, channels) of each pair; the set is two of each."""


def need_figures(att_mtu: int, interval_s: float) -> dict[str, Any]:
    per_device: dict[str, Any] = {}
    total_bytes = 0.0
    total_notes = 0.0
    for name, kind, rate, channels in DEVICES:
        need = device_need(kind, rate, channels, att_mtu=att_mtu, interval_s=interval_s)
        per_device[name] = {
            "rate_hz": rate,
            "samples_per_packet": need.samples_per_packet,
            "packets_per_s": round(need.packets_per_s, 1),
            "bytes_per_s": round(need.bytes_per_s),
            "notifications_per_s": round(need.notifications_per_s, 1),
        }
        total_bytes += 2 * need.bytes_per_s
        total_notes += 2 * need.notifications_per_s
    return {
        "per_device": per_device,
        "set_bytes_per_s": round(total_bytes),
        "set_notifications_per_s": round(total_notes, 1),
    }


def link_figures(att_mtu: int, interval_s: float) -> dict[str, Any]:
    capacity = link_capacity(att_mtu=att_mtu, interval_s=interval_s)
    full = [
        device_need(kind, rate, ch, att_mtu=att_mtu, interval_s=interval_s)
        for kind, rate, ch in STANDARD_SET
    ]
    rates, planned_fits = plan_set_rates(STANDARD_SET, att_mtu=att_mtu, interval_s=interval_s)
    planned = [
        device_need(kind, rate, ch, att_mtu=att_mtu, interval_s=interval_s)
        for (kind, _, ch), rate in zip(STANDARD_SET, rates, strict=True)
    ]
    return {
        "att_mtu": att_mtu,
        "interval_ms": interval_s * 1e3,
        "link_bytes_per_s": round(capacity.bytes_per_s),
        "link_notifications_per_s": round(capacity.notifications_per_s, 1),
        "full_rate_fits_link": {
            kind.name.lower(): fits(need, capacity)
            for (kind, _, _), need in zip(STANDARD_SET, full, strict=True)
        },
        "full_rate_air_time_pct": round(100 * air_time_share(full), 1),
        "fallback_rates_hz": {
            kind.name.lower(): rate for (kind, _, _), rate in zip(STANDARD_SET, rates, strict=True)
        },
        "fallback_fits": planned_fits,
        "fallback_set_bytes_per_s": round(sum(n.bytes_per_s for n in planned)),
        "fallback_air_time_pct": round(100 * air_time_share(planned), 1),
    }


def _snapshot(link: BleLink, peripheral: GaitcuePeripheral) -> dict[str, int]:
    c = link.reader.counters
    return {
        "bytes": c.bytes,
        "notifications": c.notifications,
        "fragments": c.fragments,
        "bursts": peripheral.truth.events_with_burst,
    }


def emulation_run(
    att_mtu: int, interval_s: float, duration_s: float, speed: float
) -> dict[str, Any]:
    clock = ScaledClock(speed)
    session = SimulatedSession(
        SimulationConfig(duration_s=duration_s + 60.0, seed=5, link="ble", start_s=clock())
    )
    timing = BleTiming(interval_s=interval_s)
    air = air_from_session(session, clock, att_mtu=att_mtu, timing=timing)
    hub = BleHub()
    samples = {"n": 0}

    def sink(block: SampleBlock) -> None:
        samples["n"] += block.n_samples

    links = []
    for peripheral in air.gaitcue_devices():
        decoder = LinkDecoder(sink=sink, latency_floor_s=timing.min_latency_s)
        link = BleLink(
            peripheral.address,
            decoder,
            hub=hub,
            clock=clock,
            client_backend=air.client_backend,
            scanner_backend=air.scanner_backend,
        )
        link.open()
        links.append(link)
    for link in links:
        link.start()
    # count from here: every device is streaming
    start_s = clock()
    at_start = [_snapshot(link, p) for link, p in zip(links, air.gaitcue_devices(), strict=True)]
    wall = time.perf_counter()
    while clock() < start_s + duration_s:
        time.sleep(0.05)
    elapsed_s = clock() - start_s
    for link in links:
        link.stop()
    hub.stop()
    wall = time.perf_counter() - wall
    devices = {}
    total_bytes = 0
    total_notes = 0
    for link, peripheral, before in zip(links, air.gaitcue_devices(), at_start, strict=True):
        stats = link.stats()
        now = _snapshot(link, peripheral)
        delta = {k: now[k] - before[k] for k in now}
        total_bytes += delta["bytes"]
        total_notes += delta["notifications"]
        devices[peripheral.name] = {
            "rate_hz": peripheral.rate_hz,
            "note": link.note,
            "bytes_per_s": round(delta["bytes"] / elapsed_s),
            "notifications_per_s": round(delta["notifications"] / elapsed_s, 1),
            "packets_per_notification_max": peripheral.truth.max_packets_per_notification or None,
            "fragments_per_s": round(delta["fragments"] / elapsed_s, 1),
            "burst_notifications_per_s": round(delta["bursts"] / elapsed_s, 1),
            "loss_pct": round(100 * stats.loss_fraction, 3),
            "decoder_latency_ms": round(
                next(iter(link.decoder.devices.values())).status().latency_ms, 1
            ),
        }
    return {
        "att_mtu": att_mtu,
        "interval_ms": interval_s * 1e3,
        "clock_s": round(elapsed_s, 2),
        "wall_s": round(wall, 2),
        "set_bytes_per_s": round(total_bytes / elapsed_s),
        "set_notifications_per_s": round(total_notes / elapsed_s, 1),
        "samples_decoded": samples["n"],
        "devices": devices,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--emulation-s", type=float, default=10.0, help="clock seconds per emulated run (0: skip)"
    )
    parser.add_argument("--speed", type=float, default=5.0, help="emulation clock speed")
    args = parser.parse_args()
    figures: dict[str, Any] = {
        "assumptions": {
            "notifications_per_connection_event": PDUS_PER_EVENT,
            "headroom_pct": round(100 * HEADROOM),
            "interval_assumed_by_links_ms": ASSUMED_INTERVAL_S * 1e3,
            "phy": "1M",
            "data_length_extension_at_mtu_247": True,
            "fragment_payload_bytes_at_mtu_23": 19,
        },
        "need_mtu_247_15ms": need_figures(247, 0.015),
        "need_mtu_23_15ms": need_figures(23, 0.015),
        "links": [link_figures(m, i) for m in MTUS for i in INTERVALS_S],
    }
    if args.emulation_s > 0:
        figures["emulation"] = [
            emulation_run(m, i, args.emulation_s, args.speed)
            for m in MTUS
            for i in (0.0075, 0.015, 0.030)
        ]
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
