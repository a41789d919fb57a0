"""Winsen MH-Z19 (B/C) CO2 sensor: the "read CO2" command and its 9-byte response.

Command: ``FF 01 86 00 00 00 00 00 79``. Response: ``FF 86 HH LL TT SS U1 U2 checksum``.
Checksum of a packet: ``(0xFF - (sum(bytes 1..7) & 0xFF) + 1) & 0xFF`` (two's complement of the
byte sum, start byte excluded).

Published: ``co2`` in ``ppm`` = ``HH*256 + LL`` (above 10000 ppm, the largest range variant, is
``out_of_range``) and ``temperature`` in ``°C`` = ``TT - 40``. The temperature byte is not in the
official datasheet (it is community knowledge), it is an internal sensor temperature with 1 °C
steps and an offset that varies by unit: good for plausibility, not for a room temperature.
"""

from __future__ import annotations

from gateway.sdk import DecodeError, Measurement

from ._common import CHECKSUM, DECODE, GARBAGE, checked

__all__ = [
    "MHZ19_FRAME_SIZE",
    "MHZ19_HEADER",
    "decode_mhz19",
    "encode_mhz19_response",
    "mhz19_checksum",
    "mhz19_read_command",
]

MHZ19_HEADER = b"\xff\x86"
MHZ19_FRAME_SIZE = 9
_MAX_CO2 = 10000.0


def mhz19_checksum(packet: bytes) -> int:
    """Checksum of a 9-byte packet (its last byte is not read): ``-(sum(packet[1:8])) & 0xFF``."""
    return (0xFF - (sum(packet[1:8]) & 0xFF) + 1) & 0xFF


def _packet(body: bytes) -> bytes:
    """``body`` (8 bytes, start byte included) with its checksum appended."""
    return body + bytes([mhz19_checksum(body)])


def mhz19_read_command() -> bytes:
    """The "read CO2 concentration" command ``FF 01 86 00 00 00 00 00 79``."""
    return _packet(b"\xff\x01\x86\x00\x00\x00\x00\x00")


def decode_mhz19(frame: bytes) -> list[Measurement]:
    """``co2`` and ``temperature`` from one 9-byte response to the read command."""
    if len(frame) != MHZ19_FRAME_SIZE:
        raise DecodeError(f"mhz19 response of {len(frame)} bytes, expected 9", kind=DECODE)
    if frame[:2] != MHZ19_HEADER:
        raise DecodeError(f"mhz19 header {frame[:2].hex()} is not ff86", kind=GARBAGE)
    if mhz19_checksum(frame) != frame[8]:
        raise DecodeError(
            f"mhz19 checksum {mhz19_checksum(frame):#04x} != {frame[8]:#04x}", kind=CHECKSUM
        )
    return [
        checked("co2", frame[2] * 256 + frame[3], "ppm", _MAX_CO2),
        checked("temperature", frame[4] - 40, "°C"),
    ]


def encode_mhz19_response(co2: int, temperature: int = 25, status: int = 0) -> bytes:
    """A valid response frame (co2 0..65535 ppm, temperature -40..215 °C, else ValueError)."""
    if not 0 <= co2 <= 0xFFFF or not -40 <= temperature <= 215 or not 0 <= status <= 0xFF:
        raise ValueError(f"mhz19 values out of range: co2={co2}, temperature={temperature}")
    return _packet(MHZ19_HEADER + co2.to_bytes(2, "big") + bytes([temperature + 40, status, 0, 0]))
