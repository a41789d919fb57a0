"""Driver kinds by name, imported lazily; third-party kinds through entry points."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from functools import cache
from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from gateway.sdk import Command, DeviceConfig, DeviceContext, Driver

__all__ = ["ENTRY_POINT_GROUP", "commands", "config_models", "create", "import_stacks",
           "known_kinds"]

ENTRY_POINT_GROUP = "sensor_gateway.drivers"

BUILTIN: dict[str, str] = {
    "simulated": "drivers.simulated",
    "serial": "drivers.serial",
    "ble": "drivers.ble",
    "onewire": "drivers.onewire",
    "iio": "drivers.iio",
    "system": "drivers.system",
}

log = logging.getLogger(__name__)


@cache
def _modules() -> dict[str, str]:
    kinds = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in kinds:
            log.warning("driver entry point %r ignored: a built-in driver has that name", ep.name)
            continue
        kinds[ep.name] = ep.value
    return kinds


def known_kinds() -> list[str]:
    return sorted(_modules())


def _module(kind: str) -> ModuleType:
    return importlib.import_module(_modules()[kind])


def config_models(kinds: Iterable[str] | None = None) -> dict[str, type[DeviceConfig]]:
    """Each kind's config model, or only those of ``kinds`` (imports the light driver modules,
    not their stacks)."""
    return {kind: cast("type[DeviceConfig]", _module(kind).CONFIG)
            for kind in (known_kinds() if kinds is None else kinds)}


def create(config: DeviceConfig, ctx: DeviceContext) -> Driver[DeviceConfig]:
    """Build the driver for ``config`` (this is where a kind's heavy imports happen)."""
    return cast("Driver[DeviceConfig]", _module(config.driver).create(config, ctx))


def commands(name: str) -> dict[str, Command]:
    """Each kind's command ``name`` (``SCAN``, ``SIMULATE``) where the kind has one."""
    found = {kind: getattr(_module(kind), name, None) for kind in known_kinds()}
    return {kind: cast("Command", command) for kind, command in found.items() if command}


def import_stacks(configs: Iterable[DeviceConfig]) -> None:
    """Import what these devices' drivers will import: each kind's own package (the config
    loads only its ``config`` module) and :meth:`DeviceConfig.stack_modules`, so that it does
    not happen on the event loop. Blocking: call it before the loop starts, or in a
    worker thread. A module that fails is skipped: its driver reports it when it runs."""
    names: dict[str, None] = {}
    for config in configs:
        kind = _modules().get(config.driver)
        if kind is not None:  # the kind's own package (``create``), then its stack
            names[kind] = None
        names.update(dict.fromkeys(config.stack_modules()))
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any import failure is the driver's to report
            log.debug("preloading %s failed: %s: %s", name, type(exc).__name__, exc)
