"""A real systemd-style NOTIFY_SOCKET: an AF_UNIX datagram socket collecting notifications.

A thread receives (so a test can watch a daemon whose event loop it deliberately blocks) and
timestamps every datagram with ``time.monotonic()``.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class NotifySocket:
    def __init__(self, path: Path | None = None, *, abstract: str | None = None) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract is not None:
            self.sock.bind("\0" + abstract)
            self.env_value = "@" + abstract
        else:
            assert path is not None
            self.sock.bind(str(path))
            self.env_value = str(path)
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="notify-socket", daemon=True)

    def _pump(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._cond:
                self.messages.append((time.monotonic(), fields))
                self._cond.notify_all()

    def env(self, watchdog_usec: int | None = None, watchdog_pid: int | None = None) -> dict[str, str]:
        env = {"NOTIFY_SOCKET": self.env_value}
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        if watchdog_pid is not None:
            env["WATCHDOG_PID"] = str(watchdog_pid)
        return env

    def with_key(self, key: str, value: str | None = None) -> list[tuple[float, dict[str, str]]]:
        with self._cond:
            return [(t, m) for t, m in self.messages
                    if key in m and (value is None or m[key] == value)]

    def statuses(self) -> list[str]:
        return [m["STATUS"] for _, m in self.with_key("STATUS")]

    def wait_for(self, predicate: Callable[[], T], timeout: float = 15.0) -> T:
        """Blocking wait (run it with ``asyncio.to_thread`` from a test)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (result := predicate()):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"notification not seen; got {self.messages[-5:]}")
                self._cond.wait(left)
            return result

    def __enter__(self) -> NotifySocket:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def ping_gaps(sock: NotifySocket, after: float = 0.0) -> list[float]:
    """Seconds between consecutive WATCHDOG=1 notifications received after ``after``."""
    times = [t for t, _ in sock.with_key("WATCHDOG", "1") if t >= after]
    return [b - a for a, b in itertools.pairwise(times)]


def current_pid() -> int:
    return os.getpid()
