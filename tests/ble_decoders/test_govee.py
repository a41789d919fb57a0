"""Govee manufacturer data: published vectors, negative values, bad packets.

Vectors: the Bluetooth-Devices govee-ble project's tests/test_parser.py (Apache-2.0; the
constant named in each comment, with its name, company id, bytes and expected values).
Hand-built packets follow the layouts in drivers/ble/decoders/_govee.py, the computation in
the comment.
"""

from __future__ import annotations

import pytest

from drivers.ble.decoders import (
    GOVEE_COMPANY_ID,
    Advert,
    decode,
    decode_govee,
    encode_govee_h5075,
    identify,
    uuid16,
)
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError

ADDRESS = "A4:C1:38:DD:DB:F8"
IBEACON = {0x004C: bytes.fromhex("0215494e54454c4c495f524f434b535f48575075f2ffc2")}
GLUED = "4c000215494e54454c4c495f524f434b535f48575075f2ff0c"  # an iBeacon stuck to the data
T, H, B = "temperature", "humidity", "battery"


def advert(name: str, data: dict[int, str], uuids: tuple[int, ...] = (0xEC88,),
           extra: dict[int, bytes] | None = None) -> Advert:
    mfr = {company: bytes.fromhex(payload) for company, payload in data.items()}
    return Advert(ADDRESS, name, -60, {}, {**mfr, **(extra or {})},
                  tuple(uuid16(u) for u in uuids))


PUBLISHED = [
    pytest.param(  # GVH5051_SERVICE_INFO (no name): 0x0aba = 27.46 °C, 0x0ff9 = 40.89 %, 99 %
        "", {0xEC88: "00ba0af90f63020101"}, "H5051/H5052/H5071",
        [M(T, 27.46, "°C"), M(H, 40.89, "%"), M(B, 99, "%")], id="H5051",
    ),
    pytest.param(  # GVH5052_SERVICE_INFO
        "Govee_H5052_E81B", {0xEC88: "001c01a7143b000002"}, "H5052",
        [M(T, 2.84, "°C"), M(H, 52.87, "%"), M(B, 59, "%")], id="H5052",
    ),
    pytest.param(  # GVH5071_SERVICE_INFO
        "Govee_H5071_FD12", {0xEC88: "00210ab61218c80001"}, "H5071",
        [M(T, 25.93, "°C"), M(H, 47.9, "%"), M(B, 24, "%")], id="H5071",
    ),
    pytest.param(  # GVH5074_SERVICE_INFO (with an iBeacon frame beside it)
        "Govee_H5074_5FF4", {0xEC88: "00e609bc126402"}, "H5074",
        [M(T, 25.34, "°C"), M(H, 47.96, "%"), M(B, 100, "%")], id="H5074",
    ),
    pytest.param(  # GVH5075_SERVICE_INFO_2: packed 0x034db2 = 216498 -> 21.6 °C, 49.8 %
        "GVH5075_DBF8", {0xEC88: "00034db26400"}, "H5075",
        [M(T, 21.6, "°C"), M(H, 49.8, "%"), M(B, 100, "%")], id="H5075",
    ),
    pytest.param(  # GVH5075_SERVICE_INFO: an iBeacon glued to the data
        "GVH5075_2762", {0xEC88: "000341c26400" + GLUED}, "H5075",
        [M(T, 21.3, "°C"), M(H, 44.2, "%"), M(B, 100, "%")], id="H5075-glued-ibeacon",
    ),
    pytest.param(  # GVH5072_SERVICE_INFO
        "GVH5072_ABCD", {0xEC88: "00034db26400"}, "H5072",
        [M(T, 21.6, "°C"), M(H, 49.8, "%"), M(B, 100, "%")], id="H5072",
    ),
    pytest.param(  # GVH5100_SERVICE_INFO
        "GVH5100_7738", {0x0001: "010103465464"}, "H5100",
        [M(T, 21.4, "°C"), M(H, 61.2, "%"), M(B, 100, "%")], id="H5100",
    ),
    pytest.param(  # GVH5103_SERVICE_INFO
        "GVH5103_5A4E", {0x0001: "010103513e64" + GLUED}, "H5103",
        [M(T, 21.7, "°C"), M(H, 40.6, "%"), M(B, 100, "%")], id="H5103",
    ),
    pytest.param(  # GVH5104_ISSUE_110528_SERVICE_INFO_1
        "GVH5104_311C", {0x0001: "010103fc2662"}, "H5104",
        [M(T, 26.1, "°C"), M(H, 15.8, "%"), M(B, 98, "%")], id="H5104",
    ),
    pytest.param(  # GVH5105_SERVICE_INFO_2
        "GVH5105_7336", {0x0001: "010103325e64"}, "H5105",
        [M(T, 20.9, "°C"), M(H, 50.2, "%"), M(B, 100, "%")], id="H5105",
    ),
    pytest.param(  # GVH5108_SERVICE_INFO: 8 bytes
        "GV51085242", {0x0001: "010103c730640000"}, "H5108",
        [M(T, 24.7, "°C"), M(H, 60.0, "%"), M(B, 100, "%")], id="H5108",
    ),
    pytest.param(  # GVH5110_SERVICE_INFO_1
        "GVH5110_2EC8", {0x0001: "0101038efe64"}, "H5110",
        [M(T, 23.3, "°C"), M(H, 21.4, "%"), M(B, 100, "%")], id="H5110",
    ),
    pytest.param(  # GVH5177_SERVICE_INFO
        "GVH5177_2EC8", {0x0001: "010103362664" + GLUED}, "H5177",
        [M(T, 21.0, "°C"), M(H, 47.0, "%"), M(B, 100, "%")], id="H5177",
    ),
    pytest.param(  # GVH5179_SERVICE_INFO: company 0x8801, 0x0a0a = 25.7 °C, 0x06a4 = 17.0 %
        "Govee_H5179_3CD5", {0x8801: "ec0001010a0aa40664"}, "H5179",
        [M(T, 25.7, "°C"), M(H, 17.0, "%"), M(B, 100, "%")], id="H5179",
    ),
    pytest.param(  # GVH5179_SERVICE_INFO_2: newer firmware, company 0x0001
        "GV5179_6319", {0x0001: "010103b31464"}, "H5179",
        [M(T, 24.2, "°C"), M(H, 45.2, "%"), M(B, 100, "%")], id="GV5179",
    ),
    pytest.param(  # GVH5106_SERVICE_INFO: 0x0ed13298 = 248591000... -> 24.8 °C 59.1 % 0 µg/m³
        "GVH5106_4E05", {0x0001: "01010ed13298"}, "H5106",
        [M(T, 24.8, "°C"), M(H, 59.1, "%"), M("pm25", 0, "µg/m³")], id="H5106",
    ),
    pytest.param(  # GVH5106_FREEZING_SERVICE_INFO: bit 31 set -> -2.5 °C
        "GVH5106_4E05", {0x0001: "010181867cd8"}, "H5106",
        [M(T, -2.5, "°C"), M(H, 59.1, "%"), M("pm25", 0, "µg/m³")], id="H5106-freezing",
    ),
    pytest.param(  # GVH5140_SERVICE_INFO: CO2 0x023e = 574 ppm
        "GV5140303A", {0x0001: "0101033dee023e00"}, "H5140",
        [M(T, 21.2, "°C"), M(H, 46.2, "%"), M("co2", 574, "ppm")], id="H5140",
    ),
    pytest.param(  # GVH5181_SERVICE_INFO: probe 0x0898 = 22.00 °C (alarm setpoints not read)
        "GVH5181_2EC8", {0x388A: "d801000101e4018608981d100000" + GLUED}, "H5181",
        [M("temperature_1", 22.0, "°C")], id="H5181",
    ),
    pytest.param(  # GVH5183_SERVICE_INFO
        "GVH5183_2EC8", {0x67DD: "ef01000101e401800834ffff0000" + GLUED}, "H5183",
        [M("temperature_1", 21.0, "°C")], id="H5183",
    ),
    pytest.param(  # GVH5184_SERVICE_INFO_1: probes 1 and 2
        "GVH5184_XXXX", {0x1B36: "2001000101e401860c1cffff860af0ffff"}, "H5184",
        [M("temperature_1", 31.0, "°C"), M("temperature_2", 28.0, "°C")], id="H5184-1-2",
    ),
    pytest.param(  # GVH5184_SERVICE_INFO_2: probes 3 and 4
        "GVH5184_XXXX", {0x1B36: "2001000101e402860bb8ffff860b54ffff"}, "H5184",
        [M("temperature_3", 30.0, "°C"), M("temperature_4", 29.0, "°C")], id="H5184-3-4",
    ),
    pytest.param(  # GVH5185_SERVICE_INFO
        "GVH5185_2EC8", {0x4A32: "8701000101e4c1660834ffffffff0834ffffffff" + GLUED}, "H5185",
        [M("temperature_1", 21.0, "°C"), M("temperature_2", 21.0, "°C")], id="H5185",
    ),
]


@pytest.mark.parametrize(("name", "data", "model", "expected"), PUBLISHED)
def test_published(name: str, data: dict[int, str], model: str, expected: list[M]) -> None:
    result = decode(advert(name, data, extra=IBEACON))
    assert list(result.measurements) == expected
    assert (result.decoder, result.manufacturer, result.model) == ("govee", "Govee", model)
    assert result.warnings == ()


def test_meat_thermometers_found_by_service_uuid() -> None:
    # GVH5198_SERVICE_INFO: no name, service UUID 0x9851; byte 6 0x01 -> probes 1 and 2
    result = decode(advert("", {0x3022: "6c01000101a3c10f0bb8ffffffff0960ffffffff"}, (0x9851,)))
    assert result.model == "H5198"
    assert result.measurements == (M("temperature_1", 30.0, "°C"),
                                   M("temperature_2", 24.0, "°C"))


def test_unplugged_probe_is_left_out() -> None:
    # GVH5181_VARIANT_SERVICE_INFO: probe 0xffff
    result = decode(advert("GVH5181_2EC8", {0xEA42: "ba01000101640006ffff1ce80000"}, (0x8151,)))
    assert result.measurements == ()


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        pytest.param(  # packed 0x80cce3: sign bit, 52451 -> -5.2 °C, 45.1 %
            "GVH5075_DBF8", {0xEC88: "0080cce35700"}, [M(T, -5.2, "°C"), M(H, 45.1, "%"),
                                                      M(B, 87, "%")], id="H5075",
        ),
        pytest.param(  # H5179: 0xfd21 = -735 -> -7.35 °C, 0x0fa0 = 40.00 %
            "Govee_H5179_3CD5", {0x8801: "ec00010121fda00f64"},
            [M(T, -7.35, "°C"), M(H, 40.0, "%"), M(B, 100, "%")], id="H5179",
        ),
        pytest.param(  # H5074: 0xfc18 = -1000 -> -10.00 °C, 0x1388 = 50.00 %
            "Govee_H5074_5FF4", {0xEC88: "0018fc88136402"},
            [M(T, -10.0, "°C"), M(H, 50.0, "%"), M(B, 100, "%")], id="H5074-7-bytes",
        ),
        pytest.param(  # H5181 probe 0xfc18 = -1000 -> -10.00 °C
            "GVH5181_2EC8", {0x388A: "d801000101e40186fc181d100000"},
            [M("temperature_1", -10.0, "°C")], id="H5181-probe",
        ),
    ],
)
def test_negative_temperatures(name: str, data: dict[int, str], expected: list[M]) -> None:
    assert list(decode(advert(name, data)).measurements) == expected


def test_error_flag_and_implausible_values_keep_the_battery() -> None:
    # GVH5108_SERVICE_INFO_ERROR: battery byte 0xe4 (bit 7: sensor error) -> 100 % only
    result = decode(advert("GV51085242", {0x0001: "010103c730e40000"}))
    assert result.measurements == (M(B, 100, "%"),)
    assert "error" in result.warnings[0]
    # GVH5075_SERVICE_INFO_OVERSIZED_VALUES: 0x4a0028 -> 484.9 °C, not a reading
    result = decode(advert("GVH5075_2762", {0xEC88: "004a00283b00"}))
    assert result.measurements == (M(B, 59, "%"),)
    assert "implausible" in result.warnings[0]


def test_company_0x0001_needs_a_govee_name() -> None:
    # GVH5106_INVALID_SERVICE_INFO: "RZSS" sends company 0x0001 data too
    other = advert("RZSS", {0x0409: "8c645f64", 0x0001: "01010b005864"})
    assert identify(other) is None
    with pytest.raises(DecodeError) as info:
        decode_govee(other)
    assert info.value.kind == "unsupported"


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        pytest.param("GVH5075_DBF8", {0xEC88: ""}, "unsupported", id="empty"),
        pytest.param("GVH5075_DBF8", {0xEC88: "0003"}, "unsupported", id="short"),
        pytest.param("Govee_H5179_3CD5", {0x8801: "ec000101"}, "decode", id="h5179-short"),
        pytest.param("GVH5181_2EC8", {0x388A: "d80100"}, "decode", id="probe-short"),
        pytest.param("GVH5184_XXXX", {0x1B36: "2001000101e403860c1cffff860af0ffff"}, "decode",
                     id="unknown-probe-group"),
        pytest.param("GVH5101_0001", {0x0001: "0101"}, "unsupported", id="generic-short"),
    ],
)
def test_bad_packets(name: str, data: dict[int, str], kind: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_govee(advert(name, data))
    assert info.value.kind == kind


def test_encode_h5075_round_trip() -> None:
    values = [M(T, -3.4, "°C"), M(H, 56.7, "%"), M(B, 81, "%")]
    payload = encode_govee_h5075(values)
    assert list(decode(Advert(ADDRESS, manufacturer_data={GOVEE_COMPANY_ID: payload}))
                .measurements) == values
    with pytest.raises(ValueError, match="exactly"):
        encode_govee_h5075(values[:2])
