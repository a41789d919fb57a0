"""GATT characteristic decoding: tables of known bytes (pure)."""

from __future__ import annotations

import pytest

from drivers.ble.characteristics import STANDARD, CharSpec, check_format, normalize_uuid
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError


def std(short: int) -> CharSpec:
    return STANDARD[normalize_uuid(f"{short:04x}")]


@pytest.mark.parametrize(
    ("short", "data", "expected"),
    [
        (0x2A6E, "66 08", M("temperature", 21.5, "°C")),  # sint16, 0.01 °C
        (0x2A6E, "00 fe", M("temperature", -5.12, "°C")),
        (0x2A6F, "0b 13", M("humidity", 48.75, "%")),  # uint16, 0.01 %
        (0x2A6D, "02 76 0f 00", M("pressure", 1013.25, "hPa")),  # uint32, 0.1 Pa
        (0x2A19, "5a", M("battery", 90, "%")),  # uint8, %
    ],
)
def test_standard_characteristics(short: int, data: str, expected: M) -> None:
    assert std(short).measurement(bytes.fromhex(data)) == expected


def test_custom_characteristic_scale_offset_and_short_data() -> None:
    spec = CharSpec(normalize_uuid("0xFFE1"), "co2", ">H", 0.5, 10, "ppm")
    assert spec.measurement(b"\x01\x00") == M("co2", 138.0, "ppm")
    with pytest.raises(DecodeError, match="expected 2 bytes, got 1"):
        spec.measurement(b"\x01")


@pytest.mark.parametrize(
    ("text", "full"),
    [
        ("2a6e", "00002a6e-0000-1000-8000-00805f9b34fb"),
        ("0x2A6E", "00002a6e-0000-1000-8000-00805f9b34fb"),
        ("12345678-1234-5678-1234-56789ABCDEF0", "12345678-1234-5678-1234-56789abcdef0"),
    ],
)
def test_normalize_uuid(text: str, full: str) -> None:
    assert normalize_uuid(text) == full


@pytest.mark.parametrize("fmt", ["<h", "<H", ">i", "<f", "<d", "B", "<q"])
def test_good_formats(fmt: str) -> None:
    check_format(fmt)


@pytest.mark.parametrize("fmt", ["<hh", "4s", "?", "<x", "nonsense!"])
def test_bad_formats(fmt: str) -> None:
    with pytest.raises(ValueError):
        check_format(fmt)
