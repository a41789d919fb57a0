"""Choosing a decoder for an advert, and building adverts for simulated devices."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from gateway.sdk import DecodeError, Measurement

from ._atc import decode_atc, encode_atc1441, encode_pvvx
from ._bthome import decode_bthome, encode_bthome, encrypt_bthome
from ._model import ATC_UUID, BTHOME_UUID, RUUVI_COMPANY_ID, Advert, Decoded
from ._ruuvi import decode_ruuvi, encode_ruuvi

__all__ = ["DECODERS", "AdvertFormat", "Decoder", "build_advert", "decode", "match_decoder"]


@dataclass(frozen=True, slots=True)
class Decoder:
    """A registered decoder: a cheap test for "this advert is mine", and the decoder proper.

    ``decode`` raises only :class:`~gateway.errors.DecodeError`.
    """

    matches: Callable[[Advert], bool]
    decode: Callable[[Advert, bytes | str | None], Decoded]


DECODERS: dict[str, Decoder] = {
    "bthome": Decoder(lambda a: BTHOME_UUID in a.service_data, decode_bthome),
    "ruuvi": Decoder(lambda a: RUUVI_COMPANY_ID in a.manufacturer_data, decode_ruuvi),
    "atc": Decoder(lambda a: ATC_UUID in a.service_data, decode_atc),
}
"""Decoders by name, in the order ``decoder="auto"`` tries them. Add entries to extend."""


def match_decoder(advert: Advert) -> str | None:
    """The name of the first decoder whose data the advert carries, or ``None``. Never raises."""
    return next((name for name, d in DECODERS.items() if d.matches(advert)), None)


def decode(advert: Advert, decoder: str = "auto", bindkey: bytes | str | None = None) -> Decoded:
    """Decode ``advert`` with the named decoder, or the first that matches (``"auto"``).

    ``bindkey`` (16 bytes or 32 hex digits) is for encrypted BTHome; other decoders ignore it.
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


AdvertFormat = Literal["bthome", "ruuvi", "atc1441", "pvvx"]


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
    8 bits, Ruuvi sequence: 0..65534). With a ``bindkey`` (BTHome only) the packet is
    encrypted and ``packet_id`` becomes the 32-bit encryption counter instead of an object.
    Ruuvi and ATC/pvvx payloads carry ``address`` as their MAC. ``ValueError`` for values the
    format cannot carry.
    """
    if bindkey is not None and fmt != "bthome":
        raise ValueError(f"{fmt} adverts are not encrypted; bindkey is for bthome")
    service: dict[str, bytes] = {}
    manufacturer: dict[int, bytes] = {}
    if fmt == "bthome" and bindkey is not None:
        plain = encode_bthome(measurements)
        counter = packet_id & 0xFFFF_FFFF
        service[BTHOME_UUID] = encrypt_bthome(
            plain, address=address, bindkey=bindkey, counter=counter
        )
    elif fmt == "bthome":
        service[BTHOME_UUID] = encode_bthome(measurements, packet_id=packet_id & 0xFF)
    elif fmt == "ruuvi":
        payload = encode_ruuvi(measurements, sequence=packet_id % 0xFFFF, mac=address)
        manufacturer[RUUVI_COMPANY_ID] = payload
    elif fmt == "atc1441":
        service[ATC_UUID] = encode_atc1441(measurements, mac=address, counter=packet_id & 0xFF)
    else:
        service[ATC_UUID] = encode_pvvx(measurements, mac=address, counter=packet_id & 0xFF)
    return Advert(address, name, rssi, service, manufacturer)
