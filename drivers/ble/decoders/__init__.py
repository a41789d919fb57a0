"""Pure decoders (and encoders) of BLE sensor advertisements: bytes in, measurements out.

No I/O and no bleak import: the BLE driver turns bleak's ``AdvertisementData`` into an
:class:`Advert` (:meth:`Advert.from_bleak`) and calls :func:`decode`. Decoders raise only
:class:`gateway.errors.DecodeError`; encoders (for simulators and tests) raise ``ValueError``.

Formats: BTHome v2 (plain and AES-CCM encrypted), Ruuvi RAWv2, ATC1441 and pvvx custom.
"""

from ._atc import decode_atc, decode_atc_payload, encode_atc1441, encode_pvvx
from ._bthome import (
    decode_bthome,
    decode_bthome_payload,
    decrypt_bthome,
    encode_bthome,
    encrypt_bthome,
    parse_bindkey,
)
from ._model import (
    ATC_UUID,
    BTHOME_UUID,
    RUUVI_COMPANY_ID,
    Advert,
    BleakAdvertisementLike,
    Decoded,
    uuid16,
)
from ._registry import DECODERS, AdvertFormat, Decoder, build_advert, decode, match_decoder
from ._ruuvi import decode_ruuvi, decode_ruuvi_payload, encode_ruuvi

__all__ = [
    "ATC_UUID",
    "BTHOME_UUID",
    "DECODERS",
    "RUUVI_COMPANY_ID",
    "Advert",
    "AdvertFormat",
    "BleakAdvertisementLike",
    "Decoded",
    "Decoder",
    "build_advert",
    "decode",
    "decode_atc",
    "decode_atc_payload",
    "decode_bthome",
    "decode_bthome_payload",
    "decode_ruuvi",
    "decode_ruuvi_payload",
    "decrypt_bthome",
    "encode_atc1441",
    "encode_bthome",
    "encode_pvvx",
    "encode_ruuvi",
    "encrypt_bthome",
    "match_decoder",
    "parse_bindkey",
    "uuid16",
]
