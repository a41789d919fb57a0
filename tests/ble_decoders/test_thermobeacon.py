"""ThermoBeacon: manufacturer data whose company id names the device type, service 0xFFF0.

Vectors: the Bluetooth-Devices thermobeacon-ble project's tests/test_parser.py (MIT): the
MFR_16_LEN_18 / MFR_16_LEN_20 / MFR_48 / MFR_27 service infos. That project rounds to 0.01;
we report the 1/16 °C steps the device sends.
"""

from __future__ import annotations

import pytest

from drivers.ble.decoders import THERMOBEACON_UUID, Advert, decode, decode_thermobeacon, identify
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError


def beacon(company: int, data: str, uuids: tuple[str, ...] = (THERMOBEACON_UUID,)) -> Advert:
    return Advert("AA:BB:CC:DD:EE:FF", "ThermoBeacon", -60, {},
                  {company: bytes.fromhex(data)}, uuids)


PUBLISHED = [
    pytest.param(  # MFR_16_LEN_18: 0x0c45 = 3141 mV, 0x01c5/16 = 28.3125 °C, 0x0287/16 = 40.4375 %
        0x10, "00 00 9c 0d 00 00 fe 44 45 0c c5 01 87 02 17 00 00 00", "Lanyard/Mini Hygrometer",
        [M("temperature", 28.3125, "°C"), M("humidity", 40.4375, "%"), M("voltage", 3.141, "V")],
        id="lanyard",
    ),
    pytest.param(  # MFR_16_LEN_20
        0x10, "00 00 b0 02 00 00 47 a4 e2 0c 80 01 b6 02 4a 00 00 00", "Lanyard/Mini Hygrometer",
        [M("temperature", 24.0, "°C"), M("humidity", 43.375, "%"), M("voltage", 3.298, "V")],
        id="lanyard-2",
    ),
    pytest.param(  # MFR_48
        0x30, "00 00 8b 01 00 00 5d 44 d6 0b 59 01 59 03 44 00 0c 00", "Smart Hygrometer",
        [M("temperature", 21.5625, "°C"), M("humidity", 53.5625, "%"), M("voltage", 3.03, "V")],
        id="smart-48",
    ),
    pytest.param(  # MFR_27
        0x1B, "00 00 83 2c 00 00 d0 63 82 0c 6f 01 73 02 05 23 00 00", "Smart Hygrometer",
        [M("temperature", 22.9375, "°C"), M("humidity", 39.1875, "%"), M("voltage", 3.202, "V")],
        id="smart-27",
    ),
]


@pytest.mark.parametrize(("company", "data", "model", "expected"), PUBLISHED)
def test_published(company: int, data: str, model: str, expected: list[M]) -> None:
    result = decode(beacon(company, data))
    assert list(result.measurements) == expected
    assert (result.decoder, result.manufacturer, result.model) == ("thermobeacon",
                                                                   "ThermoBeacon", model)


def test_negative_temperature() -> None:
    # Hand-built: temperature 0xffb0 = -80 -> -5.0 °C, humidity 0x0320 = 800 -> 50.0 %
    result = decode(beacon(0x10, "00 00 9c 0d 00 00 fe 44 45 0c b0 ff 20 03 17 00 00 00"))
    assert result.measurements[:2] == (M("temperature", -5.0, "°C"), M("humidity", 50.0, "%"))


def test_history_packet_has_no_reading() -> None:
    # MFR_22 style: 20 bytes of min/max history
    result = decode(beacon(0x15, "00 00 f0 05 00 00 d7 6e be 01 65 00 00 00 a7 01 00 00 00 00"))
    assert (result.model, result.measurements) == ("Smart Hygrometer", ())


def test_the_service_uuid_is_required() -> None:
    advert = beacon(0x10, "00 00 9c 0d 00 00 fe 44 45 0c c5 01 87 02 17 00 00 00", uuids=())
    assert identify(advert) is None
    with pytest.raises(DecodeError) as info:
        decode_thermobeacon(advert)
    assert info.value.kind == "unsupported"


def test_implausible_reading() -> None:
    with pytest.raises(DecodeError, match="corrupt") as info:
        decode(beacon(0x10, "00 00 9c 0d 00 00 fe 44 45 0c c5 01 ff 7f 17 00 00 00"))
    assert info.value.kind == "decode"
