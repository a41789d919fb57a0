"""Pseudo-terminals that stand in for serial devices (simulators and tests).

A :class:`PtyPort` is a pty whose device side is reachable at a stable symlink, the way
``/dev/serial/by-id/...`` names a USB adapter: ``unplug()`` closes the pty (the reader sees the
port vanish, exactly like a pulled cable), ``replug()`` makes a new one at the same path.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import tempfile
import tty
from pathlib import Path
from types import TracebackType

__all__ = ["PtyPort", "wait_readable"]

IDLE_CHECK = 0.5  # seconds: how soon a waiting simulator notices a port plugged in again


async def wait_readable(*ports: PtyPort) -> None:
    """Return once one of the plugged ``ports`` has bytes for the simulator, or after
    :data:`IDLE_CHECK` seconds: waiting on the file descriptors, not polling them (an idle
    simulator costs nothing)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    fds = [port.master for port in ports if port.plugged]
    for fd in fds:
        loop.add_reader(fd, wake)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(IDLE_CHECK):
                await ready
    finally:
        for fd in fds:
            loop.remove_reader(fd)


class PtyPort:
    """One simulated serial port. The simulator writes to and reads from the master side."""

    def __init__(self, link: Path | None = None) -> None:
        self._own_dir = None if link else tempfile.mkdtemp(prefix="sensor-gateway-pty-")
        self.link = link or Path(self._own_dir or ".") / "ttySIM0"
        self.master = -1
        self._slave = -1
        self.tty_path = ""

    @property
    def plugged(self) -> bool:
        return self.master >= 0

    def plug(self) -> None:
        """Create the pty and point the link at it (atomically, like udev does)."""
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline: bytes pass unchanged
        os.set_blocking(self.master, False)
        self.tty_path = os.ttyname(self._slave)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(self.tty_path)
        tmp.replace(self.link)

    def unplug(self) -> None:
        """Close the pty and remove the link: the device is gone."""
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        for fd in (self.master, self._slave):
            if fd >= 0:
                os.close(fd)
        self.master = self._slave = -1

    def write(self, data: bytes) -> int:
        """Write what the pty takes; nobody reading and a full buffer drops bytes (like a UART)."""
        if self.master < 0:
            return 0
        try:
            return os.write(self.master, data)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EIO):
                return 0
            raise

    def read(self, size: int = 4096) -> bytes:
        """What the device side has sent (empty when nothing is waiting)."""
        if self.master < 0:
            return b""
        try:
            return os.read(self.master, size)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EIO):
                return b""
            raise

    def close(self) -> None:
        self.unplug()
        if self._own_dir:
            with contextlib.suppress(OSError):
                os.rmdir(self._own_dir)

    def __enter__(self) -> PtyPort:
        self.plug()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
