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
    Identity,
    build_advert,
    decode,
    identify,
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
    with pytest.raises(ValueError, match="unknown decoder 'apple'"):
        decode(Advert(ADDRESS), "apple")


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
    with pytest.raises(ValueError, match="bindkey is for bthome and xiaomi"):
        build_advert("ruuvi", ADDRESS, TH, bindkey=KEY)


# --- the formats of issue 13: "auto" picks them by UUID, company id and name ---------------

FE95 = "0000fe95-0000-1000-8000-00805f9b34fb"
FDCD = "0000fdcd-0000-1000-8000-00805f9b34fb"
FD3D = "0000fd3d-0000-1000-8000-00805f9b34fb"
FFF0 = "0000fff0-0000-1000-8000-00805f9b34fb"


@pytest.mark.parametrize(
    ("advert", "expected"),
    [
        (Advert(ADDRESS, service_data={FE95: b""}), "xiaomi"),
        (Advert(ADDRESS, service_data={FDCD: b""}), "qingping"),
        (Advert(ADDRESS, service_data={FD3D: b"T"}), "switchbot"),
        (Advert(ADDRESS, manufacturer_data={0xEC88: b""}), "govee"),
        (Advert(ADDRESS, manufacturer_data={0x8801: b""}), "govee"),
        # company 0x0001 is Govee's only with a Govee name
        (Advert(ADDRESS, "GVH5101_1234", manufacturer_data={0x0001: b""}), "govee"),
        (Advert(ADDRESS, "Nokia", manufacturer_data={0x0001: b""}), None),
        # Inkbird data sits in the company id: the name decides, before ThermoBeacon's ids
        (Advert(ADDRESS, "sps", manufacturer_data={0x0010: b"x" * 7}, service_uuids=(FFF0,)),
         "inkbird"),
        (Advert(ADDRESS, "ThermoBeacon", manufacturer_data={0x0010: b"x" * 18},
                service_uuids=(FFF0,)), "thermobeacon"),
        (Advert(ADDRESS, "ThermoBeacon", manufacturer_data={0x0010: b"x" * 18}), None),
        (Advert(ADDRESS, "SensorPush HT.w 0CA1", manufacturer_data={0x9A04: b"x"}),
         "sensorpush"),
        (Advert(ADDRESS, manufacturer_data={0x0133: b""}), "bluemaestro"),
        (Advert(ADDRESS, manufacturer_data={0x0702: b""}), "aranet"),
        (Advert(ADDRESS, "GVH5181_2EC8", manufacturer_data={0x388A: b""}), "govee"),
        (Advert(ADDRESS, manufacturer_data={0x388A: b""},
                service_uuids=("00008151-0000-1000-8000-00805f9b34fb",)), "govee"),
    ],
)
def test_match_decoder_new_formats(advert: Advert, expected: str | None) -> None:
    assert match_decoder(advert) == expected


def test_identify_reads_the_model_without_a_key() -> None:
    # xiaomi-ble test_encryption_needs_v5: an encrypted CGG1 frame
    frame = bytes.fromhex("58 58 48 0b 68 5f 12 34 2d 58 5a 0b 18 41 e2 aa 00 0e 00 a4 96 4f b5")
    advert = Advert("5A:58:2D:34:12:5F", service_data={FE95: frame})
    assert identify(advert) == Identity("Qingping", "CGG1-ENCRYPTED")
    with pytest.raises(DecodeError) as info:
        decode(advert)
    assert info.value.kind == "decrypt"
    assert identify(Advert(ADDRESS, service_data={BTHOME_UUID: BTHOME})) is None
    assert identify(Advert(ADDRESS)) is None


@pytest.mark.parametrize(
    ("fmt", "bindkey", "decoder", "model"),
    [
        ("xiaomi", None, "xiaomi", "LYWSD03MMC"),
        ("xiaomi", KEY, "xiaomi", "LYWSD03MMC"),
        ("xiaomi", "b853075158487ca39a5b5ea9", "xiaomi", "LYWSD03MMC"),  # legacy: a v3 frame
        ("qingping", None, "qingping", "CGG1"),
        ("govee", None, "govee", "H5072/H5075"),
    ],
)
def test_build_advert_new_formats(
    fmt: AdvertFormat, bindkey: str | None, decoder: str, model: str
) -> None:
    values = [M("temperature", -3.5, "°C"), M("humidity", 48.2, "%"), M("battery", 88, "%")]
    advert = build_advert(fmt, ADDRESS, values, packet_id=7, bindkey=bindkey)
    decoded = decode(advert, bindkey=bindkey)
    assert (decoded.decoder, decoded.model, list(decoded.measurements)) == (decoder, model,
                                                                           values)
