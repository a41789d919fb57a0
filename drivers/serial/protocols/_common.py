"""Shared pieces of the protocol layer: error kinds, number parsing, checked measurements.

Error kinds (``DecodeError.kind``), one counter each in the driver:

``garbage``
    The input is not this protocol at all: not UTF-8/ASCII, not JSON, no frame header,
    a line without any numeric field.
``checksum``
    A frame or sentence whose checksum does not match.
``too_long``
    A line (or buffered partial line) longer than the framer's maximum; it was discarded.
``out_of_range``
    Parsed fine, but a value is NaN/infinite or outside the datasheet range.
``decode``
    Shaped like the protocol but structurally wrong: truncated frame, bad length field,
    wrong CSV column count, a JSON value that is not an object, data before a CSV header.
"""

from __future__ import annotations

import math
import random
import re

from gateway.sdk import DecodeError, Measurement

__all__ = [
    "CHECKSUM",
    "DECODE",
    "GARBAGE",
    "OUT_OF_RANGE",
    "TOO_LONG",
    "as_text",
    "checked",
    "garbage",
    "parse_number",
    "require_finite",
]

GARBAGE = "garbage"
CHECKSUM = "checksum"
TOO_LONG = "too_long"
OUT_OF_RANGE = "out_of_range"
DECODE = "decode"

# ASCII decimal numbers, plus the NaN/inf spellings float() accepts so that they are
# reported as out_of_range instead of silently ignored as "non-numeric".
_NUMBER = re.compile(
    r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf(?:inity)?)",
    re.ASCII | re.IGNORECASE,
)


def parse_number(text: str) -> float | None:
    """``text`` as a float if it is a plain decimal number (surrounding blanks allowed), else None.

    Rejects what ``float()`` would otherwise accept: ``1_000``, non-ASCII digits. NaN and
    infinity are returned as such; :func:`checked` turns them into ``out_of_range``.
    """
    stripped = text.strip()
    if _NUMBER.fullmatch(stripped) is None:
        return None
    return float(stripped)


def checked(name: str, value: float, unit: str | None, limit: float | None = None) -> Measurement:
    """A Measurement; DecodeError(out_of_range) if ``value`` is not finite or above ``limit``."""
    if not math.isfinite(value):
        raise DecodeError(f"{name}: non-finite value {value!r}", kind=OUT_OF_RANGE)
    if limit is not None and abs(value) > limit:
        raise DecodeError(f"{name}: {value!r} outside ±{limit}", kind=OUT_OF_RANGE)
    return Measurement(name, float(value), unit)


def as_text(line: bytes | str, encoding: str = "utf-8") -> str:
    """``line`` as str; undecodable bytes are DecodeError(garbage)."""
    if isinstance(line, str):
        return line
    try:
        return line.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DecodeError(f"not {encoding} text: {exc.reason}", kind=GARBAGE) from exc


def garbage(rng: random.Random, n: int) -> bytes:
    """``n`` random bytes from ``rng``: line noise for simulators and tests."""
    return rng.randbytes(n)


def require_finite(name: str, value: float) -> float:
    """``value`` if finite, else ValueError: encoders refuse to produce NaN/inf."""
    if not math.isfinite(value):
        raise ValueError(f"{name}: cannot encode non-finite value {value!r}")
    return value
