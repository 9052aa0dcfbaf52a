"""RSC Measurement parsing against the specification's byte layout, every flag combination,
and the footpod's ×2 setting and plausibility check."""

from __future__ import annotations

import math
import struct
from itertools import product

import numpy as np
import pytest

from firmware_bridge.ble.rsc import (
    FEATURE_STRIDE_LENGTH,
    FootpodDecoder,
    FootpodSettings,
    cadence_plausible,
    encode_rsc_measurement,
    parse_rsc_feature,
    parse_rsc_measurement,
)
from firmware_bridge.errors import ConfigurationError, ProtocolError
from firmware_bridge.samples import FOOTPOD_CHANNELS, SampleBlock, StreamInfo, StreamKind


def spec_bytes(
    flags: int, speed_raw: int, cadence: int, stride_raw: int, distance_raw: int
) -> bytes:
    """The layout of the RSC service specification: flags (uint8), speed (uint16, 1/256 m/s),
    cadence (uint8, 1/min), then stride length (uint16, 1/100 m) if bit 0, total distance
    (uint32, 1/10 m) if bit 1."""
    out = bytes([flags]) + speed_raw.to_bytes(2, "little") + bytes([cadence])
    if flags & 0x01:
        out += stride_raw.to_bytes(2, "little")
    if flags & 0x02:
        out += distance_raw.to_bytes(4, "little")
    return out


# every combination of the three defined bits, with and without reserved bits set
FLAG_SETS = [a | b | c | rfu for a, b, c, rfu in product((0, 1), (0, 2), (0, 4), (0, 0xF8))]


@pytest.mark.parametrize("flags", FLAG_SETS)
def test_every_flag_combination(flags: int) -> None:
    speed_raw, cadence, stride_raw, distance_raw = 0x0312, 174, 0x00F1, 0x0001_86A5
    m = parse_rsc_measurement(spec_bytes(flags, speed_raw, cadence, stride_raw, distance_raw))
    assert m.speed_m_s == pytest.approx(speed_raw / 256.0)
    assert m.cadence_raw == cadence
    assert m.running == bool(flags & 0x04)
    assert m.flags == flags
    if flags & 0x01:
        assert m.stride_m == pytest.approx(stride_raw / 100.0)
    else:
        assert m.stride_m is None
    if flags & 0x02:
        assert m.distance_m == pytest.approx(distance_raw / 10.0)
    else:
        assert m.distance_m is None


@pytest.mark.parametrize("flags", FLAG_SETS)
def test_wrong_lengths_are_rejected(flags: int) -> None:
    good = spec_bytes(flags, 100, 80, 120, 1000)
    with pytest.raises(ProtocolError):
        parse_rsc_measurement(good[:-1])
    with pytest.raises(ProtocolError):
        parse_rsc_measurement(good + b"\x00")


def test_extreme_values() -> None:
    m = parse_rsc_measurement(spec_bytes(0x03, 0xFFFF, 255, 0xFFFF, 0xFFFFFFFF))
    assert m.speed_m_s == pytest.approx(65535 / 256)
    assert m.cadence_raw == 255
    assert m.stride_m == pytest.approx(655.35)
    assert m.distance_m == pytest.approx(429496729.5)


def test_encoder_matches_the_layout() -> None:
    data = encode_rsc_measurement(3.0, 172, stride_m=2.1, distance_m=1234.5, running=True)
    assert data == spec_bytes(0x07, 768, 172, 210, 12345)
    assert encode_rsc_measurement(1.0, 60, running=False) == struct.pack("<BHB", 0, 256, 60)


def test_feature_bits() -> None:
    assert parse_rsc_feature(b"\x07\x00") == 7
    with pytest.raises(ProtocolError):
        parse_rsc_feature(b"\x01")


@pytest.mark.parametrize(
    ("cadence", "speed", "running", "plausible"),
    [
        (172, 3.0, True, True),
        (86, 3.0, True, False),
        (110, 1.3, False, True),
        (30, 1.0, False, False),
        (0, 0.0, False, True),
        (250, 5.0, True, False),
        (100, 1.5, None, True),
    ],
)
def test_plausibility(cadence: float, speed: float, running: bool | None, plausible: bool) -> None:
    assert cadence_plausible(cadence, speed, running) is plausible


def decode_rows(
    measurements: list[bytes], settings: FootpodSettings, features: int | None = None
) -> tuple[np.ndarray, FootpodDecoder, list[StreamInfo]]:
    blocks: list[SampleBlock] = []
    infos: list[StreamInfo] = []
    pod = FootpodDecoder(
        "C0:FF:EE:00:00:01",
        sink=blocks.append,
        on_stream=infos.append,
        settings=settings,
        features=features,
    )
    for i, data in enumerate(measurements):
        pod.handle_measurement(data, 100.0 + i)
    rows = np.concatenate([b.values for b in blocks]) if blocks else np.empty((0, 6))
    return rows, pod, infos


def test_stream_contract_and_unavailable_fields() -> None:
    rows, pod, infos = decode_rows(
        [spec_bytes(0x04, 768, 170, 0, 0)] * 3, FootpodSettings(cadence_multiplier=1)
    )
    (info,) = infos
    assert info.kind == StreamKind.FOOTPOD
    assert info.channel_names == FOOTPOD_CHANNELS
    assert rows.shape == (3, len(FOOTPOD_CHANNELS))
    assert np.all(rows[:, 0] == 170)
    assert np.allclose(rows[:, 1], 3.0)
    assert np.all(np.isnan(rows[:, 2]))
    assert np.all(np.isnan(rows[:, 3]))
    assert np.all(rows[:, 4] == 1.0)
    assert np.all(rows[:, 5] == 1.0)
    assert pod.status().stats.samples == 3


def test_running_status_unknown_without_the_feature() -> None:
    rows, _, _ = decode_rows(
        [spec_bytes(0x01, 768, 170, 210, 0)], FootpodSettings(1), features=FEATURE_STRIDE_LENGTH
    )
    assert math.isnan(rows[0, 4])
    assert rows[0, 2] == pytest.approx(2.1)


@pytest.mark.parametrize(
    ("raw", "setting", "expected"),
    [
        (86, "auto", 172),
        (172, "auto", 172),
        (86, 2, 172),
        (86, 1, 86),
        (172, 2, 344),
    ],
)
def test_cadence_multiplier(raw: int, setting: object, expected: int) -> None:
    measurements = [spec_bytes(0x04, 768, raw, 0, 0)] * 5
    rows, pod, _ = decode_rows(measurements, FootpodSettings(cadence_multiplier=setting))  # type: ignore[arg-type]
    assert rows[-1, 0] == expected
    assert pod.multiplier == expected // raw
    assert rows[-1, 5] == (1.0 if 120 <= expected <= 240 else 0.0)


def test_auto_ignores_walking_and_standing() -> None:
    walking = [spec_bytes(0x00, 330, 100, 0, 0)] * 5
    _, pod, _ = decode_rows(walking, FootpodSettings())
    assert pod.multiplier is None


def test_bad_setting_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="auto, 1 or 2"):
        FootpodSettings(cadence_multiplier=3)  # type: ignore[arg-type]


def test_malformed_measurement_is_counted_not_raised() -> None:
    _, pod, _ = decode_rows([b"\x01\x00"], FootpodSettings())
    assert pod.status().stats.extra["malformed"] == 1


def test_a_reconnect_marks_a_gap_on_the_next_row() -> None:
    blocks: list[SampleBlock] = []
    pod = FootpodDecoder("C0:FF:EE:00:00:02", sink=blocks.append, settings=FootpodSettings(1))
    data = spec_bytes(0x04, 768, 170, 0, 0)
    pod.handle_measurement(data, 10.0)
    pod.handle_measurement(data, 11.0)
    pod.mark_gap()
    pod.handle_measurement(data, 15.0)
    pod.handle_measurement(data, 16.0)
    assert [b.gap_before_s for b in blocks] == [0.0, 0.0, pytest.approx(4.0), 0.0]
