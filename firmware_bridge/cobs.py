"""Consistent Overhead Byte Stuffing (COBS) for serial framing.

A COBS-encoded frame contains no 0x00 byte, so 0x00 can delimit frames on a byte stream and a
reader that joins mid-stream, or meets garbage, resynchronises at the next delimiter. The
overhead is one byte per 254 bytes of data plus the delimiter.

The codec is written here rather than taken from the ``cobs`` package because that package
ships only a source distribution with a C extension, which would need a compiler on the
Windows and macOS laptops gaitcue runs on. It works on whole zero-free runs, so its cost
grows with the number of zero bytes, not with every byte.
"""

from __future__ import annotations

from firmware_bridge.errors import ProtocolError

DELIMITER = 0x00
_MAX_RUN = 254
_LONG_CODE = 0xFF
_CODES = [bytes((n + 1,)) for n in range(_MAX_RUN)]


def cobs_encode(data: bytes) -> bytes:
    """Encode ``data`` so that it contains no 0x00 byte (delimiter not appended)."""
    parts: list[bytes] = []
    for segment in data.split(b"\x00"):
        # Each segment is followed by an implied zero, except the last one.
        while len(segment) >= _MAX_RUN:
            parts.append(b"\xff" + segment[:_MAX_RUN])
            segment = segment[_MAX_RUN:]
        parts.append(_CODES[len(segment)] + segment)
    return b"".join(parts)


def cobs_decode(frame: bytes) -> bytes:
    """Decode one COBS frame (without its delimiter).

    Every code byte but the first stands where the data had a zero (unless the code before
    it was 0xFF, a full run without a zero), so the frame is copied once and only the code
    positions are visited: one step per zero of the data, with no slicing.

    Raises:
        ProtocolError: the frame is empty, holds a zero byte, or a run overruns its end.
    """
    n = len(frame)
    if n == 0:
        raise ProtocolError("empty COBS frame")
    if DELIMITER in frame:
        raise ProtocolError(f"zero byte inside a COBS frame at offset {frame.index(DELIMITER)}")
    out = bytearray(frame)
    dropped: list[int] | None = None
    i = 0
    code = frame[0]
    end = code
    while end < n:
        if code == _LONG_CODE:  # a full run: the next code byte stands for nothing
            if dropped is None:
                dropped = []
            dropped.append(end)
        else:
            out[end] = 0
        i = end
        code = frame[i]
        end = i + code
    if end > n:
        raise ProtocolError(f"COBS run at offset {i} needs {code - 1} bytes, frame ends first")
    if dropped is None:
        return bytes(out[1:])
    parts = []
    start = 1
    for position in dropped:
        parts.append(out[start:position])
        start = position + 1
    parts.append(out[start:])
    return b"".join(parts)


def frame(packet: bytes) -> bytes:
    """A packet ready for the wire: COBS-encoded and followed by the 0x00 delimiter."""
    return cobs_encode(packet) + b"\x00"


class Deframer:
    """Splits a byte stream into COBS-decoded frames, whatever the read boundaries.

    Bytes before the first delimiter seen are discarded (a reader joining mid-frame cannot
    trust them). A frame that grows beyond ``max_frame_bytes`` without a delimiter is
    dropped as garbage so that a noisy line never allocates without bound.
    """

    def __init__(self, *, max_frame_bytes: int = 1024, synced: bool = False) -> None:
        self._buffer = bytearray()
        self._max_frame_bytes = max_frame_bytes
        self._synced = synced
        self.garbage_bytes = 0
        """Bytes thrown away: before the first delimiter, or in over-long frames."""

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete frames (still COBS-encoded) they finish.

        Empty frames (two delimiters in a row) are skipped.
        """
        self._buffer += data
        if DELIMITER not in data:
            if len(self._buffer) > self._max_frame_bytes:
                self.garbage_bytes += len(self._buffer)
                self._buffer.clear()
                self._synced = False
            return []
        parts = bytes(self._buffer).split(b"\x00")
        self._buffer = bytearray(parts.pop())
        if not self._synced:
            self.garbage_bytes += len(parts[0])
            parts = parts[1:]
            self._synced = True
        frames: list[bytes] = []
        for part in parts:
            if not part:
                continue
            if len(part) > self._max_frame_bytes:
                self.garbage_bytes += len(part)
                continue
            frames.append(part)
        return frames
