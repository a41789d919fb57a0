"""A subscriber that collects messages and lets a test wait on a condition (never sleep-and-hope)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiomqtt

T = TypeVar("T")


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
        self.disconnected = False
        self._changed = asyncio.Condition()

    def on(self, topic: str) -> list[Msg]:
        return [m for m in self.messages if m.topic == topic]

    def under(self, prefix: str) -> list[Msg]:
        return [m for m in self.messages if m.topic.startswith(prefix)]

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0) -> T:
        async with asyncio.timeout(timeout), self._changed:
            while not (result := predicate()):
                await self._changed.wait()
            return result

    async def _add(self, msg: Msg) -> None:
        async with self._changed:
            self.messages.append(msg)
            self._changed.notify_all()


class collect:
    """Subscribe to ``topic`` and collect everything until the block ends.

    The broker may go away during the block (fault tests): the collector then just stops
    collecting, and leaving the block does not fail because of it.
    """

    def __init__(self, host: str, port: int, topic: str = "#", *, client_id: str | None = None,
                 clean_session: bool = True, qos: int = 1) -> None:
        self.topic = topic
        self.qos = qos
        self.collector = Collector()
        self.client = aiomqtt.Client(host, port, identifier=client_id,
                                     clean_session=clean_session, max_queued_incoming_messages=0)
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Collector:
        await self.client.__aenter__()
        await self.client.subscribe(self.topic, qos=self.qos)
        self.task = asyncio.create_task(self._pump(), name="test-collector")
        return self.collector

    async def _pump(self) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            async for message in self.client.messages:
                await self._keep(message)
        # paho acknowledged these to the broker on receipt; aiomqtt's iterator stops at a
        # disconnect without handing them out. Keep them, or the subscriber itself loses them.
        queue = self.client._queue
        while not queue.empty():
            await self._keep(queue.get_nowait())
        self.collector.disconnected = True

    async def _keep(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        assert isinstance(payload, bytes | bytearray)
        await self.collector._add(Msg(str(message.topic), bytes(payload), bool(message.retain)))

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        with contextlib.suppress(aiomqtt.MqttError):
            await self.client.__aexit__(None, None, None)
