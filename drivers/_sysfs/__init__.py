"""Shared by the sysfs driver kinds (``onewire``, ``iio``, ``system``): not a driver kind.

asyncio has no non-blocking file I/O, and a sysfs read can block in the kernel (a 1-Wire
conversion takes ~750 ms). Every blocking read of these kinds runs in ONE small, bounded
executor shared by all their devices (:class:`SysfsExecutor`), never on the event loop; reads
in one *lane* (a 1-Wire bus, an IIO device) run one at a time.
"""

from __future__ import annotations

from drivers._sysfs.executor import WORKERS, SysfsExecutor, shared_executor
from drivers._sysfs.files import (
    GONE_ERRNOS,
    MAX_READ,
    absolute_path,
    errno_name,
    is_gone,
    read_text,
    reason,
)

__all__ = [
    "GONE_ERRNOS",
    "MAX_READ",
    "WORKERS",
    "SysfsExecutor",
    "absolute_path",
    "errno_name",
    "is_gone",
    "read_text",
    "reason",
    "shared_executor",
]
