"""Plantower PMS5003 particulate sensor, 32-byte active-mode data frame.

Frame (big-endian 16-bit words)::

    0x42 0x4D | frame length = 28 (2*13 data words + 2 checksum bytes) |
    13 data words | checksum = sum of bytes 0..29 as uint16

Data words: PM1.0 / PM2.5 / PM10 "CF=1, standard particle" (µg/m³), PM1.0 / PM2.5 / PM10
"under atmospheric environment" (µg/m³), number of particles with diameter beyond 0.3 / 0.5 /
1.0 / 2.5 / 5.0 / 10 µm in 0.1 L of air, and one reserved word.

Published (the CF=1 words and the reserved word are checked by the checksum, not published):

============================  =========  =========================================
name                          unit       value
============================  =========  =========================================
``pm1_0``                     ``µg/m³``  PM1.0, atmospheric environment
``pm2_5``                     ``µg/m³``  PM2.5, atmospheric environment
``pm10``                      ``µg/m³``  PM10, atmospheric environment
``particles_0_3um`` ...       ``/0.1L``  count of particles > 0.3 µm per 0.1 L of air
``particles_10um``                       (also ``_0_5um``, ``_1_0um``, ``_2_5um``, ``_5_0um``)
============================  =========  =========================================

The counts carry the unit ``"/0.1L"`` (a count per 0.1 litre) rather than None, so a consumer can
tell them from a count per litre or per cm³. Mass concentrations above 1000 µg/m³ (the datasheet's
maximum range) are ``out_of_range``. Other frame lengths (passive-mode command acks with length 4,
the PMS5003T/ST variants with 36-byte payloads) are ``decode`` errors here.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from gateway.sdk import DecodeError, Measurement

from ._common import CHECKSUM, DECODE, GARBAGE, checked

__all__ = ["PMS5003_FRAME_SIZE", "PMS5003_HEADER", "decode_pms5003", "encode_pms5003"]

PMS5003_HEADER = b"\x42\x4d"
PMS5003_FRAME_SIZE = 32
_LENGTH = 28
_MASS_UNIT = "µg/m³"
_COUNT_UNIT = "/0.1L"
_MAX_MASS = 1000.0
_MASS_NAMES = ("pm1_0", "pm2_5", "pm10")
_COUNT_NAMES = (
    "particles_0_3um",
    "particles_0_5um",
    "particles_1_0um",
    "particles_2_5um",
    "particles_5_0um",
    "particles_10um",
)
_BODY = struct.Struct(">2sH13H")  # header, length, 13 data words = bytes 0..29
_CHECKSUM = struct.Struct(">H")


def _check_frame(frame: bytes) -> tuple[int, ...]:
    """The 13 data words of a well-formed frame with a valid checksum, else DecodeError."""
    if len(frame) != PMS5003_FRAME_SIZE:
        raise DecodeError(f"pms5003 frame of {len(frame)} bytes, expected 32", kind=DECODE)
    header, length, *words = _BODY.unpack_from(frame)
    if header != PMS5003_HEADER:
        raise DecodeError(f"pms5003 header {header.hex()} is not 424d", kind=GARBAGE)
    if length != _LENGTH:
        raise DecodeError(f"pms5003 frame length field {length}, expected 28", kind=DECODE)
    (expected,) = _CHECKSUM.unpack_from(frame, 30)
    actual = sum(frame[:30]) & 0xFFFF
    if actual != expected:
        raise DecodeError(f"pms5003 checksum {actual:#06x} != {expected:#06x}", kind=CHECKSUM)
    return tuple(words)


def decode_pms5003(frame: bytes) -> list[Measurement]:
    """Measurements from one 32-byte PMS5003 frame (see the module docstring)."""
    words = _check_frame(frame)
    atmospheric = zip(_MASS_NAMES, words[3:6], strict=True)
    counts = zip(_COUNT_NAMES, words[6:12], strict=True)
    return [checked(name, word, _MASS_UNIT, _MAX_MASS) for name, word in atmospheric] + [
        checked(name, word, _COUNT_UNIT) for name, word in counts
    ]


def encode_pms5003(
    pm1_0: int,
    pm2_5: int,
    pm10: int,
    *,
    particles: Sequence[int] = (0, 0, 0, 0, 0, 0),
    cf1: Sequence[int] | None = None,
    reserved: int = 0,
) -> bytes:
    """A valid 32-byte frame: atmospheric PM values, 6 particle counts, CF=1 values (default: same).

    Every value must fit a uint16 (else ValueError, as from :mod:`struct`).
    """
    standard = tuple(cf1) if cf1 is not None else (pm1_0, pm2_5, pm10)
    words = (*standard, pm1_0, pm2_5, pm10, *particles, reserved)
    if len(words) != 13:
        raise ValueError("pms5003 needs 3 CF=1 values and 6 particle counts")
    try:
        body = _BODY.pack(PMS5003_HEADER, _LENGTH, *words)
    except struct.error as exc:
        raise ValueError(f"pms5003 values must be 0..65535: {exc}") from exc
    return body + _CHECKSUM.pack(sum(body) & 0xFFFF)
