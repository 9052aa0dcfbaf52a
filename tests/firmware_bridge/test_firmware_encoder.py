"""The reference firmware's C encoder (``firmware_bridge/firmware/gaitcue_protocol.c``),
built with the host C compiler, writes the same bytes as the Python encoder for every
packet kind, sequence and clock wrap, and COBS framing; the Python decoder reads its
output; its count scaling is the simulated devices' one; and it refuses what does not fit.
The firmware's BLE UUIDs (``gaitcue_ble.h``) are consistent and match the host's.
"""

from __future__ import annotations

import ctypes
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from firmware_bridge.cobs import cobs_encode, frame
from firmware_bridge.decoder import LinkDecoder
from firmware_bridge.protocol import (
    IMU_COUNTS_FULL_SCALE,
    MAX_PACKET_BYTES,
    Hello,
    Packet,
    Status,
    crc16,
    decode_packet,
    encode_data,
    encode_hello,
    encode_status,
    max_samples_per_packet,
)
from firmware_bridge.samples import Mount, SampleBlock, Side, StreamKind
from firmware_bridge.simulator.session import SimulatedSession, SimulationConfig

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware_bridge" / "firmware"
C_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2")
OUT_CAP = 1024
AREA_UNIT_CM2 = 0.01

GC_ERR_NULL = -1
GC_ERR_ARGUMENT = -2
GC_ERR_PACKET_SIZE = -3
GC_ERR_BUFFER = -4

u8 = ctypes.c_uint8
u16 = ctypes.c_uint16


class GcDevice(ctypes.Structure):
    _fields_ = (("device_id", ctypes.c_uint32), ("next_seq", u16))


class GcHello(ctypes.Structure):
    _fields_ = (
        ("device_kind", u8),
        ("side", u8),
        ("mount", u8),
        ("firmware_version", u8),
        ("boot_id", u16),
        ("rate_hz", u16),
        ("max_samples_per_packet", u8),
        ("accel_full_scale_g", u16),
        ("gyro_full_scale_dps", u16),
        ("newtons_per_count", ctypes.c_float),
        ("n_cells", u8),
        ("cell_area_centi_cm2", ctypes.POINTER(u16)),
    )


class GcStatus(ctypes.Structure):
    _fields_ = (("battery_pct", u8), ("flags", u8), ("boot_id", u16))


class EncodeError(Exception):
    """The C encoder returned a negative gc_error."""

    def __init__(self, code: int) -> None:
        super().__init__(f"gc_error {code}")
        self.code = code


def find_compiler() -> list[str] | None:
    """The host C compiler as an argument list: $CC, Python's own CC, then cc, gcc, clang."""
    candidates = [os.environ.get("CC"), sysconfig.get_config_var("CC"), "cc", "gcc", "clang"]
    for candidate in candidates:
        if not candidate:
            continue
        words = shlex.split(str(candidate))
        path = shutil.which(words[0])
        if path is not None:
            return [path, *words[1:]]
    return None


class Firmware:
    """ctypes front of the compiled encoder: bytes out, ``EncodeError`` on a negative result."""

    def __init__(self, dll: ctypes.CDLL) -> None:
        self.dll = dll
        size_t, i32, buf = ctypes.c_size_t, ctypes.c_int32, ctypes.POINTER(u8)
        dev = ctypes.POINTER(GcDevice)
        signatures: dict[str, tuple[type, list[type]]] = {
            "gc_crc16": (u16, [buf, size_t]),
            "gc_encode_imu": (
                i32,
                [dev, ctypes.c_uint32, ctypes.POINTER(ctypes.c_int16), size_t, size_t, buf, size_t],
            ),
            "gc_encode_insole": (
                i32,
                [dev, ctypes.c_uint32, ctypes.POINTER(u16), size_t, size_t, size_t, buf, size_t],
            ),
            "gc_encode_hello": (
                i32,
                [dev, ctypes.c_uint32, ctypes.POINTER(GcHello), size_t, buf, size_t],
            ),
            "gc_encode_status": (
                i32,
                [dev, ctypes.c_uint32, ctypes.POINTER(GcStatus), size_t, buf, size_t],
            ),
            "gc_cobs_encode": (i32, [buf, size_t, buf, size_t]),
            "gc_frame": (i32, [buf, size_t, buf, size_t]),
            "gc_imu_count": (ctypes.c_int16, [ctypes.c_double, ctypes.c_double]),
            "gc_insole_count": (u16, [ctypes.c_double, ctypes.c_double]),
            "gc_max_samples_per_packet": (size_t, [size_t, size_t]),
        }
        for name, (restype, argtypes) in signatures.items():
            function = getattr(dll, name)
            function.restype = restype
            function.argtypes = argtypes

    @staticmethod
    def _bytes_in(data: bytes) -> ctypes.Array[ctypes.c_uint8]:
        return (u8 * max(1, len(data))).from_buffer_copy(data or b"\x00")

    @staticmethod
    def _result(n: int, out: ctypes.Array[ctypes.c_uint8]) -> bytes:
        if n < 0:
            raise EncodeError(n)
        return bytes(out[:n])

    def crc16(self, data: bytes) -> int:
        return int(self.dll.gc_crc16(self._bytes_in(data), len(data)))

    def imu(
        self,
        device: GcDevice,
        t_us: int,
        samples: npt.ArrayLike,
        *,
        max_packet_bytes: int = MAX_PACKET_BYTES,
        out: ctypes.Array[ctypes.c_uint8] | None = None,
        out_cap: int = OUT_CAP,
    ) -> bytes:
        rows = np.ascontiguousarray(samples, dtype=np.int16).reshape(-1, 6)
        out = (u8 * OUT_CAP)() if out is None else out
        n = self.dll.gc_encode_imu(
            ctypes.byref(device),
            t_us,
            rows.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)),
            rows.shape[0],
            max_packet_bytes,
            out,
            out_cap,
        )
        return self._result(n, out)

    def insole(
        self,
        device: GcDevice,
        t_us: int,
        samples: npt.ArrayLike,
        *,
        n_samples: int | None = None,
        n_cells: int | None = None,
        max_packet_bytes: int = MAX_PACKET_BYTES,
    ) -> bytes:
        rows = np.ascontiguousarray(samples, dtype=np.uint16)
        rows = rows.reshape(rows.shape[0], -1) if rows.ndim == 2 else rows.reshape(1, -1)
        out = (u8 * OUT_CAP)()
        n = self.dll.gc_encode_insole(
            ctypes.byref(device),
            t_us,
            rows.ctypes.data_as(ctypes.POINTER(u16)),
            rows.shape[0] if n_samples is None else n_samples,
            rows.shape[1] if n_cells is None else n_cells,
            max_packet_bytes,
            out,
            OUT_CAP,
        )
        return self._result(n, out)

    def hello(self, device: GcDevice, t_us: int, hello: Hello) -> bytes:
        areas = [round(a / AREA_UNIT_CM2) for a in hello.cell_area_cm2]
        area_array = (u16 * max(1, len(areas)))(*areas)
        c_hello = GcHello(
            device_kind=int(hello.device_kind),
            side=int(hello.side),
            mount=int(hello.mount),
            firmware_version=hello.firmware_version,
            boot_id=hello.boot_id,
            rate_hz=hello.rate_hz,
            max_samples_per_packet=hello.max_samples_per_packet,
            accel_full_scale_g=hello.accel_full_scale_g,
            gyro_full_scale_dps=hello.gyro_full_scale_dps,
            newtons_per_count=hello.newtons_per_count,
            n_cells=len(areas),
            cell_area_centi_cm2=area_array,
        )
        out = (u8 * OUT_CAP)()
        n = self.dll.gc_encode_hello(
            ctypes.byref(device), t_us, ctypes.byref(c_hello), MAX_PACKET_BYTES, out, OUT_CAP
        )
        return self._result(n, out)

    def status(self, device: GcDevice, t_us: int, status: Status) -> bytes:
        c_status = GcStatus(status.battery_pct, status.flags, status.boot_id)
        out = (u8 * OUT_CAP)()
        n = self.dll.gc_encode_status(
            ctypes.byref(device), t_us, ctypes.byref(c_status), MAX_PACKET_BYTES, out, OUT_CAP
        )
        return self._result(n, out)

    def cobs(self, data: bytes) -> bytes:
        out = (u8 * (len(data) + len(data) // 254 + 1))()
        n = self.dll.gc_cobs_encode(self._bytes_in(data), len(data), out, len(out))
        return self._result(n, out)

    def frame(self, packet: bytes, out_cap: int | None = None) -> bytes:
        size = len(packet) + len(packet) // 254 + 2
        out = (u8 * size)()
        n = self.dll.gc_frame(
            self._bytes_in(packet), len(packet), out, size if out_cap is None else out_cap
        )
        return self._result(n, out)

    def encode(self, device: GcDevice, packet: Packet) -> bytes:
        """Re-encode a decoded packet."""
        if packet.hello is not None:
            return self.hello(device, packet.t_device_us, packet.hello)
        if packet.status is not None:
            return self.status(device, packet.t_device_us, packet.status)
        assert packet.samples is not None
        if packet.kind == StreamKind.IMU:
            return self.imu(device, packet.t_device_us, packet.samples)
        return self.insole(device, packet.t_device_us, packet.samples)


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Firmware:
    compiler = find_compiler()
    if compiler is None:
        pytest.skip("no host C compiler ($CC, cc, gcc or clang) to build the firmware encoder")
    suffix = {"win32": ".dll", "darwin": ".dylib"}.get(sys.platform, ".so")
    library = tmp_path_factory.mktemp("firmware") / f"gaitcue_protocol{suffix}"
    pic = [] if sys.platform == "win32" else ["-fPIC"]
    command = [
        *compiler,
        *C_FLAGS,
        "-shared",
        *pic,
        str(FIRMWARE / "gaitcue_protocol.c"),
        "-o",
        str(library),
    ]
    built = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert built.returncode == 0, f"{shlex.join(command)} failed:\n{built.stderr}"
    return Firmware(ctypes.CDLL(str(library)))


# ---------------------------------------------------------------- strategies

u16s = st.integers(0, 2**16 - 1)
u32s = st.integers(0, 2**32 - 1)
# Counters near their wrap, and anywhere.
seqs = st.one_of(u16s, st.integers(2**16 - 3, 2**16 - 1))
clocks_us = st.one_of(u32s, st.integers(2**32 - 30_000, 2**32 - 1), st.integers(0, 30_000))


def imu_samples(max_rows: int = max_samples_per_packet(6)) -> st.SearchStrategy[np.ndarray]:
    return st.integers(1, max_rows).flatmap(
        lambda n: arrays(np.int16, (n, 6), elements=st.integers(-(2**15), 2**15 - 1))
    )


def insole_samples() -> st.SearchStrategy[np.ndarray]:
    return st.integers(1, 40).flatmap(
        lambda cells: st.integers(1, max_samples_per_packet(cells)).flatmap(
            lambda n: arrays(np.uint16, (n, cells), elements=st.integers(0, 2**16 - 1))
        )
    )


@st.composite
def hellos(draw: st.DrawFn) -> Hello:
    kind = draw(st.sampled_from([StreamKind.IMU, StreamKind.INSOLE]))
    side = draw(st.sampled_from(list(Side)))
    mount = draw(st.sampled_from(list(Mount)))
    firmware_version, max_spp = draw(st.integers(0, 255)), draw(st.integers(1, 255))
    boot_id, rate_hz = draw(u16s), draw(st.integers(1, 2**16 - 1))
    if kind == StreamKind.IMU:
        return Hello(
            kind,
            side,
            mount,
            firmware_version,
            boot_id,
            rate_hz,
            max_spp,
            accel_full_scale_g=draw(st.integers(1, 2**16 - 1)),
            gyro_full_scale_dps=draw(st.integers(1, 2**16 - 1)),
        )
    n_cells = draw(st.integers(1, 107))  # 16 + 9 + 5 + 2·107 = 244 bytes
    areas = draw(st.lists(st.integers(1, 2**16 - 1), min_size=n_cells, max_size=n_cells))
    return Hello(
        kind,
        side,
        mount,
        firmware_version,
        boot_id,
        rate_hz,
        max_spp,
        newtons_per_count=draw(st.floats(2.0**-14, 2.0**14, width=32)),
        cell_area_cm2=tuple(a * AREA_UNIT_CM2 for a in areas),
    )


statuses = st.builds(Status, st.integers(0, 255), st.integers(0, 255), u16s)


# ---------------------------------------------------------------- packets


def test_crc_check_value(firmware: Firmware) -> None:
    assert firmware.crc16(b"123456789") == 0x29B1


@given(data=st.binary(max_size=300))
def test_crc_equals_python(firmware: Firmware, data: bytes) -> None:
    assert firmware.crc16(data) == crc16(data)


@given(device_id=u32s, seq=seqs, t_us=clocks_us, samples=imu_samples())
def test_imu_packet_equals_python(
    firmware: Firmware, device_id: int, seq: int, t_us: int, samples: np.ndarray
) -> None:
    device = GcDevice(device_id, seq)
    data = firmware.imu(device, t_us, samples)
    assert data == encode_data(StreamKind.IMU, device_id, seq, t_us, samples)
    packet = decode_packet(data)
    assert (packet.kind, packet.device_id, packet.seq, packet.t_device_us) == (
        StreamKind.IMU,
        device_id,
        seq,
        t_us,
    )
    assert packet.samples is not None
    np.testing.assert_array_equal(packet.samples, samples)
    assert device.next_seq == (seq + 1) % 2**16


@given(device_id=u32s, seq=seqs, t_us=clocks_us, samples=insole_samples())
def test_insole_packet_equals_python(
    firmware: Firmware, device_id: int, seq: int, t_us: int, samples: np.ndarray
) -> None:
    data = firmware.insole(GcDevice(device_id, seq), t_us, samples)
    assert data == encode_data(StreamKind.INSOLE, device_id, seq, t_us, samples)
    assert len(data) <= MAX_PACKET_BYTES
    decoded = decode_packet(data).samples
    assert decoded is not None
    np.testing.assert_array_equal(decoded, samples)


@given(device_id=u32s, seq=seqs, t_us=clocks_us, hello=hellos())
def test_hello_packet_equals_python(
    firmware: Firmware, device_id: int, seq: int, t_us: int, hello: Hello
) -> None:
    data = firmware.hello(GcDevice(device_id, seq), t_us, hello)
    assert data == encode_hello(device_id, seq, t_us, hello)
    assert decode_packet(data).hello == hello


@given(device_id=u32s, seq=seqs, t_us=clocks_us, status=statuses)
def test_status_packet_equals_python(
    firmware: Firmware, device_id: int, seq: int, t_us: int, status: Status
) -> None:
    data = firmware.status(GcDevice(device_id, seq), t_us, status)
    assert data == encode_status(device_id, seq, t_us, status)
    assert decode_packet(data).status == status


@given(
    first_seq=st.integers(2**16 - 40, 2**16 - 1),
    first_us=st.integers(2**32 - 400_000, 2**32 - 1),
    kinds=st.lists(st.sampled_from(["imu", "hello", "status"]), min_size=20, max_size=60),
)
def test_sequence_and_clock_wrap_like_python(
    firmware: Firmware, first_seq: int, first_us: int, kinds: list[str]
) -> None:
    """The C device's 16-bit counter wraps as Python's masking does; 10 ms packets cross the
    32-bit µs wrap."""
    rng = np.random.default_rng(first_seq)
    device = GcDevice(0xA1B2C3D4, first_seq)
    hello = Hello(StreamKind.IMU, Side.RIGHT, Mount.FOOT, 3, 77, 1000, 10, 32, 2000)
    for i, kind in enumerate(kinds):
        seq, t_us = first_seq + i, first_us + 10_000 * i  # unwrapped: Python masks them
        t_wrapped = t_us % 2**32
        if kind == "imu":
            samples = rng.integers(-(2**15), 2**15, size=(10, 6))
            c_bytes = firmware.imu(device, t_wrapped, samples)
            py_bytes = encode_data(StreamKind.IMU, device.device_id, seq, t_us, samples)
        elif kind == "hello":
            c_bytes = firmware.hello(device, t_wrapped, hello)
            py_bytes = encode_hello(device.device_id, seq, t_us, hello)
        else:
            status = Status(int(rng.integers(0, 101)), 0, 77)
            c_bytes = firmware.status(device, t_wrapped, status)
            py_bytes = encode_status(device.device_id, seq, t_us, status)
        assert c_bytes == py_bytes, f"packet {i} ({kind}, seq {seq})"
    assert device.next_seq == (first_seq + len(kinds)) % 2**16


# ---------------------------------------------------------------- framing


@given(data=st.binary(max_size=700))
def test_cobs_and_frame_equal_python(firmware: Firmware, data: bytes) -> None:
    assert firmware.cobs(data) == cobs_encode(data)
    assert firmware.frame(data) == frame(data)


@pytest.mark.parametrize("size", [0, 1, 253, 254, 255, 508, 509, 600])
@pytest.mark.parametrize("tail", [b"", b"\x00", b"\x00\x00"])
def test_cobs_runs_at_the_254_byte_boundary(firmware: Firmware, size: int, tail: bytes) -> None:
    data = (bytes(range(1, 256)) * 3)[:size] + tail
    assert firmware.cobs(data) == cobs_encode(data)
    assert firmware.cobs(tail + data) == cobs_encode(tail + data)


# ---------------------------------------------------------------- limits and errors


@given(n_samples=st.integers(1, 40), max_packet_bytes=st.integers(0, 600))
def test_size_limit_agrees_with_python(
    firmware: Firmware, n_samples: int, max_packet_bytes: int
) -> None:
    samples = np.arange(n_samples * 6, dtype=np.int16).reshape(n_samples, 6)
    device = GcDevice(5, 65535)
    try:
        expected: bytes | None = encode_data(
            StreamKind.IMU, 5, 65535, 0, samples, max_packet_bytes=max_packet_bytes
        )
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(EncodeError) as refused:
            firmware.imu(device, 0, samples, max_packet_bytes=max_packet_bytes)
        assert refused.value.code == GC_ERR_PACKET_SIZE
        assert device.next_seq == 65535
    else:
        assert firmware.imu(device, 0, samples, max_packet_bytes=max_packet_bytes) == expected
        assert device.next_seq == 0
    fit = firmware.dll.gc_max_samples_per_packet(6, max_packet_bytes)
    assert fit == max_samples_per_packet(6, max_packet_bytes=max_packet_bytes)


def test_a_short_buffer_is_refused_and_nothing_is_written_past_it(firmware: Firmware) -> None:
    samples = np.arange(-30, 30, dtype=np.int16).reshape(10, 6)
    size = len(encode_data(StreamKind.IMU, 9, 0, 0, samples))
    for cap in range(size + 1):
        out = (u8 * (size + 8)).from_buffer_copy(b"\xa5" * (size + 8))
        device = GcDevice(9, 0)
        if cap < size:
            with pytest.raises(EncodeError) as refused:
                firmware.imu(device, 0, samples, out=out, out_cap=cap)
            assert refused.value.code == GC_ERR_BUFFER
            assert device.next_seq == 0
        else:
            firmware.imu(device, 0, samples, out=out, out_cap=cap)
        assert bytes(out[cap:]) == b"\xa5" * (size + 8 - cap)
    packet = encode_data(StreamKind.IMU, 9, 0, 0, samples)
    framed = frame(packet)
    for cap in range(len(framed)):
        with pytest.raises(EncodeError) as refused:
            firmware.frame(packet, out_cap=cap)
        assert refused.value.code == GC_ERR_BUFFER
    assert firmware.frame(packet, out_cap=len(framed)) == framed


@pytest.mark.parametrize(("n_samples", "n_cells"), [(0, 8), (256, 1), (1, 0), (1, 256)], ids=str)
def test_counts_out_of_range_are_refused(firmware: Firmware, n_samples: int, n_cells: int) -> None:
    samples = np.zeros(max(1, n_samples * n_cells), dtype=np.uint16)
    with pytest.raises(EncodeError) as refused:
        firmware.insole(
            GcDevice(1, 0), 0, samples, n_samples=n_samples, n_cells=n_cells, max_packet_bytes=10**6
        )
    assert refused.value.code == GC_ERR_ARGUMENT


def test_bad_hellos_and_null_pointers_are_refused(firmware: Firmware) -> None:
    dll, out = firmware.dll, (u8 * OUT_CAP)()
    device = GcDevice(1, 0)
    areas = (u16 * 1)(100)
    status_hello = GcHello(device_kind=int(StreamKind.STATUS), n_cells=1, cell_area_centi_cm2=areas)
    no_cells = GcHello(device_kind=int(StreamKind.INSOLE), n_cells=0, cell_area_centi_cm2=areas)
    no_areas = GcHello(device_kind=int(StreamKind.INSOLE), n_cells=4)
    codes = [
        dll.gc_encode_hello(ctypes.byref(device), 0, ctypes.byref(h), MAX_PACKET_BYTES, out, 64)
        for h in (status_hello, no_cells, no_areas)
    ]
    codes.append(dll.gc_encode_imu(ctypes.byref(device), 0, None, 1, MAX_PACKET_BYTES, out, 64))
    codes.append(dll.gc_encode_status(None, 0, None, MAX_PACKET_BYTES, out, 64))
    codes.append(dll.gc_frame(None, 3, out, 64))
    assert codes == [
        GC_ERR_ARGUMENT,
        GC_ERR_ARGUMENT,
        GC_ERR_NULL,
        GC_ERR_NULL,
        GC_ERR_NULL,
        GC_ERR_NULL,
    ]
    assert device.next_seq == 0


# ---------------------------------------------------------------- scaling


def simulated_imu_count(value: float, full_scale: float) -> int:
    """``VirtualDevice._counts``' quantisation of one IMU value."""
    return int(np.clip(np.rint(value * (IMU_COUNTS_FULL_SCALE / full_scale)), -32768, 32767))


def simulated_insole_count(force_n: float, newtons_per_count: float) -> int:
    """``VirtualDevice._counts``' quantisation of one insole cell force."""
    return int(np.clip(np.rint(force_n / newtons_per_count), 0, 65535))


full_scales = st.one_of(
    st.sampled_from([2, 4, 8, 16, 32, 125, 250, 500, 1000, 2000, 4000]), st.integers(1, 2**16 - 1)
)


@given(value=st.floats(allow_nan=False, min_value=-1e6, max_value=1e6), full_scale=full_scales)
def test_imu_counts_scale_like_the_simulated_devices(
    firmware: Firmware, value: float, full_scale: int
) -> None:
    assert firmware.dll.gc_imu_count(value, full_scale) == simulated_imu_count(value, full_scale)


@given(
    force_n=st.floats(allow_nan=False, min_value=-1e3, max_value=1e6),
    newtons_per_count=st.sampled_from([0.05, 0.1, 0.25, 0.5, 1.0, 2.0]),
)
def test_insole_counts_scale_like_the_simulated_devices(
    firmware: Firmware, force_n: float, newtons_per_count: float
) -> None:
    assert firmware.dll.gc_insole_count(force_n, newtons_per_count) == simulated_insole_count(
        force_n, newtons_per_count
    )


def test_halves_round_to_even_and_extremes_saturate(firmware: Firmware) -> None:
    # full scale 32768 makes one count per unit, so these values are exact halves.
    values = [k + 0.5 for k in range(-6, 6)] + [32766.5, 32767.5, -32768.5, -32767.5]
    values += [float("inf"), float("-inf"), 1e300, -1e300, -0.4, 0.0]
    for value in values:
        assert firmware.dll.gc_imu_count(value, 32768.0) == simulated_imu_count(value, 32768.0)
        assert firmware.dll.gc_insole_count(value, 1.0) == simulated_insole_count(value, 1.0)
    assert firmware.dll.gc_imu_count(float("nan"), 16.0) == 0
    assert firmware.dll.gc_insole_count(float("nan"), 0.25) == 0


# ---------------------------------------------------------------- a simulated stream


def test_c_reencodes_a_simulated_stream_byte_for_byte_and_the_decoder_reads_it(
    firmware: Firmware,
) -> None:
    """Every packet a simulated session's devices send (hello, status, data; 8-cell insoles at
    200 Hz and foot IMUs at 1 kHz, across the 16-bit sequence wrap), re-encoded by the C
    encoder from its decoded content, is the same bytes; the framed C stream decodes without
    a loss, corruption or reset."""
    session = SimulatedSession(
        SimulationConfig(duration_s=3.0, seed=11, n_cells=8, first_seq=65_450)
    )
    c_devices = {
        d.spec.device_id: GcDevice(d.spec.device_id, d.spec.first_seq) for d in session.devices
    }
    out_packets = sorted(
        (p for d in session.devices for p in d.produce(1.5)), key=lambda p: p.ready_s
    )
    kinds = {p.kind for p in out_packets}
    assert kinds == {StreamKind.HELLO, StreamKind.STATUS, StreamKind.IMU, StreamKind.INSOLE}
    blocks: list[SampleBlock] = []
    decoder = LinkDecoder(sink=blocks.append)
    decoder.feed(b"\x00", 0.0)
    for p in out_packets:
        packet = decode_packet(p.data)
        c_bytes = firmware.encode(c_devices[packet.device_id], packet)
        assert c_bytes == p.data, f"{packet.kind.name} seq {packet.seq}"
        decoder.feed(firmware.frame(c_bytes), p.ready_s + 0.002)
    decoder.poll(out_packets[-1].ready_s + 10.0)
    stats = decoder.stats()
    assert (stats.packets, stats.missing, stats.corrupt, stats.duplicate, stats.resets) == (
        len(out_packets),
        0,
        0,
        0,
        0,
    )
    expected_samples = sum(
        decode_packet(p.data).n_samples
        for p in out_packets
        if p.kind in (StreamKind.IMU, StreamKind.INSOLE)
    )
    assert sum(b.n_samples for b in blocks) == stats.samples == expected_samples
    assert {c.next_seq for c in c_devices.values()} <= set(range(0, 200))  # all wrapped


# ---------------------------------------------------------------- BLE UUIDs


def firmware_ble_uuids() -> dict[str, tuple[str, bytes]]:
    """``gaitcue_ble.h``'s UUIDs: name -> (string form, bytes least significant first)."""
    text = (FIRMWARE / "gaitcue_ble.h").read_text(encoding="utf-8")
    strings = dict(re.findall(r'#define GC_BLE_(\w+)_UUID_STR "([0-9a-fA-F-]+)"', text))
    arrays = {
        name: bytes(int(b, 16) for b in re.findall(r"0x([0-9A-Fa-f]{2})", body))
        for name, body in re.findall(
            r"#define GC_BLE_(\w+)_UUID_LSB_FIRST\s*\\\s*\{([^}]*)\}", text
        )
    }
    assert strings.keys() == arrays.keys() == {"SERVICE", "DATA_CHAR", "CONTROL_CHAR"}
    return {name: (strings[name], arrays[name]) for name in strings}


def test_ble_uuid_strings_and_byte_arrays_agree() -> None:
    for name, (text, lsb_first) in firmware_ble_uuids().items():
        assert lsb_first == uuid.UUID(text).bytes[::-1], name


def test_ble_uuids_equal_the_host_bridge() -> None:
    gatt = pytest.importorskip("firmware_bridge.ble.gatt")
    host = {
        "SERVICE": getattr(gatt, "GAITCUE_SERVICE_UUID", None),
        "DATA_CHAR": getattr(gatt, "DATA_CHAR_UUID", None),
        "CONTROL_CHAR": getattr(gatt, "CONTROL_CHAR_UUID", None),
    }
    if None in host.values():
        pytest.skip("the host BLE bridge names its UUIDs differently; reconcile gaitcue_ble.h")
    firmware_uuids = {name: text.lower() for name, (text, _) in firmware_ble_uuids().items()}
    assert firmware_uuids == {name: str(value).lower() for name, value in host.items()}
