"""A subscriber that collects messages and lets a test wait on a condition (never sleep-and-hope)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt


@dataclass
class Msg:
    topic: str
    payload: bytes
    retain: bool

    @property
    def json(self) -> Any:
        return json.loads(self.payload)

    @property
    def text(self) -> str:
        return self.payload.decode()


class Collector:
    def __init__(self) -> None:
        self.messages: list[Msg] = []
        self._changed = asyncio.Condition()

    def on(self, topic: str) -> list[Msg]:
        return [m for m in self.messages if m.topic == topic]

    def under(self, prefix: str) -> list[Msg]:
        return [m for m in self.messages if m.topic.startswith(prefix)]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        async with asyncio.timeout(timeout), self._changed:
            while not (result := predicate()):
                await self._changed.wait()
            return result

    async def _add(self, msg: Msg) -> None:
        async with self._changed:
            self.messages.append(msg)
            self._changed.notify_all()


@contextlib.asynccontextmanager
async def collect(
    host: str, port: int, topic: str = "#", *, client_id: str | None = None,
    clean_session: bool = True, qos: int = 1,
) -> AsyncIterator[Collector]:
    """Subscribe to ``topic`` and collect everything until the block ends."""
    collector = Collector()
    client = aiomqtt.Client(host, port, identifier=client_id, clean_session=clean_session,
                            max_queued_incoming_messages=0)
    async with client:
        await client.subscribe(topic, qos=qos)

        async def pump() -> None:
            async for message in client.messages:
                await collector._add(Msg(str(message.topic), bytes(message.payload),  # type: ignore[arg-type]
                                         bool(message.retain)))

        task = asyncio.create_task(pump(), name="test-collector")
        try:
            yield collector
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
