"""SIGHUP: re-read the config and apply what can be applied without a restart.

- Devices (compared by sanitised id and full config equality) are started, stopped or restarted;
  every other device keeps running untouched. A removed device's status becomes ``offline``.
- The MQTT session, the buffer and its queued readings are never touched.
- ``[gateway]`` ``shutdown_timeout``, ``stats_interval``, ``restart_delay_initial`` and
  ``restart_delay_max`` apply live (restart delays to devices started from then on).
  Everything else outside ``[[devices]]`` (``[mqtt]``, ``[buffer]``, ``[metrics]``,
  ``gateway.id`` and any other table) is reported as "needs restart" and keeps its old value.
- An invalid new config is rejected with the same key-path messages as at start-up; the old one
  keeps running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.config import Settings
from gateway.core.topics import sanitize
from gateway.errors import ConfigError
from gateway.sdk import DeviceConfig

__all__ = ["LIVE_GATEWAY_KEYS", "ReloadPlan", "load_new", "plan_reload"]

log = logging.getLogger("gateway.reload")

LIVE_GATEWAY_KEYS = frozenset(
    {"shutdown_timeout", "stats_interval", "restart_delay_initial", "restart_delay_max"}
)


@dataclass
class ReloadPlan:
    settings: Settings  # what runs from now on: the new devices and live keys, old everything else
    added: list[DeviceConfig] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[DeviceConfig] = field(default_factory=list)
    needs_restart: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.removed)} removed",
                 f"{len(self.changed)} changed"]
        return "devices: " + ", ".join(parts)


def load_new(loader: Callable[[], Settings]) -> Settings | None:
    """The new settings, or None (logged, naming every bad key) when they are invalid."""
    try:
        return loader()
    except ConfigError as exc:
        problems = exc.problems
    except Exception as exc:  # noqa: BLE001 - a reload must never take the daemon down
        problems = [("", f"{type(exc).__name__}: {exc}")]
    lines = [f"  {key}: {message}" if key else f"  {message}" for key, message in problems]
    log.error("reload rejected, keeping the running config:\n%s", "\n".join(lines))
    return None


def plan_reload(old: Settings, new: Settings) -> ReloadPlan:
    before = {sanitize(d.id): d for d in old.expanded_devices()}
    after = {sanitize(d.id): d for d in new.expanded_devices()}
    result = ReloadPlan(settings=_merged(old, new))
    result.removed = [key for key in before if key not in after]
    for key, config in after.items():
        if key not in before:
            result.added.append(config)
        elif before[key] != config:
            result.changed.append(config)
    result.needs_restart = _restart_keys(old, new)
    return result


def _restart_keys(old: Settings, new: Settings) -> list[str]:
    keys: list[str] = []
    for name in type(old).model_fields:
        if name in ("devices", "gateway"):
            continue
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            keys.extend(f"{name}.{key}" for key in _changed_fields(before, after) or ["*"])
    keys.extend(f"gateway.{key}" for key in _changed_fields(old.gateway, new.gateway)
                if key not in LIVE_GATEWAY_KEYS)
    return keys


def _changed_fields(before: object, after: object) -> list[str]:
    fields = getattr(type(before), "model_fields", None)
    if fields is None or type(before) is not type(after):
        return []
    return [name for name in fields if getattr(before, name) != getattr(after, name)]


def _merged(old: Settings, new: Settings) -> Settings:
    """The new devices and live ``[gateway]`` keys over the old everything else."""
    live = {key: getattr(new.gateway, key) for key in LIVE_GATEWAY_KEYS
            if key in type(new.gateway).model_fields}
    gateway = old.gateway.model_copy(update=live)
    return old.model_copy(update={"devices": new.devices, "gateway": gateway})
