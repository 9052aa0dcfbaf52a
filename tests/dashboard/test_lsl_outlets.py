"""LSL outlets: a pylsl inlet in the same process receives the streams and the steps."""

from __future__ import annotations

import sys
import time
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from dashboard.lsl_outlets import STEP_CHANNELS, STEPS_OUTLET, LslOutlets, channel_labels
from dashboard.session.reader import load_session
from dashboard.session.replay import ReplayController
from dashboard.session.simulated import record_simulated
from firmware_bridge.errors import ConfigurationError
from firmware_bridge.samples import Side
from firmware_bridge.simulator.session import SimulationConfig
from realtime.pipeline import GaitPipeline
from realtime.processing import ProcessingThread
from realtime.streams import StreamBuffers


@pytest.fixture(scope="module")
def pylsl() -> ModuleType:
    try:
        import pylsl
    except (ImportError, OSError, RuntimeError) as exc:
        pytest.skip(f"pylsl with its liblsl is not usable here ({exc}): pip install gaitcue[lsl]")
    return pylsl


def _pull_all(inlet: Any, at_least: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Everything the inlet has: at least ``at_least`` samples (waiting up to 5 s)."""
    samples: list[list[float]] = []
    stamps: list[float] = []
    deadline = time.monotonic() + 5.0
    while True:
        waiting = len(stamps) < at_least and time.monotonic() < deadline
        chunk, times = inlet.pull_chunk(timeout=0.1 if waiting else 0.0, max_samples=100_000)
        if not times and not waiting:
            break
        samples.extend(chunk)
        stamps.extend(times)
    return np.asarray(samples), np.asarray(stamps)


def test_streams_and_steps_reach_an_inlet(
    pylsl: ModuleType, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = record_simulated(
        SimulationConfig(duration_s=8.0, seed=41),
        tmp_path_factory.mktemp("lsl") / "session",
        detect=False,
    )
    controller = ReplayController(load_session(path), speed=8.0)
    controller.start(paused=True)
    controller.seek(1.5)  # the devices said hello: their streams exist
    assert controller.wait_settled(10.0)
    buffers = controller.acquisition.buffers
    outlets = LslOutlets(buffers, controller.processing.view, controller.clock, poll_s=0.01)
    outlets.start()
    try:
        outlets.pump()
        assert set(outlets.stream_names) == {*buffers.stream_ids(), STEPS_OUTLET}
        inlets = {}
        for name in outlets.stream_names:
            source = name if name == STEPS_OUTLET else f"gaitcue-{name}"
            found = pylsl.resolve_byprop("source_id", source, timeout=5.0)
            assert found, f"no LSL stream {source}"
            inlet = pylsl.StreamInlet(found[0])
            inlet.open_stream(timeout=5.0)
            inlets[name] = inlet
        time.sleep(0.1)
        written = {sid: buffers[sid].written for sid in buffers.stream_ids()}
        controller.seek(8.0)
        assert controller.wait_settled(20.0)
        time.sleep(0.1)
        outlets.pump()
        for sid in buffers.stream_ids():
            info = buffers.info(sid)
            lsl_info = inlets[sid].info(timeout=5.0)
            assert lsl_info.name() == sid
            assert lsl_info.type() == ("IMU" if "imu" in sid else "Pressure")
            assert lsl_info.channel_count() == info.n_channels
            assert lsl_info.nominal_srate() == info.rate_hz
            assert channel_labels(lsl_info) == list(info.channel_names)
            n_new = buffers[sid].written - written[sid]
            values, stamps = _pull_all(inlets[sid], n_new)
            assert len(stamps) >= n_new > 0
            newest = buffers[sid].latest(n_new)
            np.testing.assert_allclose(
                stamps[-n_new:], newest.t_host_s + outlets.offset_s, atol=1e-6
            )
            np.testing.assert_array_equal(values[-n_new:].astype(np.float32), newest.values)
        steps = [s for s in controller.processing.pipeline.steps if s.ic_s > controller.t0_s + 2]
        assert len(steps) >= 15
        values, stamps = _pull_all(inlets[STEPS_OUTLET], len(steps))
        assert values.shape[1] == len(STEP_CHANNELS)
        pushed = {
            (Side.LEFT if row[0] == 0 else Side.RIGHT, round(row[1] - outlets.offset_s, 6))
            for row in values
        }
        assert {(s.side, round(s.ic_s, 6)) for s in steps} <= pushed
        np.testing.assert_allclose(stamps, values[:, 1], atol=1e-6)  # stamped at IC
    finally:
        outlets.stop()
        controller.close()


def test_missing_pylsl_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pylsl", None)  # import pylsl raises ImportError
    processing = ProcessingThread(StreamBuffers(), GaitPipeline())
    with pytest.raises(ConfigurationError, match=r"pip install 'gaitcue\[lsl\]'") as info:
        LslOutlets(processing.buffers, processing.view, time.monotonic)
    assert "\n" not in str(info.value)
