"""Operations around the daemon: systemd notifications, SIGHUP reload, metrics, stats, loop health.

:class:`Operations` owns the background tasks that are not devices or the publisher; the daemon
starts them once its devices run and stops them first on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from gateway.config import Settings
from gateway.core import registry
from gateway.core.topics import sanitize
from gateway.delivery.buffer import Entry
from gateway.ops.health import SystemdReporter
from gateway.ops.looplag import LoopMonitor
from gateway.ops.reload import ReloadPlan, load_new, plan_reload
from gateway.ops.stats import StatsReporter
from gateway.ops.systemd import Notifier

if TYPE_CHECKING:
    from gateway.ops.view import GatewayControl

__all__ = ["Operations"]

log = logging.getLogger("gateway")


class Operations:
    """``send`` puts a message into the daemon's buffer (the stats messages)."""

    def __init__(
        self, gateway: GatewayControl, loader: Callable[[], Settings] | None,
        send: Callable[[Entry], None],
    ) -> None:
        self.gateway = gateway
        self.loader = loader
        self.notifier = Notifier.from_env()
        self.reporter: SystemdReporter | None = None
        self.loop_monitor = LoopMonitor()
        self.stats = StatsReporter(gateway, self.loop_monitor, send)
        self.reloads = 0  # reloads applied (rejected ones not counted)
        self._reload_requested = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._tg: asyncio.TaskGroup | None = None

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        assert self._tg is not None
        self._tasks.append(self._tg.create_task(coro, name=name))

    def start(self, tg: asyncio.TaskGroup, publisher: asyncio.Task[None]) -> None:
        """Devices run: start the background tasks and tell systemd we are ready."""
        self._tg = tg
        self.reporter = SystemdReporter(self.notifier, self.gateway, publisher)
        if self.notifier.enabled:
            self._spawn(self.reporter.run(), "ops.systemd")
        if self.loader is not None:
            self._spawn(self._reload_loop(), "ops.reload")
        self._spawn(self.loop_monitor.run(), "ops.loop-monitor")
        self._spawn(self.stats.run(), "ops.stats")
        address = self.gateway.settings.metrics.address()
        if address is not None:
            from gateway.ops.metrics import (  # noqa: PLC0415 - only when enabled
                GatewayCollector,
                MetricsServer,
            )

            collector = GatewayCollector(self.gateway, self.loop_monitor, lambda: self.reloads)
            self._spawn(MetricsServer(collector, *address).run(), "ops.metrics")
        self.reporter.ready()

    def status_changed(self) -> None:
        """A device went online or offline, or the broker connection changed."""
        if self.reporter is not None:
            self.reporter.poke()

    def stop(self) -> None:
        """Shutdown begins: tell systemd, end the background tasks."""
        self.notifier.stopping()
        self.notifier.close()
        for task in self._tasks:
            task.cancel()

    # --- reload ----------------------------------------------------------------------------

    def request_reload(self) -> None:
        """From the SIGHUP handler: reload as soon as the current reload (if any) is done."""
        if self.loader is None:
            log.warning("reload requested, but this daemon has no config file to re-read")
            return
        self._reload_requested.set()

    async def _reload_loop(self) -> None:
        while True:
            await self._reload_requested.wait()
            self._reload_requested.clear()
            try:
                await self.reload()
            except Exception:
                log.exception("reload failed part-way; devices may not match the config "
                              "file until the next reload or restart")

    async def reload(self) -> bool:
        """Re-read the config and apply it; False (old config kept) when it is invalid."""
        assert self.loader is not None
        log.info("reloading the configuration")
        self.notifier.reloading()
        try:
            # The new file may use a kind the running one does not: its modules are imported
            # here, off the loop (start-up imported only the kinds in use, to save memory).
            await asyncio.to_thread(registry.config_models)
            new = load_new(self.loader)
            if new is None:
                return False
            await self._apply(plan_reload(self.gateway.settings, new))
            self.reloads += 1
            return True
        finally:
            if self.reporter is not None:
                self.reporter.ready()
            else:
                self.notifier.ready()

    async def _apply(self, plan: ReloadPlan) -> None:
        gateway = self.gateway
        gateway.apply_settings(plan.settings)
        for key in plan.needs_restart:
            log.warning("reload: %s changed, but needs a restart to take effect "
                        "(still running with the old value)", key)
        # A new kind of device (the first BLE one...): its stack is imported off the loop.
        await asyncio.to_thread(registry.import_stacks, [*plan.changed, *plan.added])
        for device_id in plan.removed:
            await gateway.stop_device(device_id)
            gateway.device_removed(device_id)
        for config in plan.changed:
            await gateway.stop_device(sanitize(config.id))
            gateway.start_device(config)
        for config in plan.added:
            gateway.start_device(config)
        gateway.devices_changed(plan.settings.expanded_devices())
        log.info("reloaded: %s; %d devices running", plan.describe(), len(gateway.devices))
