"""Device watchdogs, scanned together: one pass over every watched device per grid point.

A device's watchdog (:meth:`gateway.core.device.Device._watchdog`) used to be a task that woke
once per ``offline_after`` to look at the device's last reading: 1 000 devices at 1 Hz made
about 330 task wake-ups a second, each a few microseconds of scheduling. Now the watchdog task
waits on a future that nothing resolves while the device is well, and a :class:`Watch` per
grid period looks at all its devices with one callback per grid point (on the timer the
devices' own ticks share, :class:`gateway.core.timers.Grid`): a plain call per device.

A check that raises (the device stalled) fails that device's future: its watchdog task raises
the error in the device's task group, and the device restarts, as before. A check that marks
the device offline does it right there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from gateway.core.timers import Grid, per_loop

__all__ = ["Watch", "watch"]

Check = Callable[[float], None]  # given time.monotonic(); raises when the device must restart


class Watch:
    """The watchdogs of one grid period on one event loop."""

    def __init__(self, period: float) -> None:
        self.grid = Grid(period)
        self.checks: dict[asyncio.Future[None], Check] = {}
        self.armed = False

    def add(self, check: Check) -> asyncio.Future[None]:
        """Watch with ``check`` from the next grid point on; the returned future fails with
        what ``check`` raises. :meth:`discard` it when done."""
        failed: asyncio.Future[None] = self.grid.loop.create_future()
        self.checks[failed] = check
        self._arm()
        return failed

    def discard(self, failed: asyncio.Future[None]) -> None:
        self.checks.pop(failed, None)

    def _arm(self) -> None:
        if not self.armed and self.checks:
            self.armed = True
            grid = self.grid
            grid.sleep_until(grid.next_point(grid.loop.time())).add_done_callback(self._scan)

    def _scan(self, _: asyncio.Future[None]) -> None:
        self.armed = False
        now = time.monotonic()
        for failed, check in list(self.checks.items()):
            try:
                check(now)
            except Exception as exc:  # noqa: BLE001 - handed to the device's watchdog task
                del self.checks[failed]
                if not failed.done():
                    failed.set_exception(exc)
        self._arm()


def watch(period: float) -> Watch:
    """The running loop's :class:`Watch` of grid ``period``."""
    watches: dict[float, Watch] = per_loop(asyncio.get_running_loop(), "_gateway_watches",
                                           lambda _: {})
    found = watches.get(period)
    if found is None:
        found = watches[period] = Watch(period)
    return found
