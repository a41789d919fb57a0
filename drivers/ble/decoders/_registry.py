"""Choosing a decoder for an advert, and building adverts for simulated devices."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from gateway.sdk import DecodeError, Measurement

from ._aranet import ARANET_COMPANY_ID, decode_aranet, identify_aranet
from ._atc import decode_atc, encode_atc1441, encode_pvvx
from ._bluemaestro import BLUEMAESTRO_COMPANY_ID, decode_bluemaestro, identify_bluemaestro
from ._bthome import decode_bthome, encode_bthome, encrypt_bthome
from ._govee import (
    GOVEE_COMPANY_ID,
    decode_govee,
    encode_govee_h5075,
    identify_govee,
    matches_govee,
)
from ._inkbird import decode_inkbird, identify_inkbird, matches_inkbird
from ._model import ATC_UUID, BTHOME_UUID, RUUVI_COMPANY_ID, Advert, Decoded, Identity
from ._qingping import QINGPING_UUID, decode_qingping, encode_qingping, identify_qingping
from ._ruuvi import MANUFACTURER as RUUVI_MAKER
from ._ruuvi import decode_ruuvi, encode_ruuvi
from ._sensorpush import decode_sensorpush, identify_sensorpush, matches_sensorpush
from ._switchbot import decode_switchbot, identify_switchbot, matches_switchbot
from ._thermobeacon import decode_thermobeacon, identify_thermobeacon, matches_thermobeacon
from ._xiaomi import (
    XIAOMI_UUID,
    decode_xiaomi,
    encode_mibeacon,
    identify_xiaomi,
    parse_mibeacon_key,
)

__all__ = [
    "DECODERS",
    "SENSORS",
    "AdvertFormat",
    "Decoder",
    "build_advert",
    "decode",
    "identify",
    "match_decoder",
    "supported_models",
]


def _nobody(advert: Advert) -> Identity | None:
    del advert
    return None


@dataclass(frozen=True, slots=True)
class Decoder:
    """A registered decoder: a cheap test for "this advert is mine", the decoder proper, and
    what the advert says about the device without decoding it (readable without a key).

    ``decode`` raises only :class:`~gateway.errors.DecodeError`; the others never raise.
    """

    matches: Callable[[Advert], bool]
    decode: Callable[[Advert, bytes | str | None], Decoded]
    identify: Callable[[Advert], Identity | None] = _nobody


def _ruuvi_identity(advert: Advert) -> Identity | None:
    data = advert.manufacturer_data.get(RUUVI_COMPANY_ID, b"")
    return Identity(RUUVI_MAKER, "RuuviTag RAWv2") if data[:1] == b"\x05" else None


DECODERS: dict[str, Decoder] = {
    "bthome": Decoder(lambda a: BTHOME_UUID in a.service_data, decode_bthome),
    "ruuvi": Decoder(lambda a: RUUVI_COMPANY_ID in a.manufacturer_data, decode_ruuvi,
                     _ruuvi_identity),
    "atc": Decoder(lambda a: ATC_UUID in a.service_data, decode_atc),
    "xiaomi": Decoder(lambda a: XIAOMI_UUID in a.service_data, decode_xiaomi, identify_xiaomi),
    "qingping": Decoder(lambda a: QINGPING_UUID in a.service_data, decode_qingping,
                        identify_qingping),
    "switchbot": Decoder(matches_switchbot, decode_switchbot, identify_switchbot),
    "inkbird": Decoder(matches_inkbird, decode_inkbird, identify_inkbird),
    "govee": Decoder(matches_govee, decode_govee, identify_govee),
    "thermobeacon": Decoder(matches_thermobeacon, decode_thermobeacon, identify_thermobeacon),
    "sensorpush": Decoder(matches_sensorpush, decode_sensorpush, identify_sensorpush),
    "bluemaestro": Decoder(lambda a: BLUEMAESTRO_COMPANY_ID in a.manufacturer_data,
                           decode_bluemaestro, identify_bluemaestro),
    "aranet": Decoder(lambda a: ARANET_COMPANY_ID in a.manufacturer_data, decode_aranet,
                      identify_aranet),
}
"""Decoders by name, in the order ``decoder="auto"`` tries them. Add entries to extend.

The order settles adverts several could claim: names before ids for formats that hide
their data in the company id (Inkbird before Govee's and ThermoBeacon's id tests)."""


_T, _H, _B = ("temperature", "°C"), ("humidity", "%"), ("battery", "%")
SENSORS: dict[str, frozenset[tuple[str, str | None]]] = {
    "xiaomi": frozenset({
        _T, _H, _B, ("illuminance", "lx"), ("moisture", "%"), ("conductivity", "µS/cm"),
        ("formaldehyde", "mg/m³"), ("consumable", "%"), ("no_motion_time", "s"),
        ("button", None), ("button_id", None), ("motion", None), ("opening", None),
        ("light", None), ("smoke", None), ("moisture_detected", None), ("power_on", None),
    }),
    "qingping": frozenset({
        _T, _H, _B, ("pressure", "hPa"), ("illuminance", "lx"), ("pm25", "µg/m³"),
        ("pm10", "µg/m³"), ("co2", "ppm"), ("motion", None), ("opening", None),
        ("light", None),
    }),
    "switchbot": frozenset({_T, _H, _B, ("co2", "ppm"), ("light_level", None)}),
    "govee": frozenset({_T, _H, _B, ("pm25", "µg/m³"), ("co2", "ppm")}),  # + temperature_N
    "inkbird": frozenset({_T, _H, _B}),
    "thermobeacon": frozenset({_T, _H, ("voltage", "V")}),
    "sensorpush": frozenset({_T, _H, ("pressure", "hPa")}),
    "bluemaestro": frozenset({_T, _H, _B, ("dew_point", "°C"), ("pressure", "hPa")}),
    "aranet": frozenset({
        _T, _H, _B, ("co2", "ppm"), ("pressure", "hPa"), ("radon", "Bq/m³"),
        ("radiation_dose_rate", "µSv/h"), ("radiation_dose", "µSv"),
    }),
}
"""What the decoders added for issue 13 measure: (name, unit) pairs, a probe number suffix
(``temperature_2``) aside. BTHome, Ruuvi and ATC/pvvx have their object tables."""


def supported_models() -> set[tuple[str, str | None, str]]:
    """(decoder, manufacturer, model) of every model a decoder knows by name (docs/
    ble-models.md lists them; a test keeps the two together). Open formats (BTHome, ATC/pvvx
    firmware) and unknown product ids of known makers decode too."""
    from . import (  # noqa: PLC0415 - the model tables, for this list only
        _aranet,
        _bluemaestro,
        _govee,
        _inkbird,
        _qingping,
        _sensorpush,
        _switchbot,
        _thermobeacon,
        _xiaomi_models,
    )

    tables: dict[str, tuple[str, Iterable[str]]] = {
        "qingping": ("Qingping", _qingping.MODELS.values()),
        "switchbot": ("SwitchBot", (m.name for m in _switchbot.MODELS.values())),
        "govee": ("Govee", _govee.MODELS),
        "inkbird": ("Inkbird", (m.model for m in _inkbird.MODELS.values())),
        "thermobeacon": ("ThermoBeacon", _thermobeacon.MODELS.values()),
        "sensorpush": ("SensorPush", (t[0] for t in _sensorpush.TYPES.values())),
        "bluemaestro": ("BlueMaestro", (lay.model for lay in _bluemaestro.LAYOUTS.values())),
        "aranet": ("SAF Tehnika", _aranet.MODELS.values()),
    }
    found: set[tuple[str, str | None, str]] = {
        (d, maker, m) for d, (maker, models) in tables.items() for m in models}
    found |= {("xiaomi", i.manufacturer, i.model) for i in _xiaomi_models.MIBEACON_MODELS.values()}
    return found | {("ruuvi", RUUVI_MAKER, "RuuviTag RAWv2")}


def match_decoder(advert: Advert) -> str | None:
    """The name of the first decoder whose data the advert carries, or ``None``. Never raises."""
    return next((name for name, d in DECODERS.items() if d.matches(advert)), None)


def identify(advert: Advert, decoder: str = "auto") -> Identity | None:
    """Manufacturer and model as the advert tells them without decoding (an encrypted
    advert names its model too), or ``None``. Never raises."""
    name = match_decoder(advert) if decoder == "auto" else decoder
    entry = DECODERS.get(name) if name is not None else None
    return None if entry is None else entry.identify(advert)


def decode(advert: Advert, decoder: str = "auto", bindkey: bytes | str | None = None) -> Decoded:
    """Decode ``advert`` with the named decoder, or the first that matches (``"auto"``).

    ``bindkey`` (16 bytes or 32 hex digits; Xiaomi v2/v3: 12 bytes, 24 hex digits) is for
    encrypted BTHome and Xiaomi MiBeacon adverts; other decoders ignore it.
    Raises ``DecodeError``: ``kind="unsupported"`` when the advert carries no data for the
    decoder (other advert types of the same device land here: count them apart from real
    decode errors), ``kind="decrypt"`` for key problems, ``kind="decode"`` for bad bytes.
    ``ValueError`` for a decoder name not in :data:`DECODERS` (a configuration mistake).
    """
    name = match_decoder(advert) if decoder == "auto" else decoder
    if name is None:
        raise DecodeError("no decoder knows this advert", kind="unsupported")
    entry = DECODERS.get(name)
    if entry is None:
        raise ValueError(f"unknown decoder {decoder!r}; known: auto, {', '.join(DECODERS)}")
    return entry.decode(advert, bindkey)


AdvertFormat = Literal["bthome", "ruuvi", "atc1441", "pvvx", "xiaomi", "qingping", "govee"]
"""Formats :func:`build_advert` (hence the simulator) can send."""

_LYWSD03MMC = 0x055B
_ENCRYPTABLE = ("bthome", "xiaomi")

Payloads = tuple[dict[str, bytes], dict[int, bytes]]


def _bthome(address: str, values: list[Measurement], packet_id: int,
            bindkey: bytes | str | None) -> Payloads:
    if bindkey is None:
        return {BTHOME_UUID: encode_bthome(values, packet_id=packet_id & 0xFF)}, {}
    plain = encode_bthome(values)
    counter = packet_id & 0xFFFF_FFFF
    return {BTHOME_UUID: encrypt_bthome(plain, address=address, bindkey=bindkey,
                                        counter=counter)}, {}


def _xiaomi(address: str, values: list[Measurement], packet_id: int,
            bindkey: bytes | str | None) -> Payloads:
    legacy = bindkey is not None and len(parse_mibeacon_key(bindkey)) == 12
    frame = encode_mibeacon(values, device_type=_LYWSD03MMC, mac=address,
                            counter=packet_id & 0xFFFF_FFFF, bindkey=bindkey,
                            version=3 if legacy else 5)
    return {XIAOMI_UUID: frame}, {}


def _plain(fmt: AdvertFormat, address: str, values: list[Measurement],
           packet_id: int) -> Payloads:
    if fmt == "ruuvi":
        return {}, {RUUVI_COMPANY_ID: encode_ruuvi(values, sequence=packet_id % 0xFFFF,
                                                   mac=address)}
    if fmt == "atc1441":
        return {ATC_UUID: encode_atc1441(values, mac=address, counter=packet_id & 0xFF)}, {}
    if fmt == "pvvx":
        return {ATC_UUID: encode_pvvx(values, mac=address, counter=packet_id & 0xFF)}, {}
    if fmt == "qingping":
        return {QINGPING_UUID: encode_qingping(values, mac=address)}, {}
    return {}, {GOVEE_COMPANY_ID: encode_govee_h5075(values)}


def build_advert(
    fmt: AdvertFormat,
    address: str,
    measurements: Iterable[Measurement],
    *,
    packet_id: int = 0,
    bindkey: bytes | str | None = None,
    name: str | None = None,
    rssi: int | None = -60,
) -> Advert:
    """The advert a device of format ``fmt`` at ``address`` would send (for simulators).

    ``packet_id`` wraps to the format's counter width (BTHome packet id and ATC/pvvx counter:
    8 bits, Ruuvi sequence: 0..65534, MiBeacon: 32 bits). With a ``bindkey`` (BTHome and
    Xiaomi only) the packet is encrypted; for BTHome ``packet_id`` then becomes the 32-bit
    encryption counter instead of an object. Xiaomi frames are a LYWSD03MMC's (MiBeacon v5,
    or v3 with a 24-hex-digit legacy key), Qingping
    ones a CGG1's, Govee ones an H5075's. Ruuvi, ATC/pvvx, Xiaomi and Qingping payloads
    carry ``address`` as their MAC. ``ValueError`` for values the format cannot carry.
    """
    if bindkey is not None and fmt not in _ENCRYPTABLE:
        raise ValueError(f"{fmt} adverts are not encrypted; bindkey is for bthome and xiaomi")
    values = list(measurements)
    if fmt == "bthome":
        service, manufacturer = _bthome(address, values, packet_id, bindkey)
    elif fmt == "xiaomi":
        service, manufacturer = _xiaomi(address, values, packet_id, bindkey)
    else:
        service, manufacturer = _plain(fmt, address, values, packet_id)
    return Advert(address, name, rssi, service, manufacturer)
