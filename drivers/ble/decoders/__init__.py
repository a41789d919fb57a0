"""Pure decoders (and encoders) of BLE sensor advertisements: bytes in, measurements out.

No I/O and no bleak import: the BLE driver turns bleak's ``AdvertisementData`` into an
:class:`Advert` (:meth:`Advert.from_bleak`) and calls :func:`decode`. Decoders raise only
:class:`gateway.errors.DecodeError`; encoders (for simulators and tests) raise ``ValueError``.

Formats: BTHome v2 (plain and AES-CCM encrypted), Ruuvi RAWv2, ATC1441 and pvvx custom,
Xiaomi MiBeacon v2-v5 (plain, v4/v5 AES-CCM and v2/v3 legacy encryption), Qingping,
SwitchBot, Govee, Inkbird, ThermoBeacon, SensorPush, BlueMaestro, Aranet.
"""

from ._aranet import ARANET_COMPANY_ID, decode_aranet
from ._atc import decode_atc, decode_atc_payload, encode_atc1441, encode_pvvx
from ._bluemaestro import BLUEMAESTRO_COMPANY_ID, decode_bluemaestro
from ._bthome import (
    decode_bthome,
    decode_bthome_payload,
    decrypt_bthome,
    encode_bthome,
    encrypt_bthome,
    parse_bindkey,
)
from ._govee import GOVEE_COMPANY_ID, decode_govee, encode_govee_h5075
from ._inkbird import decode_inkbird
from ._model import (
    ATC_UUID,
    BTHOME_UUID,
    RUUVI_COMPANY_ID,
    Advert,
    BleakAdvertisementLike,
    Decoded,
    Identity,
    uuid16,
)
from ._qingping import QINGPING_UUID, decode_qingping, encode_qingping
from ._registry import (
    DECODERS,
    SENSORS,
    AdvertFormat,
    Decoder,
    build_advert,
    decode,
    identify,
    match_decoder,
)
from ._ruuvi import MANUFACTURER as RUUVI_MAKER
from ._ruuvi import decode_ruuvi, decode_ruuvi_payload, encode_ruuvi
from ._sensorpush import SENSORPUSH_UUID, decode_sensorpush
from ._switchbot import SWITCHBOT_COMPANY_ID, SWITCHBOT_UUIDS, decode_switchbot
from ._thermobeacon import THERMOBEACON_UUID, decode_thermobeacon
from ._xiaomi import (
    XIAOMI_UUID,
    decode_xiaomi,
    decode_xiaomi_payload,
    encode_mibeacon,
    parse_mibeacon_key,
)
from ._xiaomi_models import MIBEACON_MODELS

__all__ = [
    "ARANET_COMPANY_ID",
    "ATC_UUID",
    "BLUEMAESTRO_COMPANY_ID",
    "BTHOME_UUID",
    "DECODERS",
    "GOVEE_COMPANY_ID",
    "MIBEACON_MODELS",
    "QINGPING_UUID",
    "RUUVI_COMPANY_ID",
    "RUUVI_MAKER",
    "SENSORPUSH_UUID",
    "SENSORS",
    "SWITCHBOT_COMPANY_ID",
    "SWITCHBOT_UUIDS",
    "THERMOBEACON_UUID",
    "XIAOMI_UUID",
    "Advert",
    "AdvertFormat",
    "BleakAdvertisementLike",
    "Decoded",
    "Decoder",
    "Identity",
    "build_advert",
    "decode",
    "decode_aranet",
    "decode_atc",
    "decode_atc_payload",
    "decode_bluemaestro",
    "decode_bthome",
    "decode_bthome_payload",
    "decode_govee",
    "decode_inkbird",
    "decode_qingping",
    "decode_ruuvi",
    "decode_ruuvi_payload",
    "decode_sensorpush",
    "decode_switchbot",
    "decode_thermobeacon",
    "decode_xiaomi",
    "decode_xiaomi_payload",
    "decrypt_bthome",
    "encode_atc1441",
    "encode_bthome",
    "encode_govee_h5075",
    "encode_mibeacon",
    "encode_pvvx",
    "encode_qingping",
    "encode_ruuvi",
    "encrypt_bthome",
    "identify",
    "match_decoder",
    "parse_bindkey",
    "parse_mibeacon_key",
    "uuid16",
]
