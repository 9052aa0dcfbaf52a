"""Per-device calibration: raw counts to trustworthy physical units.

Modules, in the order of the data:

* ``still``: still periods of an IMU recording (``StillDetector``).
* ``imu``: ``GyroBias``, ``SixFaceAccel`` (offset and per-axis scale), ``MountingAlignment``
  (sensor axes → segment frame from quiet standing and steps).
* ``insole``: ``InsoleZero``, ``BodyWeightScale``, ``CellCurveFit`` (per-cell curves from
  known loads), ``CellHealth`` (dead and saturated cells).
* ``insole_layout``: cell positions and areas (``InsoleLayout``).
* ``clock_check``: stream offsets at a shared jump or stomp (``ClockCheck``).
* ``procedures``: whole calibrations from recorded routines (``calibrate_imu``,
  ``calibrate_insoles``).
* ``files``: versioned JSON per device id (``ImuCalibration``, ``InsoleCalibration``,
  ``load_calibration``, ``save_calibration``).
* ``apply``: ``ImuCalibrator``, ``InsoleCalibrator``, ``CalibrationStore`` and
  ``CalibratedSink`` (calibrates the bridge's blocks on their way to the ring buffers).

``docs/calibration.md`` describes the routines and the file format for users.
"""

from calibration.apply import (
    CalibratedSink,
    CalibrationStore,
    ImuCalibrator,
    InsoleCalibrator,
    calibrator_for,
)
from calibration.clock_check import ClockCheck, LandingOnset, StreamEvent
from calibration.files import (
    Calibration,
    ImuCalibration,
    InsoleCalibration,
    load_calibration,
    parse_device_id,
    save_calibration,
)
from calibration.imu import GyroBias, MountingAlignment, SixFaceAccel
from calibration.insole import (
    BodyWeightScale,
    CellCurve,
    CellCurveFit,
    CellHealth,
    InsoleZero,
)
from calibration.insole_layout import InsoleLayout
from calibration.procedures import Recording, calibrate_imu, calibrate_insoles
from calibration.still import StillDetector

__all__ = [
    "BodyWeightScale",
    "CalibratedSink",
    "Calibration",
    "CalibrationStore",
    "CellCurve",
    "CellCurveFit",
    "CellHealth",
    "ClockCheck",
    "GyroBias",
    "ImuCalibration",
    "ImuCalibrator",
    "InsoleCalibration",
    "InsoleCalibrator",
    "InsoleLayout",
    "InsoleZero",
    "LandingOnset",
    "MountingAlignment",
    "Recording",
    "SixFaceAccel",
    "StillDetector",
    "StreamEvent",
    "calibrate_imu",
    "calibrate_insoles",
    "calibrator_for",
    "load_calibration",
    "parse_device_id",
    "save_calibration",
]
