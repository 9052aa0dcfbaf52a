"""Long outages with the same boot, read by a punctual or a late host: a gap, never a reboot.

The simulator's ``disconnect_every``/``disconnect`` faults silence a device (same boot id,
clock and counter running on); ``reset_on_reconnect`` reboots it instead. A late host is
modelled as a reader that was busy for ``late_s`` seconds, either when the device came back
(everything that arrived in the first ``late_s`` after an outage is read at once at its
end: the host time across the silence looks longer than the device's) or just before it
went silent (what arrived in the last ``late_s`` before the outage is read at once
``late_s`` into it, so the host time across the silence looks shorter).
"""

from __future__ import annotations

import numpy as np
import pytest

from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.samples import SampleBlock
from firmware_bridge.simulator.faults import FaultSpec
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig


def decode_with_late_host(
    session: SimulatedSession, late_s: float, *, busy: str = "after"
) -> tuple[list[LinkDecoder], dict[str, list[SampleBlock]]]:
    """Feed every link's bytes in 0.5 s steps; ``after`` (or ``before``) each outage the
    host reads nothing for ``late_s`` seconds, then the backlog in one read."""
    blocks: dict[str, list[SampleBlock]] = {}

    def sink(block: SampleBlock) -> None:
        blocks.setdefault(block.stream_id, []).append(block)

    decoders = [
        LinkDecoder(sink=sink, latency_floor_s=session.latency_floor_s) for _ in session.devices
    ]
    t = session.now_s
    while t < session.end_s:
        t = min(t + 0.5, session.end_s)
        for delivery in session.advance(t):
            arrivals = delivery.arrival_s.copy()
            for start_s, end_s in session.injected(delivery.device_index).outages_s:
                if busy == "after":
                    held = (arrivals >= end_s) & (arrivals < end_s + late_s)
                    arrivals[held] = end_s + late_s
                else:
                    held = (arrivals >= start_s - late_s) & (arrivals < start_s + late_s)
                    arrivals[held] = start_s + late_s
            decoder = decoders[delivery.device_index]
            for arrival, payload in zip(arrivals.tolist(), delivery.payloads, strict=True):
                decoder.feed(payload, arrival)
                decoder.poll(arrival)
    for decoder in decoders:
        decoder.poll(session.end_s + 10.0)
    return decoders, blocks


@pytest.mark.parametrize("outage_s", [2.0, 5.0, 30.0, 70.0])
@pytest.mark.parametrize(("late_s", "busy"), [(0.0, "after"), (1.2, "after"), (1.2, "before")])
def test_outage_with_the_same_boot_is_a_gap_of_its_length(
    outage_s: float, late_s: float, busy: str
) -> None:
    # first_seq near the wrap: the 70 s outage (about 7 000 packets) crosses it
    faults = FaultSpec(disconnect_every_s=25.0, disconnect_s=outage_s)
    duration_s = 40.0 + outage_s
    session = SimulatedSession(
        SimulationConfig(duration_s=duration_s, seed=31, faults=faults, first_seq=62_000)
    )
    decoders, blocks = decode_with_late_host(session, late_s, busy=busy)
    for index, decoder in enumerate(decoders):
        injected = session.injected(index)
        assert injected.disconnects >= 1
        stats = decoder.stats()
        assert stats.resets == 0, (index, outage_s, late_s)
        device = next(iter(decoder.devices.values()))
        assert device.info is not None
        stream = blocks[device.info.stream_id]
        marked = [b.gap_before_s for b in stream if b.gap_before_s > 0.5]
        # one marked gap per outage that ended inside the session, as long as the silence
        outages = [(s, e) for s, e in injected.outages_s if e < session.end_s - 1.0]
        assert len(marked) == len(outages)
        period_s = 1.0 / session.devices[index].spec.rate_hz
        for gap_s, (start_s, end_s) in zip(marked, outages, strict=True):
            assert gap_s == pytest.approx(end_s - start_s, abs=0.03 + period_s * 12)
        t_all = np.concatenate([b.t_host_s for b in stream])
        assert np.all(np.diff(t_all) > 0)
        # every intact packet of the boot is accepted once: the counter was unwrapped right
        intact = {(b, o) for b, o, _ in injected.intact}
        assert stats.packets == len(intact)
        assert stats.duplicate == 0


@pytest.mark.parametrize(("late_s", "busy"), [(0.0, "after"), (1.2, "after"), (1.2, "before")])
def test_a_true_reboot_after_an_outage_is_still_counted(late_s: float, busy: str) -> None:
    faults = FaultSpec(disconnect_every_s=20.0, disconnect_s=5.0, reset_on_reconnect=True)
    session = SimulatedSession(SimulationConfig(duration_s=35.0, seed=32, faults=faults))
    decoders, _ = decode_with_late_host(session, late_s, busy=busy)
    for index, decoder in enumerate(decoders):
        reboots = [r for r in session.devices[index].reboot_times_s if r < session.end_s - 1.0]
        assert reboots
        assert decoder.stats().resets == len(reboots)
