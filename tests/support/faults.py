"""Fault-injection helpers: a counting subscriber with a persistent session, the daemon as a
real process logging to a file, and what the outbox file says after the daemon stopped."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import aiomqtt

from support.daemon import REPO
from support.wait import until

T = TypeVar("T")


class SeqSubscriber:
    """Subscribes at QoS 1 with a persistent session (clean_session false) and reconnects
    whenever the broker goes away, so the broker queues for it meanwhile. Records, per topic,
    every ``seq`` in arrival order (and ``ts``)."""

    def __init__(self, host: str, port: int, topic: str, client_id: str) -> None:
        self.host, self.port, self.topic, self.client_id = host, port, topic, client_id
        self.seqs: dict[str, list[int]] = {}
        self.stamps: dict[str, list[str]] = {}
        self.texts: dict[str, list[str]] = {}
        self.connected = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> SeqSubscriber:
        self._task = asyncio.create_task(self._loop(), name="seq-subscriber")
        async with asyncio.timeout(10):
            await self.connected.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _loop(self) -> None:
        while True:
            client = aiomqtt.Client(self.host, self.port, identifier=self.client_id,
                                    clean_session=False, keepalive=5,
                                    max_queued_incoming_messages=0)
            try:
                async with client:
                    await client.subscribe(self.topic, qos=1)
                    self.connected.set()
                    async for message in client.messages:
                        await self._take(message)
            except aiomqtt.MqttError:
                pass
            # paho acknowledged these on receipt, but aiomqtt's iterator stops at a disconnect
            # without handing them out: take them, or the subscriber itself would lose them.
            queue = client._queue
            while not queue.empty():
                await self._take(queue.get_nowait())
            self.connected.clear()
            await asyncio.sleep(0.2)

    async def _take(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        assert isinstance(payload, bytes | bytearray)
        await self._record(str(message.topic), bytes(payload))

    async def _record(self, topic: str, payload: bytes) -> None:
        async with self._changed:
            if payload.startswith(b"{"):
                body = json.loads(payload)
                self.seqs.setdefault(topic, []).append(body["seq"])
                self.stamps.setdefault(topic, []).append(body["ts"])
            else:
                self.texts.setdefault(topic, []).append(payload.decode())
            self._changed.notify_all()

    def max_seq(self, topic: str) -> int:
        return max(self.seqs.get(topic, [0]))

    def count(self, topic: str) -> int:
        return len(self.seqs.get(topic, []))

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 20.0) -> T:
        async with asyncio.timeout(timeout), self._changed:
            while not (result := predicate()):
                await self._changed.wait()
            return result


def check_seqs(received: list[int], produced: int) -> dict[str, int]:
    """lost, duplicates, and whether first arrivals were in seq order (1: yes)."""
    unique = set(received)
    first: list[int] = []
    seen: set[int] = set()
    for seq in received:
        if seq not in seen:
            seen.add(seq)
            first.append(seq)
    return {
        "lost": len(set(range(1, produced + 1)) - unique),
        "duplicates": len(received) - len(unique),
        "in_order": int(first == sorted(first)),
    }


class LoggedDaemon:
    """``sensor-gateway run`` as a real process, its log going to a file (never a full pipe)."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LoggedDaemon:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "--config", str(self.config)],
                env=env, stdout=out, stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    async def wait_log(self, needle: str, timeout: float = 20.0) -> None:
        await until(lambda: needle in self.text(), timeout=timeout, interval=0.05)

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    async def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.proc.wait, timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> LoggedDaemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def outbox_seqs(path: Path) -> dict[str, int]:
    """The last seq per topic the (stopped) daemon committed: how many readings it produced."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return dict(conn.execute("SELECT topic, seq FROM seqs").fetchall())


def outbox_rows(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])
