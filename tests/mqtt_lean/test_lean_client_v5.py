"""The lean client speaking MQTT 5: the server's limits and its reason codes.

What Mosquitto does not do on demand (a PUBACK saying "quota exceeded", a server allowing only
QoS 0) comes from a tiny loopback server that answers with bytes from the MQTT 5.0 standard;
the rest runs against a real Mosquitto 2 (tests/mqtt_lean/test_mqtt5_daemon.py, test_v5_packets.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from support.wait import until

from gateway.delivery.buffer import Entry
from gateway.errors import MqttConnectionLost, MqttRefused
from gateway.mqtt.client import Mqtt5Options, Publishable, lean_connect
from gateway.mqtt.packets import PacketReader

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def entries(n: int) -> list[Publishable]:
    return [Entry(f"v5/s{i % 3}", b'{"seq":%d}' % i, "dev") for i in range(n)]


async def packets(reader: asyncio.StreamReader, frames: PacketReader, n: int) -> list[bytes]:
    """The next ``n`` packets' bodies from the client."""
    got: list[bytes] = []
    while len(got) < n:
        data = await reader.read(4096)
        if not data:
            break
        got += [body for _, _, body in frames.feed(data)]
    return got


async def run(serve: Serve, body: Callable[[int], Awaitable[None]]) -> None:
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        await body(server.sockets[0].getsockname()[1])


async def test_quota_exceeded_drops_the_connection_and_the_reading_is_not_acked() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = PacketReader()
        await packets(reader, frames, 1)  # CONNECT
        writer.write(bytes.fromhex("2003" "0000" "00"))  # CONNACK, success, no properties
        await packets(reader, frames, 2)  # two PUBLISHes (ids 1 and 2)
        writer.write(bytes.fromhex("4002" "0001"))  # the first: success (short form)
        writer.write(bytes.fromhex("4003" "0002" "97"))  # the second: quota exceeded
        await writer.drain()
        await reader.read(1024)
        writer.close()

    acked: list[Publishable] = []
    rejected: list[tuple[Publishable, str]] = []

    async def body(port: int) -> None:
        async with lean_connect("127.0.0.1", port, client_id="q", keepalive=30, window=10,
                                on_acked=acked.extend, mqtt5=Mqtt5Options(),
                                on_rejected=lambda e, _kind, why: rejected.append((e, why))
                                ) as client:
            sent = entries(2)
            client.send(sent, 1)
            with pytest.raises(MqttConnectionLost, match=r"for now: quota exceeded \(0x97\)"):
                async with asyncio.timeout(5):
                    await client.supervise()
            assert acked == sent[:1]  # the refused one waits in the buffer for the next try
            assert rejected == []

    await run(serve, body)


async def test_a_permanent_refusal_is_handed_over_and_the_session_goes_on() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = PacketReader()
        await packets(reader, frames, 1)
        writer.write(bytes.fromhex("2003" "0000" "00"))
        await packets(reader, frames, 2)
        writer.write(bytes.fromhex("4004" "0001" "99" "00"))  # payload format invalid
        writer.write(bytes.fromhex("4002" "0002"))
        await writer.drain()
        await reader.read(1024)

    acked: list[Publishable] = []
    rejected: list[tuple[Publishable, str]] = []

    async def body(port: int) -> None:
        async with lean_connect("127.0.0.1", port, client_id="p", keepalive=30, window=10,
                                on_acked=acked.extend, mqtt5=Mqtt5Options(),
                                on_rejected=lambda e, _kind, why: rejected.append((e, why))
                                ) as client:
            sent = entries(2)
            client.send(sent, 1)
            await until(lambda: len(acked) + len(rejected) == 2, timeout=5)
            assert rejected == [(sent[0], "payload format invalid (0x99)")]
            assert acked == sent[1:]
            assert client.inflight() == 0

    await run(serve, body)


@pytest.mark.parametrize(("connack", "error"), [
    ("2005" "0000" "02" "2400", "QoS 0 only"),  # Maximum QoS 0
    ("2005" "0000" "02" "2500", "keeps no retained messages"),  # Retain Available 0
    ("2003" "0087" "00", r"not authorised \(0x87\)"),
    ("2002" "0001", "does not speak MQTT 5"),  # a 3.1.1 server's answer to level 5
])
async def test_what_the_server_cannot_do_is_explained(connack: str, error: str) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await packets(reader, PacketReader(), 1)
        writer.write(bytes.fromhex(connack))
        await writer.drain()
        await reader.read(1024)

    async def body(port: int) -> None:
        with pytest.raises(MqttRefused, match=error):
            async with lean_connect("127.0.0.1", port, client_id="r", keepalive=30,
                                    window=10, on_acked=lambda _: None,
                                    mqtt5=Mqtt5Options()):
                pass

    await run(serve, body)


async def test_receive_maximum_keepalive_and_aliases_come_from_the_server() -> None:
    published: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = PacketReader()
        await packets(reader, frames, 1)
        # Receive Maximum 12, Topic Alias Maximum 1, Server Keep Alive 7
        writer.write(bytes.fromhex("200c" "0000" "09" "21000c" "220001" "130007"))
        published.extend(await packets(reader, frames, 4))
        for pid in range(1, 5):
            writer.write(bytes.fromhex("4002") + pid.to_bytes(2, "big"))
        await writer.drain()
        await reader.read(1024)

    async def body(port: int) -> None:
        async with lean_connect("127.0.0.1", port, client_id="a", keepalive=30, window=100,
                                on_acked=lambda _: None, mqtt5=Mqtt5Options()) as client:
            assert client.window == 12 - 8  # minus the slots kept for statuses
            assert client.keepalive == 7
            assert await client.room() == 4
            client.send([Entry("v5/a", b"1", "d"), Entry("v5/a", b"2", "d"),
                         Entry("v5/b", b"3", "d"), Entry("v5/b", b"4", "d")], 1)
            await until(lambda: client.inflight() == 0, timeout=5)

    await run(serve, body)
    # v5/a: full topic with alias 1, then alias only; v5/b: no alias left, full topic twice
    assert published[0].startswith(bytes.fromhex("0004") + b"v5/a" + bytes.fromhex("0001"
                                   "03" "230001"))
    assert published[1].startswith(bytes.fromhex("0000" "0002" "03" "230001"))
    assert published[2].startswith(bytes.fromhex("0004") + b"v5/b" + bytes.fromhex("0003" "00"))
    assert published[3].startswith(bytes.fromhex("0004") + b"v5/b" + bytes.fromhex("0004" "00"))
