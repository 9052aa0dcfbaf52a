"""StreamingSOS: chunk-size independence, start-up state, restarts after gaps, settling time,
frequency response and argument checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from firmware_bridge.errors import ConfigurationError
from realtime.filters import StreamingSOS

RATE_HZ = 1000.0


def _noise(n: int, seed: int = 0, n_channels: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (n,) if n_channels == 0 else (n, n_channels)
    out: np.ndarray = 3.0 + rng.standard_normal(shape).cumsum(axis=0) * 0.1
    return out


def _in_chunks(f: StreamingSOS, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    parts, i, k = [], 0, 0
    while i < x.shape[0]:
        n = sizes[k % len(sizes)]
        parts.append(f.process(x[i : i + n]))
        i += n
        k += 1
    return np.concatenate(parts)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=700), min_size=1, max_size=20).filter(any),
    btype=st.sampled_from(["lowpass", "highpass", "bandpass"]),
)
def test_any_chunking_gives_the_same_output_bit_for_bit(sizes: list[int], btype: str) -> None:
    cutoff: float | tuple[float, float] = (5.0, 40.0) if btype == "bandpass" else 20.0
    x = _noise(3000, seed=1)
    whole = StreamingSOS(order=4, cutoff_hz=cutoff, rate_hz=RATE_HZ, btype=btype)  # type: ignore[arg-type]
    chunked = StreamingSOS(order=4, cutoff_hz=cutoff, rate_hz=RATE_HZ, btype=btype)  # type: ignore[arg-type]
    np.testing.assert_array_equal(_in_chunks(chunked, x, sizes), whole.process(x))


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=12),
    n_channels=st.sampled_from([0, 1, 3]),
    order=st.sampled_from([1, 2, 5]),
)
def test_short_chunks_between_long_ones_give_the_same_bits(
    sizes: list[int], n_channels: int, order: int
) -> None:
    # Short chunks take the Python recursion, long ones sosfilt; the state passes between.
    x = _noise(1500, seed=5, n_channels=n_channels)
    chunked = StreamingSOS(order=order, cutoff_hz=25.0, rate_hz=RATE_HZ, n_channels=n_channels)
    whole = StreamingSOS(order=order, cutoff_hz=25.0, rate_hz=RATE_HZ, n_channels=n_channels)
    np.testing.assert_array_equal(_in_chunks(chunked, x, [*sizes, 300]), whole.process(x))


def test_one_sample_at_a_time_equals_one_call() -> None:
    x = _noise(1500, seed=2)
    a = StreamingSOS(order=2, cutoff_hz=20.0, rate_hz=RATE_HZ)
    b = StreamingSOS(order=2, cutoff_hz=20.0, rate_hz=RATE_HZ)
    np.testing.assert_array_equal(_in_chunks(a, x, [1]), b.process(x))


def test_channels_are_filtered_independently() -> None:
    x = _noise(2000, seed=3, n_channels=3)
    multi = StreamingSOS(order=3, cutoff_hz=15.0, rate_hz=RATE_HZ, n_channels=3)
    y = _in_chunks(multi, x, [17, 400, 3])
    for c in range(3):
        single = StreamingSOS(order=3, cutoff_hz=15.0, rate_hz=RATE_HZ)
        np.testing.assert_allclose(y[:, c], single.process(x[:, c]), rtol=0, atol=1e-12)


def test_matches_scipy_sosfilt_started_from_the_first_sample() -> None:
    x = _noise(2000, seed=4)
    f = StreamingSOS(order=4, cutoff_hz=30.0, rate_hz=RATE_HZ)
    zi = signal.sosfilt_zi(f.sos) * x[0]
    expected, _ = signal.sosfilt(f.sos, x, zi=zi)
    np.testing.assert_array_equal(_in_chunks(f, x, [250, 7]), expected)


def test_a_constant_signal_passes_without_a_start_up_step() -> None:
    f = StreamingSOS(order=4, cutoff_hz=10.0, rate_hz=RATE_HZ)
    y = f.process(np.full(500, 7.25))
    np.testing.assert_allclose(y, 7.25, rtol=0, atol=1e-9)


def test_passband_and_stopband() -> None:
    t = np.arange(4000) / RATE_HZ
    f_low = StreamingSOS(order=4, cutoff_hz=20.0, rate_hz=RATE_HZ)
    f_high = StreamingSOS(order=4, cutoff_hz=20.0, rate_hz=RATE_HZ)
    slow = f_low.process(np.sin(2 * np.pi * 3.0 * t))[2000:]
    fast = f_high.process(np.sin(2 * np.pi * 150.0 * t))[2000:]
    assert np.ptp(slow) == pytest.approx(2.0, rel=0.01)
    assert np.ptp(fast) < 2.0 * 1e-3  # 4th order, 150 Hz vs 20 Hz: below -60 dB


def test_gap_longer_than_the_limit_restarts_from_the_next_sample() -> None:
    x = _noise(1000, seed=5)
    f = StreamingSOS(order=2, cutoff_hz=20.0, rate_hz=RATE_HZ, restart_gap_s=0.05)
    f.process(x[:400], t_s=np.arange(400) / RATE_HZ)
    t_after = 0.6 + np.arange(600) / RATE_HZ
    after = f.process(x[400:], t_s=t_after, gap_before_s=0.2)
    fresh = StreamingSOS(order=2, cutoff_hz=20.0, rate_hz=RATE_HZ).process(x[400:])
    np.testing.assert_array_equal(after, fresh)
    assert f.restarts == 2
    assert f.restart_t_s == t_after[0]
    assert f.settled_from_s == pytest.approx(t_after[0] + f.settling_s)


def test_gap_at_or_below_the_limit_carries_the_state_on() -> None:
    x = _noise(1000, seed=6)
    f = StreamingSOS(order=2, cutoff_hz=20.0, rate_hz=RATE_HZ, restart_gap_s=0.05)
    first = f.process(x[:400])
    second = f.process(x[400:], gap_before_s=0.05)
    whole = StreamingSOS(order=2, cutoff_hz=20.0, rate_hz=RATE_HZ).process(x)
    np.testing.assert_array_equal(np.concatenate([first, second]), whole)
    assert f.restarts == 1


def test_an_empty_chunk_keeps_its_gap_for_the_next_one() -> None:
    x = _noise(600, seed=7)
    f = StreamingSOS(order=2, cutoff_hz=20.0, rate_hz=RATE_HZ)
    f.process(x[:300])
    assert f.process(np.zeros(0), gap_before_s=1.0).shape == (0,)
    after = f.process(x[300:])
    fresh = StreamingSOS(order=2, cutoff_hz=20.0, rate_hz=RATE_HZ).process(x[300:])
    np.testing.assert_array_equal(after, fresh)


def test_reset_starts_again_from_the_next_sample() -> None:
    x = _noise(600, seed=8)
    f = StreamingSOS(order=2, cutoff_hz=20.0, rate_hz=RATE_HZ)
    f.process(x[:300])
    f.reset()
    fresh = StreamingSOS(order=2, cutoff_hz=20.0, rate_hz=RATE_HZ).process(x[300:])
    np.testing.assert_array_equal(f.process(x[300:]), fresh)


@pytest.mark.parametrize(("order", "cutoff_hz"), [(2, 20.0), (4, 20.0), (2, 5.0)])
def test_settling_time_bounds_the_step_response_error(order: int, cutoff_hz: float) -> None:
    f = StreamingSOS(order=order, cutoff_hz=cutoff_hz, rate_hz=RATE_HZ, settle_tolerance=0.01)
    # Start settled at 0, then step to 1: the restart transient the flag is for.
    y = f.process(np.concatenate([np.zeros(1), np.ones(5000)]))[1:]
    n = round(f.settling_s * RATE_HZ)
    assert np.all(np.abs(y[n:] - 1.0) <= 0.01)
    assert np.abs(y[n - 2] - 1.0) > 0.01  # and not much earlier: it is the last crossing
    # Lower corners settle more slowly.
    if cutoff_hz == 5.0:
        assert f.settling_s > StreamingSOS(order=2, cutoff_hz=20.0, rate_hz=RATE_HZ).settling_s


def test_highpass_settling_uses_zero_as_the_final_value() -> None:
    f = StreamingSOS(order=2, cutoff_hz=1.0, rate_hz=RATE_HZ, btype="highpass")
    y = f.process(np.concatenate([np.zeros(1), np.ones(20_000)]))[1:]
    n = round(f.settling_s * RATE_HZ)
    assert np.all(np.abs(y[n:]) <= 0.01)
    assert 0.2 < f.settling_s < 5.0


def test_restart_time_is_nan_without_times() -> None:
    f = StreamingSOS(order=2, cutoff_hz=20.0, rate_hz=RATE_HZ)
    f.process(np.ones(10))
    assert np.isnan(f.restart_t_s)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"order": 0}, "order"),
        ({"order": 2.5}, "order"),
        ({"cutoff_hz": 600.0}, "500"),
        ({"cutoff_hz": -1.0}, "between 0"),
        ({"cutoff_hz": (10.0, 5.0), "btype": "bandpass"}, "low < high"),
        ({"cutoff_hz": 10.0, "btype": "bandpass"}, "pair"),
        ({"btype": "notch"}, "filter type"),
        ({"rate_hz": 0.0}, "rate_hz"),
        ({"n_channels": -1}, "n_channels"),
        ({"restart_gap_s": -0.1}, "restart_gap_s"),
        ({"settle_tolerance": 1.5}, "settle_tolerance"),
    ],
)
def test_bad_arguments_say_what_is_wrong(kwargs: dict[str, object], fragment: str) -> None:
    base: dict[str, object] = {"order": 2, "cutoff_hz": 20.0, "rate_hz": RATE_HZ}
    with pytest.raises(ConfigurationError, match=fragment):
        StreamingSOS(**{**base, **kwargs})  # type: ignore[arg-type]


def test_wrong_shape_is_a_programming_error() -> None:
    f = StreamingSOS(order=2, cutoff_hz=20.0, rate_hz=RATE_HZ, n_channels=2)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        f.process(np.zeros((10, 3)))
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        f.process(np.zeros(10))
