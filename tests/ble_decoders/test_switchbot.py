"""SwitchBot thermo-hygrometers: vendor and published vectors, negative values.

Vectors: SwitchBot's BLE open API (OpenWonderLabs/SwitchBotAPI-BLE, devicetypes/meter.md:
the Outdoor Temperature/Humidity Sensor's sample advertisement), and the sblibs/pySwitchbot
project's tests/test_adv_parser.py (MIT; the test named in each comment).
"""

from __future__ import annotations

import pytest

from drivers.ble.decoders import (
    SWITCHBOT_COMPANY_ID,
    Advert,
    decode,
    decode_switchbot,
    identify,
    uuid16,
)
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError

T, H, B = "temperature", "humidity", "battery"
FD3D = uuid16(0xFD3D)


def switchbot(service: str | None, mfr: str | None = None, uuid: str = FD3D) -> Advert:
    return Advert(
        "AA:BB:CC:DD:EE:FF", None, -60,
        {} if service is None else {uuid: bytes.fromhex(service)},
        {} if mfr is None else {SWITCHBOT_COMPANY_ID: bytes.fromhex(mfr)},
    )


PUBLISHED = [
    pytest.param(  # vendor API, Outdoor sensor sample: service data 77 00 64 (battery 100 %),
        # manufacturer data [MAC] 36 03 02 96 37 00: 0x02 -> .2, 0x96 -> +22, 0x37 -> 55 %
        "77 00 64", "11 22 33 44 55 66 36 03 02 96 37 00", "Outdoor Meter",
        [M(T, 22.2, "°C"), M(H, 55, "%"), M(B, 100, "%")], id="vendor-outdoor-meter",
    ),
    pytest.param(  # test_wosensor_passive_and_active: Meter, data in the manufacturer bytes
        "54 00 e4 06 98 35", "d7 c1 7d 5d eb 43 de 03 06 98 35", "Meter",
        [M(T, 24.6, "°C"), M(H, 53, "%"), M(B, 100, "%")], id="meter",
    ),
    pytest.param(  # test_wosensor_active: older firmware, data in service data bytes 3-5
        "54 00 e4 06 98 35", None, "Meter",
        [M(T, 24.6, "°C"), M(H, 53, "%"), M(B, 100, "%")], id="meter-service-data-only",
    ),
    pytest.param(  # test_woiosensor_passive_and_active: Indoor/Outdoor Thermo-Hygrometer
        "77 00 e4", "aa bb cc dd ee ff e0 0f 06 98 35 00", "Outdoor Meter",
        [M(T, 24.6, "°C"), M(H, 53, "%"), M(B, 100, "%")], id="outdoor-meter",
    ),
    pytest.param(  # test_meter_pro_active
        "34 00 64", "b0 e9 fe 52 dd 84 06 64 08 97 2c 00 05", "Meter Pro",
        [M(T, 23.8, "°C"), M(H, 44, "%"), M(B, 100, "%")], id="meter-pro",
    ),
    pytest.param(  # test_meter_pro_c_active: CO2 0x02d5 = 725 ppm
        "35 00 64", "b0 e9 fe 54 32 15 b7 e4 07 9b a4 00 37 02 d5 00", "Meter Pro CO2",
        [M(T, 27.7, "°C"), M(H, 36, "%"), M("co2", 725, "ppm"), M(B, 100, "%")],
        id="meter-pro-co2",
    ),
    pytest.param(  # test_wohub2_passive_and_active: Hub 2, light level 2, no battery
        "76 00", "aa bb cc dd ee ff 00 ff 66 54 1a f1 82 07 9a 32 00", "Hub 2",
        [M(T, 26.7, "°C"), M(H, 50, "%"), M("light_level", 2, None)], id="hub-2",
    ),
]


@pytest.mark.parametrize(("service", "mfr", "model", "expected"), PUBLISHED)
def test_published(service: str, mfr: str | None, model: str, expected: list[M]) -> None:
    result = decode(switchbot(service, mfr))
    assert list(result.measurements) == expected
    assert (result.decoder, result.manufacturer, result.model) == ("switchbot", "SwitchBot",
                                                                   model)


def test_old_service_uuid_and_meter_plus() -> None:
    # The Meter frame under the older UUID 0x0D00, device type 'i' (Meter Plus)
    result = decode(switchbot("69 00 e4 06 98 35", uuid=uuid16(0x0D00)))
    assert (result.model, result.measurements[0]) == ("Meter Plus", M(T, 24.6, "°C"))


def test_negative_temperature() -> None:
    # Hand-built from the API's byte 4: bit 7 clear = below zero; 0x05 .5, 0x0c 12 -> -12.5 °C
    result = decode(switchbot("54 00 5a 05 0c 2d"))
    assert result.measurements == (M(T, -12.5, "°C"), M(H, 45, "%"), M(B, 90, "%"))


def test_no_reading_yet() -> None:
    # test_wosensor_active_zero_data: all zero means the meter has not measured yet
    assert decode(switchbot("54 00 00 00 00 00")).measurements == (M(B, 0, "%"),)


def test_other_switchbot_devices_are_not_ours() -> None:
    bot = switchbot("48 00 64")  # 'H': a SwitchBot Bot
    assert identify(bot) is None
    with pytest.raises(DecodeError) as info:
        decode_switchbot(bot)
    assert info.value.kind == "unsupported"


@pytest.mark.parametrize(
    ("service", "mfr", "message"),
    [
        pytest.param("54 00 64 0a 96 37", None, "decimals", id="decimals-over-9"),
        pytest.param("54 00 64 02 96 7f", None, "humidity", id="humidity-over-100"),
    ],
)
def test_bad_packets(service: str, mfr: str | None, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        decode_switchbot(switchbot(service, mfr))
    assert info.value.kind == "decode"


def test_short_packets_give_what_they_hold() -> None:
    assert decode(switchbot("54 00")).measurements == ()
    assert decode(switchbot("54", "11 22")).measurements == ()
    with pytest.raises(DecodeError) as info:
        decode_switchbot(switchbot(""))
    assert info.value.kind == "unsupported"
