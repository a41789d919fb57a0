"""MiBeacon product ids (the frame's "device type") -> manufacturer and model.

Ids from the public device tables of the MiBeacon decoders (ble_monitor's device pages,
the xiaomi-ble device list), checked against the test vectors in tests/ble_decoders. The
Qingping-made models that speak MiBeacon are listed under Qingping, their maker.
"""

from __future__ import annotations

from ._model import Identity

__all__ = ["MIBEACON_MODELS", "mibeacon_identity"]


def _x(model: str) -> Identity:
    return Identity("Xiaomi", model)


def _q(model: str) -> Identity:
    return Identity("Qingping", model)


MIBEACON_MODELS: dict[int, Identity] = {
    # thermometers / hygrometers
    0x01AA: _x("LYWSDCGQ"),
    0x045B: _x("LYWSD02"),
    0x16E4: _x("LYWSD02MMC"),
    0x2542: _x("LYWSD02MMC"),
    0x055B: _x("LYWSD03MMC"),
    0x0387: _x("MHO-C401"),
    0x06D3: _x("MHO-C303"),
    0x1203: _x("XMWSDJ04MMC"),
    0x2832: _x("MJWSD05MMC"),
    0x4C47: _x("MJWSD05MMC"),
    0x55B5: _x("MJWSD06MMC"),
    0x5BEA: _x("MJWSD06MMC"),
    0x5DB1: _x("MBS17"),
    0x78DB: Identity("Yanmi", "ESM787"),
    0x0347: _q("CGG1"),
    0x0B48: _q("CGG1-ENCRYPTED"),
    0x066F: _q("CGDK2"),
    0x4F59: _q("CGDK3"),
    0x0576: _q("CGD1"),
    0x0C3C: _q("CGC1"),
    # plants
    0x0098: _x("HHCCJCY01"),
    0x03BC: _x("GCLS002"),
    0x015D: _x("HHCCPOT002"),
    # air, smoke, water
    0x02DF: _x("JQJCY01YM"),
    0x0997: _x("JTYJGD03MI"),
    0x0863: _x("SJWS01LM"),
    0x040A: _x("WX08ZM"),
    # motion, light, doors
    0x0A8D: _x("RTCGQ02LM"),
    0x07F6: _x("MJYD02YL"),
    0x03DD: _x("MUE4094RT"),
    0x0A83: _q("CGPR1"),
    0x03D6: _q("CGH1"),
    0x098B: _x("MCCGQ02HL"),
    0x3531: _x("XMPIRO2SXS"),
    0x4683: _x("XMOSB01XS"),
    # buttons, remotes (MiBeacon v2/v3 legacy encryption)
    0x03B6: _x("YLKG07YL/YLKG08YL"),
    0x0153: _x("YLYK01YL"),
    0x07BF: _x("YLAI003"),
    # Linptech (MiBeacon v5)
    0x2AEB: Identity("Linptech", "HS1BB(MI)"),
    0x1889: Identity("Linptech", "MS1BB(MI)"),
    0x520B: Identity("Linptech", "KS2BB"),
    0x50FB: Identity("Linptech", "ES3"),
}
"""Known MiBeacon product ids. A frame from another id still decodes (model "MiBeacon 0x....")."""


def mibeacon_identity(device_type: int) -> Identity:
    """The manufacturer and model of a MiBeacon product id (a generic name if unknown)."""
    known = MIBEACON_MODELS.get(device_type)
    return known if known is not None else Identity("Xiaomi", f"MiBeacon 0x{device_type:04X}")
