"""BlueMaestro Tempo Disc (company 0x0133): published vectors, negative values, bad data.

Vectors: bluemaestro-ble's tests/test_parser.py (MIT, TEMPO_DISC_THD) and ble_monitor's
test_bluemaestro.py (MIT, test_BlueMaestro_THD: the manufacturer data in its raw report,
below zero).
"""

from __future__ import annotations

import pytest

from drivers.ble.decoders import BLUEMAESTRO_COMPANY_ID, Advert, decode, decode_bluemaestro
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError


def disc(data: str) -> Advert:
    return Advert("E0:12:1D:61:BB:AA", manufacturer_data={
        BLUEMAESTRO_COMPANY_ID: bytes.fromhex(data)})


def test_published_thd() -> None:
    # TEMPO_DISC_THD: 0x00f2 = 24.2 °C, 0x01f2 = 49.8 %, 0x0083 = 13.1 °C dew point, 100 %
    result = decode(disc("17 64 0e 10 00 02 00 f2 01 f2 00 83 01 00 01 0d 02 ab 00 f2 01 f2 01 "
                         "0d 02 ab 00 f2 01 f2 00 ff 02 4e 00 00 00 00 00"))
    assert result.measurements == (M("temperature", 24.2, "°C"), M("humidity", 49.8, "%"),
                                   M("dew_point", 13.1, "°C"), M("battery", 100, "%"))
    assert (result.model, result.manufacturer, result.packet_id) == (
        "Tempo Disc THD", "BlueMaestro", 2)


def test_published_below_zero() -> None:
    # test_BlueMaestro_THD: 0xff2f = -209 -> -20.9 °C, 67.8 %, dew point 0xff03 -> -25.3 °C,
    # battery 0x55 = 85 %, record count 0x061e = 1566
    result = decode(disc("17 55 0e 10 06 1e ff 2f 02 a6 ff 03 01 00"))
    assert result.measurements == (M("temperature", -20.9, "°C"), M("humidity", 67.8, "%"),
                                   M("dew_point", -25.3, "°C"), M("battery", 85, "%"))
    assert result.packet_id == 1566


def test_thpd_and_maxi() -> None:
    # Hand-built THPD (0x1b): pressure 0x2774 = 10100 -> 1010.0 hPa
    result = decode(disc("1b 50 0e 10 00 05 00 f2 01 f2 27 74 00"))
    assert result.measurements[2] == M("pressure", 1010.0, "hPa")
    # Hand-built Maxi THPD (0x2b), little-endian from byte 15: 0xf830 -> -20.00 °C,
    # 0x1194 -> 45.00 %, 0x00018a88 = 101000 -> 1010.00 hPa
    maxi = "2b 50" + " 00" * 13 + " 30 f8 94 11 88 8a 01 00 00"
    assert decode(disc(maxi)).measurements == (
        M("temperature", -20.0, "°C"), M("humidity", 45.0, "%"), M("pressure", 1010.0, "hPa"),
        M("battery", 80, "%"))


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        pytest.param("", "unsupported", id="empty"),
        pytest.param("01 64 00", "unsupported", id="pebble-not-supported"),
        pytest.param("17 64 0e 10 00 02 00 f2", "decode", id="short"),
        pytest.param("17 ff 0e 10 00 02 00 f2 01 f2 00 83 01", "decode", id="battery-255"),
    ],
)
def test_bad_data(data: str, kind: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_bluemaestro(disc(data))
    assert info.value.kind == kind
