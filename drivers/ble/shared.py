"""The one advert source per adapter that every BLE device of that adapter shares: the
adapter's scanner, or the simulated adverts (``adapter = "simulated"``)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from drivers.ble.config import BleConfig
from drivers.ble.source import AdapterScanner, AdvertSource
from gateway.sdk import DeviceContext

__all__ = ["check_scanner", "open_source", "register_simulated", "source_key"]


def source_key(config: BleConfig) -> tuple[str, str]:
    return ("ble", config.adapter)


def open_source(ctx: DeviceContext, config: BleConfig) -> AbstractAsyncContextManager[AdvertSource]:
    """The shared source of ``config.adapter``: its scanner, or the simulated adverts."""
    if config.simulated:
        from drivers.ble.simulator import SimulatedAdverts  # noqa: PLC0415

        return ctx.shared(source_key(config), SimulatedAdverts)
    options = config.scanner_options()
    return ctx.shared(source_key(config), lambda: AdapterScanner(config.adapter, options))


def register_simulated(source: AdvertSource, config: BleConfig) -> None:
    from drivers.ble.simulator import SimulatedAdverts, SimulatedDevice  # noqa: PLC0415

    assert isinstance(source, SimulatedAdverts)
    fmt, sim = config.simulation()
    source.add(SimulatedDevice(config.address, fmt, sim.every,
                               bindkey=config.bindkey_bytes(), name=sim.name))


def check_scanner(source: AdvertSource, config: BleConfig, ctx: DeviceContext) -> None:
    """Warn when this device asks for scanner settings the adapter's scanner does not have."""
    assert isinstance(source, AdapterScanner)
    mine, theirs = config.scanner_options(), source.options
    explicit = config.model_fields_set
    if ("scanning" in explicit and mine.passive != theirs.passive) or (
            "adapter_silence" in explicit and mine.silence != theirs.silence):
        ctx.log.warning("%s already scans with scanning = %r and adapter_silence = %gs; this "
                        "device's settings are ignored", config.adapter,
                        "passive" if theirs.passive else "active", theirs.silence)


