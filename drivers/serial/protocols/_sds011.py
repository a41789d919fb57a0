"""Nova Fitness SDS011 particulate sensor, 10-byte data frame.

Frame: ``AA C0 d1 d2 d3 d4 d5 d6 checksum AB`` with checksum = ``sum(d1..d6) & 0xFF``;
PM2.5 = ``(d2*256 + d1) / 10`` and PM10 = ``(d4*256 + d3) / 10`` µg/m³; d5 d6 are the device id.

Published: ``pm2_5`` and ``pm10`` in ``µg/m³``. Values above 999.9 µg/m³ (the datasheet range is
0.0-999.9) are ``out_of_range``. Other replies (``AA C5 ...`` command acks) are not data frames.
"""

from __future__ import annotations

from gateway.sdk import DecodeError, Measurement

from ._common import CHECKSUM, DECODE, GARBAGE, checked, require_finite

__all__ = ["SDS011_FRAME_SIZE", "SDS011_HEADER", "decode_sds011", "encode_sds011"]

SDS011_HEADER = b"\xaa\xc0"
SDS011_FRAME_SIZE = 10
_TAIL = 0xAB
_UNIT = "µg/m³"
_MAX = 999.9


def _check_frame(frame: bytes) -> bytes:
    """The six data bytes of a well-formed frame with a valid checksum, else DecodeError."""
    if len(frame) != SDS011_FRAME_SIZE:
        raise DecodeError(f"sds011 frame of {len(frame)} bytes, expected 10", kind=DECODE)
    if frame[:2] != SDS011_HEADER:
        raise DecodeError(f"sds011 header {frame[:2].hex()} is not aac0", kind=GARBAGE)
    if frame[9] != _TAIL:
        raise DecodeError(f"sds011 tail {frame[9]:#04x} is not 0xab", kind=DECODE)
    data = frame[2:8]
    if sum(data) & 0xFF != frame[8]:
        raise DecodeError(
            f"sds011 checksum {sum(data) & 0xFF:#04x} != {frame[8]:#04x}", kind=CHECKSUM
        )
    return data


def decode_sds011(frame: bytes) -> list[Measurement]:
    """``pm2_5`` and ``pm10`` from one 10-byte SDS011 frame."""
    data = _check_frame(frame)
    pm2_5 = (data[1] * 256 + data[0]) / 10
    pm10 = (data[3] * 256 + data[2]) / 10
    return [checked("pm2_5", pm2_5, _UNIT, _MAX), checked("pm10", pm10, _UNIT, _MAX)]


def encode_sds011(pm2_5: float, pm10: float, device_id: int = 0) -> bytes:
    """A valid 10-byte frame; values are rounded to 0.1 µg/m³ (0..6553.5, else ValueError)."""
    raw = [round(require_finite("pm", value) * 10) for value in (pm2_5, pm10)]
    if not all(0 <= r <= 0xFFFF for r in raw) or not 0 <= device_id <= 0xFFFF:
        raise ValueError(f"sds011 values out of range: {pm2_5}, {pm10}, id {device_id}")
    data = b"".join(r.to_bytes(2, "little") for r in (*raw, device_id))
    return SDS011_HEADER + data + bytes([sum(data) & 0xFF, _TAIL])
