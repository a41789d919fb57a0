"""A real Sparkplug primary host for the tests: pysparkplug (tests/sparkplug/host_app.py) in a
virtual environment of its own, built on first use and cached between runs at
``${SENSOR_GATEWAY_CACHE:-~/.cache/sensor-gateway}/sparkplug-host-<version>`` (pysparkplug
needs paho-mqtt 1.x, the gateway 2.x, so they cannot share one). If it cannot be built (no
package index), its tests skip on a developer's machine and FAIL under CI=true."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.components import require
from support.daemon import REPO

__all__ = ["PYSPARKPLUG", "SparkplugHost", "host_python"]

PYSPARKPLUG = "0.6.1"
HOST_APP = REPO / "tests" / "sparkplug" / "host_app.py"
LINE_LIMIT = 1 << 24


def host_python() -> Path:
    """The Python of the pysparkplug venv (built now if missing)."""
    cache = Path(os.environ.get("SENSOR_GATEWAY_CACHE", Path.home() / ".cache" / "sensor-gateway"))
    venv = cache / f"sparkplug-host-{PYSPARKPLUG}"
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        cache.mkdir(parents=True, exist_ok=True)
        built = subprocess.run(
            f'rm -rf "{venv}" && "{sys.executable}" -m venv "{venv}" && '
            f'"{python}" -m pip install -q "pysparkplug=={PYSPARKPLUG}"',
            shell=True, capture_output=True, text=True, timeout=600, check=False)
        if built.returncode == 0:
            (venv / ".complete").touch()
        require(f"pysparkplug {PYSPARKPLUG}", built.returncode == 0,
                f"could not build its venv: {built.stderr.strip()[-300:]}")
    return python


class SparkplugHost:
    """The host application as a subprocess: every message it decoded, in order."""

    def __init__(self, port: int, group: str, host_id: str) -> None:
        self.args = ["127.0.0.1", str(port), group, host_id]
        self.messages: list[dict[str, Any]] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> SparkplugHost:
        self._proc = await asyncio.create_subprocess_exec(
            str(host_python()), str(HOST_APP), *self.args,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            limit=LINE_LIMIT)  # a DDATA of hundreds of metrics is one long line
        self._reader = asyncio.create_task(self._read(), name="sparkplug-host")
        await self.wait_for(lambda m: "ready" in m)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._proc is not None and self._reader is not None
        if self._proc.returncode is None:
            self._proc.kill()
            async with asyncio.timeout(10):  # killed: it is gone within moments
                await self._proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            while line := await self._proc.stdout.readline():
                self.messages.append(json.loads(line))
                self._changed.set()
        finally:
            self._changed.set()  # a waiter learns that the output ended, and how

    async def command(self, text: str) -> None:
        """``online``, ``offline`` or ``rebirth <node>``; returns once the host has sent it."""
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(f"{text}\n".encode())
        async with asyncio.timeout(10):
            await self._proc.stdin.drain()
        await self.wait_for(lambda m: m.get("done") == text, what=f"the host to send {text!r}")

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    async def wait_for(self, check: Callable[[dict[str, Any]], bool], timeout: float = 20.0,
                       count: int = 1, what: str = "") -> list[dict[str, Any]]:
        """The messages matching ``check`` once there are ``count`` of them; a timeout fails
        the test with what was awaited and what the host had seen by then."""
        found: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    found = [m for m in self.messages if check(m)]
                    errors = [m for m in self.messages if "error" in m]
                    assert not errors, errors
                    if len(found) >= count:
                        return found
                    if self._reader is not None and self._reader.done():
                        self._reader.result()  # its error, if reading the host's output failed
                        raise AssertionError(f"the host's output ended, waiting for {what}")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            seen = Counter(str(m.get("type", next(iter(m), "?"))) for m in self.messages)
            last = [{k: m.get(k) for k in ("type", "device", "seq", "done") if k in m}
                    for m in self.messages[-5:]]
            raise AssertionError(
                f"waited {timeout} s for {count} of {what or 'a message'}, got {len(found)}; "
                f"the host saw {dict(seen)}; the last ones: {last}") from None
