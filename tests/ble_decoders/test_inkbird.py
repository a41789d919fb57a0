"""Inkbird: the readings sit in the company id field; the name picks the layout.

Vectors: the Bluetooth-Devices inkbird-ble project's tests/test_parser.py (MIT): company id
and bytes of its "sps", "tps", "ITH-11-B", "ITH-13-B", "ITH-21-B" and "IBS-P02B" service
infos, with that project's expected values.
"""

from __future__ import annotations

import pytest

from drivers.ble.decoders import Advert, decode, decode_inkbird, identify, uuid16
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError

T, H, B = "temperature", "humidity", "battery"


def inkbird(name: str, data: dict[int, str]) -> Advert:
    return Advert("AA:BB:CC:DD:EE:FF", name, -60, {},
                  {c: bytes.fromhex(p) for c, p in data.items()}, (uuid16(0xFFF0),))


PUBLISHED = [
    pytest.param(  # sps: 0x07fc = 20.44 °C, 0x12c7 = 48.07 %, battery 0x56 = 86 %
        "sps", {0x07FC: "c71200c83d5606"}, "IBS-TH",
        [M(T, 20.44, "°C"), M(H, 48.07, "%"), M(B, 86, "%")], id="IBS-TH",
    ),
    pytest.param(  # tps: humidity 0 -> an IBS-TH2/P01B without a humidity sensor
        "tps", {0x0848: "000000c66e0d06"}, "IBS-TH2/P01B", [M(T, 21.2, "°C"), M(B, 13, "%")],
        id="IBS-TH2",
    ),
    pytest.param(  # ITH-11-B: 0x035d = 86.1 %
        "ITH-11-B", {0x2449: "0812005e00005d036400640800000000"}, "ITH-11-B",
        [M(T, 0.0, "°C"), M(H, 86.1, "%"), M(B, 100, "%")], id="ITH-11-B",
    ),
    pytest.param(  # ITH-11-B below zero: 0xfffe = -2 -> -0.2 °C
        "ITH-11-B", {0x2449: "0812005efeff48036400640800000000"}, "ITH-11-B",
        [M(T, -0.2, "°C"), M(H, 84.0, "%"), M(B, 100, "%")], id="ITH-11-B-negative",
    ),
    pytest.param(  # ITH-13-B
        "ITH-13-B", {0x2449: "1223052f0e0110026400000000000000"}, "ITH-13-B",
        [M(T, 27.0, "°C"), M(H, 52.8, "%"), M(B, 100, "%")], id="ITH-13-B",
    ),
    pytest.param(  # ITH-21-B: 0x00d8 = 21.6 °C, 0x0213 = 53.1 %
        "ITH-21-B", {0x2449: "07110098d80013026401900400000000"}, "ITH-21-B",
        [M(T, 21.6, "°C"), M(H, 53.1, "%"), M(B, 100, "%")], id="ITH-21-B",
    ),
    pytest.param(  # IBS-P02B: humidity 0 -> none
        "IBS-P02B", {0x2449: "11180065760100005f00000100000000"}, "IBS-P02B",
        [M(T, 37.4, "°C"), M(B, 95, "%")], id="IBS-P02B",
    ),
]


@pytest.mark.parametrize(("name", "data", "model", "expected"), PUBLISHED)
def test_published(name: str, data: dict[int, str], model: str, expected: list[M]) -> None:
    result = decode(inkbird(name, data))
    assert list(result.measurements) == expected
    assert (result.decoder, result.manufacturer, result.model) == ("inkbird", "Inkbird", model)


def test_negative_temperature_in_the_company_id() -> None:
    # Hand-built sps: temperature bytes 30 f8 (0xf830 = -2000 -> -20.00 °C) are the
    # "company id"; humidity 0x1194 = 45.00 %, battery 0x50 = 80 %
    result = decode(inkbird("sps", {0xF830: "941100c83d5006"}))
    assert result.measurements == (M(T, -20.0, "°C"), M(H, 45.0, "%"), M(B, 80, "%"))


def test_the_entry_of_the_right_length_wins() -> None:
    # inkbird-ble's sps advert with two entries (0x080f of 9 bytes is not a 9-byte record)
    result = decode(inkbird("sps", {0x080F: "c0120170086406", 0x0823: "120177086406"}))
    assert result.measurements[0] == M(T, 20.63, "°C")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        pytest.param("sps", {0x0001: "00"}, "expected 9", id="short"),
        pytest.param("ITH-11-B", {0x2449: "0812005e0000ffff6400640800000000"}, "humidity",
                     id="published-corrupt-humidity"),
        pytest.param("sps", {0x07FC: "c71200c83dff06"}, "battery", id="battery-over-100"),
    ],
)
def test_bad_packets(name: str, data: dict[int, str], message: str) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        decode_inkbird(inkbird(name, data))
    assert info.value.kind == "decode"


def test_other_names_are_not_inkbird() -> None:
    advert = inkbird("ThermoBeacon", {0x07FC: "c71200c83d5606"})
    assert identify(advert, "inkbird") is None
    with pytest.raises(DecodeError) as info:
        decode_inkbird(advert)
    assert info.value.kind == "unsupported"
