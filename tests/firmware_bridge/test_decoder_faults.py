"""The decoder against the simulator's injected faults and true clocks (no real time)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.samples import SampleBlock
from firmware_bridge.simulator.faults import FaultSpec
from firmware_bridge.simulator.offline import decode_session
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig


def run_offline(
    session: SimulatedSession, *, step_s: float = 0.5, on_mapped=None
) -> tuple[list[LinkDecoder], dict[str, list[SampleBlock]]]:
    run = decode_session(session, step_s=step_s, on_mapped=on_mapped)
    return run.decoders, run.blocks


FAULTS = FaultSpec(loss=0.05, corrupt=0.001, reorder=0.01, duplicate=0.01)


@pytest.fixture(scope="module")
def faulty_run() -> tuple[SimulatedSession, list[LinkDecoder], dict[str, list[SampleBlock]]]:
    session = SimulatedSession(SimulationConfig(duration_s=60.0, seed=11, faults=FAULTS))
    decoders, blocks = run_offline(session)
    return session, decoders, blocks


def test_fault_counts_equal_what_was_injected(faulty_run) -> None:  # type: ignore[no-untyped-def]
    session, decoders, _ = faulty_run
    for index, decoder in enumerate(decoders):
        injected = session.injected(index)
        stats = decoder.stats()
        assert injected.lost > 100
        assert injected.corrupted > 0
        assert (stats.missing, stats.corrupt, stats.duplicate, stats.reordered) == (
            injected.missing_detectable(),
            injected.corrupted,
            injected.duplicated,
            injected.reordered,
        )
        assert stats.late == 0
        # The display figure "lost" (missing less corrupt) is off only by a tail event.
        assert abs(stats.lost - injected.lost) <= 1


def test_no_intact_packet_is_lost(faulty_run) -> None:  # type: ignore[no-untyped-def]
    session, decoders, blocks = faulty_run
    for index, decoder in enumerate(decoders):
        intact = {(boot, seq): n for boot, seq, n in session.injected(index).intact}
        device = next(iter(decoder.devices.values()))
        assert device.info is not None
        assert device.stats.packets == len(intact)
        emitted = sum(b.n_samples for b in blocks[device.info.stream_id])
        assert emitted == sum(intact.values())


def test_gaps_are_marked_and_times_increase(faulty_run) -> None:  # type: ignore[no-untyped-def]
    _, _, blocks = faulty_run
    for stream_blocks in blocks.values():
        t = np.concatenate([b.t_host_s for b in stream_blocks])
        assert np.all(np.diff(t) > 0)
        marked = [b for b in stream_blocks if b.gap_before_s > 0]
        assert len(marked) > 50
        # Every real hole in time is marked: a jump of more than 1.5 periods has a gap mark.
        period = np.median(np.diff(t))
        starts = np.cumsum([0] + [b.n_samples for b in stream_blocks])[:-1]
        jumps = np.flatnonzero(np.diff(t) > 1.5 * period) + 1
        gap_starts = {int(starts[i]) for i, b in enumerate(stream_blocks) if b.gap_before_s > 0}
        assert set(jumps.tolist()) <= gap_starts


def test_clean_link_counts_nothing() -> None:
    session = SimulatedSession(SimulationConfig(duration_s=10.0, seed=3, imus=False))
    decoders, blocks = run_offline(session)
    for decoder in decoders:
        stats = decoder.stats()
        assert (stats.lost, stats.corrupt, stats.duplicate, stats.reordered) == (0, 0, 0, 0)
    assert all(b.gap_before_s == 0 for bs in blocks.values() for b in bs)


def _mapping_errors(session: SimulatedSession, settle_s: float) -> dict[str, np.ndarray]:
    by_stream = {}
    recorded: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)

    def on_mapped(stream_id: str, t_device: np.ndarray, t_host: np.ndarray) -> None:
        recorded[stream_id].append((t_device, t_host))

    decoders, _ = run_offline(session, step_s=2.0, on_mapped=on_mapped)
    for index, decoder in enumerate(decoders):
        device = session.devices[index]
        info = next(iter(decoder.devices.values())).info
        assert info is not None
        errors = []
        for t_device, t_host in recorded[info.stream_id]:
            if t_host[0] < session.config.start_s + settle_s:
                continue
            truth = device.true_host_time(t_device, float(t_host[0]))
            errors.append(t_host - truth)
        by_stream[info.stream_id] = np.concatenate(errors)
    return by_stream


def test_drifting_clocks_map_within_1_ms_over_10_minutes() -> None:
    session = SimulatedSession(
        SimulationConfig(duration_s=600.0, seed=5, imus=False, start_s=1000.0)
    )
    ppms = [d.spec.clock_ppm for d in session.devices]
    errors = _mapping_errors(session, settle_s=30.0)
    worst_ms = {k: float(np.abs(v).max() * 1e3) for k, v in errors.items()}
    assert max(worst_ms.values()) < 1.0, (worst_ms, ppms)


def test_mapping_recovers_after_reconnect_with_clock_reset() -> None:
    faults = FaultSpec(disconnect_every_s=120.0, disconnect_s=3.0, reset_on_reconnect=True)
    session = SimulatedSession(
        SimulationConfig(duration_s=400.0, seed=8, imus=False, faults=faults)
    )
    recorded: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    decoders, _ = run_offline(
        session, step_s=2.0, on_mapped=lambda s, d, h: recorded[s].append((d, h))
    )
    for index, decoder in enumerate(decoders):
        device = decoder.devices[next(iter(decoder.devices))]
        assert device.stats.resets >= 2
        assert device.info is not None
        resets = session.devices[index].reboot_times_s
        worst = 0.0
        for t_device, t_host in recorded[device.info.stream_id]:
            if t_host[0] < 30.0 or any(r <= t_host[0] < r + 5.0 for r in resets):
                continue
            truth = session.devices[index].true_host_time(t_device, float(t_host[0]))
            worst = max(worst, float(np.abs(t_host - truth).max()))
        assert worst < 1e-3
