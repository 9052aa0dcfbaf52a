"""Hostile bytes into the serial decoder: random streams, and valid simulated streams with
bits flipped, bytes cut, inserted or repeated, frames duplicated, and packets whose fields
are mutated behind a recomputed CRC. The decoder must never raise, must keep its buffers
bounded, and its counters must stay consistent."""

from __future__ import annotations

import functools
import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.cobs import cobs_decode, frame
from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.protocol import crc16
from firmware_bridge.samples import SampleBlock
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig

MAX_FRAME = 1024


@functools.cache
def valid_stream() -> tuple[bytes, tuple[bytes, ...]]:
    """One simulated second of a left insole and IMU on one link: (bytes, packets)."""
    session = SimulatedSession(SimulationConfig(duration_s=1.0, seed=21, n_cells=8))
    wire = bytearray()
    for delivery in session.advance(1.0)[:2]:
        for payload in delivery.payloads:
            wire += payload
    packets = tuple(cobs_decode(part) for part in bytes(wire).split(b"\x00") if part)
    return bytes(wire), packets


def feed_all(data: bytes, cuts: list[int]) -> LinkDecoder:
    """Feed ``data`` in pieces cut at ``cuts``, with arrival times 1 ms apart; check the
    decoder's state after every read."""
    blocks: list[SampleBlock] = []
    decoder = LinkDecoder(sink=blocks.append)
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    t = 100.0
    for start, stop in itertools.pairwise(bounds):
        chunk = data[start:stop]
        decoder.feed(chunk, t)
        decoder.poll(t)
        t += 0.001
        # The partial frame kept between reads never outgrows one read plus one frame.
        assert len(decoder._deframer._buffer) <= MAX_FRAME + len(chunk)
    decoder.poll(t + 10.0)
    check_counters(decoder, blocks)
    return decoder


def check_counters(decoder: LinkDecoder, blocks: list[SampleBlock]) -> None:
    stats = decoder.stats()
    for name in ("packets", "samples", "lost", "missing", "duplicate", "reordered", "late"):
        assert getattr(stats, name) >= 0, name
    assert decoder.corrupt <= decoder.bad_frames
    assert stats.late <= stats.reordered
    assert stats.samples == sum(b.n_samples for b in blocks)
    for device in decoder.devices.values():
        assert len(device._held) <= device._hold_packets + 1
        assert len(device._pending) <= 1000
    for block in blocks:
        assert block.values.shape == (block.t_host_s.shape[0], block.values.shape[1])
        assert np.all(np.diff(block.t_host_s) > 0)
        assert block.gap_before_s >= 0.0


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.integers(1, 300)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("repeat"), st.integers(0, 10**6), st.integers(1, 300)),
)


def mutate(data: bytes, ops: list[tuple]) -> bytes:  # type: ignore[type-arg]
    out = bytearray(data)
    for op in ops:
        if not out:
            break
        pos = op[1] % len(out)
        if op[0] == "flip":
            out[pos] ^= 1 << op[2]
        elif op[0] == "cut":
            del out[pos : pos + op[2]]
        elif op[0] == "insert":
            out[pos:pos] = op[2]
        else:
            out[pos:pos] = out[pos : pos + op[2]]
    return bytes(out)


@settings(deadline=None)
@given(st.binary(max_size=4096), st.lists(st.integers(0, 4096), max_size=20))
def test_random_bytes_never_break_the_decoder(data: bytes, cuts: list[int]) -> None:
    decoder = feed_all(data, cuts)
    assert decoder.stats().packets == 0 or decoder.devices


@settings(deadline=None)
@given(st.lists(mutation, min_size=1, max_size=12), st.lists(st.integers(0, 10**6), max_size=30))
def test_mutated_streams_are_decoded_or_counted(ops: list[tuple], cuts: list[int]) -> None:  # type: ignore[type-arg]
    wire, packets = valid_stream()
    decoder = feed_all(mutate(wire, ops), cuts)
    # Each mutation damages at most a few frames; the rest still decode (or wait for their
    # device's next hello when the hello was the frame damaged).
    waiting = sum(len(device._pending) for device in decoder.devices.values())
    assert decoder.stats().packets + waiting >= len(packets) - 3 * len(ops) - 4


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    ),
    st.lists(st.integers(0, 10**6), max_size=10),
)
def test_packets_with_valid_crc_but_hostile_fields(
    edits: list[tuple[int, int, int]], duplicate: list[int]
) -> None:
    """Packet fields (kind, ids, counts, hello contents) rewritten and the CRC fixed, so
    that the parser, not the CRC, has to reject or survive them; frames also repeated."""
    _, packets = valid_stream()
    chosen = list(packets)
    for which, where, value in edits:
        index = which % len(chosen)
        body = bytearray(chosen[index][:-2])
        body[where % len(body)] = value
        chosen[index] = bytes(body) + crc16(bytes(body)).to_bytes(2, "little")
    for index in duplicate:
        chosen.insert(index % len(chosen), chosen[index % len(chosen)])
    data = b"\x00" + b"".join(frame(p) for p in chosen)
    feed_all(data, [len(data) // 3, 2 * len(data) // 3])


@settings(deadline=None, max_examples=10)
@given(st.integers(2, 40))
def test_a_noisy_line_without_delimiters_allocates_nothing_lasting(n_reads: int) -> None:
    decoder = LinkDecoder(sink=lambda block: None)
    noise = bytes(range(1, 256)) * 4
    for i in range(n_reads):
        decoder.feed(noise, float(i))
        assert len(decoder._deframer._buffer) <= MAX_FRAME + len(noise)
    assert decoder.stats().garbage_bytes >= (n_reads - 1) * len(noise) - MAX_FRAME
