"""Choosing a decoder, build_advert round trips, Advert.from_bleak."""

from __future__ import annotations

import pytest
from bleak.backends.scanner import AdvertisementData

from drivers.ble.decoders import (
    ATC_UUID,
    BTHOME_UUID,
    DECODERS,
    RUUVI_COMPANY_ID,
    Advert,
    AdvertFormat,
    Decoded,
    Decoder,
    build_advert,
    decode,
    match_decoder,
    uuid16,
)
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError

ADDRESS = "A4:C1:38:8D:18:B2"
KEY = "231d39c1d7cc1ab1aee224cd096db932"
BTHOME = bytes.fromhex("40 01 61 02 ca 09 03 bf 13")
RUUVI = bytes.fromhex("05 12 fc 53 94 c3 7c 00 04 ff fc 04 0c ac 36 42 00 cd cb b8 33 4c 88 4f")
TH = [M("temperature", 21.5, "°C"), M("humidity", 48.0, "%")]
ATC = [*TH, M("battery", 88, "%"), M("voltage", 2.95, "V")]


def test_uuid16() -> None:
    assert uuid16(0xFCD2) == "0000fcd2-0000-1000-8000-00805f9b34fb" == BTHOME_UUID


@pytest.mark.parametrize(
    ("advert", "expected"),
    [
        (Advert(ADDRESS, service_data={BTHOME_UUID: BTHOME}), "bthome"),
        (Advert(ADDRESS, manufacturer_data={RUUVI_COMPANY_ID: RUUVI}), "ruuvi"),
        (Advert(ADDRESS, service_data={ATC_UUID: b"\x00"}), "atc"),
        (Advert(ADDRESS, manufacturer_data={0x004C: b"\x02\x15"}), None),
        (Advert(ADDRESS), None),
        # pvvx firmware can send BTHome and 0x181A in turn; BTHome wins in one advert.
        (Advert(ADDRESS, service_data={ATC_UUID: b"", BTHOME_UUID: b""}), "bthome"),
    ],
)
def test_match_decoder(advert: Advert, expected: str | None) -> None:
    assert match_decoder(advert) == expected


def test_match_decoder_does_not_look_at_the_bytes() -> None:
    advert = Advert(ADDRESS, service_data={BTHOME_UUID: b"\xff garbage"})
    assert match_decoder(advert) == "bthome"
    with pytest.raises(DecodeError):
        decode(advert)


def test_decode_auto_and_named() -> None:
    advert = Advert(ADDRESS, service_data={BTHOME_UUID: BTHOME})
    assert decode(advert).measurements == decode(advert, "bthome").measurements
    assert decode(advert).measurements[0] == M("battery", 97, "%")


def test_decode_errors() -> None:
    with pytest.raises(DecodeError) as info:
        decode(Advert(ADDRESS))
    assert info.value.kind == "unsupported"
    with pytest.raises(DecodeError) as info:
        decode(Advert(ADDRESS, service_data={BTHOME_UUID: BTHOME}), "ruuvi")
    assert info.value.kind == "unsupported"
    with pytest.raises(ValueError, match="unknown decoder 'xiaomi'"):
        decode(Advert(ADDRESS), "xiaomi")


def test_registry_can_be_extended(monkeypatch: pytest.MonkeyPatch) -> None:
    def decode_apple(advert: Advert, bindkey: bytes | str | None) -> Decoded:
        del bindkey
        return Decoded("apple", (M("rssi", float(advert.rssi or 0), "dBm"),))

    extended = {**DECODERS, "apple": Decoder(lambda a: 0x004C in a.manufacturer_data, decode_apple)}
    monkeypatch.setattr("drivers.ble.decoders._registry.DECODERS", extended)
    advert = Advert(ADDRESS, rssi=-70, manufacturer_data={0x004C: b""})
    assert match_decoder(advert) == "apple"
    assert decode(advert).measurements == (M("rssi", -70.0, "dBm"),)


def test_from_bleak() -> None:
    data = AdvertisementData(
        local_name="ATC_8D18B2",
        manufacturer_data={RUUVI_COMPANY_ID: RUUVI},
        service_data={BTHOME_UUID: BTHOME},
        service_uuids=[],
        tx_power=None,
        rssi=-61,
        platform_data=(),
    )
    advert = Advert.from_bleak(ADDRESS, data)
    assert advert == Advert(
        ADDRESS, "ATC_8D18B2", -61, {BTHOME_UUID: BTHOME}, {RUUVI_COMPANY_ID: RUUVI}
    )


@pytest.mark.parametrize(
    ("fmt", "measurements", "bindkey"),
    [
        ("bthome", TH, None),
        ("bthome", TH, KEY),
        ("ruuvi", TH, None),
        ("atc1441", [M("temperature", 21.5, "°C"), M("humidity", 48, "%"), *ATC[2:]], None),
        ("pvvx", ATC, None),
    ],
)
def test_build_advert_round_trip(
    fmt: AdvertFormat, measurements: list[M], bindkey: str | None
) -> None:
    advert = build_advert(fmt, ADDRESS, measurements, packet_id=300, bindkey=bindkey, name="sim")
    decoded = decode(advert, bindkey=bindkey)
    assert list(decoded.measurements) == measurements
    assert (advert.name, advert.rssi) == ("sim", -60)
    # packet ids wrap to the format's width; encrypted BTHome uses the 32-bit counter.
    expected_id = {"bthome": 300 if bindkey else 300 & 0xFF, "ruuvi": 300}.get(fmt, 300 & 0xFF)
    assert decoded.packet_id == expected_id


def test_build_advert_rejects_bindkey_for_plain_formats() -> None:
    with pytest.raises(ValueError, match="bindkey is for bthome"):
        build_advert("ruuvi", ADDRESS, TH, bindkey=KEY)
