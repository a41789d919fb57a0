"""The daemon in the test's own event loop (for tests that look at its internals)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from gateway.config import Settings, load_config
from gateway.daemon import Gateway
from gateway.errors import ConfigError


def settings_from(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path)


def config_problems(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    """The (key path, message) pairs a config that must not load is refused with."""
    try:
        settings_from(tmp_path, text)
    except ConfigError as exc:
        return exc.problems
    raise AssertionError("the config loaded")


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Gateway]:
    gateway = Gateway(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop), name="test-gateway")
    async with asyncio.timeout(10):
        await gateway.ready.wait()
    try:
        yield gateway
    finally:
        stop.set()
        async with asyncio.timeout(20):
            await task
