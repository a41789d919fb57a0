"""SensorPush HT.w / HTP.xw: values packed into the manufacturer data, company id included.

Vectors: the Bluetooth-Devices sensorpush-ble project's tests/test_parser.py (MIT): test_ht_w,
test_ht_w_page_zero_data_first, and the entry that changes between HTPW_DETECT_CHANGE_1 and
_2 (test_htp_w_large_data_set), with their expected values.
"""

from __future__ import annotations

import pytest

from drivers.ble.decoders import SENSORPUSH_UUID, Advert, decode, decode_sensorpush, identify
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError


def sensorpush(name: str, company: int, data: str, uuids: tuple[str, ...] = (
        SENSORPUSH_UUID,)) -> Advert:
    return Advert("AA:BB:CC:DD:EE:FF", name, -60, {}, {company: bytes.fromhex(data)}, uuids)


PUBLISHED = [
    pytest.param("SensorPush HT.w 0CA1", 0x9A04, "c9 a5 46", "HT.w",
                 [M("temperature", 20.53, "°C"), M("humidity", 44.9, "%")], id="HT.w"),
    pytest.param("SensorPush HT.w 0CA1", 0x7504, "53 64 46", "HT.w",
                 [M("temperature", 20.48, "°C"), M("humidity", 44.73, "%")], id="HT.w-2"),
    pytest.param("", 0x5E00, "36 5b 3a bb b6", "HTP.xw",
                 [M("temperature", 22.3, "°C"), M("humidity", 52.81, "%"),
                  M("pressure", 997.59, "hPa")], id="HTP.xw"),
]


@pytest.mark.parametrize(("name", "company", "data", "model", "expected"), PUBLISHED)
def test_published(name: str, company: int, data: str, model: str, expected: list[M]) -> None:
    result = decode(sensorpush(name, company, data))
    assert list(result.measurements) == expected
    assert (result.decoder, result.manufacturer, result.model) == ("sensorpush", "SensorPush",
                                                                   model)


def test_negative_temperature() -> None:
    # Hand-built HT.w: temperature -10.0 -> index (-10 + 40) * 400 = 12000, humidity 50 % ->
    # index 20000; packed = 12000 + 20000 * 66001 = 0x4eae1700; stream 04 | 00 17 ae 4e, whose
    # first two bytes (04 00) are the "company id" 0x0004
    result = decode(sensorpush("SensorPush HT.w 0CA1", 0x0004, "17 ae 4e"))
    assert result.measurements == (M("temperature", -10.0, "°C"), M("humidity", 50.0, "%"))


def test_identity_and_name_without_uuid() -> None:
    advert = sensorpush("SensorPush HTP.xw 1234", 0x5E00, "36 5b 3a bb b6", uuids=())
    identity = identify(advert)
    assert identity is not None and identity.model == "HTP.xw"


@pytest.mark.parametrize(
    ("company", "data", "kind"),
    [
        pytest.param(0x9A05, "c9 a5 46", "unsupported", id="page-1"),
        pytest.param(0x9A0C, "c9 a5 46", "unsupported", id="unknown-type"),
        pytest.param(0xFF04, "ff ff ff", "decode", id="out-of-range"),
    ],
)
def test_bad_packets(company: int, data: str, kind: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_sensorpush(sensorpush("SensorPush HT.w 0CA1", company, data))
    assert info.value.kind == kind


def test_other_devices_are_not_sensorpush() -> None:
    with pytest.raises(DecodeError) as info:
        decode_sensorpush(sensorpush("Kettle", 0x9A04, "c9 a5 46", uuids=()))
    assert info.value.kind == "unsupported"
