"""Calibration files: a round trip keeps every value; every broken file is refused with one
line naming the file, never a traceback and never a silent default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from calibration.apply import CalibrationStore
from calibration.files import (
    VERSION,
    ImuCalibration,
    InsoleCalibration,
    load_calibration,
    parse_device_id,
    save_calibration,
)
from calibration.insole import CellCurve
from calibration.insole_layout import InsoleLayout
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.simulator.calibration_routines import ImuTruth, rotation_from_euler_deg

DEVICE = 0x6A01C0DE


def _imu() -> ImuCalibration:
    truth = ImuTruth.draw(np.random.default_rng(1), tilt_deg=20.0)
    return ImuCalibration(
        device_id=DEVICE,
        accel_offset_g=truth.accel_offset_g,
        accel_scale=truth.accel_scale,
        gyro_bias_dps=truth.gyro_bias_dps,
        alignment=rotation_from_euler_deg(10.0, -5.0, 30.0),
        quality={"accel_residual_g": 0.001, "gyro_still_noise_dps": 0.3},
        routine="six-face + standing and steps",
    )


def _insole() -> InsoleCalibration:
    rng = np.random.default_rng(2)
    r = np.geomspace(10.0, 700.0, 12)
    return InsoleCalibration(
        device_id=DEVICE + 1,
        zero_n=rng.uniform(0, 10, 8),
        floor_n=np.full(8, 6.0),
        scale=1.07,
        curves=tuple(None if i == 2 else CellCurve(r, 1.1 * r) for i in range(8)),
        dead_cells=(2,),
        saturated_cells=(5,),
        layout=InsoleLayout.default(8),
        quality={"body_weight_residual_pct": 0.4},
    )


def test_imu_round_trip(tmp_path: Path) -> None:
    cal = _imu()
    path = tmp_path / "imu.json"
    save_calibration(cal, path)
    back = load_calibration(path, device_id=DEVICE, kind="imu")
    assert isinstance(back, ImuCalibration)
    for name in ("accel_offset_g", "accel_scale", "gyro_bias_dps", "alignment"):
        np.testing.assert_array_equal(getattr(back, name), getattr(cal, name))
    assert back.quality == cal.quality
    assert back.created_utc == cal.created_utc
    document = json.loads(path.read_text())
    assert document["version"] == VERSION
    assert document["device_id"] == "6a01c0de"
    assert len(document["accel_offset_g"]) == 3


def test_insole_round_trip(tmp_path: Path) -> None:
    cal = _insole()
    path = tmp_path / "insole.json"
    save_calibration(cal, path)
    back = load_calibration(path)
    assert isinstance(back, InsoleCalibration)
    np.testing.assert_array_equal(back.zero_n, cal.zero_n)
    assert back.scale == cal.scale
    assert back.curves is not None
    assert back.curves[2] is None
    assert back.dead_cells == (2,)
    assert back.saturated_cells == (5,)
    assert back.layout is not None
    assert back.layout.same_as(InsoleLayout.default(8))
    curve = back.curves[0]
    assert curve is not None
    np.testing.assert_allclose(curve(np.array([50.0])), [55.0])


def _broken(tmp_path: Path, edit: Any) -> Path:
    path = tmp_path / "cal.json"
    save_calibration(_imu(), path)
    document = json.loads(path.read_text())
    edited = edit(document)
    path.write_text(edited if isinstance(edited, str) else json.dumps(edited))
    return path


def _without(key: str) -> Any:
    def edit(d: dict[str, Any]) -> dict[str, Any]:
        del d[key]
        return d

    return edit


def _with(key: str, value: Any) -> Any:
    def edit(d: dict[str, Any]) -> dict[str, Any]:
        d[key] = value
        return d

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: "{not json", "not valid JSON"),
        (lambda d: "[]", "not a gaitcue calibration"),
        (_with("version", 2), "version 2 was written by a newer gaitcue"),
        (_with("version", "1"), "version"),
        (_with("device_id", "zz"), "device_id"),
        (_without("accel_scale"), '"accel_scale" is missing'),
        (_without("gyro_bias_dps"), '"gyro_bias_dps" is missing'),
        (_without("alignment"), '"alignment" is missing'),
        (_with("accel_offset_g", [0.0, 0.1]), "accel_offset_g"),
        (_with("accel_scale", [1.0, "x", 1.0]), "accel_scale"),
        (_with("alignment", [[2, 0, 0], [0, 1, 0], [0, 0, 1]]), "rotation"),
        (_with("accel_scale", [1.0, -1.0, 1.0]), "positive"),
        (lambda d: json.dumps(d).replace('"gyro_bias_dps": [', '"gyro_bias_dps": [NaN, '), "NaN"),
        (_with("kind", "barometer"), "kind"),
    ],
)
def test_broken_files_give_one_line_naming_the_file(
    tmp_path: Path, edit: Any, expected: str
) -> None:
    path = _broken(tmp_path, edit)
    with pytest.raises(ConfigurationError) as info:
        load_calibration(path)
    message = str(info.value)
    assert str(path) in message
    assert expected in message
    assert "\n" not in message


def test_nan_written_as_number_is_refused(tmp_path: Path) -> None:
    path = _broken(tmp_path, lambda d: json.dumps(d).replace("0.3", "NaN", 1))
    with pytest.raises(ConfigurationError, match=str(path)):
        load_calibration(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    with pytest.raises(ConfigurationError, match=f"{path} does not exist"):
        load_calibration(path)


def test_wrong_device_and_kind(tmp_path: Path) -> None:
    path = tmp_path / "imu.json"
    save_calibration(_imu(), path)
    with pytest.raises(ConfigurationError, match="for device 6a01c0de, not 00000001"):
        load_calibration(path, device_id=1)
    with pytest.raises(ConfigurationError, match="calibrates an imu, not an insole"):
        load_calibration(path, kind="insole")


def test_nan_cannot_be_saved() -> None:
    with pytest.raises(ConfigurationError, match="not a finite number"):
        ImuCalibration(
            device_id=1,
            accel_offset_g=[0.0, np.nan, 0.0],
            accel_scale=[1, 1, 1],
            gyro_bias_dps=[0, 0, 0],
        )


def test_store_reads_a_folder_and_refuses_duplicates(tmp_path: Path) -> None:
    save_calibration(_imu(), tmp_path / "a.json")
    save_calibration(_insole(), tmp_path / "b.json")
    store = CalibrationStore.from_directory(tmp_path)
    assert sorted(store.device_ids()) == [DEVICE, DEVICE + 1]
    save_calibration(_imu(), tmp_path / "c.json")
    with pytest.raises(ConfigurationError, match="both for device 6a01c0de"):
        CalibrationStore.from_directory(tmp_path)
    (tmp_path / "c.json").write_text("{")
    with pytest.raises(ConfigurationError, match=r"c\.json is not valid JSON"):
        CalibrationStore.from_directory(tmp_path)


@pytest.mark.parametrize("text", ["6a01c0de", "0x6A01C0DE", " 6a01c0de "])
def test_device_ids_parse(text: str) -> None:
    assert parse_device_id(text) == DEVICE


def test_bad_device_id() -> None:
    with pytest.raises(ConfigurationError, match="hexadecimal"):
        parse_device_id("left")
