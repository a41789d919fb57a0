"""Delivery: where readings wait between the drivers and the broker.

:class:`~gateway.delivery.buffer.MemoryBuffer` (lost on restart) or
:class:`~gateway.delivery.outbox.DiskOutbox` (SQLite, survives restarts and power loss), behind
one :class:`~gateway.delivery.buffer.Buffer` interface; :func:`make_buffer` picks one from the
``[buffer]`` table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.delivery.buffer import Buffer, BufferStats, Entry, MemoryBuffer, OwnedBuffer

if TYPE_CHECKING:
    from gateway.config import BufferSection
    from gateway.delivery.outbox import DiskOutbox

__all__ = ["Buffer", "BufferStats", "DiskOutbox", "Entry", "MemoryBuffer", "OwnedBuffer",
           "make_buffer"]


def make_buffer(section: BufferSection) -> OwnedBuffer:
    """The disk outbox when ``[buffer] path`` is set, else the memory buffer."""
    if section.path is None:
        return MemoryBuffer(section.max_readings, section.overflow,
                            max_bytes=section.max_bytes, max_age=section.max_age)
    from gateway.delivery.outbox import DiskOutbox  # noqa: PLC0415 - SQLite only when used

    return DiskOutbox(section.path, section.max_readings, section.overflow,
                      max_bytes=section.max_bytes, max_age=section.max_age,
                      commit_interval=section.commit_interval,
                      commit_readings=section.commit_readings)


def __getattr__(name: str) -> object:
    """``DiskOutbox`` is imported on first use: a gateway on the memory buffer never loads
    SQLite (about 1 MB of memory on a Pi)."""
    if name == "DiskOutbox":
        from gateway.delivery.outbox import DiskOutbox  # noqa: PLC0415

        return DiskOutbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
