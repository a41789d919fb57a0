"""Property tests: arbitrary bytes raise nothing but DecodeError; encoders round-trip."""

from __future__ import annotations

import math
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble.decoders import (
    ARANET_COMPANY_ID,
    ATC_UUID,
    BLUEMAESTRO_COMPANY_ID,
    BTHOME_UUID,
    DECODERS,
    GOVEE_COMPANY_ID,
    QINGPING_UUID,
    RUUVI_COMPANY_ID,
    SENSORPUSH_UUID,
    SENSORS,
    SWITCHBOT_COMPANY_ID,
    SWITCHBOT_UUIDS,
    THERMOBEACON_UUID,
    XIAOMI_UUID,
    Advert,
    decode,
    decode_atc_payload,
    decode_bthome_payload,
    decode_qingping,
    decode_ruuvi_payload,
    decode_xiaomi_payload,
    encode_bthome,
    encode_govee_h5075,
    encode_mibeacon,
    encode_pvvx,
    encode_qingping,
    encode_ruuvi,
    encrypt_bthome,
    identify,
    match_decoder,
    uuid16,
)
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError

ADDRESS = "A4:C1:38:8D:18:B2"
PROBE = re.compile(r"_[0-9]+$")  # Govee's temperature_1...temperature_4
KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
FUZZ = settings(max_examples=300, deadline=None)

keys = st.none() | st.binary(min_size=16, max_size=16) | st.text(max_size=40)
addresses = st.sampled_from([ADDRESS, "00:00:00:00:00:00", "not-a-mac", ""])
ruuvi_like = st.binary(max_size=30) | st.binary(min_size=23, max_size=23).map(lambda b: b"\x05" + b)
bthome_like = st.binary(max_size=40) | st.binary(max_size=30).map(lambda b: b"\x40" + b)
pvvx_like = st.binary(min_size=13, max_size=13) | st.binary(min_size=15, max_size=15)


def decode_quietly(
    advert: Advert, decoder: str = "auto", bindkey: bytes | str | None = None
) -> None:
    kind = None
    try:
        decoded = decode(advert, decoder, bindkey)
    except DecodeError as exc:
        kind = exc.kind
    else:
        assert all(isinstance(m.value, float) and math.isfinite(m.value)
                   for m in decoded.measurements)
        declared = SENSORS.get(decoded.decoder)
        if declared is not None:  # every measurement is one the decoder declares
            assert {(PROBE.sub("", m.name), m.unit) for m in decoded.measurements} <= declared
    assert kind in {None, "decode", "decrypt", "unsupported"}


@FUZZ
@given(payload=bthome_like, bindkey=keys, address=addresses)
def test_bthome_bytes_raise_only_decode_error(
    payload: bytes, bindkey: bytes | str | None, address: str
) -> None:
    decode_quietly(Advert(address, service_data={BTHOME_UUID: payload}), "bthome", bindkey)


@FUZZ
@given(body=st.binary(max_size=30), counter=st.binary(min_size=4, max_size=4))
def test_encrypted_bthome_garbage_fails_the_tag(body: bytes, counter: bytes) -> None:
    payload = b"\x41" + body + counter + b"\x00\x00\x00\x00"
    decode_quietly(Advert(ADDRESS, service_data={BTHOME_UUID: payload}), "bthome", KEY)


@FUZZ
@given(payload=ruuvi_like)
def test_ruuvi_bytes_raise_only_decode_error(payload: bytes) -> None:
    decode_quietly(Advert(ADDRESS, manufacturer_data={RUUVI_COMPANY_ID: payload}))


@FUZZ
@given(payload=st.binary(max_size=20) | pvvx_like)
def test_atc_bytes_raise_only_decode_error(payload: bytes) -> None:
    decode_quietly(Advert(ADDRESS, service_data={ATC_UUID: payload}))


# --- the other formats ----------------------------------------------------------------------

legacy_keys = st.none() | st.binary(min_size=12, max_size=12) | st.binary(min_size=16,
                                                                          max_size=16)
# MiBeacon frames: arbitrary, or a valid version nibble with any flags (encrypted ones too)
mibeacon_like = st.binary(max_size=40) | st.tuples(
    st.integers(0, 0xFF), st.sampled_from([0x20, 0x30, 0x40, 0x50]), st.integers(0, 0x0F),
    st.binary(max_size=36),
).map(lambda t: bytes([t[0], t[1] | t[2]]) + t[3])


@FUZZ
@given(payload=mibeacon_like, bindkey=legacy_keys, address=addresses)
def test_xiaomi_bytes_raise_only_decode_error(
    payload: bytes, bindkey: bytes | None, address: str
) -> None:
    decode_quietly(Advert(address, service_data={XIAOMI_UUID: payload}), "xiaomi", bindkey)


@FUZZ
@given(payload=st.binary(max_size=30), event=st.booleans())
def test_qingping_bytes_raise_only_decode_error(payload: bytes, event: bool) -> None:
    data = bytes([0x48 if event else 0x08]) + payload
    decode_quietly(Advert(ADDRESS, service_data={QINGPING_UUID: data}), "qingping")


@FUZZ
@given(service=st.binary(max_size=10), mfr=st.none() | st.binary(max_size=20),
       uuid=st.sampled_from(SWITCHBOT_UUIDS))
def test_switchbot_bytes_raise_only_decode_error(
    service: bytes, mfr: bytes | None, uuid: str
) -> None:
    manufacturer = {} if mfr is None else {SWITCHBOT_COMPANY_ID: mfr}
    decode_quietly(Advert(ADDRESS, None, -60, {uuid: service}, manufacturer), "switchbot")


NAMES = ["GVH5075_DBF8", "Govee_H5074_5FF4", "GV5140303A", "GVH5106_4E05", "GVH5181_2EC8",
         "GVH5184_XXXX", "GV5179_6319", "sps", "tps", "ITH-11-B", "ThermoBeacon",
         "SensorPush HT.w 0CA1", "SensorPush HTP.xw 1", "Aranet4 1", "Aranet2 1",
         "Aranet\u2622 1", "AranetRn+ 1", "", None]
UUIDS = [THERMOBEACON_UUID, SENSORPUSH_UUID, uuid16(0xEC88), uuid16(0x8151), uuid16(0x9851)]
COMPANIES = [GOVEE_COMPANY_ID, 0x0001, 0x8801, 0x004C, 0x0010, 0x0015, 0x0030, 0x2449,
             BLUEMAESTRO_COMPANY_ID, ARANET_COMPANY_ID, SWITCHBOT_COMPANY_ID, RUUVI_COMPANY_ID]
SERVICES = [BTHOME_UUID, ATC_UUID, XIAOMI_UUID, QINGPING_UUID, *SWITCHBOT_UUIDS]
companies = st.sampled_from(COMPANIES) | st.integers(0, 0xFFFF)


@FUZZ
@given(
    name=st.sampled_from(NAMES),
    manufacturer=st.dictionaries(companies, st.binary(max_size=26), max_size=3),
    uuids=st.lists(st.sampled_from(UUIDS), max_size=2),
    decoder=st.sampled_from(["auto", "govee", "inkbird", "thermobeacon", "sensorpush",
                             "bluemaestro", "aranet"]),
)
def test_manufacturer_data_formats_raise_only_decode_error(
    name: str | None, manufacturer: dict[int, bytes], uuids: list[str], decoder: str
) -> None:
    decode_quietly(Advert(ADDRESS, name, -60, {}, manufacturer, tuple(uuids)), decoder)


@FUZZ
@given(
    service=st.dictionaries(st.sampled_from(SERVICES), st.binary(max_size=30)),
    manufacturer=st.dictionaries(companies, st.binary(max_size=30), max_size=3),
    name=st.sampled_from(NAMES),
    uuids=st.lists(st.sampled_from(UUIDS), max_size=2),
    decoder=st.sampled_from(["auto", *DECODERS]),
    bindkey=keys | legacy_keys,
)
def test_any_advert_raises_only_decode_error(
    service: dict[str, bytes],
    manufacturer: dict[int, bytes],
    name: str | None,
    uuids: list[str],
    decoder: str,
    bindkey: bytes | str | None,
) -> None:
    advert = Advert(ADDRESS, name, -70, service, manufacturer, tuple(uuids))
    assert match_decoder(advert) in {None, *DECODERS}
    found = identify(advert)  # never raises
    assert found is None or (found.manufacturer and found.model)
    decode_quietly(advert, decoder, bindkey)


# --- round trips on each format's grid ------------------------------------------------------

hundredths = st.integers(-32767, 32767).map(lambda r: r / 100)


@FUZZ
@given(
    temperature=hundredths,
    humidity=st.integers(0, 10000).map(lambda r: r / 100),
    battery=st.integers(0, 100).map(float),
    pressure=st.integers(0, 0xFFFFFF).map(lambda r: r / 100),
    packet_id=st.integers(0, 255),
    counter=st.none() | st.integers(0, 0xFFFF_FFFF),
)
def test_bthome_round_trip(
    temperature: float,
    humidity: float,
    battery: float,
    pressure: float,
    packet_id: int,
    counter: int | None,
) -> None:
    measurements = (
        M("battery", battery, "%"),
        M("temperature", temperature, "°C"),
        M("humidity", humidity, "%"),
        M("pressure", pressure, "hPa"),
    )
    payload = encode_bthome(measurements, packet_id=packet_id)
    if counter is not None:
        payload = encrypt_bthome(payload, address=ADDRESS, bindkey=KEY, counter=counter)
    decoded = decode_bthome_payload(
        payload, address=ADDRESS, bindkey=None if counter is None else KEY
    )
    assert decoded.measurements == measurements
    assert decoded.packet_id == packet_id
    assert decoded.encrypted == (counter is not None)


@FUZZ
@given(
    temperature=st.integers(-32767, 32767).map(lambda r: r / 200),
    humidity=st.integers(0, 65534).map(lambda r: r / 400),
    pressure=st.integers(0, 65534).map(lambda r: (r + 50000) / 100),
    acceleration=st.integers(-32767, 32767).map(lambda r: r / 1000),
    voltage=st.integers(1600, 3646).map(lambda mv: mv / 1000),
    tx_power=st.integers(0, 30).map(lambda r: float(r * 2 - 40)),
    movement=st.integers(0, 254).map(float),
    sequence=st.integers(0, 65534),
)
def test_ruuvi_round_trip(
    temperature: float,
    humidity: float,
    pressure: float,
    acceleration: float,
    voltage: float,
    tx_power: float,
    movement: float,
    sequence: int,
) -> None:
    measurements = (
        M("temperature", temperature, "°C"),
        M("humidity", humidity, "%"),
        M("pressure", pressure, "hPa"),
        M("acceleration_x", acceleration, "g"),
        M("acceleration_y", -acceleration, "g"),
        M("acceleration_z", acceleration, "g"),
        M("voltage", voltage, "V"),
        M("tx_power", tx_power, "dBm"),
        M("movement_counter", movement, None),
    )
    decoded = decode_ruuvi_payload(encode_ruuvi(measurements, sequence=sequence, mac=ADDRESS))
    assert decoded.measurements == measurements
    assert decoded.packet_id == sequence
    assert decoded.mac == ADDRESS


@FUZZ
@given(
    temperature=hundredths,
    humidity=st.integers(0, 10000).map(lambda r: r / 100),
    battery=st.integers(0, 100).map(float),
    voltage=st.integers(0, 65535).map(lambda mv: mv / 1000),
    counter=st.integers(0, 255),
)
def test_pvvx_round_trip(
    temperature: float, humidity: float, battery: float, voltage: float, counter: int
) -> None:
    measurements = (
        M("temperature", temperature, "°C"),
        M("humidity", humidity, "%"),
        M("battery", battery, "%"),
        M("voltage", voltage, "V"),
    )
    decoded = decode_atc_payload(encode_pvvx(measurements, mac=ADDRESS, counter=counter))
    assert decoded.measurements == measurements
    assert (decoded.packet_id, decoded.mac) == (counter, ADDRESS)


tenths = st.integers(-999, 999).map(lambda r: r / 10)


@FUZZ
@given(
    temperature=tenths,
    humidity=st.integers(0, 999).map(lambda r: r / 10),
    battery=st.integers(0, 100).map(float),
    counter=st.integers(0, 0xFFFF_FFFF),
    bindkey=legacy_keys,
)
def test_mibeacon_round_trip(
    temperature: float, humidity: float, battery: float, counter: int, bindkey: bytes | None
) -> None:
    measurements = (M("temperature", temperature, "°C"), M("humidity", humidity, "%"),
                    M("battery", battery, "%"))
    version = 3 if bindkey is not None and len(bindkey) == 12 else 5
    frame = encode_mibeacon(measurements, device_type=0x055B, mac=ADDRESS, counter=counter,
                            bindkey=bindkey, version=version)
    decoded = decode_xiaomi_payload(frame, address=ADDRESS, bindkey=bindkey)
    assert decoded.measurements == measurements
    assert decoded.packet_id == (counter if bindkey is not None else counter & 0xFF)


@FUZZ
@given(temperature=st.integers(-400, 999).map(lambda r: r / 10),  # Govee's plausible range
       humidity=st.integers(0, 999).map(lambda r: r / 10), battery=st.integers(0, 100).map(float))
def test_qingping_and_govee_round_trip(temperature: float, humidity: float,
                                       battery: float) -> None:
    measurements = (M("temperature", temperature, "°C"), M("humidity", humidity, "%"),
                    M("battery", battery, "%"))
    data = encode_qingping(measurements, mac=ADDRESS)
    advert = Advert(ADDRESS, service_data={QINGPING_UUID: data})
    assert decode_qingping(advert).measurements == measurements
    payload = encode_govee_h5075(measurements)
    govee = Advert(ADDRESS, manufacturer_data={GOVEE_COMPANY_ID: payload})
    assert decode(govee).measurements == measurements
