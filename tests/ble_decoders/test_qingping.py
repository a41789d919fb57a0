"""Qingping service data (0xFDCD): published vectors, negative values, bad packets.

Vectors: custom-components/ble_monitor's test_qingping_parser.py (MIT): the service data
inside each test's raw HCI report (after "16 cd fd"), with that test's expected values.
"""

from __future__ import annotations

import pytest

from drivers.ble.decoders import (
    QINGPING_UUID,
    Advert,
    decode,
    decode_qingping,
    encode_qingping,
    identify,
)
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError

T, H, B = "temperature", "humidity", "battery"


def qingping(data: str, address: str = "58:2D:34:10:44:B2") -> Advert:
    return Advert(address, service_data={QINGPING_UUID: bytes.fromhex(data)})


PUBLISHED = [
    pytest.param(  # test_qingping_CGG1
        "08 07 b2 44 10 34 2d 58 01 04 ca 00 45 02 02 01 38", "CGG1",
        [M(T, 20.2, "°C"), M(H, 58.1, "%"), M(B, 56, "%")], id="CGG1",
    ),
    pytest.param(  # test_qingping_CGP1W: 0x07 pressure 0x2672 = 9842 -> 984.2 hPa
        "08 09 6f 1c 40 34 2d 58 01 04 be 00 0d 02 07 02 72 26 02 01 57", "CGP1W",
        [M(T, 19.0, "°C"), M(H, 52.5, "%"), M("pressure", 984.2, "hPa"), M(B, 87, "%")],
        id="CGP1W",
    ),
    pytest.param(  # test_qingping_CGD1
        "08 0c bf 65 52 34 2d 58 01 04 f1 00 ad 01 02 01 25", "CGD1",
        [M(T, 24.1, "°C"), M(H, 42.9, "%"), M(B, 37, "%")], id="CGD1",
    ),
    pytest.param(  # test_qingping_CGP22C: 0x13 CO2 0x0247 = 583 ppm
        "08 5d c1 1b 86 34 2d 58 01 04 ff 00 af 01 02 01 64 13 02 47 02", "CGP22C",
        [M(T, 25.5, "°C"), M(H, 43.1, "%"), M(B, 100, "%"), M("co2", 583, "ppm")], id="CGP22C",
    ),
    pytest.param(  # test_qingping_CGP23W
        "88 18 07 22 40 34 2d 58 01 04 17 01 ca 00 02 01 61 07 02 72 27", "CGP23W",
        [M(T, 27.9, "°C"), M(H, 20.2, "%"), M(B, 97, "%"), M("pressure", 1009.8, "hPa")],
        id="CGP23W",
    ),
    pytest.param(  # test_qingping_CGPR1_1: 0x09 illuminance 0x098b = 2443 lx, packet id 0x1c
        "08 12 00 5e 60 34 2d 58 02 01 64 0f 01 1c 09 04 8b 09 00 00", "CGPR1",
        [M(B, 100, "%"), M("illuminance", 2443, "lx")], id="CGPR1-illuminance",
    ),
    pytest.param(  # test_qingping_CGPR1_2: an event packet (flags 0x48): motion only
        "48 12 00 5e 60 34 2d 58 08 04 00 8b 09 00 0f 01 22", "CGPR1",
        [M("motion", 0, None)], id="CGPR1-event",
    ),
    pytest.param(  # test_qingping_CGPR1_3: 0x11 light
        "48 12 00 5e 60 34 2d 58 11 01 01 0f 01 30", "CGPR1", [M("light", 1, None)],
        id="CGPR1-light",
    ),
    pytest.param(  # test_qingping_CGDN1_1: 0x12 PM2.5 113, PM10 114; CO2 0x03ed = 1005 ppm
        "08 0e a3 80 8f e6 48 54 01 04 22 01 4c 01 12 04 71 00 72 00 13 02 ed 03", "CGDN1",
        [M(T, 29.0, "°C"), M(H, 33.2, "%"), M("pm25", 113, "µg/m³"), M("pm10", 114, "µg/m³"),
         M("co2", 1005, "ppm")], id="CGDN1",
    ),
]


@pytest.mark.parametrize(("data", "model", "expected"), PUBLISHED)
def test_published(data: str, model: str, expected: list[M]) -> None:
    result = decode(qingping(data))
    assert list(result.measurements) == expected
    assert (result.decoder, result.manufacturer, result.model) == ("qingping", "Qingping", model)


def test_metadata() -> None:
    result = decode_qingping(qingping("08 12 00 5e 60 34 2d 58 02 01 64 0f 01 1c"))
    assert (result.mac, result.packet_id) == ("58:2D:34:60:5E:00", 0x1C)


def test_negative_temperature_and_motion_with_light() -> None:
    # Hand-built: CGG1, 0x01 temperature 0xff38 = -200 -> -20.0 °C, humidity 0x01c2 = 45.0 %;
    # 0x08 motion 1 with illuminance 0x000190 = 400 lx (not an event packet)
    result = decode(qingping("08 07 b2 44 10 34 2d 58 01 04 38 ff c2 01 08 04 01 90 01 00"))
    assert result.measurements == (M(T, -20.0, "°C"), M(H, 45.0, "%"), M("motion", 1, None),
                                   M("illuminance", 400, "lx"))


def test_mains_powered_battery_and_door() -> None:
    # Hand-built: 0x02 battery 0xff (mains powered: no level); 0x04 door 0 (open)
    result = decode(qingping("08 04 b2 44 10 34 2d 58 02 01 ff 04 01 00"))
    assert (result.model, result.measurements) == ("CGH1", (M("opening", 1, None),))


def test_unknown_product_and_record() -> None:
    result = decode(qingping("08 99 b2 44 10 34 2d 58 02 01 50 42 01 00"))
    assert (result.model, result.measurements) == ("Qingping 0x99", (M(B, 80, "%"),))
    assert result.warnings == ("unknown Qingping record 0x42 skipped",)
    identity = identify(qingping("08 07 b2 44 10 34 2d 58"))
    assert identity is not None and identity.model == "CGG1"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param("", "shorter than its header", id="empty"),
        pytest.param("08 07 b2 44 10 34 2d", "shorter than its header", id="short-mac"),
        pytest.param("08 07 b2 44 10 34 2d 58 01", "truncated", id="record-header"),
        pytest.param("08 07 b2 44 10 34 2d 58 01 04 ca 00", "runs past", id="record-past-end"),
        pytest.param("08 07 b2 44 10 34 2d 58 01 02 ca 00", "expected 4", id="wrong-length"),
    ],
)
def test_bad_packets(data: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        decode_qingping(qingping(data))
    assert info.value.kind == "decode"


def test_encode_round_trip() -> None:
    values = [M(T, -4.5, "°C"), M(H, 61.2, "%"), M(B, 77, "%"), M("pressure", 1001.3, "hPa")]
    data = encode_qingping(values, mac="58:2D:34:10:44:B2", packet_id=5)
    result = decode_qingping(Advert("58:2D:34:10:44:B2", service_data={QINGPING_UUID: data}))
    assert (list(result.measurements), result.packet_id, result.mac) == (
        values, 5, "58:2D:34:10:44:B2")
    with pytest.raises(ValueError, match="together"):
        encode_qingping(values[2:], mac="58:2D:34:10:44:B2")
    with pytest.raises(ValueError, match="no Qingping record"):
        encode_qingping([*values, M("co2", 400, "ppm")], mac="58:2D:34:10:44:B2")
