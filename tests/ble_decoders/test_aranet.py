"""Aranet4 / Aranet2 / Radiation / Radon (company 0x0702, Smart Home integration on).

Vectors: the Anrijs/Aranet4-Python project's tests/test_advertisements.py (MIT), with its
expected values. That project rounds temperature to 0.1 °C (20.8, 20.5); we report the
device's 0.05 °C steps (20.75, 20.45).
"""

from __future__ import annotations

import pytest

from drivers.ble.decoders import ARANET_COMPANY_ID, Advert, decode, decode_aranet, identify
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError

ARANET4 = "21 05 03 01 00 05 00 01 43 04 9f 01 8b 27 35 0c 02 3c 00 10 00 55"


def aranet(name: str, data: str) -> Advert:
    return Advert("AA:BB:CC:DD:EE:FF", name, -60, {},
                  {ARANET_COMPANY_ID: bytes.fromhex(data)})


PUBLISHED = [
    pytest.param(  # TEST_DATA_ARANET_4: CO2 0x0443 = 1091, 0x019f / 20, 0x278b / 10 hPa, 53 %, 12 %
        "Aranet4 12345", ARANET4, "Aranet4",
        [M("co2", 1091, "ppm"), M("temperature", 20.75, "°C"), M("pressure", 1012.3, "hPa"),
         M("humidity", 53, "%"), M("battery", 12, "%")], id="Aranet4",
    ),
    pytest.param(  # the same without a name (passive scan): told by its length
        "", ARANET4, "Aranet4",
        [M("co2", 1091, "ppm"), M("temperature", 20.75, "°C"), M("pressure", 1012.3, "hPa"),
         M("humidity", 53, "%"), M("battery", 12, "%")], id="Aranet4-no-name",
    ),
    pytest.param(  # TEST_DATA_ARANET_2
        "Aranet2 278F8", "01 21 04 04 01 00 00 00 00 00 99 01 00 00 0a 02 00 3b 09 78 00 52 00 64",
        "Aranet2", [M("temperature", 20.45, "°C"), M("humidity", 52.2, "%"), M("battery", 59, "%")],
        id="Aranet2",
    ),
    pytest.param(  # TEST_DATA_ARANET_RADIATION: rate 130 x 10 nSv/h, total 13264 nSv
        "Aranet\u2622 27DB3",
        "02 21 26 04 01 00 d0 33 00 00 6c 60 06 00 82 00 00 63 00 2c 01 58 00 72",
        "Aranet Radiation", [M("radiation_dose_rate", 1.3, "µSv/h"),
                             M("radiation_dose", 13.264, "µSv"), M("battery", 99, "%")],
        id="Radiation",
    ),
    pytest.param(  # TEST_DATA_ARANET_RADON_PLUS
        "AranetRn+ 298C9",
        "03 21 04 06 01 00 00 00 07 00 fe 01 c9 27 ce 01 00 64 01 58 02 f6 01 08",
        "Aranet Radon", [M("radon", 7, "Bq/m³"), M("temperature", 25.5, "°C"),
                         M("pressure", 1018.5, "hPa"), M("humidity", 46.2, "%"),
                         M("battery", 100, "%")], id="Radon",
    ),
]


@pytest.mark.parametrize(("name", "data", "model", "expected"), PUBLISHED)
def test_published(name: str, data: str, model: str, expected: list[M]) -> None:
    result = decode(aranet(name, data))
    assert list(result.measurements) == expected
    assert (result.decoder, result.manufacturer, result.model) == ("aranet", "SAF Tehnika", model)


def test_integration_off_and_old_firmware_give_no_readings() -> None:
    # manufacturer_data_no_integrations (flags 0x00) and manufacturer_data_old_fw (7 bytes)
    off = decode(aranet("Aranet4 12345", "01 00 02 01 00 00 00"))
    assert off.measurements == () and "Smart Home integration" in off.warnings[0]
    old = decode(aranet("Aranet4 12345", "21 0a 04 00 00 00 00"))
    assert old.measurements == () and "firmware" in old.warnings[0]


def test_invalid_values_are_left_out() -> None:
    # Aranet4 data with the CO2 "invalid" bit (0x8443) and temperature bit 14 (0x419f) set
    data = "21 05 03 01 00 05 00 01 43 84 9f 41 8b 27 35 0c 02 3c 00 10 00 55"
    names = [m.name for m in decode(aranet("Aranet4 12345", data)).measurements]
    assert names == ["pressure", "humidity", "battery"]


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        pytest.param("Aranet4 12345", "01 00 02", "decode", id="published-bad"),
        pytest.param("Aranet4 12345", "21 05 03 01 00 05 00 01 43 04", "decode", id="short"),
        pytest.param("AranetX", "09 21 00 00 00 00", "unsupported", id="unknown-type"),
    ],
)
def test_bad_data(name: str, data: str, kind: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_aranet(aranet(name, data))
    assert info.value.kind == kind


def test_identity() -> None:
    identity = identify(aranet("Aranet2 278F8", "01 21 04 04"))
    assert identity is not None and (identity.manufacturer, identity.model) == (
        "SAF Tehnika", "Aranet2")
