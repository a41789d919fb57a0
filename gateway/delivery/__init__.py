"""Delivery: where readings wait between the drivers and the broker.

:class:`~gateway.delivery.buffer.MemoryBuffer` (lost on restart) or
:class:`~gateway.delivery.outbox.DiskOutbox` (SQLite, survives restarts and power loss), behind
one :class:`~gateway.delivery.buffer.Buffer` interface; :func:`make_buffer` picks one from the
``[buffer]`` table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.delivery.buffer import Buffer, BufferStats, Entry, MemoryBuffer, OwnedBuffer
from gateway.delivery.outbox import DiskOutbox

if TYPE_CHECKING:
    from gateway.config import BufferSection

__all__ = ["Buffer", "BufferStats", "DiskOutbox", "Entry", "MemoryBuffer", "OwnedBuffer",
           "make_buffer"]


def make_buffer(section: BufferSection) -> OwnedBuffer:
    """The disk outbox when ``[buffer] path`` is set, else the memory buffer."""
    if section.path is None:
        return MemoryBuffer(section.max_readings, section.overflow,
                            max_bytes=section.max_bytes, max_age=section.max_age)
    return DiskOutbox(section.path, section.max_readings, section.overflow,
                      max_bytes=section.max_bytes, max_age=section.max_age,
                      commit_interval=section.commit_interval,
                      commit_readings=section.commit_readings)
