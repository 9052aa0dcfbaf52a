"""Run a simulated session through the decoders without real time (tests, benchmarks)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from firmware_bridge.decoder import LinkDecoder, MappingListener
from firmware_bridge.samples import SampleBlock, SampleSink
from firmware_bridge.simulator.session import SimulatedSession


@dataclass
class OfflineRun:
    """The decoders of a finished run (one per device link) and the blocks they emitted."""

    decoders: list[LinkDecoder]
    blocks: dict[str, list[SampleBlock]] = field(default_factory=lambda: defaultdict(list))


def decode_session(
    session: SimulatedSession,
    *,
    step_s: float = 0.5,
    sink: SampleSink | None = None,
    on_mapped: MappingListener | None = None,
    keep_blocks: bool = True,
) -> OfflineRun:
    """Advance ``session`` to its end in ``step_s`` steps, feeding each device link's bytes to
    its own ``LinkDecoder`` in arrival order, stamped with their simulated arrival times.

    Blocks go to ``sink`` when given, and are kept in ``OfflineRun.blocks`` when
    ``keep_blocks`` is true.
    """
    run = OfflineRun(decoders=[])

    def collect(block: SampleBlock) -> None:
        if keep_blocks:
            run.blocks[block.stream_id].append(block)
        if sink is not None:
            sink(block)

    run.decoders = [
        LinkDecoder(sink=collect, latency_floor_s=session.latency_floor_s, on_mapped=on_mapped)
        for _ in session.devices
    ]
    t = session.now_s
    while t < session.end_s:
        t = min(t + step_s, session.end_s)
        for delivery in session.advance(t):
            decoder = run.decoders[delivery.device_index]
            for arrival, payload in zip(
                delivery.arrival_s.tolist(), delivery.payloads, strict=True
            ):
                decoder.feed(payload, arrival)
                decoder.poll(arrival)
    for decoder in run.decoders:
        decoder.poll(session.end_s + 10.0)
    return run
