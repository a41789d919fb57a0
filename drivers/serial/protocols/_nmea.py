"""NMEA 0183 GPS sentences GGA and RMC (any talker: GP, GN, GL, GA, BD...), parsed by pynmea2.

Checksums are required: a sentence without ``*hh`` is a ``checksum`` error, like a wrong one.
The line must be ``$<body>*hh`` (blanks and ``\r`` around it allowed). The checksum of every
sentence is verified here first; sentences of other types (GSV, GSA, VTG, proprietary ``$P...``)
then give ``[]`` without reaching pynmea2, whose proprietary-sentence classes can fail with
IndexError on short input. GGA and RMC go through ``pynmea2.parse(..., check=True)``, but its
lenient conversions (``float()`` accepting "nan", raw strings on failure) are bypassed: the raw
fields are converted here, strictly.

Published:

=================  ========  ===========================================================
name               unit      source
=================  ========  ===========================================================
``fix_quality``    None      GGA quality indicator (0 none, 1 GPS, 2 DGPS, 4 RTK...)
``satellites``     None      GGA satellites in use (if present)
``latitude``       ``°``     GGA (quality > 0) and RMC (status A); signed degrees, S < 0
``longitude``      ``°``     as latitude; W < 0
``altitude``       ``m``     GGA (quality > 0), above mean sea level
``speed``          ``km/h``  RMC (status A), speed over ground, converted from knots
=================  ========  ===========================================================

A GGA without a fix publishes only ``fix_quality`` and ``satellites``; an RMC with status V
(void) publishes nothing. Latitude beyond ±90, longitude beyond ±180, minutes >= 60 and altitude
beyond ±100 km are ``out_of_range``; malformed numbers are ``decode`` errors.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import reduce
from operator import xor
from typing import Any

from gateway.sdk import DecodeError, Measurement

from ._common import (
    CHECKSUM,
    DECODE,
    GARBAGE,
    OUT_OF_RANGE,
    as_text,
    checked,
    parse_number,
    require_finite,
)

__all__ = ["decode_nmea", "encode_gga", "encode_rmc", "nmea_checksum"]

_KNOTS_TO_KMH = 1.852
_DEGREES_MINUTES = re.compile(r"(\d{1,3})(\d\d(?:\.\d+)?)", re.ASCII)  # ddmm.mmm, dddmm.mmm
_DIGITS = re.compile(r"\d{1,3}", re.ASCII)
_SENTENCE = re.compile(r"\$([^$*]*)\*([0-9A-Fa-f]{2})", re.ASCII)


def _raw(msg: Any, name: str) -> str:  # noqa: ANN401 - pynmea2 is untyped
    """Field ``name`` of ``msg`` as the raw string from the sentence ("" if missing)."""
    index: int = type(msg).name_to_idx[name]
    data: list[str] = msg.data
    return data[index].strip() if index < len(data) else ""


def _number(name: str, text: str) -> float:
    value = parse_number(text)
    if value is None:
        raise DecodeError(f"nmea {name} {text!r} is not a number", kind=DECODE)
    return value


def _count(name: str, text: str) -> Measurement:
    if _DIGITS.fullmatch(text) is None:
        raise DecodeError(f"nmea {name} {text!r} is not a small integer", kind=DECODE)
    return Measurement(name, float(int(text)))


def _degrees(name: str, text: str, hemisphere: str, limit: float) -> Measurement:
    """Signed degrees from ``dddmm.mmmm`` and N/S/E/W."""
    match = _DEGREES_MINUTES.fullmatch(text)
    if match is None or hemisphere not in {"N", "S", "E", "W"}:
        raise DecodeError(f"nmea {name} {text!r} {hemisphere!r} is malformed", kind=DECODE)
    minutes = float(match[2])
    if minutes >= 60:
        raise DecodeError(f"nmea {name} minutes {minutes} >= 60", kind=OUT_OF_RANGE)
    value = int(match[1]) + minutes / 60
    return checked(name, -value if hemisphere in {"S", "W"} else value, "°", limit)


def _position(msg: Any) -> list[Measurement]:  # noqa: ANN401 - pynmea2 is untyped
    """latitude and longitude if both are present, else []."""
    lat, lon = _raw(msg, "lat"), _raw(msg, "lon")
    if not lat or not lon:
        return []
    return [
        _degrees("latitude", lat, _raw(msg, "lat_dir"), 90.0),
        _degrees("longitude", lon, _raw(msg, "lon_dir"), 180.0),
    ]


def _gga(msg: Any) -> list[Measurement]:  # noqa: ANN401 - pynmea2 is untyped
    fix = _count("fix_quality", _raw(msg, "gps_qual"))
    out = [fix]
    if sats := _raw(msg, "num_sats"):
        out.append(_count("satellites", sats))
    if fix.value == 0:
        return out
    out += _position(msg)
    if altitude := _raw(msg, "altitude"):
        out.append(checked("altitude", _number("altitude", altitude), "m", 100_000.0))
    return out


def _rmc(msg: Any) -> list[Measurement]:  # noqa: ANN401 - pynmea2 is untyped
    if _raw(msg, "status") != "A":
        return []
    out = _position(msg)
    if knots := _raw(msg, "spd_over_grnd"):
        out.append(checked("speed", _number("speed", knots) * _KNOTS_TO_KMH, "km/h"))
    return out


def _body(text: str) -> str:
    """The part between ``$`` and ``*`` of a sentence whose checksum is present and right."""
    match = _SENTENCE.fullmatch(text)
    if match is None:
        if "*" not in text:
            raise DecodeError("NMEA sentence without checksum", kind=CHECKSUM)
        raise DecodeError("not an NMEA sentence", kind=GARBAGE)
    body, given = match.groups()
    if nmea_checksum(body) != int(given, 16):
        raise DecodeError(f"nmea checksum {nmea_checksum(body):02X} != {given}", kind=CHECKSUM)
    return body


def _parse(text: str) -> Any:  # noqa: ANN401 - pynmea2 is untyped
    """The pynmea2 sentence object (checksum required again)."""
    import pynmea2  # noqa: PLC0415 - imported when a GPS is read, not with the config

    try:
        return pynmea2.parse(text, check=True)
    except pynmea2.ParseError as exc:
        raise DecodeError("malformed NMEA sentence", kind=GARBAGE) from exc


def decode_nmea(line: bytes | str) -> list[Measurement]:
    """Measurements from one GGA or RMC sentence; [] for other valid sentences."""
    text = as_text(line, "ascii").strip()
    if not text.isascii() or not text.startswith("$"):
        raise DecodeError("NMEA sentence must be ASCII and start with '$'", kind=GARBAGE)
    address = _body(text).split(",", 1)[0]
    if len(address) != 5 or address[2:] not in {"GGA", "RMC"}:
        return []
    msg = _parse(text)
    kind = type(msg).__name__
    if kind == "GGA":
        return _gga(msg)
    if kind == "RMC":
        return _rmc(msg)
    return []  # pragma: no cover - pynmea2 maps GGA/RMC addresses to these classes


# --- encoders (simulators) -------------------------------------------------------------------

_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def nmea_checksum(body: str) -> int:
    """XOR of the characters between ``$`` and ``*`` (ASCII)."""
    return reduce(xor, body.encode("ascii"), 0)


def _sentence(body: str) -> bytes:
    return f"${body}*{nmea_checksum(body):02X}".encode("ascii")


def _dm(value: float, limit: float, width: int, hemispheres: str) -> str:
    """``dddmm.mmmmmm,H`` from signed degrees (rounded to 1e-6 minutes, carry-safe)."""
    if not -limit <= require_finite("coordinate", value) <= limit:
        raise ValueError(f"coordinate {value} outside ±{limit}")
    degrees, micro = divmod(round(abs(value) * 60_000_000), 60_000_000)
    minutes = f"{micro // 1_000_000:02d}.{micro % 1_000_000:06d}"
    return f"{degrees:0{width}d}{minutes},{hemispheres[value < 0]}"


def encode_gga(
    latitude: float,
    longitude: float,
    *,
    altitude: float = 0.0,
    satellites: int = 8,
    fix_quality: int = 1,
    utc: dt.datetime = _EPOCH,
    talker: str = "GP",
) -> bytes:
    """A GGA sentence with a valid checksum (no line terminator); altitude to 0.1 m."""
    fields = [
        utc.strftime("%H%M%S.00"),
        _dm(latitude, 90.0, 2, "NS"),
        _dm(longitude, 180.0, 3, "EW"),
        str(fix_quality),
        f"{satellites:02d}",
        "0.9",
        f"{require_finite('altitude', altitude):.1f},M",
        "0.0,M",
        ",",
    ]
    return _sentence(f"{talker}GGA," + ",".join(fields))


def encode_rmc(
    latitude: float,
    longitude: float,
    *,
    speed_kmh: float = 0.0,
    course: float = 0.0,
    valid: bool = True,
    utc: dt.datetime = _EPOCH,
    talker: str = "GP",
) -> bytes:
    """An RMC sentence with a valid checksum (no line terminator); speed to 0.001 knot."""
    knots = require_finite("speed_kmh", speed_kmh) / _KNOTS_TO_KMH
    fields = [
        utc.strftime("%H%M%S.00"),
        "A" if valid else "V",
        _dm(latitude, 90.0, 2, "NS"),
        _dm(longitude, 180.0, 3, "EW"),
        f"{knots:.3f}",
        f"{require_finite('course', course):.1f}",
        utc.strftime("%d%m%y"),
        ",",
        "A" if valid else "N",
    ]
    return _sentence(f"{talker}RMC," + ",".join(fields))
