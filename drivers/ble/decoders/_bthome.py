"""BTHome v2 (service data UUID 0xFCD2): decode, encode, encrypt, decrypt.

Payload: one device-information byte (bit 0 encrypted, bit 1 MAC included, bit 2
trigger-based, bits 5-7 version, which must be 2), the device's MAC (6 bytes, reversed) if
bit 1 is set, then objects: an object id and a little-endian value whose size and scale the
id fixes. Encrypted packets carry ``info || [mac] || ciphertext || counter(4) || mic(4)``
under AES-CCM (4-byte tag, no associated data) with the nonce
``MAC(6) || d2 fc || info || counter(4)``, MAC being the included one or else the sender's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from gateway.sdk import DecodeError, Measurement

from ._model import BTHOME_UUID, Advert, Decoded, ScaledField, format_mac, parse_mac, payload_of

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

__all__ = [
    "decode_bthome",
    "decode_bthome_payload",
    "decrypt_bthome",
    "encode_bthome",
    "encrypt_bthome",
    "parse_bindkey",
]

_ENCRYPTED = 0x01
_MAC_INCLUDED = 0x02
_TRIGGER_BASED = 0x04
_VERSION_2 = 2 << 5
_UUID16_LE = b"\xd2\xfc"
_COUNTER_AND_MIC = 8
_PACKET_ID = 0x00
_BUTTON = 0x3A
_DIMMER = 0x3C
_VARIABLE_LENGTH = frozenset({0x53, 0x54})  # text, raw: a length byte, then that many bytes


def _obj(
    name: str, unit: str | None, size: int, *, signed: bool = False, num: int = 1, den: int = 1
) -> ScaledField:
    """One BTHome object type: ``size`` little-endian bytes, ``value = raw * num / den``."""
    return ScaledField(name, unit, 8 * size, signed, num, den)


def _binary(name: str) -> ScaledField:
    return _obj(name, None, 1)


# The BTHome v2 object table (bthome.io/format), less the variable-length text/raw objects
# (skipped) and the 0xF0-0xF2 device-information objects (treated as unknown: they sort last).
_OBJECTS: dict[int, ScaledField] = {
    _PACKET_ID: _obj("packet_id", None, 1),
    0x01: _obj("battery", "%", 1),
    0x02: _obj("temperature", "°C", 2, signed=True, den=100),
    0x03: _obj("humidity", "%", 2, den=100),
    0x04: _obj("pressure", "hPa", 3, den=100),
    0x05: _obj("illuminance", "lx", 3, den=100),
    0x06: _obj("mass", "kg", 2, den=100),
    0x07: _obj("mass", "lb", 2, den=100),
    0x08: _obj("dew_point", "°C", 2, signed=True, den=100),
    0x09: _obj("count", None, 1),
    0x0A: _obj("energy", "kWh", 3, den=1000),
    0x0B: _obj("power", "W", 3, den=100),
    0x0C: _obj("voltage", "V", 2, den=1000),
    0x0D: _obj("pm25", "µg/m³", 2),
    0x0E: _obj("pm10", "µg/m³", 2),
    0x0F: _binary("generic_boolean"),
    0x10: _binary("power_on"),
    0x11: _binary("opening"),
    0x12: _obj("co2", "ppm", 2),
    0x13: _obj("tvoc", "µg/m³", 2),
    0x14: _obj("moisture", "%", 2, den=100),
    0x15: _binary("battery_low"),
    0x16: _binary("battery_charging"),
    0x17: _binary("carbon_monoxide"),
    0x18: _binary("cold"),
    0x19: _binary("connectivity"),
    0x1A: _binary("door"),
    0x1B: _binary("garage_door"),
    0x1C: _binary("gas_detected"),
    0x1D: _binary("heat"),
    0x1E: _binary("light"),
    0x1F: _binary("lock"),
    0x20: _binary("moisture_detected"),
    0x21: _binary("motion"),
    0x22: _binary("moving"),
    0x23: _binary("occupancy"),
    0x24: _binary("plug"),
    0x25: _binary("presence"),
    0x26: _binary("problem"),
    0x27: _binary("running"),
    0x28: _binary("safety"),
    0x29: _binary("smoke"),
    0x2A: _binary("sound"),
    0x2B: _binary("tamper"),
    0x2C: _binary("vibration"),
    0x2D: _binary("window"),
    0x2E: _obj("humidity", "%", 1),
    0x2F: _obj("moisture", "%", 1),
    _BUTTON: _obj("button", None, 1),  # event code: 1 press, 2 double, 4 long, 0x80 hold...
    _DIMMER: _obj("dimmer", None, 2),  # signed steps: negative = rotated left
    0x3D: _obj("count", None, 2),
    0x3E: _obj("count", None, 4),
    0x3F: _obj("rotation", "°", 2, signed=True, den=10),
    0x40: _obj("distance", "mm", 2),
    0x41: _obj("distance", "m", 2, den=10),
    0x42: _obj("duration", "s", 3, den=1000),
    0x43: _obj("current", "A", 2, den=1000),
    0x44: _obj("speed", "m/s", 2, den=100),
    0x45: _obj("temperature", "°C", 2, signed=True, den=10),
    0x46: _obj("uv_index", None, 1, den=10),
    0x47: _obj("volume", "L", 2, den=10),
    0x48: _obj("volume", "mL", 2),
    0x49: _obj("volume_flow_rate", "m³/h", 2, den=1000),
    0x4A: _obj("voltage", "V", 2, den=10),
    0x4B: _obj("gas", "m³", 3, den=1000),
    0x4C: _obj("gas", "m³", 4, den=1000),
    0x4D: _obj("energy", "kWh", 4, den=1000),
    0x4E: _obj("volume", "L", 4, den=1000),
    0x4F: _obj("water", "L", 4, den=1000),
    0x50: _obj("timestamp", "s", 4),  # Unix time
    0x51: _obj("acceleration", "m/s²", 2, den=1000),
    0x52: _obj("gyroscope", "°/s", 2, den=1000),
    0x55: _obj("volume_storage", "L", 4, den=1000),
    0x56: _obj("conductivity", "µS/cm", 2),
    0x57: _obj("temperature", "°C", 1, signed=True),
    0x58: _obj("temperature", "°C", 1, signed=True, num=35, den=100),
    0x59: _obj("count", None, 1, signed=True),
    0x5A: _obj("count", None, 2, signed=True),
    0x5B: _obj("count", None, 4, signed=True),
    0x5C: _obj("power", "W", 4, signed=True, den=100),
    0x5D: _obj("current", "A", 2, signed=True, den=1000),
    0x5E: _obj("direction", "°", 2, den=100),
    0x5F: _obj("precipitation", "mm", 2, den=10),
    0x60: _obj("channel", None, 1),
    0x61: _obj("rotational_speed", "rpm", 2),
    0x62: _obj("speed", "m/s", 4, signed=True, den=1_000_000),
    0x63: _obj("acceleration", "m/s²", 4, signed=True, den=1_000_000),
    0x64: _obj("light_level", None, 1),
}


def _ids_by_key() -> dict[tuple[str, str | None], list[int]]:
    """(name, unit) -> object ids in ascending order, for the encoder."""
    ids: dict[tuple[str, str | None], list[int]] = {}
    for obj_id, obj in sorted(_OBJECTS.items()):
        if obj_id != _PACKET_ID:
            ids.setdefault((obj.name, obj.unit), []).append(obj_id)
    return ids


_IDS_BY_KEY = _ids_by_key()
_NAMES = frozenset(name for name, _ in _IDS_BY_KEY)
_SUFFIX = re.compile(r"^(?P<base>.+)_(?P<n>[0-9]+)$")


def parse_bindkey(value: bytes | str) -> bytes:
    """A 16-byte key from bytes or 32 hex digits; ``ValueError`` otherwise."""
    key = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
    if len(key) != 16:
        raise ValueError(f"a BTHome bindkey has 16 bytes (32 hex digits), got {len(key)}")
    return key


def _aesccm(bindkey: bytes | str) -> AESCCM:
    """AES-CCM with BTHome's 4-byte tag; ``ValueError`` for a bad key. cryptography is
    imported here: only encrypted devices pay for it, a daemon without BLE never does."""
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM  # noqa: PLC0415

    return AESCCM(parse_bindkey(bindkey), tag_length=4)


def _cipher(bindkey: bytes | str) -> AESCCM:
    try:
        return _aesccm(bindkey)
    except ValueError as exc:
        raise DecodeError(f"bad bindkey: {exc}", kind="decrypt") from exc


def _header_length(info: int) -> int:
    """Bytes before the objects: the info byte and, if bit 1 says so, the MAC."""
    return 7 if info & _MAC_INCLUDED else 1


def _nonce(header: bytes, address: str, counter: bytes) -> bytes:
    """The CCM nonce; the MAC is the one in the header, else the sender's ``address``."""
    mac = header[1:7][::-1] or parse_mac(address)
    return mac + _UUID16_LE + header[:1] + counter


# --- decoding -------------------------------------------------------------------------------


def decode_bthome(advert: Advert, bindkey: bytes | str | None = None) -> Decoded:
    """Decode the advert's BTHome v2 service data; see :func:`decode_bthome_payload`."""
    data = payload_of(advert.service_data, BTHOME_UUID, "BTHome service data (UUID 0xFCD2)")
    return decode_bthome_payload(data, address=advert.address, bindkey=bindkey)


def decode_bthome_payload(
    data: bytes, *, address: str, bindkey: bytes | str | None = None
) -> Decoded:
    """Decode BTHome v2 service data sent by ``address``.

    An encrypted packet needs the device's ``bindkey``; with a bindkey configured, a plain
    packet is refused too (a downgrade). Both raise ``DecodeError(kind="decrypt")``.
    """
    if not data:
        raise DecodeError("empty BTHome service data")
    info = data[0]
    if info >> 5 != 2:
        raise DecodeError(f"BTHome version {info >> 5}, only version 2 is supported")
    header = _header_length(info)
    if len(data) < header:
        raise DecodeError(f"BTHome packet of {len(data)} bytes is shorter than its header")
    encrypted = bool(info & _ENCRYPTED)
    counter: int | None = None
    if encrypted:
        if bindkey is None:
            raise DecodeError("encrypted BTHome packet and no bindkey", kind="decrypt")
        counter = int.from_bytes(data[-8:-4], "little")
        data = decrypt_bthome(data, address=address, bindkey=bindkey)
    elif bindkey is not None:
        raise DecodeError("plain BTHome packet from a device with a bindkey", kind="decrypt")
    measurements, packet_id, warnings = _parse_objects(data[header:])
    return Decoded(
        decoder="bthome",
        measurements=measurements,
        model="BTHome v2",
        packet_id=packet_id if packet_id is not None else counter,
        mac=format_mac(data[1:header][::-1]) if header > 1 else None,
        encrypted=encrypted,
        trigger_based=bool(info & _TRIGGER_BASED),
        warnings=warnings,
    )


def _parse_objects(
    payload: bytes,
) -> tuple[tuple[Measurement, ...], int | None, tuple[str, ...]]:
    """Objects -> measurements, packet id, warnings. Stops at the first unknown object."""
    measurements: list[Measurement] = []
    seen: dict[str, int] = {}
    packet_id: int | None = None
    pos = 0
    while pos < len(payload):
        obj_id = payload[pos]
        obj = _OBJECTS.get(obj_id)
        end = _object_end(payload, pos, obj)
        if end is None or end > len(payload):
            problem = "unknown object id" if end is None else "truncated object"
            warning = f"{problem} 0x{obj_id:02x} at byte {pos}: {len(payload) - pos} bytes skipped"
            if not measurements:
                raise DecodeError(f"BTHome: {warning}, nothing decoded")
            return tuple(measurements), packet_id, (warning,)
        if obj is not None:  # None: a text/raw object, skipped
            raw = int.from_bytes(payload[pos + 1 : end], "little", signed=obj.signed)
            if obj_id == _PACKET_ID:
                packet_id = raw
            else:
                value = _dimmer_steps(raw) if obj_id == _DIMMER else obj.value(raw)
                measurements.append(Measurement(_unique(obj.name, seen), value, obj.unit))
        pos = end
    return tuple(measurements), packet_id, ()


def _object_end(payload: bytes, pos: int, obj: ScaledField | None) -> int | None:
    """Where the object at ``pos`` ends (may lie past the payload); ``None`` if unknown."""
    if obj is not None:
        return pos + 1 + obj.bits // 8
    if payload[pos] in _VARIABLE_LENGTH:
        return pos + 2 + payload[pos + 1] if pos + 1 < len(payload) else len(payload) + 1
    return None


def _dimmer_steps(raw: int) -> float:
    """Dimmer event ``[event, steps]``: event 1 rotates left (negative), 2 right."""
    event, steps = raw & 0xFF, raw >> 8
    return float({1: -steps, 2: steps}.get(event, 0))


def _unique(name: str, seen: dict[str, int]) -> str:
    """``temperature``, then ``temperature_2``, ``temperature_3``... within one packet."""
    seen[name] = seen.get(name, 0) + 1
    return name if seen[name] == 1 else f"{name}_{seen[name]}"


def decrypt_bthome(data: bytes, *, address: str, bindkey: bytes | str) -> bytes:
    """Encrypted BTHome v2 service data -> the same packet in plain form (bit 0 cleared).

    Raises ``DecodeError(kind="decrypt")`` for a wrong key (or a corrupted packet: the tag
    cannot tell them apart) and ``DecodeError`` for a packet too short to hold counter and MIC.
    """
    header = _header_length(data[0]) if data else 1
    if len(data) < header + _COUNTER_AND_MIC:
        raise DecodeError(f"encrypted BTHome packet too short ({len(data)} bytes)")
    counter, mic = data[-8:-4], data[-4:]
    from cryptography.exceptions import InvalidTag  # noqa: PLC0415

    cipher = _cipher(bindkey)
    try:
        nonce = _nonce(data[:header], address, counter)
    except ValueError as exc:
        raise DecodeError(f"BTHome encryption needs a MAC: {exc}", kind="decrypt") from exc
    try:
        plain = cipher.decrypt(nonce, data[header:-8] + mic, None)
    except InvalidTag as exc:
        raise DecodeError("BTHome decryption failed: wrong bindkey?", kind="decrypt") from exc
    return bytes([data[0] & ~_ENCRYPTED]) + data[1:header] + plain


# --- encoding -------------------------------------------------------------------------------


def encode_bthome(
    measurements: Iterable[Measurement],
    *,
    packet_id: int | None = None,
    trigger_based: bool = False,
    mac: str | None = None,
) -> bytes:
    """Plain BTHome v2 service data carrying ``measurements`` (for simulators and tests).

    Each measurement goes into the lowest object id of its name (``_2``... suffixes dropped)
    and unit that holds the value exactly, else the lowest whose range holds it (the value is
    then rounded to that object's resolution). Objects are sorted by id, as the spec asks.
    A ``mac`` is carried in the payload (device-information bit 1).
    ``ValueError`` for an unknown name/unit, a value no object holds, or a bad MAC.
    """
    objects: list[tuple[int, bytes]] = []
    if packet_id is not None:
        objects.append((_PACKET_ID, _pack(_OBJECTS[_PACKET_ID], packet_id)))
    for m in measurements:
        obj_id, raw = _choose_object(m)
        objects.append((obj_id, _pack(_OBJECTS[obj_id], raw)))
    objects.sort(key=lambda item: item[0])
    info = _VERSION_2 | (_TRIGGER_BASED if trigger_based else 0)
    header = bytes([info])
    if mac is not None:
        header = bytes([info | _MAC_INCLUDED]) + parse_mac(mac)[::-1]
    return header + b"".join(bytes([obj_id]) + value for obj_id, value in objects)


def _choose_object(m: Measurement) -> tuple[int, int]:
    if not math.isfinite(m.value):
        raise ValueError(f"{m.name}: cannot encode {m.value}")
    ids = _IDS_BY_KEY.get((_base_name(m.name), m.unit))
    if ids is None:
        raise ValueError(f"no BTHome object for {m.name!r} in {m.unit!r}")
    fitting = [(i, _raw_for(i, m.value)) for i in ids]
    fitting = [(i, raw) for i, raw in fitting if _OBJECTS[i].holds(raw)]
    if not fitting:
        raise ValueError(f"{m.name}={m.value} {m.unit} is out of every BTHome object's range")
    exact = [(i, raw) for i, raw in fitting if _decoded_value(i, raw) == m.value]
    return (exact or fitting)[0]


def _raw_for(obj_id: int, value: float) -> int:
    if obj_id == _DIMMER:
        steps = round(abs(value))
        return 0 if steps == 0 else (1 if value < 0 else 2) | steps << 8
    return _OBJECTS[obj_id].raw(value)


def _decoded_value(obj_id: int, raw: int) -> float:
    return _dimmer_steps(raw) if obj_id == _DIMMER else _OBJECTS[obj_id].value(raw)


def _base_name(name: str) -> str:
    match = _SUFFIX.match(name)
    if name not in _NAMES and match and match["base"] in _NAMES:
        return match["base"]
    return name


def _pack(obj: ScaledField, raw: int) -> bytes:
    if not obj.holds(raw):
        raise ValueError(f"{obj.name}: raw value {raw} does not fit {obj.bits} bits")
    return raw.to_bytes(obj.bits // 8, "little", signed=obj.signed)


def encrypt_bthome(plain: bytes, *, address: str, bindkey: bytes | str, counter: int) -> bytes:
    """Encrypt plain BTHome v2 service data (as :func:`encode_bthome` makes it).

    ``counter`` (uint32) must grow with every new packet: receivers use it against replays.
    ``ValueError`` for a bad key, address, counter or an already encrypted packet.
    """
    if not plain or plain[0] >> 5 != 2 or plain[0] & _ENCRYPTED:
        raise ValueError("expected plain BTHome v2 service data")
    if not 0 <= counter <= 0xFFFF_FFFF:
        raise ValueError(f"counter {counter} is not a uint32")
    header = bytes([plain[0] | _ENCRYPTED]) + plain[1 : _header_length(plain[0])]
    counter_bytes = counter.to_bytes(4, "little")
    nonce = _nonce(header, address, counter_bytes)
    sealed = _aesccm(bindkey).encrypt(nonce, plain[len(header) :], None)
    return header + sealed[:-4] + counter_bytes + sealed[-4:]
