"""Ruuvi RAWv2: the official test vectors, negative cases, encoding."""

from __future__ import annotations

import pytest

from drivers.ble.decoders import (
    RUUVI_COMPANY_ID,
    Advert,
    decode_ruuvi,
    decode_ruuvi_payload,
    encode_ruuvi,
)
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError

# The test vectors of docs.ruuvi.com "Data Format 5 (RAWv2)"; the first is also libraries.md's.
VALID = "05 12 fc 53 94 c3 7c 00 04 ff fc 04 0c ac 36 42 00 cd cb b8 33 4c 88 4f"
MAXIMUM = "05 7f ff ff fe ff fe 7f ff 7f ff 7f ff ff de fe ff fe cb b8 33 4c 88 4f"
MINIMUM = "05 80 01 00 00 00 00 80 01 80 01 80 01 00 00 00 00 00 cb b8 33 4c 88 4f"
INVALID = "05 80 00 ff ff ff ff 80 00 80 00 80 00 ff ff ff ff ff ff ff ff ff ff ff"


def ruuvi(
    temperature: float,
    humidity: float,
    pressure: float,
    acc: tuple[float, float, float],
    voltage: float,
    tx_power: float,
    movement: float,
) -> list[M]:
    return [
        M("temperature", temperature, "°C"),
        M("humidity", humidity, "%"),
        M("pressure", pressure, "hPa"),
        M("acceleration_x", acc[0], "g"),
        M("acceleration_y", acc[1], "g"),
        M("acceleration_z", acc[2], "g"),
        M("voltage", voltage, "V"),
        M("tx_power", tx_power, "dBm"),
        M("movement_counter", movement, None),
    ]


@pytest.mark.parametrize(
    ("payload", "expected", "sequence"),
    [
        # 0x12fc = 4860 * 0.005 = 24.3; 0x5394 = 21396 * 0.0025 = 53.49;
        # 0xc37c = 50044 + 50000 = 100044 Pa; power 0xac36: >> 5 = 1377 + 1600 = 2977 mV,
        # & 0x1f = 22 -> 22 * 2 - 40 = 4 dBm; movement 0x42 = 66; sequence 0x00cd = 205.
        pytest.param(
            VALID,
            ruuvi(24.3, 53.49, 1000.44, (0.004, -0.004, 1.036), 2.977, 4, 66),
            205,
            id="valid",
        ),
        pytest.param(
            MAXIMUM,
            ruuvi(163.835, 163.835, 1155.34, (32.767, 32.767, 32.767), 3.646, 20, 254),
            65534,
            id="maximum",
        ),
        pytest.param(
            MINIMUM,
            ruuvi(-163.835, 0, 500, (-32.767, -32.767, -32.767), 1.6, -40, 0),
            0,
            id="minimum",
        ),
    ],
)
def test_official_vectors(payload: str, expected: list[M], sequence: int) -> None:
    decoded = decode_ruuvi_payload(bytes.fromhex(payload))
    assert list(decoded.measurements) == expected
    assert decoded.packet_id == sequence
    assert decoded.mac == "CB:B8:33:4C:88:4F"
    assert (decoded.decoder, decoded.model) == ("ruuvi", "RuuviTag RAWv2")


def test_not_available_values_are_left_out() -> None:
    decoded = decode_ruuvi_payload(bytes.fromhex(INVALID))
    assert decoded.measurements == ()
    assert decoded.packet_id is None
    assert decoded.mac is None


def test_some_fields_not_available() -> None:
    # The valid vector with humidity ff ff and tx power bits 11111 (0xac36 | 0x1f = 0xac3f).
    payload = bytearray.fromhex(VALID)
    payload[3:5] = b"\xff\xff"
    payload[14] |= 0x1F
    names = [m.name for m in decode_ruuvi_payload(bytes(payload)).measurements]
    assert "humidity" not in names
    assert "tx_power" not in names
    assert "voltage" in names


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("03 29 1a 1e ce 1e fc 18 f9 42 02 ca 0b 53", "format 3", id="rawv1"),
        pytest.param(VALID[:-3], "expected 24 bytes, got 23", id="short"),
        pytest.param(VALID + " 00", "expected 24 bytes, got 25", id="long"),
    ],
)
def test_bad_payloads(payload: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_ruuvi_payload(bytes.fromhex(payload))


def test_from_advert() -> None:
    advert = Advert("CB:B8:33:4C:88:4F", manufacturer_data={RUUVI_COMPANY_ID: bytes.fromhex(VALID)})
    assert decode_ruuvi(advert).measurements[0] == M("temperature", 24.3, "°C")
    with pytest.raises(DecodeError) as info:
        decode_ruuvi(Advert("CB:B8:33:4C:88:4F", manufacturer_data={0x004C: b"\x02\x15"}))
    assert info.value.kind == "unsupported"


@pytest.mark.parametrize("payload", [VALID, MAXIMUM, MINIMUM, INVALID])
def test_encode_reproduces_official_vectors(payload: str) -> None:
    decoded = decode_ruuvi_payload(bytes.fromhex(payload))
    again = encode_ruuvi(decoded.measurements, sequence=decoded.packet_id, mac=decoded.mac)
    assert again.hex(" ") == payload


@pytest.mark.parametrize(
    "measurement",
    [
        M("temperature", 200, "°C"),
        M("humidity", -1, "%"),
        M("pressure", 1200, "hPa"),
        M("voltage", 1.5, "V"),
        M("tx_power", 24, "dBm"),
        M("movement_counter", 255, None),
        M("temperature", 20, "K"),
        M("co2", 400, "ppm"),
        M("temperature", float("nan"), "°C"),
    ],
)
def test_encode_rejects(measurement: M) -> None:
    with pytest.raises(ValueError):
        encode_ruuvi([measurement])


def test_encode_rejects_bad_sequence_and_mac() -> None:
    with pytest.raises(ValueError, match="sequence"):
        encode_ruuvi([], sequence=65535)
    with pytest.raises(ValueError, match="MAC"):
        encode_ruuvi([], mac="CB:B8:33")
