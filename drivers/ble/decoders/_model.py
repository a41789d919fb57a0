"""The decoders' input and output types and the small helpers they share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from gateway.sdk import DecodeError, Measurement

__all__ = [
    "ATC_UUID",
    "BTHOME_UUID",
    "RUUVI_COMPANY_ID",
    "Advert",
    "BleakAdvertisementLike",
    "Decoded",
    "Identity",
    "format_mac",
    "uuid16",
]


def uuid16(short: int) -> str:
    """The full 128-bit, lowercase form of a 16-bit Bluetooth SIG UUID, as bleak reports it."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


BTHOME_UUID = uuid16(0xFCD2)
"""Service data UUID of BTHome v2."""
ATC_UUID = uuid16(0x181A)
"""Service data UUID (Environmental Sensing) of the ATC1441 and pvvx custom formats."""
RUUVI_COMPANY_ID = 0x0499
"""Manufacturer id of Ruuvi Innovations."""


class BleakAdvertisementLike(Protocol):
    """The part of ``bleak.backends.scanner.AdvertisementData`` an :class:`Advert` is built from."""

    @property
    def local_name(self) -> str | None: ...
    @property
    def rssi(self) -> int: ...
    @property
    def service_data(self) -> dict[str, bytes]: ...
    @property
    def manufacturer_data(self) -> dict[int, bytes]: ...
    @property
    def service_uuids(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Advert:
    """One received advertisement: what a decoder reads.

    ``service_data`` keys are full 128-bit lowercase UUID strings (see :func:`uuid16`),
    ``manufacturer_data`` keys are company ids; both map to the payload bytes, exactly as
    bleak's ``AdvertisementData`` holds them. ``service_uuids`` are the advertised service
    UUIDs (full lowercase form): some formats share a manufacturer id and differ in these.
    """

    address: str
    name: str | None = None
    rssi: int | None = None
    service_data: Mapping[str, bytes] = field(default_factory=dict)
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    service_uuids: tuple[str, ...] = ()

    @classmethod
    def from_bleak(cls, address: str, data: BleakAdvertisementLike) -> Advert:
        """Build from a ``BLEDevice.address`` and its ``AdvertisementData``."""
        return cls(
            address=address,
            name=data.local_name,
            rssi=data.rssi,
            service_data=dict(data.service_data),
            manufacturer_data=dict(data.manufacturer_data),
            service_uuids=tuple(u.lower() for u in data.service_uuids),
        )


@dataclass(frozen=True, slots=True)
class Identity:
    """Who made a device (``None``: an open format, e.g. BTHome, says not) and which model
    it is, as its adverts tell."""

    manufacturer: str | None
    model: str


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a decoder made of one advertisement.

    ``packet_id`` changes whenever the device sends new data (BTHome packet id object or
    encryption counter, Ruuvi measurement sequence, ATC/pvvx frame counter): the same value
    again from the same device is a repeat to de-duplicate. ``mac`` is the address the payload
    itself carries (Ruuvi, ATC/pvvx), which can differ from a random advertising address.
    ``warnings`` name bytes the decoder skipped (unknown BTHome objects, truncated tails).
    ``manufacturer`` and ``model`` are what the advert tells about the device (``None``:
    the format does not say).
    """

    decoder: str
    measurements: tuple[Measurement, ...]
    model: str | None = None
    manufacturer: str | None = None  # who makes devices of this format, where one does
    packet_id: int | None = None
    mac: str | None = None
    encrypted: bool = False
    trigger_based: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def identity(self) -> Identity | None:
        """Manufacturer and model, when the advert names a model."""
        return None if self.model is None else Identity(self.manufacturer, self.model)


@dataclass(frozen=True, slots=True)
class ScaledField:
    """An integer field of ``bits`` bits carrying ``value = (raw * num + offset) / den``.

    Integer products and one division: ``2506 / 100`` is the float nearest 25.06, where
    ``2506 * 0.01`` is 25.060000000000002.
    """

    name: str
    unit: str | None
    bits: int
    signed: bool = False
    num: int = 1
    den: int = 1
    offset: int = 0

    @property
    def low(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def high(self) -> int:
        return (1 << (self.bits - 1 if self.signed else self.bits)) - 1

    def value(self, raw: int) -> float:
        return (raw * self.num + self.offset) / self.den

    def raw(self, value: float) -> int:
        """The raw value nearest ``value`` (it may not fit: see :meth:`holds`)."""
        return round((value * self.den - self.offset) / self.num)

    def holds(self, raw: int) -> bool:
        return self.low <= raw <= self.high


K = TypeVar("K")


def payload_of(data: Mapping[K, bytes], key: K, what: str) -> bytes:
    """The advert's payload under ``key``, or ``DecodeError(kind="unsupported")``."""
    payload = data.get(key)
    if payload is None:
        raise DecodeError(f"the advert has no {what}", kind="unsupported")
    return payload


def format_mac(raw: bytes) -> str:
    """``b"\\xaa\\xbb..."`` -> ``"AA:BB:..."``."""
    return ":".join(f"{b:02X}" for b in raw)


def parse_mac(address: str) -> bytes:
    """``"AA:BB:CC:DD:EE:FF"`` -> 6 bytes, most significant first; ``ValueError`` otherwise."""
    parts = address.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"not a MAC address: {address!r}")
    return bytes.fromhex("".join(parts))


def require_length(data: bytes, length: int, what: str) -> None:
    """Raise :class:`DecodeError` unless ``data`` has exactly ``length`` bytes."""
    if len(data) != length:
        raise DecodeError(f"{what}: expected {length} bytes, got {len(data)}")
