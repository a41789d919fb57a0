"""Transport flow control: a broker that stops reading makes the client stop taking readings
(``room()`` waits) instead of buffering without bound; it goes on once the broker reads again.

A broker that stops reading its socket cannot be made from Mosquitto without pausing all of it;
a loopback server that simply stops calling ``read`` stands in (real sockets, real buffers)."""

from __future__ import annotations

import asyncio

from gateway.delivery.buffer import Entry
from gateway.mqtt.client import lean_connect


async def test_room_waits_while_the_socket_is_backed_up_and_resumes() -> None:
    reading = asyncio.Event()
    drained = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal drained
        await reader.read(1024)  # CONNECT
        writer.write(bytes.fromhex("20020000"))
        await writer.drain()
        await reading.wait()  # the fault: nothing is read from the socket meanwhile
        while data := await reader.read(1 << 20):
            drained += len(data)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    payload = b"x" * 60_000
    async with server, lean_connect("127.0.0.1", port, client_id="fc", keepalive=30,
                                    window=10, on_acked=lambda _: None) as client:
        sent = 0
        while True:  # QoS 0: only the transport can say "enough"
            try:
                async with asyncio.timeout(1):
                    await client.room()
            except TimeoutError:
                break
            client.send([Entry("fc/t", payload, "d")], 0)
            sent += 1
            assert sent < 2000, "the client never stopped writing (unbounded buffering)"
        assert client._paused  # stopped by pause_writing, not by the window
        reading.set()
        async with asyncio.timeout(10):
            await client.room()  # resume_writing: room again
        assert not client._paused
        client.send([Entry("fc/t", payload, "d")], 0)
    assert sent > 1
