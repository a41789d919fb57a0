"""Xiaomi MiBeacon v2-v5 (service data UUID 0xFE95): plain and encrypted frames.

Frame (Xiaomi's "BLE MiBeacon protocol", v4 and v5 documents): frame control (uint16 LE:
bit 3 encrypted, bit 4 MAC included, bit 5 capability included, bit 6 objects included,
bit 7 mesh, bits 12-15 version), product id (uint16 LE, the model), frame counter (uint8),
[MAC, 6 bytes reversed], [capability, 1 byte; with its bit 5, 2 bytes of I/O capability],
[objects], and for encrypted frames the tail described below.

* v4/v5 encryption: ``ciphertext || ext counter (3) || MIC (4)`` under AES-CCM with the
  16-byte bindkey, a 4-byte tag, associated data ``0x11`` and the nonce
  ``MAC reversed (6) || product id (2) || frame counter (1) || ext counter (3)``.
* v2/v3 ("legacy") encryption: ``ciphertext || ext counter (3) || token (1)``: the AES-CCM
  keystream (no tag to check) of a 16-byte key made from the 12-byte bindkey as
  ``key[0:6] || 8d 3d 3c 97 || key[6:12]``, nonce ``frame control || product id || frame
  counter || ext counter || MAC reversed[0:5]``. A wrong key gives garbage objects, which
  the strict object parser refuses.

The MAC is the frame's own, else the advertising address (v5 frames often omit it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.sdk import DecodeError, Measurement

from ._model import Advert, Decoded, Identity, format_mac, parse_mac, payload_of, uuid16
from ._xiaomi_models import mibeacon_identity
from ._xiaomi_objects import object_id_for, parse_objects

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

__all__ = [
    "XIAOMI_UUID",
    "decode_xiaomi",
    "decode_xiaomi_payload",
    "encode_mibeacon",
    "identify_xiaomi",
    "parse_mibeacon_key",
]

XIAOMI_UUID = uuid16(0xFE95)
"""Service data UUID of MiBeacon."""

_ENCRYPTED = 0x0008
_MAC_INCLUDED = 0x0010
_CAPABILITY_INCLUDED = 0x0020
_OBJECTS_INCLUDED = 0x0040
_MESH = 0x0080
_IO_CAPABILITY = 0x20
_AAD = b"\x11"
_LEGACY_KEY_FILL = bytes.fromhex("8d3d3c97")
_V45_TAIL = 7  # ext counter (3) + MIC (4)
_LEGACY_TAIL = 4  # ext counter (3) + token (1)


@dataclass(frozen=True, slots=True)
class _Frame:
    control: int
    device_type: int
    counter: int
    mac: bytes | None  # as the frame holds it: reversed
    body: bytes  # objects, or the encrypted part with its tail

    @property
    def version(self) -> int:
        return self.control >> 12

    @property
    def encrypted(self) -> bool:
        return bool(self.control & _ENCRYPTED)


def parse_mibeacon_key(value: bytes | str) -> bytes:
    """A MiBeacon bindkey: 16 bytes (32 hex digits, v4/v5) or 12 bytes (24 hex, v2/v3)."""
    key = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
    if len(key) not in (12, 16):
        raise ValueError(f"a MiBeacon bindkey has 16 bytes (32 hex digits), or 12 (24 hex "
                         f"digits) for v2/v3 devices; got {len(key)}")
    return key


# --- decoding -------------------------------------------------------------------------------


def decode_xiaomi(advert: Advert, bindkey: bytes | str | None = None) -> Decoded:
    """Decode the advert's MiBeacon service data; see :func:`decode_xiaomi_payload`."""
    data = payload_of(advert.service_data, XIAOMI_UUID, "MiBeacon service data (0xFE95)")
    return decode_xiaomi_payload(data, address=advert.address, bindkey=bindkey)


def identify_xiaomi(advert: Advert) -> Identity | None:
    """The model a MiBeacon frame names (readable without the key), or ``None``."""
    data = advert.service_data.get(XIAOMI_UUID, b"")
    if len(data) < 5 or not 2 <= data[1] >> 4 <= 5:
        return None
    return mibeacon_identity(int.from_bytes(data[2:4], "little"))


def decode_xiaomi_payload(
    data: bytes, *, address: str, bindkey: bytes | str | None = None
) -> Decoded:
    """Decode one MiBeacon frame sent by ``address``.

    An encrypted frame needs the device's ``bindkey``; with a bindkey configured, a plain
    frame carrying objects is refused too (a downgrade). Both raise
    ``DecodeError(kind="decrypt")``. A frame without objects (a bare announcement) decodes
    to no measurements but still names the model.
    """
    frame = _parse_frame(data)
    identity = mibeacon_identity(frame.device_type)
    measurements: tuple[Measurement, ...] = ()
    warnings: tuple[str, ...] = ()
    packet_id = frame.counter
    if frame.control & _OBJECTS_INCLUDED:
        objects, packet_id, strict = _plain_objects(frame, address, bindkey)
        measurements, warnings = _objects(objects, strict=strict)
    return Decoded(
        decoder="xiaomi",
        measurements=measurements,
        model=identity.model,
        manufacturer=identity.manufacturer,
        packet_id=packet_id,
        mac=None if frame.mac is None else format_mac(frame.mac[::-1]),
        encrypted=frame.encrypted,
        warnings=warnings,
    )


def _objects(payload: bytes, *, strict: bool) -> tuple[tuple[Measurement, ...], tuple[str, ...]]:
    if not strict:
        return parse_objects(payload, strict=False)
    try:
        return parse_objects(payload, strict=True)
    except DecodeError as exc:
        raise DecodeError(f"MiBeacon v2/v3 frame decrypts to garbage ({exc}): wrong bindkey?",
                          kind="decrypt") from exc


def _parse_frame(data: bytes) -> _Frame:
    if len(data) < 5:
        raise DecodeError(f"MiBeacon frame of {len(data)} bytes is shorter than its header")
    control = int.from_bytes(data[:2], "little")
    version = control >> 12
    if not 2 <= version <= 5:
        raise DecodeError(f"MiBeacon version {version} is not supported (2-5)")
    if control & _MESH:
        raise DecodeError("MiBeacon mesh frames are not supported", kind="unsupported")
    pos, mac = 5, None
    if control & _MAC_INCLUDED:
        mac, pos = data[5:11], 11
    if control & _CAPABILITY_INCLUDED:
        capability = data[pos] if pos < len(data) else 0
        pos += 3 if capability & _IO_CAPABILITY else 1
    if pos > len(data):
        raise DecodeError(f"MiBeacon frame of {len(data)} bytes is shorter than its header")
    device_type = int.from_bytes(data[2:4], "little")
    return _Frame(control, device_type, data[4], mac, data[pos:])


def _plain_objects(
    frame: _Frame, address: str, bindkey: bytes | str | None
) -> tuple[bytes, int, bool]:
    """(plain object bytes, packet id, strict parsing?) of a frame carrying objects."""
    if not frame.encrypted:
        if bindkey is not None:
            raise DecodeError("plain MiBeacon frame from a device with a bindkey",
                              kind="decrypt")
        return frame.body, frame.counter, False
    if bindkey is None:
        raise DecodeError("encrypted MiBeacon frame and no bindkey", kind="decrypt")
    key = _key(bindkey)
    mac = _mac(frame, address)
    if frame.version >= 4:
        return _decrypt_v45(frame, mac, key), _packet_id(frame, _V45_TAIL), False
    return _decrypt_legacy(frame, mac, key), _packet_id(frame, _LEGACY_TAIL), True


def _key(bindkey: bytes | str) -> bytes:
    try:
        return parse_mibeacon_key(bindkey)
    except ValueError as exc:
        raise DecodeError(f"bad bindkey: {exc}", kind="decrypt") from exc


def _mac(frame: _Frame, address: str) -> bytes:
    """The device MAC, most significant byte first."""
    if frame.mac is not None:
        return frame.mac[::-1]
    try:
        return parse_mac(address)
    except ValueError as exc:
        raise DecodeError(f"MiBeacon decryption needs the device MAC: {exc}",
                          kind="decrypt") from exc


def _packet_id(frame: _Frame, tail: int) -> int:
    """Frame counter (low byte) and ext counter (high 3 bytes): one 32-bit counter."""
    ext = frame.body[-tail:][:3]
    return frame.counter | int.from_bytes(ext, "little") << 8


def _decrypt_v45(frame: _Frame, mac: bytes, key: bytes) -> bytes:
    if len(key) != 16:
        raise DecodeError("MiBeacon v4/v5 encryption needs a 32-hex-digit bindkey",
                          kind="decrypt")
    body = frame.body
    if len(body) < _V45_TAIL + 1:
        raise DecodeError(f"encrypted MiBeacon frame too short ({len(body)} payload bytes)")
    from cryptography.exceptions import InvalidTag  # noqa: PLC0415 - only encrypted devices

    nonce = _v45_nonce(frame, mac, body[-7:-4])
    try:
        return _aesccm(key).decrypt(nonce, body[:-7] + body[-4:], _AAD)
    except InvalidTag as exc:
        raise DecodeError("MiBeacon decryption failed: wrong bindkey?", kind="decrypt") from exc


def _v45_nonce(frame: _Frame, mac: bytes, ext: bytes) -> bytes:
    head = frame.device_type.to_bytes(2, "little") + bytes([frame.counter])
    return mac[::-1] + head + ext


def _legacy_key(key: bytes) -> bytes:
    if len(key) == 12:
        return key[:6] + _LEGACY_KEY_FILL + key[6:]
    if key[6:10] == _LEGACY_KEY_FILL:  # already the expanded 16-byte form
        return key
    raise DecodeError("MiBeacon v2/v3 encryption needs the 24-hex-digit bindkey",
                      kind="decrypt")


def _legacy_nonce(frame: _Frame, mac: bytes, ext: bytes) -> bytes:
    head = frame.control.to_bytes(2, "little") + frame.device_type.to_bytes(2, "little")
    return head + bytes([frame.counter]) + ext + mac[::-1][:5]


def _decrypt_legacy(frame: _Frame, mac: bytes, key: bytes) -> bytes:
    body = frame.body
    if len(body) < _LEGACY_TAIL + 3:
        raise DecodeError(f"encrypted MiBeacon frame too short ({len(body)} payload bytes)")
    nonce = _legacy_nonce(frame, mac, body[-4:-1])
    return _ccm_keystream_xor(_legacy_key(key), nonce, body[:-4])


def _ccm_keystream_xor(key: bytes, nonce: bytes, data: bytes) -> bytes:
    """AES-CCM's encryption without its tag: CTR from counter block 1 (RFC 3610, 2.3)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: PLC0415

    length_size = 15 - len(nonce)
    first_block = bytes([length_size - 1]) + nonce + (1).to_bytes(length_size, "big")
    ctr = Cipher(algorithms.AES(key), modes.CTR(first_block)).encryptor()
    return ctr.update(data) + ctr.finalize()


def _aesccm(key: bytes) -> AESCCM:
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM  # noqa: PLC0415

    return AESCCM(key, tag_length=4)


# --- encoding (simulators and tests) --------------------------------------------------------


def encode_mibeacon(
    measurements: Iterable[Measurement],
    *,
    device_type: int,
    mac: str,
    counter: int,
    bindkey: bytes | str | None = None,
    version: int = 5,
) -> bytes:
    """A MiBeacon frame carrying ``measurements`` as plain objects (0x1004 temperature,
    0x1006 humidity, 0x100A battery...), encrypted with a ``bindkey``: v4/v5 AES-CCM for
    a 16-byte key, v2/v3 legacy for a 12-byte one (then ``version`` must be 2 or 3).
    ``counter`` (uint32) gives the frame counter (low byte) and the ext counter.
    ``ValueError`` for a measurement no object carries or values out of range.
    """
    objects = b"".join(_encode_object(m) for m in measurements)
    if not 0 <= counter <= 0xFFFF_FFFF:
        raise ValueError(f"counter {counter} is not a uint32")
    control = version << 12 | _MAC_INCLUDED | (_OBJECTS_INCLUDED if objects else 0)
    key = None if bindkey is None else parse_mibeacon_key(bindkey)
    if key is not None:
        control |= _ENCRYPTED
    mac_bytes = parse_mac(mac)
    frame = _Frame(control, device_type, counter & 0xFF, mac_bytes[::-1], objects)
    header = (control.to_bytes(2, "little") + device_type.to_bytes(2, "little")
              + bytes([frame.counter]) + mac_bytes[::-1])
    if key is None:
        return header + objects
    return header + _seal(frame, mac_bytes, key, (counter >> 8).to_bytes(3, "little"))


def _encode_object(m: Measurement) -> bytes:
    obj_id = object_id_for(m)
    if obj_id is None:
        raise ValueError(f"no MiBeacon object for {m.name!r} in {m.unit!r}")
    scale, size, signed = {0x1004: (10, 2, True), 0x1006: (10, 2, False),
                           0x1007: (1, 3, False), 0x1008: (1, 1, False),
                           0x1009: (1, 2, False), 0x100A: (1, 1, False),
                           0x1010: (100, 2, False)}[obj_id]
    try:
        value = round(m.value * scale).to_bytes(size, "little", signed=signed)
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"{m.name}={m.value} does not fit MiBeacon object "
                         f"0x{obj_id:04x}") from exc
    return obj_id.to_bytes(2, "little") + bytes([size]) + value


def _seal(frame: _Frame, mac: bytes, key: bytes, ext: bytes) -> bytes:
    if len(key) == 16:
        if frame.version < 4:
            raise ValueError("a 32-hex-digit bindkey encrypts MiBeacon v4/v5 frames")
        sealed = _aesccm(key).encrypt(_v45_nonce(frame, mac, ext), frame.body, _AAD)
        return bytes(sealed[:-4]) + ext + bytes(sealed[-4:])
    if frame.version > 3:
        raise ValueError("a 24-hex-digit bindkey encrypts MiBeacon v2/v3 frames")
    nonce = _legacy_nonce(frame, mac, ext)
    return _ccm_keystream_xor(_legacy_key(key), nonce, frame.body) + ext + b"\x00"
